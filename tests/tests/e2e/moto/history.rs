//! A room's stream on moto's DynamoDB, through the real SDK: numbers from concurrent
//! handlers, kept messages with their TTL, and a resume that queries, never scans.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use mb_lambda::store::dynamodb::{EXPIRES_AT, KEY, ROOM};
use mb_lambda::store::dynamodb_history::KEPT_PREFIX;
use mb_lambda::store::{Connection, ConnectionStore, DynamoStore, HistoryStore, Room};
use mb_lambda::wire::channel::Channel;
use mb_lambda::wire::publish::Publish;
use mb_tests::fake_gateway::{FakeGateway, Options};
use mb_tests::moto::Moto;
use mb_tests::recorder::Recorder;

fn lobby() -> Room {
    Room::Channel(Channel::parse("lobby").unwrap())
}

const HANDLERS: usize = 10;
const EACH: usize = 100;

#[tokio::test]
async fn concurrent_handlers_number_a_room_once_each_keep_with_ttl_and_resume_by_query() {
    let Some(moto) = Moto::start() else { return };
    let recorder = Recorder::start(moto.endpoint.trim_start_matches("http://")).await;
    let sdk = mb_tests::sdk_config(Some(&recorder.endpoint), None).await;
    let table = "history";
    let first = DynamoStore::new(&sdk, table);
    first.ensure_table().await.unwrap();
    // One member hears every message.
    let member =
        Connection::new("member", mb_tests::a_minute_ago()).in_rooms(BTreeSet::from([lobby()]));
    first.put(&member).await.unwrap();

    // Ten handlers, each with a store of its own (as ten Lambda instances), publishing
    // a hundred messages each to the room at the same time.
    let fake = FakeGateway::start(Options::default()).await;
    let mut handlers = Vec::new();
    for _ in 0..HANDLERS {
        handlers.push(Arc::new(
            fake.handler(DynamoStore::new(&sdk, table), 8).await,
        ));
    }
    let started = Instant::now();
    let ops_before = recorder.operations().len();
    let mut tasks = Vec::new();
    for (h, handler) in handlers.iter().enumerate() {
        let handler = Arc::clone(handler);
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                let request = Publish {
                    room: lobby(),
                    text: format!("{h}-{n}"),
                };
                let (status, body, _) = handler
                    .publish(request, Instant::now() + Duration::from_secs(60))
                    .await;
                assert_eq!(status, 200, "{body}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let now_s = mb_lambda::clock::now_ms() / 1000;
    // What a message costs the table: one UpdateItem (its number), one PutItem (its
    // copy), one Query (the members).
    let ops = &recorder.operations()[ops_before..];
    let count = |name: &str| ops.iter().filter(|o| *o == name).count();
    assert_eq!(count("DynamoDB UpdateItem"), HANDLERS * EACH, "{ops:?}");
    assert_eq!(count("DynamoDB PutItem"), HANDLERS * EACH);
    assert_eq!(count("DynamoDB Query"), HANDLERS * EACH);
    assert_eq!(ops.len(), 3 * HANDLERS * EACH, "nothing else: {ops:?}");

    let received = fake.received();
    assert_eq!(received.len(), HANDLERS * EACH);
    // No two messages share a number (a copy posted twice by a retry is the same message).
    let mut numbered = std::collections::BTreeMap::new();
    let mut epochs = BTreeSet::new();
    for r in &received {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let seq = body["_seq"].as_u64().expect("a _seq");
        let text = body["data"].as_str().unwrap().to_owned();
        if let Some(other) = numbered.insert(seq, text.clone()) {
            assert_eq!(other, text, "two messages got number {seq}");
        }
        epochs.insert(body["_epoch"].as_str().unwrap().to_owned());
    }
    // Every message reached the member once (the fake gateway fails no post here).
    let texts: BTreeSet<&String> = numbered.values().collect();
    assert_eq!(
        texts.len(),
        HANDLERS * EACH,
        "every message has its own number"
    );
    let head = first.head(&lobby()).await.unwrap().expect("a stream");
    assert_eq!(
        head.seq,
        (HANDLERS * EACH) as u64,
        "one number per message, none skipped"
    );
    assert_eq!(epochs.len(), 1, "one stream: {epochs:?}");

    // Each kept message carries the TTL: the window (120 s by default) from when it was kept.
    let kept = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&kept);
    let page = client
        .query()
        .table_name(table)
        .key_condition_expression("#r = :r")
        .expression_attribute_names("#r", ROOM)
        .expression_attribute_values(":r", AttributeValue::S(format!("{KEPT_PREFIX}lobby")))
        .limit(50)
        .send()
        .await
        .unwrap();
    let took = started.elapsed().as_secs() as i64 + 2;
    for item in page.items() {
        let Some(AttributeValue::N(expires)) = item.get(EXPIRES_AT) else {
            panic!("a kept message without {EXPIRES_AT}: {item:?}");
        };
        let expires: i64 = expires.parse().unwrap();
        assert!(
            (now_s - took + 120..=now_s + 121).contains(&expires),
            "expiresAt {expires} is 120 s after the message (now {now_s})"
        );
        assert!(matches!(item.get(KEY), Some(AttributeValue::S(k)) if k.len() == 20));
    }

    // A client back from a drop resumes from 990: the last ten, by a Query, no Scan.
    let back =
        Connection::new("back", mb_lambda::clock::now_ms()).in_rooms(BTreeSet::from([lobby()]));
    first.put(&back).await.unwrap();
    let epoch = epochs.into_iter().next().unwrap();
    let before = recorder.operations().len();
    let frame =
        serde_json::json!({"action": "resume", "channel": "lobby", "seq": 990, "epoch": epoch});
    let response = handlers[0]
        .handle(mb_tests::event(
            "$default",
            "back",
            Some(&frame.to_string()),
        ))
        .await;
    assert_eq!(response.status_code, 200);
    let to_back: Vec<serde_json::Value> = fake
        .received()
        .iter()
        .filter(|r| r.connection_id == "back")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let replayed: Vec<u64> = to_back[..10]
        .iter()
        .map(|b| b["_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(replayed, (991..=1000).collect::<Vec<u64>>());
    assert_eq!(to_back[10]["action"], "resumed");
    assert_eq!(to_back[10]["recovered"], true);
    assert_eq!(to_back[10]["seq"], 1000);
    let operations = &recorder.operations()[before..];
    assert!(
        operations.iter().any(|o| o == "DynamoDB Query"),
        "the history is read with a Query: {operations:?}"
    );
    assert!(
        !operations.iter().any(|o| o == "DynamoDB Scan"),
        "a resume must not scan the table: {operations:?}"
    );
}
