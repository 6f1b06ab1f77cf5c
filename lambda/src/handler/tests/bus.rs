//! Bus events through the one door: batches of the events queue as Lambda's event
//! source mapping sends them, against the memory store and the recording gateway.

use super::faulty::Faulty;
use super::*;
use crate::delivery::dedupe::Outcome;
use crate::store::ConnectionStore;
use crate::wire::bus::test_message;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde_json::json;

fn bus_handler<S: ConnectionStore>(store: S) -> (Handler<S, Recorder>, Recorder) {
    let recorder = Recorder::default();
    let settings = Settings {
        management_endpoint: Some("https://abc123.execute-api.eu-west-1.amazonaws.com/dev".into()),
        ..Settings::default()
    };
    (Handler::new(store, recorder.clone(), settings), recorder)
}

fn message(id: &str, body: &str, attributes: &[(&str, &str)]) -> SqsMessage {
    let mut message = test_message(id, body, attributes);
    message.receipt_handle = Some(format!("handle-{id}"));
    message.event_source_arn = Some("arn:aws:sqs:eu-west-1:123456789012:mb-chat-dev-events".into());
    message
}

/// The batch as JSON through the door, as `bootstrap` receives it.
async fn deliver<S: ConnectionStore>(
    h: &Handler<S, Recorder>,
    messages: Vec<SqsMessage>,
    deadline: Instant,
) -> Answer {
    let mut batch = SqsEvent::default();
    batch.records = messages;
    let event = Event::recognize(serde_json::to_value(batch).unwrap());
    assert_eq!(event.kind(), "queue");
    h.dispatch(event, deadline).await
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn failures(answer: &Answer) -> Vec<String> {
    answer.json["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

async fn members<S: ConnectionStore>(h: &Handler<S, Recorder>) {
    h.handle(connect_with("o1", &[("channel", "orders:42")]))
        .await;
    h.handle(connect_with("o2", &[("channel", "orders:42")]))
        .await;
    h.handle(connect_with("x", &[("channel", "orders:7")]))
        .await;
    h.handle(connect_with("d", &[])).await;
}

#[tokio::test]
async fn a_batch_with_a_poison_record_delivers_the_others_and_retries_nothing() {
    let (h, rec) = bus_handler(MemoryStore::new());
    members(&h).await;
    let answer = deliver(
        &h,
        vec![
            message(
                "m-1",
                r#"{"channel":"orders:42","event":"order.updated","data":{"total":3},"id":"o42-1"}"#,
                &[],
            ),
            message("m-2", "not json at all", &[]),
            message("m-3", r#"{"event":"no.channel","data":1}"#, &[]),
            message("m-4", r#"{"status":"paid"}"#, &[("channel", "orders:42")]),
        ],
        soon(),
    )
    .await;
    // Nothing to retry: the poison records are dropped (and logged), never redriven.
    assert!(failures(&answer).is_empty(), "{}", answer.json);
    let words: Vec<&str> = answer.events.iter().map(|e| e.outcome.word()).collect();
    assert_eq!(words, ["delivered", "rejected", "rejected", "delivered"]);
    let codes: Vec<&str> = answer
        .events
        .iter()
        .filter_map(|e| match &e.outcome {
            Outcome::Rejected { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(codes, ["bad_envelope", "bad_channel"]);
    // What a server publish of {"event":E,"data":D} gives: _channel, _now, _me false.
    for member in ["o1", "o2"] {
        let got = rec.frames_to(member);
        assert_eq!(got.len(), 2, "{member}: {got:?}");
        assert_eq!(got[0]["event"], "order.updated");
        assert_eq!(got[0]["data"], json!({"total": 3}));
        assert_eq!(got[0]["_channel"], "orders:42");
        assert_eq!(got[0]["_me"], false);
        assert!(got[0]["_now"].is_i64());
        assert_eq!(got[1]["data"], json!({"status": "paid"}));
    }
    assert!(rec.frames_to("x").is_empty(), "another channel heard it");
    assert!(rec.frames_to("d").is_empty(), "the default room heard it");
}

#[tokio::test]
async fn a_copy_from_the_bus_is_the_copy_a_server_publish_gives() {
    let (h, rec) = bus_handler(MemoryStore::new());
    members(&h).await;
    let body = r#"{"event":"order.updated","data":{"total":3}}"#;
    let published = h
        .publish_url(
            &crate::wire::publish::UrlRequest {
                method: "POST".into(),
                query: "channel=orders:42".into(),
                body: Some(body.into()),
                is_base64_encoded: false,
                idempotency_key: None,
            },
            soon(),
        )
        .await;
    assert_eq!(published.0, 200);
    let envelope = r#"{"channel":"orders:42","event":"order.updated","data":{"total":3}}"#;
    deliver(&h, vec![message("m-1", envelope, &[])], soon()).await;
    let mut got = rec.frames_to("o1");
    assert_eq!(got.len(), 2);
    // The channel keeps history: the two are numbered one after the other.
    assert_eq!((&got[0]["_seq"], &got[1]["_seq"]), (&json!(1), &json!(2)));
    for copy in &mut got {
        let fields = copy.as_object_mut().unwrap();
        fields.remove("_now");
        fields.remove("_seq");
    }
    assert_eq!(
        got[0], got[1],
        "a client cannot tell a bus event from a publish"
    );
}

#[tokio::test]
async fn a_repeated_id_is_delivered_once() {
    let (h, rec) = bus_handler(MemoryStore::new());
    members(&h).await;
    let envelope = r#"{"channel":"orders:42","data":"paid","id":"order-42-paid"}"#;
    // The same id in one batch, and again in a later one (SNS delivering twice, a
    // producer's retry): one copy each.
    let answer = deliver(
        &h,
        vec![message("m-1", envelope, &[]), message("m-2", envelope, &[])],
        soon(),
    )
    .await;
    let later = deliver(&h, vec![message("m-3", envelope, &[])], soon()).await;
    assert_eq!(rec.frames_to("o1").len(), 1);
    assert_eq!(rec.frames_to("o2").len(), 1);
    assert_eq!(answer.events[1].outcome.word(), "duplicate");
    // A repeat knows the first delivery's counts.
    match &later.events[0].outcome {
        Outcome::Duplicate(Some(counts)) => assert_eq!(counts["delivered"], 2),
        other => panic!("{other:?}"),
    }
    assert!(failures(&answer).is_empty() && failures(&later).is_empty());
    // Without an id, each SQS message is its own event.
    let plain = r#"{"channel":"orders:42","data":"again"}"#;
    deliver(
        &h,
        vec![message("m-4", plain, &[]), message("m-5", plain, &[])],
        soon(),
    )
    .await;
    assert_eq!(rec.frames_to("o1").len(), 3);
}

#[tokio::test]
async fn a_storage_failure_before_any_post_is_that_items_failure_and_its_retry_delivers() {
    let store = Faulty::members_of("orders:7");
    let (h, rec) = bus_handler(store);
    members(&h).await;
    let first = message("m-1", r#"{"channel":"orders:42","data":1,"id":"a"}"#, &[]);
    let broken = message("m-2", r#"{"channel":"orders:7","data":2,"id":"b"}"#, &[]);
    let third = message("m-3", r#"{"channel":"orders:42","data":3,"id":"c"}"#, &[]);
    let answer = deliver(&h, vec![first, broken.clone(), third], soon()).await;
    assert_eq!(failures(&answer), ["m-2"], "{}", answer.json);
    assert_eq!(rec.frames_to("o1").len(), 2, "the others were delivered");
    assert!(rec.frames_to("x").is_empty());
    // The queue redelivers m-2 (same message id) once the table answers again: the
    // claim was given back, so it is delivered, not taken for a duplicate.
    h.store().recover();
    let retry = deliver(&h, vec![broken], soon()).await;
    assert!(failures(&retry).is_empty(), "{}", retry.json);
    assert_eq!(rec.frames_to("x").len(), 1);
}

#[tokio::test]
async fn what_the_deadline_leaves_unstarted_is_retried() {
    let (h, rec) = bus_handler(MemoryStore::new());
    members(&h).await;
    let messages: Vec<SqsMessage> = (0..3)
        .map(|i| {
            message(
                &format!("m-{i}"),
                &format!(r#"{{"channel":"orders:42","data":{i}}}"#),
                &[],
            )
        })
        .collect();
    // The deadline has come already: nothing starts, everything is retried.
    let answer = deliver(&h, messages.clone(), Instant::now()).await;
    assert_eq!(failures(&answer), ["m-0", "m-1", "m-2"]);
    assert!(rec.frames_to("o1").is_empty());
    // With time, the retried batch is delivered in full.
    let answer = deliver(&h, messages, soon()).await;
    assert!(failures(&answer).is_empty());
    assert_eq!(rec.frames_to("o1").len(), 3);
}

#[tokio::test]
async fn an_idempotent_publish_reaches_clients_once() {
    let (h, rec) = bus_handler(MemoryStore::new());
    members(&h).await;
    let request = crate::wire::publish::UrlRequest {
        method: "POST".into(),
        query: "channel=orders:42".into(),
        body: Some(r#"{"event":"paid"}"#.into()),
        is_base64_encoded: false,
        idempotency_key: Some("pay-42".into()),
    };
    let (status, first, _) = h.publish_url(&request, soon()).await;
    assert_eq!((status, &first["delivered"]), (200, &json!(2)), "{first}");
    let (status, again, _) = h.publish_url(&request, soon()).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["delivered"], 2, "the first publish's counts");
    assert_eq!(rec.frames_to("o1").len(), 1);
    // An envelope with the same id through the bus is the same event.
    let envelope = r#"{"channel":"orders:42","data":1,"id":"pay-42"}"#;
    let answer = deliver(&h, vec![message("m-1", envelope, &[])], soon()).await;
    assert_eq!(answer.events[0].outcome.word(), "duplicate");
    assert_eq!(rec.frames_to("o1").len(), 1);
}
