//! Numbered copies, history and `resume`, through the handler over the in-memory store.

use super::*;
use crate::store::HistoryStore;
use serde_json::{Value, json};

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
    let got = rec.frames_to("b");
    let seqs: Vec<&Value> = got.iter().map(|f| &f["_seq"]).collect();
    assert_eq!(seqs, [&json!(1), &json!(2), &json!(3)]);
    let epoch = got[0]["_epoch"].as_str().unwrap();
    assert!(got.iter().all(|f| f["_epoch"] == epoch));
    // The sender's own copy carries the same position.
    assert_eq!(rec.frames_to("a")[2]["_seq"], 3);
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
    let last = rec.frames_to("b").pop().unwrap();
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
    let got = rec.frames_to("b2");
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
    assert_eq!(rec.frames_to("b2")[0]["replayed"], 0);
}

#[tokio::test]
async fn a_position_from_another_stream_is_not_recovered() {
    let (h, rec) = handler(&[]);
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    h.handle(say("a", "x")).await;
    rec.clear();
    h.handle(say("a", &resume("lobby", 1, "an-old-epoch")))
        .await;
    let reply = rec.frames_to("a").pop().unwrap();
    assert_eq!(reply["recovered"], false);
    assert_eq!(reply["reason"], "reset");
    assert_eq!(reply["seq"], 1);
    assert_eq!(rec.frames_to("a").len(), 1, "nothing replayed");
    // Past the stream's newest: also a reset.
    let epoch = h.store().head(&lobby()).await.unwrap().unwrap().epoch;
    rec.clear();
    h.handle(say("a", &resume("lobby", 9, &epoch))).await;
    assert_eq!(rec.frames_to("a")[0]["reason"], "reset");
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
        rec.frames_to("a")[0],
        json!({"action": "resumed", "channel": "lobby", "recovered": true, "seq": 0, "replayed": 0})
    );
    h.handle(say("a", "first")).await;
    h.handle(say("a", "second")).await;
    rec.clear();
    // From before the stream's first message: all of it.
    h.handle(say("a", r#"{"action":"resume","channel":"lobby","seq":0}"#))
        .await;
    let got = rec.frames_to("a");
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
    let got = rec.frames_to("a");
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
    let codes: Vec<Value> = rec
        .frames_to("a")
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
        rec.frames_to("d")[0],
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
    let copy = rec.frames_to("d").pop().unwrap();
    assert_eq!(copy["_seq"], 1);
    let epoch = copy["_epoch"].as_str().unwrap().to_owned();
    h.handle(say("d", "y")).await;
    rec.clear();
    h.handle(say(
        "d",
        &json!({"action": "resume", "seq": 1, "epoch": epoch}).to_string(),
    ))
    .await;
    let got = rec.frames_to("d");
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
    assert!(rec.frames_to("a")[0].get("_seq").is_none());
}

#[tokio::test]
async fn a_message_that_cannot_be_kept_reaches_nobody() {
    let recorder = Recorder::default();
    let h = Handler::new(
        super::faulty::Faulty::keep_fails(),
        recorder.clone(),
        Settings::default(),
    );
    h.handle(connect_with("a", &[("channel", "lobby")])).await;
    h.handle(connect_with("b", &[("channel", "lobby")])).await;
    h.handle(say("a", "x")).await;
    assert_eq!(recorder.frames_to("a")[0]["error"], "storage_unavailable");
    assert!(recorder.frames_to("b").is_empty());
}
