//! Numbered copies, history and `resume`, through the handler over the in-memory store.

use super::*;
use crate::store::HistoryStore;
use serde_json::{Value, json};

/// The frames posted to `id`, in order, as JSON.
fn frames_to(rec: &Recorder, id: &str) -> Vec<Value> {
    rec.posts
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, to, _)| to == id)
        .map(|(_, _, data)| serde_json::from_slice(data).unwrap())
        .collect()
}

fn say(id: &str, text: &str) -> ApiGatewayWebsocketProxyRequest {
    event("$default", id, Some(text))
}

fn resume(channel: &str, seq: u64, epoch: &str) -> String {
    json!({"action": "resume", "channel": channel, "seq": seq, "epoch": epoch}).to_string()
}

#[tokio::test]
async fn channel_copies_are_numbered_and_the_default_room_is_as_before() {
    let (h, rec) = handler(&[]);
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    h.handle(connect_with("b", &[("channel", "lobby")])).await;
    h.handle(event("$connect", "d", None)).await;
    for text in ["one", "two", "three"] {
        h.handle(say("a", text)).await;
    }
    h.handle(say("d", "plain")).await;
    let got = frames_to(&rec, "b");
    let seqs: Vec<&Value> = got.iter().map(|f| &f["_seq"]).collect();
    assert_eq!(seqs, [&json!(1), &json!(2), &json!(3)]);
    let epoch = got[0]["_epoch"].as_str().unwrap();
    assert!(got.iter().all(|f| f["_epoch"] == epoch));
    // The sender's own copy carries the same position.
    assert_eq!(frames_to(&rec, "a")[2]["_seq"], 3);
    // The default room, history off for it: exactly the old bytes.
    let posts = rec.posts.lock().unwrap();
    let plain = &posts.iter().find(|(_, to, _)| to == "d").unwrap().2;
    let now = *CONNECTED_AT + 500;
    assert_eq!(
        plain,
        &format!(r#"{{"data":"plain","_now":{now},"_me":true}}"#)
    );
}

#[tokio::test]
async fn a_client_back_from_a_drop_gets_exactly_what_it_missed_in_order() {
    let (h, rec) = handler(&[]);
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    h.handle(connect_with("b", &[("channel", "lobby")])).await;
    h.handle(say("a", "before")).await;
    let last = frames_to(&rec, "b").pop().unwrap();
    let (seq, epoch) = (
        last["_seq"].as_u64().unwrap(),
        last["_epoch"].as_str().unwrap().to_owned(),
    );
    // B's transport goes; A sends 20; B comes back as a new connection.
    h.handle(event("$disconnect", "b", None)).await;
    for n in 0..20 {
        h.handle(say("a", &format!("m{n}"))).await;
    }
    h.handle(connect_with("b2", &[("channel", "lobby")])).await;
    h.handle(say("b2", &resume("lobby", seq, &epoch))).await;
    let got = frames_to(&rec, "b2");
    let data: Vec<&str> = got[..20]
        .iter()
        .map(|f| f["data"].as_str().unwrap())
        .collect();
    let wanted: Vec<String> = (0..20).map(|n| format!("m{n}")).collect();
    assert_eq!(data, wanted);
    assert!(
        got[..20]
            .iter()
            .all(|f| f["_me"] == false && f["_channel"] == "lobby")
    );
    let seqs: Vec<u64> = got[..20]
        .iter()
        .map(|f| f["_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (seq + 1..=seq + 20).collect::<Vec<_>>());
    assert_eq!(
        got[20],
        json!({"action": "resumed", "channel": "lobby", "recovered": true,
               "seq": seq + 20, "epoch": epoch, "replayed": 20})
    );
    assert_eq!(got.len(), 21);
    // Resuming again from the reply's position: nothing more.
    rec.clear();
    h.handle(say("b2", &resume("lobby", seq + 20, &epoch)))
        .await;
    assert_eq!(frames_to(&rec, "b2")[0]["replayed"], 0);
}

#[tokio::test]
async fn a_position_from_another_stream_is_not_recovered() {
    let (h, rec) = handler(&[]);
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    h.handle(say("a", "x")).await;
    rec.clear();
    h.handle(say("a", &resume("lobby", 1, "an-old-epoch")))
        .await;
    let reply = frames_to(&rec, "a").pop().unwrap();
    assert_eq!(reply["recovered"], false);
    assert_eq!(reply["reason"], "reset");
    assert_eq!(reply["seq"], 1);
    assert_eq!(frames_to(&rec, "a").len(), 1, "nothing replayed");
    // Past the stream's newest: also a reset.
    let epoch = h.store().head(&lobby()).await.unwrap().unwrap().epoch;
    rec.clear();
    h.handle(say("a", &resume("lobby", 9, &epoch))).await;
    assert_eq!(frames_to(&rec, "a")[0]["reason"], "reset");
}

fn lobby() -> Room {
    Room::Channel(crate::wire::channel::Channel::parse("lobby").unwrap())
}

#[tokio::test]
async fn without_a_position_the_reply_says_where_the_stream_is() {
    let (h, rec) = handler(&[]);
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    h.handle(say("a", r#"{"action":"resume","channel":"lobby"}"#))
        .await;
    assert_eq!(
        frames_to(&rec, "a")[0],
        json!({"action": "resumed", "channel": "lobby", "recovered": true, "seq": 0, "replayed": 0})
    );
    h.handle(say("a", "first")).await;
    h.handle(say("a", "second")).await;
    rec.clear();
    // From before the stream's first message: all of it.
    h.handle(say("a", r#"{"action":"resume","channel":"lobby","seq":0}"#))
        .await;
    let got = frames_to(&rec, "a");
    assert_eq!(got[0]["data"], "first");
    assert_eq!(got[1]["data"], "second");
    assert_eq!(got[2]["replayed"], 2);
}

#[tokio::test]
async fn a_gap_past_the_cap_is_too_many() {
    let (h, rec) = handler(&[]);
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    let limit = crate::delivery::recovery::MAX_REPLAY;
    for _ in 0..=limit {
        h.handle(say("a", "x")).await;
    }
    let epoch = h.store().head(&lobby()).await.unwrap().unwrap().epoch;
    rec.clear();
    h.handle(say("a", &resume("lobby", 0, &epoch))).await;
    let got = frames_to(&rec, "a");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["reason"], "too_many");
}

#[tokio::test]
async fn resume_is_refused_as_subscribe_is() {
    let (h, rec) = handler(&[]);
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    h.handle(say("a", &resume("other", 1, "e"))).await;
    h.handle(say("a", r#"{"action":"resume","channel":"a b"}"#))
        .await;
    h.handle(say(
        "a",
        r#"{"action":"resume","channel":"lobby","seq":-1}"#,
    ))
    .await;
    let codes: Vec<Value> = frames_to(&rec, "a")
        .iter()
        .map(|f| f["error"].clone())
        .collect();
    assert_eq!(
        codes,
        ["not_a_member", "bad_channel", "bad_control_message"]
    );
    // The default room keeps no history unless asked.
    h.handle(event("$connect", "d", None)).await;
    h.handle(say("d", r#"{"action":"resume","seq":0}"#)).await;
    assert_eq!(
        frames_to(&rec, "d")[0],
        json!({"action": "resumed", "recovered": false, "reason": "history_off"})
    );
}

#[tokio::test]
async fn the_default_room_numbers_its_copies_when_the_owner_turns_it_on() {
    let (h, rec) = with_settings(Settings {
        default_room_history: true,
        ..Settings::default()
    });
    h.handle(event("$connect", "d", None)).await;
    h.handle(say("d", "x")).await;
    let copy = frames_to(&rec, "d").pop().unwrap();
    assert_eq!(copy["_seq"], 1);
    let epoch = copy["_epoch"].as_str().unwrap().to_owned();
    h.handle(say("d", "y")).await;
    rec.clear();
    h.handle(say(
        "d",
        &json!({"action": "resume", "seq": 1, "epoch": epoch}).to_string(),
    ))
    .await;
    let got = frames_to(&rec, "d");
    assert_eq!(got[0]["data"], "y");
    assert_eq!(got[1]["recovered"], true);
    assert!(got[1].get("channel").is_none());
}

#[tokio::test]
async fn with_history_off_channel_copies_are_not_numbered() {
    let (h, rec) = with_settings(Settings {
        history_seconds: 0,
        ..Settings::default()
    });
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    h.handle(say("a", "x")).await;
    assert!(frames_to(&rec, "a")[0].get("_seq").is_none());
}

#[tokio::test]
async fn a_message_that_cannot_be_kept_reaches_nobody() {
    let recorder = Recorder::default();
    let h = Handler::new(
        KeepFails(MemoryStore::new()),
        recorder.clone(),
        Settings::default(),
    );
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    h.handle(connect_with("b", &[("channel", "lobby")])).await;
    h.handle(say("a", "x")).await;
    assert_eq!(frames_to(&recorder, "a")[0]["error"], "storage_unavailable");
    assert!(frames_to(&recorder, "b").is_empty());
}

/// The in-memory store, except that keeping a message fails.
struct KeepFails(MemoryStore);

impl crate::store::DedupeStore for KeepFails {
    async fn claim(
        &self,
        key: &str,
        owner: &str,
        now_s: i64,
        expires_at: i64,
    ) -> Result<crate::store::Claim, StoreError> {
        self.0.claim(key, owner, now_s, expires_at).await
    }
    async fn settle(&self, key: &str, answer: &str) -> Result<(), StoreError> {
        self.0.settle(key, answer).await
    }
    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.0.release(key, owner).await
    }
}

impl ConnectionStore for KeepFails {
    async fn put(&self, c: &Connection) -> Result<(), StoreError> {
        self.0.put(c).await
    }
    async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        ConnectionStore::get(&self.0, id).await
    }
    async fn join(&self, c: &Connection, room: &Room) -> Result<(), StoreError> {
        self.0.join(c, room).await
    }
    async fn leave(&self, id: &str, room: &Room) -> Result<(), StoreError> {
        self.0.leave(id, room).await
    }
    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.0.delete(id).await
    }
    async fn delete_seen(&self, row: &Row, room: &Room) -> Result<bool, StoreError> {
        self.0.delete_seen(row, room).await
    }
    async fn members(
        &self,
        room: &Room,
        now_s: i64,
        after: Option<&str>,
    ) -> Result<Vec<Row>, StoreError> {
        self.0.members(room, now_s, after).await
    }
    async fn scan(&self) -> Result<Vec<String>, StoreError> {
        self.0.scan().await
    }
    async fn count_message(&self, id: &str, window: i64) -> Result<u32, StoreError> {
        self.0.count_message(id, window).await
    }
}

impl crate::store::HistoryStore for KeepFails {
    async fn next_position(
        &self,
        room: &Room,
        epoch: &str,
        expires: i64,
    ) -> Result<crate::wire::position::Position, StoreError> {
        self.0.next_position(room, epoch, expires).await
    }
    async fn keep(&self, _: &Room, _: u64, _: &str, _: i64) -> Result<(), StoreError> {
        Err(StoreError {
            operation: "PutItem",
            detail: "throttled".into(),
        })
    }
    async fn head(
        &self,
        room: &Room,
    ) -> Result<Option<crate::wire::position::Position>, StoreError> {
        self.0.head(room).await
    }
    async fn kept(
        &self,
        room: &Room,
        after: u64,
        through: u64,
        now_s: i64,
    ) -> Result<Vec<crate::store::Kept>, StoreError> {
        self.0.kept(room, after, through, now_s).await
    }
}
