use super::*;
use crate::clock::now_ms;
use crate::delivery::continuation::Continuation;
use crate::event::Event;
use crate::gateway::PostFailure;
use crate::gateway::Poster;
use crate::store::{Connection, Room, Row};
use crate::store::{MemoryStore, StoreError};
use crate::wire::message;
use base64::Engine;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records every post; answers 410 for the ids in `gone`.
#[derive(Clone, Default)]
struct Recorder {
    posts: Arc<Mutex<Vec<(String, String, Bytes)>>>,
    gone: Arc<Vec<String>>,
}

struct RecordingPoster {
    endpoint: String,
    recorder: Recorder,
}

impl Gateway for Recorder {
    type Poster = RecordingPoster;
    fn poster(&self, endpoint: &str) -> RecordingPoster {
        RecordingPoster {
            endpoint: endpoint.to_owned(),
            recorder: self.clone(),
        }
    }
}

impl Poster for RecordingPoster {
    async fn post(&self, id: &str, data: Bytes) -> Result<(), PostFailure> {
        self.recorder
            .posts
            .lock()
            .unwrap()
            .push((self.endpoint.clone(), id.to_owned(), data));
        if self.recorder.gone.iter().any(|g| g == id) {
            Err(PostFailure::Service {
                status: 410,
                code: Some("GoneException".into()),
            })
        } else {
            Ok(())
        }
    }
}

impl Recorder {
    fn bodies(&self) -> HashMap<String, serde_json::Value> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .map(|(_, id, data)| (id.clone(), serde_json::from_slice(data).unwrap()))
            .collect()
    }
}

/// When the test connections connected: a minute ago, past the connect window and
/// long before their rows expire.
static CONNECTED_AT: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| now_ms() - 60_000);

fn event(route: &str, id: &str, body: Option<&str>) -> ApiGatewayWebsocketProxyRequest {
    let connected_at = *CONNECTED_AT;
    serde_json::from_value(serde_json::json!({
            "requestContext": {
                "routeKey": route,
                "connectionId": id,
                "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
                "stage": "dev",
                "eventType": match route { "$connect" => "CONNECT", "$disconnect" => "DISCONNECT", _ => "MESSAGE" },
                "connectedAt": connected_at,
                "requestTimeEpoch": connected_at + 500,
            },
            "body": body,
            "isBase64Encoded": false,
        }))
        .unwrap()
}

fn handler(gone: &[&str]) -> (Handler<MemoryStore, Recorder>, Recorder) {
    let recorder = Recorder {
        gone: Arc::new(gone.iter().map(|s| s.to_string()).collect()),
        ..Recorder::default()
    };
    let settings = Settings {
        concurrency: 4,
        ..Settings::default()
    };
    (
        Handler::new(MemoryStore::new(), recorder.clone(), settings),
        recorder,
    )
}

#[tokio::test]
async fn connect_stores_with_ttl_and_disconnect_forgets() {
    let (h, _) = handler(&[]);
    assert_eq!(
        h.handle(event("$connect", "a", None)).await.status_code,
        200
    );
    let row = h.store().get("a").unwrap();
    assert_eq!(row.connected_at_ms, *CONNECTED_AT);
    assert_eq!(row.expires_at, *CONNECTED_AT / 1000 + 7_800);
    assert_eq!(
        h.handle(event("$disconnect", "a", None)).await.status_code,
        200
    );
    assert!(h.store().is_empty());
    // Disconnecting twice is fine.
    assert_eq!(
        h.handle(event("$disconnect", "a", None)).await.status_code,
        200
    );
}

#[tokio::test]
async fn broadcast_reaches_everyone_with_me_only_for_the_sender() {
    let (h, rec) = handler(&[]);
    for id in ["a", "b", "c"] {
        h.handle(event("$connect", id, None)).await;
    }
    h.handle(event("$default", "b", Some("hi there"))).await;
    let bodies = rec.bodies();
    assert_eq!(bodies.len(), 3);
    assert_eq!(
        bodies["b"],
        serde_json::json!({"data": "hi there", "_now": *CONNECTED_AT + 500, "_me": true})
    );
    for other in ["a", "c"] {
        assert_eq!(bodies[other]["_me"], false);
        assert_eq!(bodies[other]["data"], "hi there");
    }
    let posts = rec.posts.lock().unwrap();
    assert!(posts.iter().all(
        |(endpoint, _, _)| endpoint == "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
    ));
}

