//! The DynamoDB room store against moto, through the real SDK client: rows carry their
//! TTL, deletes are idempotent and leave every room, a room's read follows every page
//! (so every member of a room larger than one page receives a broadcast) with a Query
//! on that room alone, never a Scan, skips expired rows and resumes after a key, and a
//! gone connection's delete is conditional on the row read.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, Select, WriteRequest};
use mb_lambda::store::dynamodb::{CONNECTED_AT, CONNECTION_PREFIX, EXPIRES_AT, KEY, ROOM, ROOMS};
use mb_lambda::store::{Connection, ConnectionStore, DynamoStore, Room, Row};
use mb_lambda::wire::channel::Channel;
use mb_tests::fake_gateway::{FakeGateway, Options};
use mb_tests::moto::Moto;
use mb_tests::recorder::Recorder;

async fn table(moto: &Moto, name: &str) -> DynamoStore {
    let store = DynamoStore::new(&moto.sdk_config().await, name);
    store
        .ensure_table()
        .await
        .expect("create the table in moto");
    store
}

fn channel(name: &str) -> Room {
    Room::Channel(Channel::parse(name).unwrap())
}

/// Writes `count` connections of `room` directly (BatchWriteItem): each its own item
/// and its membership, padded with `padding` bytes in an attribute reads do not project.
async fn fill(
    store: &DynamoStore,
    room: &Room,
    prefix: &str,
    count: usize,
    padding: usize,
) -> BTreeSet<String> {
    let ids: Vec<String> = (0..count).map(|i| format!("{prefix}-{i:05}")).collect();
    let items = ids.iter().flat_map(|id| {
        [
            (format!("{CONNECTION_PREFIX}{id}"), Some(room.key())),
            (room.key().to_owned(), None),
        ]
        .map(|(partition, rooms)| {
            let mut put = PutRequest::builder()
                .item(ROOM, AttributeValue::S(partition))
                .item(KEY, AttributeValue::S(id.clone()))
                .item(CONNECTED_AT, AttributeValue::N("0".into()))
                .item("padding", AttributeValue::S("p".repeat(padding.max(1))));
            if let Some(rooms) = rooms {
                put = put.item(ROOMS, AttributeValue::Ss(vec![rooms.to_owned()]));
            }
            WriteRequest::builder()
                .put_request(put.build().unwrap())
                .build()
        })
    });
    let items: Vec<WriteRequest> = items.collect();
    for chunk in items.chunks(25) {
        store
            .client()
            .batch_write_item()
            .request_items(store.table(), chunk.to_vec())
            .send()
            .await
            .expect("batch write");
    }
    ids.into_iter().collect()
}

/// Every item in the table, of any kind.
async fn items(store: &DynamoStore) -> i32 {
    store
        .client()
        .scan()
        .table_name(store.table())
        .select(Select::Count)
        .send()
        .await
        .unwrap()
        .count
}

fn ids(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

#[tokio::test]
async fn put_stores_the_ttl_and_delete_is_idempotent() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "ttl").await;
    let connection = Connection::new("abc=", 1_700_000_000_000);
    store.put(&connection).await.unwrap();

    for partition in ["~abc=", "#"] {
        let item = store
            .client()
            .get_item()
            .table_name("ttl")
            .key(ROOM, AttributeValue::S(partition.into()))
            .key(KEY, AttributeValue::S("abc=".into()))
            .send()
            .await
            .unwrap()
            .item
            .expect("the stored row");
        assert_eq!(
            item[CONNECTED_AT],
            AttributeValue::N("1700000000000".into())
        );
        // Two hours (API Gateway's limit) and ten minutes after connecting, in epoch seconds.
        assert_eq!(
            item[EXPIRES_AT],
            AttributeValue::N((1_700_000_000 + 7_800).to_string())
        );
    }

    assert_eq!(store.scan().await.unwrap(), vec!["abc=".to_owned()]);
    assert_eq!(store.get("abc=").await.unwrap(), Some(connection));
    store.delete("abc=").await.unwrap();
    store
        .delete("abc=")
        .await
        .expect("deleting a missing row is fine");
    assert_eq!(items(&store).await, 0, "the membership went with it");
    assert_eq!(store.get("abc=").await.unwrap(), None);
}

#[tokio::test]
async fn ensure_table_keys_rooms_turns_on_ttl_and_is_idempotent() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "twice").await;
    store
        .ensure_table()
        .await
        .expect("a second call finds the table");
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name("twice")
        .send()
        .await
        .unwrap();
    let spec = ttl.time_to_live_description.expect("TTL description");
    assert_eq!(spec.attribute_name.as_deref(), Some(EXPIRES_AT));
    assert_eq!(
        spec.time_to_live_status,
        Some(aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
    );
    let table = store
        .client()
        .describe_table()
        .table_name("twice")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<(&str, &str)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [(ROOM, "HASH"), (KEY, "RANGE")]);
}

