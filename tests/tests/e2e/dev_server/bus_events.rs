//! `mb dev`'s bus and idempotent publishes with real WebSocket clients: `POST /events`
//! as a deployed stack's events queue takes envelopes, and `mb publish
//! --idempotency-key` twice.

use std::time::Duration;

use mb_tests::mb::{self, DevServer};
use mb_tests::ws::{Client, Next};
use serde_json::{Value, json};

async fn silent(client: &mut Client, what: &str) {
    match client.next_within(Duration::from_millis(400)).await {
        Next::Silent => {}
        other => panic!("{what} should get nothing, got {other:?}"),
    }
}

async fn post_events(dev: &DevServer, body: &str) -> (u16, Value) {
    let (status, answer) = mb_tests::http_post(&format!("{}/events", dev.http), body).await;
    let answer = serde_json::from_str(&answer).unwrap_or_else(|_| json!(answer));
    (status, answer)
}

#[tokio::test]
async fn an_envelope_reaches_its_channel_once_and_nothing_else() {
    let dev = DevServer::start(&[]);
    let mut on_42 = [
        Client::connect(&format!("{}/?channel=orders:42", dev.url)).await,
        Client::connect(&format!("{}/?channel=orders:42", dev.url)).await,
    ];
    let mut elsewhere = Client::connect(&format!("{}/?channel=orders:7", dev.url)).await;
    let mut default_room = Client::connect(&dev.url).await;

    let envelope = json!({"channel": "orders:42", "event": "order.updated",
        "data": {"status": "shipped"}, "id": "order-42-v7"})
    .to_string();
    let (status, answer) = post_events(&dev, &envelope).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["events"][0]["result"], "delivered", "{answer}");
    assert_eq!(answer["events"][0]["counts"]["delivered"], 2);
    for client in &mut on_42 {
        let got = client.recv_json().await;
        assert_eq!(got["event"], "order.updated");
        assert_eq!(got["data"], json!({"status": "shipped"}));
        assert_eq!(
            (&got["_channel"], &got["_me"]),
            (&json!("orders:42"), &json!(false))
        );
    }
    silent(&mut elsewhere, "a client on orders:7").await;
    silent(&mut default_room, "a client of the default room").await;

    // The same id again: a duplicate, delivered to nobody, with the first's counts.
    let (_, answer) = post_events(&dev, &envelope).await;
    assert_eq!(answer["events"][0]["result"], "duplicate", "{answer}");
    assert_eq!(answer["events"][0]["counts"]["delivered"], 2);
    for client in &mut on_42 {
        silent(client, "a client on orders:42, for the repeat").await;
    }

    // No channel: refused with the reason, delivered to nobody (not the default room).
    let (_, answer) = post_events(
        &dev,
        r##"[{"event":"x","data":1},{"channel":"#","data":"all"}]"##,
    )
    .await;
    let refused = &answer["events"][0];
    assert_eq!(refused["result"], "rejected", "{answer}");
    assert_eq!(refused["error"], "bad_channel");
    assert!(
        refused["reason"].as_str().unwrap().contains("no channel"),
        "{refused}"
    );
    // `#` says the default room explicitly.
    assert_eq!(answer["events"][1]["result"], "delivered", "{answer}");
    assert_eq!(default_room.recv_json().await["data"], "all");
    for client in &mut on_42 {
        silent(client, "a client on orders:42, for the refused event").await;
    }
    silent(&mut elsewhere, "a client on orders:7").await;

    // A body that is not JSON is a 400 naming the fix.
    let (status, answer) = post_events(&dev, "orders:42 shipped").await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "bad_events", "{answer}");
}

#[tokio::test]
async fn a_publish_with_the_same_idempotency_key_twice_reaches_clients_once() {
    let dev = DevServer::start(&[]);
    let mut member = Client::connect(&format!("{}/?channel=a", dev.url)).await;
    let args = [
        "publish",
        "--url",
        &dev.http,
        "--channel",
        "a",
        "--idempotency-key",
        "pay-42",
        "paid",
    ];
    let publish = || mb::run_async(&args, &[], Duration::from_secs(30));
    let first = publish().await;
    mb_tests::assert_ok("the first publish", &first);
    assert_eq!(
        mb_tests::text(&first.stdout).trim(),
        "published to channel a: 1 recipient, 1 delivered, 0 gone, 0 failed"
    );
    assert_eq!(member.recv_json().await["data"], "paid");
    let again = publish().await;
    mb_tests::assert_ok("the repeat", &again);
    assert_eq!(
        mb_tests::text(&again.stdout).trim(),
        "a repeat of an earlier publish with this idempotency key: nobody got it again \
         (the first, to channel a, had 1 recipient, 1 delivered)"
    );
    silent(&mut member, "the member, for the repeat").await;
    // A bad key is a usage error, and nothing is sent.
    let bad = mb::run_async(
        &["publish", "--url", &dev.http, "--idempotency-key", "", "x"],
        &[],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        mb_tests::text(&bad.stderr)
    );
    assert!(mb_tests::text(&bad.stderr).contains("--idempotency-key"));
    silent(&mut member, "the member, for the refused publish").await;
}