#[tokio::test]
async fn gone_connections_are_forgotten_and_only_they() {
    let (h, _) = handler(&["b", "d"]);
    for id in ["a", "b", "c", "d"] {
        h.handle(event("$connect", id, None)).await;
    }
    h.handle(event("$default", "a", Some("x"))).await;
    let mut left = h.store().scan().await.unwrap();
    left.sort();
    assert_eq!(left, vec!["a", "c"]);
}

#[tokio::test]
async fn a_sender_without_a_row_gets_its_copy_and_its_row_back() {
    let (h, rec) = handler(&[]);
    h.handle(event("$connect", "a", None)).await;
    h.handle(event("$default", "ghost", Some("x"))).await;
    let bodies = rec.bodies();
    assert_eq!(bodies["ghost"]["_me"], true);
    assert_eq!(bodies["a"]["_me"], false);
    let row = h
        .store()
        .get("ghost")
        .expect("the sender's row is written again");
    assert_eq!(row.connected_at_ms, *CONNECTED_AT);
}

#[tokio::test]
async fn the_senders_copy_goes_first() {
    let (h, rec) = handler(&[]);
    for id in ["a", "b", "c"] {
        h.handle(event("$connect", id, None)).await;
    }
    h.handle(event("$default", "c", Some("x"))).await;
    assert_eq!(rec.posts.lock().unwrap()[0].1, "c");
}

#[tokio::test]
async fn too_large_messages_reach_only_the_sender_as_an_error() {
    let (h, rec) = handler(&[]);
    h.handle(event("$connect", "a", None)).await;
    h.handle(event("$connect", "b", None)).await;
    let big = "x".repeat(message::MAX_MESSAGE_BYTES);
    h.handle(event("$default", "a", Some(&big))).await;
    let bodies = rec.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies["a"]["error"], "message_too_large");
}