#[tokio::test]
async fn a_table_from_before_channels_is_named_not_written_to() {
    let Some(moto) = Moto::start() else { return };
    let store = DynamoStore::new(&moto.sdk_config().await, "old");
    store
        .client()
        .create_table()
        .table_name("old")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name(KEY)
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name(KEY)
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = store.ensure_table().await.unwrap_err().to_string();
    assert!(
        err.contains("table old is keyed by connectionId (HASH)")
            && err.contains("name another table"),
        "{err}"
    );
}

#[tokio::test]
async fn scan_reads_every_connection_over_pages_and_no_membership() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "pages").await.with_page_limit(20);
    let ids = fill(&store, &channel("a"), "conn", 250, 1).await;
    let scanned: Vec<String> = store.scan().await.unwrap();
    assert_eq!(scanned.len(), 250, "no duplicates, none missing");
    assert_eq!(scanned.into_iter().collect::<BTreeSet<_>>(), ids);
}

#[tokio::test]
async fn a_room_is_read_past_the_one_megabyte_page() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "big").await;
    let lobby = channel("lobby");
    // 300 members of 4 KB: 1.2 MB, more than one DynamoDB Query page.
    let members = fill(&store, &lobby, "conn", 300, 4096).await;
    fill(&store, &Room::Default, "other", 5, 1).await;
    let first_page = store
        .client()
        .query()
        .table_name("big")
        .key_condition_expression("#r = :room")
        .expression_attribute_names("#r", ROOM)
        .expression_attribute_values(":room", AttributeValue::S("lobby".into()))
        .send()
        .await
        .unwrap();
    assert!(
        first_page.last_evaluated_key.is_some() && first_page.items().len() < 300,
        "the room should need more than one page (got {} items in the first)",
        first_page.items().len()
    );
    let read = store.members(&lobby, 0, None).await.unwrap();
    assert_eq!(read.len(), 300, "each member once");
    assert_eq!(
        read.into_iter().map(|r| r.id).collect::<BTreeSet<_>>(),
        members
    );
}

#[tokio::test]
async fn a_channel_broadcast_queries_its_channel_across_pages_and_never_scans() {
    let Some(moto) = Moto::start() else { return };
    let recorder = Recorder::start(moto.endpoint.trim_start_matches("http://")).await;
    let sdk = mb_tests::sdk_config(Some(&recorder.endpoint), None).await;
    let store = DynamoStore::new(&sdk, "fanout").with_page_limit(25);
    store.ensure_table().await.unwrap();
    let lobby = fill(&store, &channel("lobby"), "lobby", 120, 1).await;
    fill(&store, &Room::Default, "plain", 30, 1).await;
    fill(&store, &channel("other"), "other", 10, 1).await;
    let before = recorder.operations().len();

    let fake = FakeGateway::start(Options::default()).await;
    let handler = fake.handler(store, 16).await;
    let response = handler
        .handle(mb_tests::event("$default", "lobby-00007", Some("hello")))
        .await;
    assert_eq!(response.status_code, 200);
    let received = fake.received();
    let reached: BTreeSet<String> = received.iter().map(|r| r.connection_id.clone()).collect();
    assert_eq!(reached, lobby, "the channel's members, and only they");
    assert_eq!(received.len(), 120, "each member exactly once");
    for r in &received {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["data"], "hello");
        assert_eq!(body["_channel"], "lobby");
        assert_eq!(body["_me"], r.connection_id == "lobby-00007");
    }
    let operations = &recorder.operations()[before..];
    let queries = operations.iter().filter(|o| *o == "DynamoDB Query").count();
    assert!(queries >= 5, "120 members in pages of 25: {operations:?}");
    assert!(
        !operations.iter().any(|o| o == "DynamoDB Scan"),
        "a channel broadcast must not scan the table: {operations:?}"
    );
}

#[tokio::test]
async fn storage_failures_refuse_the_connect_and_tell_the_sender() {
    let Some(moto) = Moto::start() else { return };
    // No such table: every call fails with ResourceNotFoundException.
    let store = DynamoStore::new(&moto.sdk_config().await, "missing");
    let fake = FakeGateway::start(Options::default()).await;
    let handler = fake.handler(store, 4).await;
    let connect = handler.handle(mb_tests::event("$connect", "a", None)).await;
    assert_eq!(
        connect.status_code, 500,
        "a connection that cannot be stored is refused"
    );
    handler
        .handle(mb_tests::event("$default", "a", Some("secret")))
        .await;
    let replies = fake.received_by("a");
    assert_eq!(replies.len(), 1);
    let reply: serde_json::Value = serde_json::from_slice(&replies[0]).unwrap();
    assert_eq!(reply["error"], "storage_unavailable");
    assert_eq!(fake.received().len(), 1, "nobody else was sent anything");
}

