//! No message lost across a reconnect, through the built `mb dev` and real WebSocket
//! clients: numbered copies, a dropped client resuming from its last `_seq`, and the
//! positions that cannot be recovered (docs/protocol.md, "History and resume").

use std::time::Duration;

use mb_tests::mb::DevServer;
use mb_tests::moto::Moto;
use mb_tests::ws::{Client, Next};
use serde_json::{Value, json};

fn resume(seq: &Value, epoch: &Value) -> String {
    json!({"action": "resume", "channel": "lobby", "seq": seq, "epoch": epoch}).to_string()
}

/// Everything `client` receives until `wait` of silence (bounded: at most `most` frames).
async fn drain(client: &mut Client, wait: Duration, most: usize) -> Vec<Value> {
    let mut frames = Vec::new();
    while frames.len() < most {
        match client.next_within(wait).await {
            Next::Text(text) => frames.push(serde_json::from_str(&text).unwrap()),
            _ => break,
        }
    }
    frames
}

/// Two clients on `lobby`; B's transport is dropped without a close frame; A sends 20;
/// B reconnects and resumes from its last `_seq`: exactly those 20, in order, once each.
async fn a_dropped_client_gets_the_twenty_it_missed(dev: &DevServer) {
    let url = format!("{}/?channel=lobby", dev.url);
    let mut a = Client::connect(&url).await;
    let mut b = Client::connect(&url).await;
    a.send_text("before").await;
    assert_eq!(a.recv_json().await["data"], "before");
    let last = b.recv_json().await;
    assert_eq!(last["data"], "before");
    let (seq, epoch) = (last["_seq"].clone(), last["_epoch"].clone());
    assert!(seq.is_u64() && epoch.is_string(), "a numbered copy: {last}");

    b.drop_abruptly();
    for n in 0..20 {
        a.send_text(&format!("missed {n}")).await;
        assert_eq!(a.recv_json().await["data"], format!("missed {n}"));
    }
    let mut b = Client::connect(&url).await;
    b.send_text(&resume(&seq, &epoch)).await;
    let got = drain(&mut b, Duration::from_millis(1500), 100).await;
    assert_eq!(got.len(), 21, "20 copies and the reply: {got:?}");
    let wanted: Vec<String> = (0..20).map(|n| format!("missed {n}")).collect();
    let data: Vec<&str> = got[..20]
        .iter()
        .map(|f| f["data"].as_str().unwrap())
        .collect();
    assert_eq!(data, wanted, "in order, once each");
    let first = seq.as_u64().unwrap();
    let seqs: Vec<u64> = got[..20]
        .iter()
        .map(|f| f["_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (first + 1..=first + 20).collect::<Vec<_>>());
    assert!(
        got[..20]
            .iter()
            .all(|f| f["_me"] == false && f["_epoch"] == epoch)
    );
    assert_eq!(got[20]["action"], "resumed");
    assert_eq!(got[20]["recovered"], true);
    assert_eq!(got[20]["seq"], first + 20);
    assert_eq!(got[20]["replayed"], 20);
}

#[tokio::test]
async fn a_client_dropped_without_a_close_frame_resumes_every_message_it_missed() {
    let dev = DevServer::start(&[]);
    a_dropped_client_gets_the_twenty_it_missed(&dev).await;
}

#[tokio::test]
async fn the_same_resume_on_dynamodb() {
    let Some(moto) = Moto::start() else { return };
    let dev = DevServer::start(&[
        "--dynamodb-endpoint",
        &moto.endpoint,
        "--table",
        "e2e-resume",
    ]);
    a_dropped_client_gets_the_twenty_it_missed(&dev).await;
}

#[tokio::test]
async fn a_position_older_than_the_window_is_not_recovered() {
    let dev = DevServer::start(&["--history-seconds", "1"]);
    let url = format!("{}/?channel=lobby", dev.url);
    let mut a = Client::connect(&url).await;
    a.send_text("old").await;
    let last = a.recv_json().await;
    a.send_text("expires too").await;
    a.recv_json().await;
    // Past the one-second window (TTL counts whole seconds).
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    a.send_text("recent").await;
    assert_eq!(a.recv_json().await["data"], "recent");
    a.send_text(&resume(&last["_seq"], &last["_epoch"])).await;
    let got = drain(&mut a, Duration::from_millis(1500), 10).await;
    assert_eq!(got.len(), 1, "nothing passed off as recovered: {got:?}");
    assert_eq!(got[0]["recovered"], false);
    assert_eq!(got[0]["reason"], "expired");
    assert_eq!(got[0]["seq"], last["_seq"].as_u64().unwrap() + 2);
}

#[tokio::test]
async fn a_position_from_before_the_stream_was_reset_is_not_recovered() {
    // A restarted mb dev (its in-memory store) starts every stream again.
    let first = DevServer::start(&[]);
    let mut a = Client::connect(&format!("{}/?channel=lobby", first.url)).await;
    for text in ["one", "two", "three"] {
        a.send_text(text).await;
    }
    let mut last = Value::Null;
    for _ in 0..3 {
        last = a.recv_json().await;
    }
    drop(first);
    let second = DevServer::start(&[]);
    let url = format!("{}/?channel=lobby", second.url);
    let mut b = Client::connect(&url).await;
    b.send_text("new stream").await;
    let fresh = b.recv_json().await;
    assert_eq!(fresh["_seq"], 1);
    assert_ne!(fresh["_epoch"], last["_epoch"]);
    // seq 1 exists in the new stream too: only the epoch tells them apart.
    b.send_text(&resume(&json!(1), &last["_epoch"])).await;
    b.send_text(&resume(&json!(0), &last["_epoch"])).await;
    let got = drain(&mut b, Duration::from_millis(1500), 10).await;
    assert_eq!(got.len(), 2, "only the replies: {got:?}");
    for reply in &got {
        assert_eq!(reply["recovered"], false);
        assert_eq!(reply["reason"], "reset");
        assert_eq!(reply["epoch"], fresh["_epoch"]);
    }
}

#[tokio::test]
async fn a_client_naming_no_channel_gets_the_old_bytes() {
    let dev = DevServer::start(&[]);
    let mut plain = Client::connect(&dev.url).await;
    plain.send_text(r#"{"_seq":5,"k":1}"#).await;
    let copy = plain.recv_text().await;
    let now = copy
        .rsplit_once(r#""_now":"#)
        .and_then(|(_, rest)| rest.split(',').next())
        .unwrap()
        .to_owned();
    assert_eq!(
        copy,
        format!(r#"{{"_seq":5,"k":1,"_now":{now},"_me":true}}"#)
    );
}
