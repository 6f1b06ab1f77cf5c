//! Connect, disconnect and the broadcast of a message in the default room: who gets what, the gone, refusals, storage failures.

use super::*;

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

impl crate::store::DedupeStore for Broken {
    async fn claim(
        &self,
        _: &str,
        _: &str,
        _: i64,
        _: i64,
    ) -> Result<crate::store::Claim, StoreError> {
        Err(unavailable("PutItem"))
    }
    async fn settle(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(unavailable("UpdateItem"))
    }
    async fn release(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(unavailable("DeleteItem"))
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

impl crate::store::HistoryStore for Broken {
    async fn next_position(
        &self,
        _: &Room,
        _: &str,
        _: i64,
    ) -> Result<crate::wire::position::Position, StoreError> {
        Err(unavailable("UpdateItem"))
    }
    async fn keep(&self, _: &Room, _: u64, _: &str, _: i64) -> Result<(), StoreError> {
        Err(unavailable("PutItem"))
    }
    async fn head(&self, _: &Room) -> Result<Option<crate::wire::position::Position>, StoreError> {
        Err(unavailable("GetItem"))
    }
    async fn kept(
        &self,
        _: &Room,
        _: u64,
        _: u64,
        _: i64,
    ) -> Result<Vec<crate::store::Kept>, StoreError> {
        Err(unavailable("Query"))
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