#[tokio::test]
async fn expired_rows_are_not_members_and_a_read_resumes_after_a_key() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "live").await.with_page_limit(3);
    let now_ms = mb_lambda::clock::now_ms();
    for i in 0..10 {
        let mut connection = Connection::new(format!("c{i}"), now_ms - 60_000);
        if i % 3 == 0 {
            // TTL has not deleted it yet: DynamoDB deletes lazily, often days later.
            connection.expires_at = now_ms / 1000 - 1;
        }
        store.put(&connection).await.unwrap();
    }
    let live = store
        .members(&Room::Default, now_ms / 1000, None)
        .await
        .unwrap();
    assert_eq!(ids(&live), ["c1", "c2", "c4", "c5", "c7", "c8"]);
    assert!(live.iter().all(|r| r.connected_at_ms == now_ms - 60_000));
    // Resuming after a key, even one that no longer exists, reads only what follows it.
    store.delete("c4").await.unwrap();
    let after = store
        .members(&Room::Default, now_ms / 1000, Some("c4"))
        .await
        .unwrap();
    assert_eq!(ids(&after), ["c5", "c7", "c8"]);
}

#[tokio::test]
async fn join_leave_and_disconnect_keep_rooms_and_records_in_step() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "rooms").await;
    let (a, b) = (channel("a"), channel("b"));
    let x = Connection::new("x=", 1_000).in_rooms([a.clone()].into());
    store.put(&x).await.unwrap();
    store.put(&Connection::new("y=", 1_000)).await.unwrap();

    store.join(&x, &b).await.unwrap();
    assert_eq!(ids(&store.members(&b, 0, None).await.unwrap()), ["x="]);
    let stored = store.get("x=").await.unwrap().unwrap();
    assert_eq!(stored.rooms, [a.clone(), b.clone()].into());

    store.leave("x=", &a).await.unwrap();
    store.leave("x=", &a).await.expect("leaving twice is fine");
    assert!(store.members(&a, 0, None).await.unwrap().is_empty());
    assert_eq!(
        store.get("x=").await.unwrap().unwrap().rooms,
        [b.clone()].into()
    );
    assert_eq!(
        ids(&store.members(&Room::Default, 0, None).await.unwrap()),
        ["y="]
    );

    // A join for a connection whose record is gone adds no record.
    store.delete("y=").await.unwrap();
    store.join(&Connection::new("y=", 1_000), &b).await.unwrap();
    assert_eq!(store.get("y=").await.unwrap(), None);
    store.leave("y=", &b).await.unwrap();

    store.delete("x=").await.unwrap();
    assert_eq!(items(&store).await, 0, "no membership is left behind");
}

#[tokio::test]
async fn a_gone_connection_is_deleted_only_if_it_is_the_one_read() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "seen").await;
    let a = channel("a");
    store
        .put(&Connection::new("a=", 1_000).in_rooms([a.clone(), channel("b")].into()))
        .await
        .unwrap();
    let stale = Row::new("a=", 999);
    assert!(
        !store.delete_seen(&stale, &a).await.unwrap(),
        "a newer row is kept"
    );
    assert_eq!(store.scan().await.unwrap(), ["a="]);
    assert_eq!(items(&store).await, 3);
    let seen = Row::new("a=", 1_000);
    assert!(store.delete_seen(&seen, &a).await.unwrap());
    assert_eq!(items(&store).await, 0, "its record and both memberships");
    assert!(
        !store.delete_seen(&seen, &a).await.unwrap(),
        "nothing left to delete"
    );

    // A membership whose record is already gone is a leftover: deleted.
    store
        .put(&Connection::new("b=", 1_000).in_rooms([a.clone()].into()))
        .await
        .unwrap();
    store
        .client()
        .delete_item()
        .table_name("seen")
        .key(ROOM, AttributeValue::S("~b=".into()))
        .key(KEY, AttributeValue::S("b=".into()))
        .send()
        .await
        .unwrap();
    assert!(!store.delete_seen(&Row::new("b=", 1_000), &a).await.unwrap());
    assert_eq!(items(&store).await, 0);
}