#[tokio::test]
async fn binary_frames() {
    let (h, rec) = handler(&[]);
    h.handle(event("$connect", "a", None)).await;
    let mut ev = event("$default", "a", None);
    ev.body = Some(base64::prelude::BASE64_STANDARD.encode(r#"{"k":1}"#));
    ev.is_base64_encoded = true;
    h.handle(ev).await;
    assert_eq!(rec.bodies()["a"]["k"], 1);

    let mut ev = event("$default", "a", None);
    ev.body = Some(base64::prelude::BASE64_STANDARD.encode([0xc3, 0x28]));
    ev.is_base64_encoded = true;
    h.handle(ev).await;
    assert_eq!(rec.bodies()["a"]["error"], "binary_not_supported");
}

/// A store whose every call fails, as DynamoDB does when throttled or misconfigured.
struct Broken;

fn unavailable(operation: &'static str) -> StoreError {
    StoreError {
        operation,
        detail: "unavailable".into(),
    }
}

impl ConnectionStore for Broken {
    async fn put(&self, _: &Connection) -> Result<(), StoreError> {
        Err(unavailable("PutItem"))
    }
    async fn get(&self, _: &str) -> Result<Option<Connection>, StoreError> {
        Err(unavailable("GetItem"))
    }
    async fn join(&self, _: &Connection, _: &Room) -> Result<(), StoreError> {
        Err(unavailable("PutItem"))
    }
    async fn leave(&self, _: &str, _: &Room) -> Result<(), StoreError> {
        Err(unavailable("DeleteItem"))
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(unavailable("DeleteItem"))
    }
    async fn delete_seen(&self, _: &Row, _: &Room) -> Result<bool, StoreError> {
        Err(unavailable("DeleteItem"))
    }
    async fn members(&self, _: &Room, _: i64, _: Option<&str>) -> Result<Vec<Row>, StoreError> {
        Err(unavailable("Query"))
    }
    async fn scan(&self) -> Result<Vec<String>, StoreError> {
        Err(unavailable("Scan"))
    }
    async fn count_message(&self, _: &str, _: i64) -> Result<u32, StoreError> {
        Err(unavailable("UpdateItem"))
    }
}

#[tokio::test]
async fn storage_failures_refuse_connects_and_tell_the_sender() {
    let recorder = Recorder::default();
    let h = Handler::new(Broken, recorder.clone(), Settings::default());
    assert_eq!(
        h.handle(event("$connect", "a", None)).await.status_code,
        500
    );
    assert_eq!(
        h.handle(event("$disconnect", "a", None)).await.status_code,
        200
    );
    assert_eq!(
        h.handle(event("$default", "a", Some("x")))
            .await
            .status_code,
        200
    );
    let bodies = recorder.bodies();
    assert_eq!(bodies["a"]["error"], "storage_unavailable");
}

#[tokio::test]
async fn management_endpoint_override_is_used() {
    let recorder = Recorder::default();
    let settings = Settings {
        concurrency: 1,
        management_endpoint: Some("http://127.0.0.1:1".into()),
        ..Settings::default()
    };
    let h = Handler::new(MemoryStore::new(), recorder.clone(), settings);
    h.handle(event("$default", "a", Some("x"))).await;
    assert_eq!(recorder.posts.lock().unwrap()[0].0, "http://127.0.0.1:1");
}

/// A `$connect` event whose URL asked for `query`.
fn connect_with(id: &str, query: &[(&str, &str)]) -> ApiGatewayWebsocketProxyRequest {
    let mut event = serde_json::to_value(event("$connect", id, None)).unwrap();
    let mut multi = serde_json::Map::new();
    for (k, v) in query {
        multi
            .entry(k.to_string())
            .or_insert_with(|| serde_json::json!([]))
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(v));
    }
    event["multiValueQueryStringParameters"] = serde_json::Value::Object(multi);
    serde_json::from_value(event).unwrap()
}

impl Recorder {
    fn clear(&self) {
        self.posts.lock().unwrap().clear();
    }
    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.bodies().into_keys().collect();
        ids.sort();
        ids
    }
}

/// A1, A2 in `a`; B1 in `b`; AB in both; D in the default room.
async fn rooms() -> (Handler<MemoryStore, Recorder>, Recorder) {
    let (h, rec) = handler(&[]);
    for (id, query) in [
        ("a1", vec![("channel", "a")]),
        ("a2", vec![("channels", "a")]),
        ("b1", vec![("channel", "b")]),
        ("ab", vec![("channel", "b"), ("channel", "a")]),
        ("d", vec![]),
    ] {
        assert_eq!(h.handle(connect_with(id, &query)).await.status_code, 200);
    }
    (h, rec)
}