#[tokio::test]
async fn a_broadcast_posts_nothing_to_expired_rows() {
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "expired").await;
    let now_ms = mb_lambda::clock::now_ms();
    for i in 0..6 {
        let mut connection = Connection::new(format!("c{i}"), now_ms - 60_000);
        if i >= 3 {
            connection.expires_at = now_ms / 1000 - 1;
        }
        store.put(&connection).await.unwrap();
    }
    let fake = FakeGateway::start(Options::default()).await;
    let handler = fake.handler(store, 4).await;
    handler
        .handle(mb_tests::event("$default", "c0", Some("live only")))
        .await;
    let reached: BTreeSet<String> = fake
        .received()
        .into_iter()
        .map(|r| r.connection_id)
        .collect();
    assert_eq!(reached, ["c0", "c1", "c2"].map(String::from).into());
}

/// Ten Lambda instances numbering one room at once get a thousand different numbers,
/// even with moto switching threads every microsecond (where a number read back after
/// another request's ADD would be handed out twice).
#[tokio::test]
async fn concurrent_numbering_hands_each_number_out_once() {
    use mb_lambda::store::HistoryStore;
    let Some(moto) = Moto::start_switching_threads_every(std::time::Duration::from_micros(1))
    else {
        return;
    };
    let sdk = moto.sdk_config().await;
    DynamoStore::new(&sdk, "numbers")
        .ensure_table()
        .await
        .unwrap();
    let room = channel("lobby");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = DynamoStore::new(&sdk, "numbers");
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..100 {
                let position = store.next_position(&room, "e1", i64::MAX / 2).await;
                got.push(position.unwrap().seq);
            }
            got
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.extend(task.await.unwrap());
    }
    numbers.sort_unstable();
    let twice: Vec<u64> = numbers
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert!(twice.is_empty(), "handed out twice: {twice:?}");
    assert_eq!(
        numbers,
        (1..=1000).collect::<Vec<u64>>(),
        "each of 1..=1000 once"
    );
}

/// A dedupe claim's item, read strongly consistent.
async fn claim_item(
    store: &DynamoStore,
    key: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    use mb_lambda::store::dynamodb_dedupe::DEDUPE_PREFIX;
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key(ROOM, AttributeValue::S(format!("{DEDUPE_PREFIX}{key}")))
        .key(KEY, AttributeValue::S(DEDUPE_PREFIX.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn a_dedupe_key_is_claimed_once_settled_given_back_and_expires() {
    use mb_lambda::store::dynamodb_dedupe::{ANSWER, OWNER};
    use mb_lambda::store::{Claim, DedupeStore};
    let Some(moto) = Moto::start() else { return };
    let store = table(&moto, "dedupe").await;
    let now = 1_800_000_000;
    // The first claim wins; any other claimant finds it held, its owner its own.
    assert_eq!(
        store.claim("order-42", "m-1", now, now + 60).await.unwrap(),
        Claim::Won
    );
    assert_eq!(
        store.claim("order-42", "m-2", now, now + 60).await.unwrap(),
        Claim::Held { same_owner: false }
    );
    assert_eq!(
        store.claim("order-42", "m-1", now, now + 60).await.unwrap(),
        Claim::Held { same_owner: true }
    );
    // One item, keyed apart from every room and connection, with its TTL.
    let item = claim_item(&store, "order-42")
        .await
        .expect("the claim's item");
    assert_eq!(item[OWNER], AttributeValue::S("m-1".into()));
    assert_eq!(item[EXPIRES_AT], AttributeValue::N((now + 60).to_string()));
    // Another's release is a no-op; the owner's gives the key back.
    store.release("order-42", "m-2").await.unwrap();
    assert!(matches!(
        store.claim("order-42", "m-3", now, now + 60).await.unwrap(),
        Claim::Held { .. }
    ));
    store.release("order-42", "m-1").await.unwrap();
    assert_eq!(
        store.claim("order-42", "m-3", now, now + 60).await.unwrap(),
        Claim::Won
    );
    // Settled: a repeat is done, with the answer, and the answer survives a release.
    store
        .settle("order-42", r#"{"delivered":2}"#)
        .await
        .unwrap();
    store.release("order-42", "m-3").await.unwrap();
    assert_eq!(
        store.claim("order-42", "m-4", now, now + 60).await.unwrap(),
        Claim::Done {
            answer: r#"{"delivered":2}"#.into()
        }
    );
    let settled = claim_item(&store, "order-42").await.unwrap();
    assert_eq!(
        settled[ANSWER],
        AttributeValue::S(r#"{"delivered":2}"#.into())
    );
    // Past its expiry the key is free again, though TTL has not deleted the item (moto,
    // like DynamoDB, deletes it later or never).
    assert_eq!(
        store
            .claim("order-42", "m-5", now + 61, now + 120)
            .await
            .unwrap(),
        Claim::Won
    );
    // No claim is a member of any room.
    assert!(
        store
            .members(&Room::Default, now, None)
            .await
            .unwrap()
            .is_empty()
    );
}