#[tokio::test]
async fn a_channel_message_reaches_its_members_once_with_its_channel() {
    let (h, rec) = rooms().await;
    h.handle(event("$default", "a1", Some("hi"))).await;
    assert_eq!(rec.ids(), ["a1", "a2", "ab"]);
    let bodies = rec.bodies();
    assert_eq!(
        bodies["a1"],
        serde_json::json!({"data": "hi", "_now": *CONNECTED_AT + 500, "_channel": "a", "_me": true})
    );
    assert_eq!(bodies["a2"]["_channel"], "a");
    assert_eq!(bodies["a2"]["_me"], false);

    // From a member of a and b: each member once, through the first shared channel.
    rec.clear();
    h.handle(event("$default", "ab", Some(r#"{"k":1}"#))).await;
    assert_eq!(rec.ids(), ["a1", "a2", "ab", "b1"]);
    assert_eq!(rec.posts.lock().unwrap().len(), 4);
    let bodies = rec.bodies();
    assert_eq!(bodies["ab"]["_channel"], "a");
    assert_eq!(bodies["b1"]["_channel"], "b");
    assert_eq!(bodies["a1"]["k"], 1);

    // The default room is as before: no _channel.
    rec.clear();
    h.handle(event("$default", "d", Some("x"))).await;
    assert_eq!(rec.ids(), ["d"]);
    assert_eq!(
        rec.bodies()["d"],
        serde_json::json!({"data": "x", "_now": *CONNECTED_AT + 500, "_me": true})
    );
}

#[tokio::test]
async fn subscribe_unsubscribe_and_ping() {
    let (h, rec) = rooms().await;
    h.handle(event(
        "$default",
        "b1",
        Some(r#"{"action":"subscribe","channel":"a"}"#),
    ))
    .await;
    assert_eq!(rec.ids(), ["b1"]);
    assert_eq!(
        rec.bodies()["b1"],
        serde_json::json!({"action": "subscribed", "channel": "a"})
    );
    rec.clear();
    h.handle(event("$default", "a1", Some("x"))).await;
    assert_eq!(rec.ids(), ["a1", "a2", "ab", "b1"]);

    rec.clear();
    h.handle(event(
        "$default",
        "b1",
        Some(r#"{"action":"unsubscribe","channel":"a"}"#),
    ))
    .await;
    assert_eq!(
        rec.bodies()["b1"],
        serde_json::json!({"action": "unsubscribed", "channel": "a"})
    );
    rec.clear();
    h.handle(event("$default", "a1", Some("x"))).await;
    assert_eq!(rec.ids(), ["a1", "a2", "ab"]);

    for (ping, pong) in [
        (
            r#"{"action":"ping"}"#,
            serde_json::json!({"action": "pong"}),
        ),
        (
            r#"{"action":"ping","data":"hello"}"#,
            serde_json::json!({"action": "pong", "data": "hello"}),
        ),
    ] {
        rec.clear();
        h.handle(event("$default", "d", Some(ping))).await;
        assert_eq!(rec.ids(), ["d"]);
        assert_eq!(rec.bodies()["d"], pong);
    }
}

#[tokio::test]
async fn publish_control_messages_need_membership() {
    let (h, rec) = rooms().await;
    h.handle(event(
        "$default",
        "d",
        Some(r#"{"action":"publish","channel":"a","data":"psst"}"#),
    ))
    .await;
    assert_eq!(rec.ids(), ["d"]);
    assert_eq!(rec.bodies()["d"]["error"], "not_a_member");

    rec.clear();
    h.handle(event(
        "$default",
        "ab",
        Some(r#"{"action":"publish","channel":"b","data":{"n":2}}"#),
    ))
    .await;
    assert_eq!(rec.ids(), ["ab", "b1"]);
    assert_eq!(rec.bodies()["b1"]["n"], 2);
    assert_eq!(rec.bodies()["b1"]["_channel"], "b");
    assert_eq!(rec.bodies()["ab"]["_me"], true);
}

#[tokio::test]
async fn a_continuation_resumes_after_its_room_and_key_and_never_repeats() {
    let (h, _) = rooms().await;
    let rooms = [Room::from_key("a").unwrap(), Room::from_key("b").unwrap()];
    let read = |cursor| {
        let h = &h;
        let rooms = &rooms;
        async move {
            h.recipients(rooms, cursor)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.id, r.room_index))
                .collect::<Vec<_>>()
        }
    };
    let all = |pairs: &[(&str, usize)]| {
        pairs
            .iter()
            .map(|(id, room)| (id.to_string(), *room))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        read(None).await,
        all(&[("a1", 0), ("a2", 0), ("ab", 0), ("b1", 1)])
    );
    assert_eq!(
        read(Some((0, Some("a2")))).await,
        all(&[("ab", 0), ("b1", 1)])
    );
    // `ab` is also in b, but it was reached through a: not again.
    assert_eq!(read(Some((1, None))).await, all(&[("b1", 1)]));
    assert_eq!(read(Some((1, Some("b1")))).await, all(&[]));
}

#[tokio::test]
async fn a_bad_channel_refuses_the_connection_with_its_reason() {
    let (h, _) = handler(&[]);
    let refused = h.handle(connect_with("x", &[("channel", "a b")])).await;
    assert_eq!(refused.status_code, 400);
    let Some(aws_lambda_events::encodings::Body::Text(body)) = refused.body else {
        panic!("no reason");
    };
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "bad_channel");
    assert!(body["reason"].as_str().unwrap().contains("may use only"));
    assert!(h.store().is_empty());
}

#[tokio::test]
async fn disconnect_leaves_every_channel() {
    let (h, _) = rooms().await;
    h.handle(event("$disconnect", "ab", None)).await;
    for room in ["a", "b"] {
        let room = Room::from_key(room).unwrap();
        let members = h.store().members(&room, 0, None).await.unwrap();
        assert!(members.iter().all(|r| r.id != "ab"), "{members:?}");
    }
}

#[tokio::test]
async fn a_function_url_publish_reaches_the_channel_as_from_nobody() {
    let recorder = Recorder::default();
    let settings = Settings {
        concurrency: 2,
        management_endpoint: Some("http://127.0.0.1:1".into()),
        ..Settings::default()
    };
    let h = Handler::new(MemoryStore::new(), recorder.clone(), settings);
    for (id, query) in [("a1", vec![("channel", "a")]), ("d", vec![])] {
        h.handle(connect_with(id, &query)).await;
    }
    let url_event = |query: &str, body: &str| {
        serde_json::json!({
            "version": "2.0", "rawPath": "/", "rawQueryString": query,
            "requestContext": {"http": {"method": "POST", "path": "/"}},
            "body": body, "isBase64Encoded": false,
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let answer = h
        .dispatch(
            Event::recognize(url_event("channel=a", "shipped")),
            deadline,
        )
        .await
        .json;
    assert_eq!(answer["statusCode"], 200);
    let counts: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(counts["recipients"], 1);
    assert_eq!(counts["delivered"], 1);
    assert_eq!(recorder.ids(), ["a1"]);
    assert_eq!(recorder.bodies()["a1"]["_me"], false);
    assert_eq!(recorder.bodies()["a1"]["_channel"], "a");

    recorder.clear();
    let answer = h
        .dispatch(Event::recognize(url_event("", "all")), deadline)
        .await
        .json;
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(recorder.ids(), ["d"]);
    let raw = String::from_utf8(recorder.posts.lock().unwrap()[0].2.to_vec()).unwrap();
    assert!(raw.starts_with(r#"{"data":"all","_now":"#), "{raw}");
    assert!(raw.ends_with(r#","_me":false}"#), "{raw}");

    let answer = h
        .dispatch(Event::recognize(url_event("channel=%25", "x")), deadline)
        .await
        .json;
    assert_eq!(answer["statusCode"], 400);
}

/// A `$connect` event as API Gateway sends it after the authorizer allowed `context`,
/// with `headers`.
fn connect_as(
    id: &str,
    query: &[(&str, &str)],
    context: serde_json::Value,
    headers: &[(&str, &str)],
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = serde_json::to_value(connect_with(id, query)).unwrap();
    event["requestContext"]["authorizer"] = context;
    event["headers"] = serde_json::Value::Object(
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect(),
    );
    serde_json::from_value(event).unwrap()
}

fn with_settings(settings: Settings) -> (Handler<MemoryStore, Recorder>, Recorder) {
    let recorder = Recorder::default();
    (
        Handler::new(MemoryStore::new(), recorder.clone(), settings),
        recorder,
    )
}

fn body_of(response: &ApiGatewayProxyResponse) -> serde_json::Value {
    match &response.body {
        Some(aws_lambda_events::encodings::Body::Text(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("no JSON body: {other:?}"),
    }
}

#[tokio::test]
async fn a_handshake_from_an_unlisted_origin_is_refused() {
    let (h, _) = with_settings(Settings {
        allowed_origins: vec!["https://app.example".into()],
        ..Settings::default()
    });
    let evil = h
        .handle(connect_as(
            "e",
            &[],
            serde_json::json!({}),
            &[("Origin", "https://evil.example")],
        ))
        .await;
    assert_eq!(evil.status_code, 403);
    assert_eq!(body_of(&evil)["error"], "forbidden_origin");
    let good = h
        .handle(connect_as(
            "g",
            &[],
            serde_json::json!({}),
            &[("origin", "https://app.example")],
        ))
        .await;
    assert_eq!(good.status_code, 200);
    let none = h
        .handle(connect_as("n", &[], serde_json::json!({}), &[]))
        .await;
    assert_eq!(none.status_code, 200, "no Origin: not a browser");
    assert_eq!(h.store().scan().await.unwrap(), ["g", "n"]);
}

#[tokio::test]
async fn a_token_limits_the_channels_and_its_subject_is_stored() {
    let secret = b"0123456789abcdef0123456789abcdef".to_vec();
    let verifier = crate::access::tokens::Verifier::secret(secret).unwrap();
    let (h, rec) = with_settings(Settings {
        auth: Some(crate::config::Auth::fixed(verifier)),
        ..Settings::default()
    });
    let limited = serde_json::json!({"sub": "u1", "channels": "a", "limited": "true", "exp": "9999999999", "principalId": "u1"});
    // Tokens required: a $connect no authorizer let in is refused.
    assert_eq!(h.handle(connect_with("x", &[])).await.status_code, 403);
    let refused = h
        .handle(connect_as("b", &[("channel", "b")], limited.clone(), &[]))
        .await;
    assert_eq!(refused.status_code, 403);
    assert_eq!(body_of(&refused)["error"], "forbidden_channel");
    // Naming no channel joins the token's channels.
    assert_eq!(
        h.handle(connect_as("u", &[], limited.clone(), &[]))
            .await
            .status_code,
        200
    );
    let stored = h.store().get("u").unwrap();
    assert_eq!(stored.sub.as_deref(), Some("u1"));
    assert_eq!(stored.rooms, [Room::from_key("a").unwrap()].into());

    h.handle(event(
        "$default",
        "u",
        Some(r#"{"action":"subscribe","channel":"b"}"#),
    ))
    .await;
    assert_eq!(rec.bodies()["u"]["error"], "forbidden_channel");
    rec.clear();
    h.handle(event(
        "$default",
        "u",
        Some(r#"{"action":"subscribe","channel":"a"}"#),
    ))
    .await;
    assert_eq!(rec.bodies()["u"]["action"], "subscribed");
}

#[tokio::test]
async fn a_lost_record_never_widens_what_a_token_allowed() {
    let verifier =
        crate::access::tokens::Verifier::secret(b"0123456789abcdef0123456789abcdef".to_vec())
            .unwrap();
    let (h, rec) = with_settings(Settings {
        auth: Some(crate::config::Auth::fixed(verifier)),
        ..Settings::default()
    });
    let open = serde_json::json!({"exp": "9999999999", "principalId": "anonymous"});
    h.handle(connect_as("d", &[], open, &[])).await;
    // "ghost" has no record (its token limited it to some channel once).
    h.handle(event("$default", "ghost", Some("x"))).await;
    assert_eq!(rec.ids(), ["ghost"], "not the default room's members");
    rec.clear();
    h.handle(event(
        "$default",
        "ghost",
        Some(r#"{"action":"subscribe","channel":"a"}"#),
    ))
    .await;
    assert_eq!(rec.bodies()["ghost"]["error"], "forbidden_channel");
}

#[tokio::test]
async fn messages_over_the_limit_reach_nobody_and_the_sender_is_told() {
    let (h, rec) = with_settings(Settings {
        max_messages_per_second: 3,
        concurrency: 2,
        ..Settings::default()
    });
    for id in ["a", "b"] {
        h.handle(event("$connect", id, None)).await;
    }
    for _ in 0..5 {
        h.handle(event("$default", "a", Some("x"))).await;
    }
    let posts = rec.posts.lock().unwrap();
    let to_b = posts.iter().filter(|(_, id, _)| id == "b").count();
    let refusals = posts
        .iter()
        .filter(|(_, id, data)| {
            id == "a" && String::from_utf8_lossy(data).contains(r#""error":"rate_limited""#)
        })
        .count();
    // All five within one second (or two, if the clock turned: then at most 6 pass).
    assert!((3..=5).contains(&to_b), "{to_b} reached b");
    assert_eq!(to_b + refusals, 5);
}

#[tokio::test]
async fn events_without_a_connection_id_are_bad_requests() {
    let (h, _) = handler(&[]);
    let mut ev = event("$default", "a", Some("x"));
    ev.request_context.connection_id = None;
    assert_eq!(h.handle(ev).await.status_code, 400);
}

/// Every kind of event the function receives, as Lambda hands it over (JSON), through the
/// one door (`Event::recognize` then `Handler::dispatch`), each answered as AWS expects:
/// the WebSocket routes with their status, the authorizer with a policy, the publish URL
/// with a function URL response, a continuation (and a malformed one) with `{}`, and
/// anything else with a 400.
#[tokio::test]
async fn every_kind_of_event_goes_through_the_one_door() {
    let recorder = Recorder::default();
    let settings = Settings {
        concurrency: 2,
        management_endpoint: Some("https://abc123.execute-api.eu-west-1.amazonaws.com/dev".into()),
        ..Settings::default()
    };
    let h = Handler::new(MemoryStore::new(), recorder.clone(), settings);
    let deadline = Instant::now() + Duration::from_secs(5);
    let through = |value: serde_json::Value| {
        let event = Event::recognize(value);
        let kind = event.kind();
        let h = &h;
        async move { (kind, h.dispatch(event, deadline).await) }
    };
    let json = |request: ApiGatewayWebsocketProxyRequest| serde_json::to_value(request).unwrap();

    let (kind, answer) = through(json(event("$connect", "a", None))).await;
    assert_eq!(
        (kind, answer.json["statusCode"].clone()),
        ("$connect", 200.into())
    );
    let (kind, _) = through(json(event("$connect", "b", None))).await;
    assert_eq!(kind, "$connect");
    assert_eq!(h.store().len(), 2);

    let (kind, answer) = through(json(event("$default", "a", Some("hi")))).await;
    assert_eq!(
        (kind, answer.json["statusCode"].clone()),
        ("$default", 200.into())
    );
    assert_eq!(answer.report.delivered, 2);
    assert_eq!(recorder.bodies()["b"]["data"], "hi");

    // No tokens configured: the authorizer denies, with a policy API Gateway reads.
    let (kind, answer) = through(serde_json::json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/$connect",
        "queryStringParameters": {"token": "x"},
        "requestContext": {"routeKey": "$connect", "connectionId": "c"}
    }))
    .await;
    assert_eq!(kind, "authorizer");
    assert_eq!(
        answer.json["policyDocument"]["Statement"][0]["Effect"],
        "Deny"
    );

    recorder.clear();
    let (kind, answer) = through(serde_json::json!({
        "version": "2.0", "rawPath": "/", "rawQueryString": "",
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": "from the backend", "isBase64Encoded": false,
    }))
    .await;
    assert_eq!(
        (kind, answer.json["statusCode"].clone()),
        ("publish", 200.into())
    );
    assert_eq!(recorder.bodies()["a"]["_me"], false);

    recorder.clear();
    let continuation = Continuation {
        endpoint: "https://abc123.execute-api.eu-west-1.amazonaws.com/dev".into(),
        sender: "a".into(),
        text: Continuation::encode_text("the rest"),
        now: 1,
        rooms: vec![],
        room_index: 0,
        after: Some("a".into()),
        retry: vec![],
        hop: 1,
        scan: true,
    };
    let payload: serde_json::Value = serde_json::from_slice(&continuation.to_payload()).unwrap();
    let (kind, answer) = through(payload).await;
    assert_eq!(
        (kind, answer.json.clone()),
        ("continuation", serde_json::json!({}))
    );
    assert_eq!(
        recorder.ids(),
        ["b"],
        "the rest after the cursor, without the sender"
    );

    let marker = crate::delivery::continuation::MARKER;
    let (kind, answer) = through(serde_json::json!({ marker: "not one" })).await;
    assert_eq!(
        (kind, answer.json.clone()),
        ("continuation", serde_json::json!({}))
    );

    let (kind, answer) = through(serde_json::json!({"something": "else"})).await;
    assert_eq!(
        (kind, answer.json["statusCode"].clone()),
        ("unknown", 400.into())
    );

    let (kind, answer) = through(json(event("$disconnect", "b", None))).await;
    assert_eq!(
        (kind, answer.json["statusCode"].clone()),
        ("$disconnect", 200.into())
    );
    assert_eq!(h.store().len(), 1);
}
