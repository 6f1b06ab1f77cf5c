//! `mb dev` end to end: the built binary on a free loopback port, real WebSocket
//! clients, and (where the store matters) moto's DynamoDB.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use mb_lambda::wire::message::FORMAT_TABLE;
use mb_tests::mb::{self, DevServer};
use mb_tests::moto::Moto;
use mb_tests::ws::{Client, Next};

/// The `_now` of a delivered message, read from its text (a JSON parser would reject
/// `1e400`, which `mb` passes through exactly).
fn now_of(delivered: &str) -> i64 {
    let rest = delivered
        .rsplit_once(r#""_now":"#)
        .unwrap_or_else(|| panic!("no _now in {delivered}"))
        .1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("bad _now in {delivered}"))
}

#[tokio::test]
async fn every_row_of_the_message_format_reaches_every_client() {
    let dev = DevServer::start(&[]);
    let mut sender = Client::connect(&dev.url).await;
    let mut others = [
        Client::connect(&dev.url).await,
        Client::connect(&dev.url).await,
    ];

    for (input, expected) in FORMAT_TABLE {
        let before = mb_lambda::clock::now_ms();
        sender.send_text(input).await;
        let mine = sender.recv_text().await;
        let after = mb_lambda::clock::now_ms();
        let now = now_of(&mine);
        assert!(
            (before..=after).contains(&now),
            "_now {now} is when the message arrived"
        );
        let expected = expected.replace('N', &now.to_string());
        assert_eq!(mine, expected, "sender's copy of {input:?}");
        let theirs = expected.replace(r#""_me":true"#, r#""_me":false"#);
        for other in &mut others {
            assert_eq!(other.recv_text().await, theirs, "other copy of {input:?}");
        }
    }
    // The other clients can talk too, and the first one hears them.
    others[1].send_text("from the third").await;
    assert_eq!(others[1].recv_json().await["_me"], true);
    assert_eq!(sender.recv_json().await["data"], "from the third");
    assert_eq!(others[0].recv_json().await["_me"], false);
}

#[tokio::test]
async fn refused_messages_reach_only_the_sender_as_error_frames() {
    let dev = DevServer::start(&[]);
    let mut a = Client::connect(&dev.url).await;
    let mut b = Client::connect(&dev.url).await;

    // Binary frames holding UTF-8 are text.
    a.send_binary(br#"{"k":"v"}"#).await;
    assert_eq!(a.recv_json().await["k"], "v");
    assert_eq!(b.recv_json().await["k"], "v");

    // Other binary frames are refused.
    a.send_binary(&[0xff, 0x00, 0xfe]).await;
    assert_eq!(a.recv_json().await["error"], "binary_not_supported");

    // Under API Gateway's 128 KB message quota, but over it once _now and _me are added.
    let big = "x".repeat(131_050);
    a.send_text(&big).await;
    let refusal = a.recv_json().await;
    assert_eq!(refusal["error"], "message_too_large");
    assert_eq!(refusal["limit"], 131_072);
    assert!(refusal["size"].as_u64().unwrap() > 131_072);

    // b received neither refused message: its next frame is the next broadcast.
    a.send_text("after").await;
    assert_eq!(a.recv_json().await["data"], "after");
    assert_eq!(b.recv_json().await["data"], "after");

    // Over the quota on the way in: API Gateway closes the connection with 1009.
    a.send_text(&"y".repeat(131_073)).await;
    match a.next_within(Duration::from_secs(10)).await {
        Next::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }
}

#[tokio::test]
async fn logs_have_one_line_per_invocation_and_no_payloads() {
    let dev = DevServer::start(&[]);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(&dev.url).await);
    }
    let marker = "payload-marker-5f2c9e";
    clients[0]
        .send_text(&format!("{{\"secret\":\"{marker}\"}}"))
        .await;
    for client in &mut clients {
        client.recv_text().await;
    }
    let line = dev
        .log_line(
            &[
                "invocation",
                "$default",
                "recipients=3",
                "delivered=3",
                "gone=0",
                "failed=0",
                "duration_ms=",
            ],
            Duration::from_secs(10),
        )
        .await;
    assert!(
        line.is_some(),
        "no invocation line in:\n{}",
        dev.stderr().join("\n")
    );
    assert!(
        dev.log_line(&["invocation", "$connect"], Duration::from_secs(1))
            .await
            .is_some()
    );
    let leaked: Vec<String> = dev
        .stderr()
        .into_iter()
        .filter(|l| l.contains(marker))
        .collect();
    assert!(leaked.is_empty(), "payload in logs: {leaked:?}");
}

async fn table_ids(sdk: &aws_config::SdkConfig, table: &str) -> BTreeSet<String> {
    let scan = aws_sdk_dynamodb::Client::new(sdk)
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("scan the dev table");
    scan.items()
        .iter()
        .filter_map(|item| match item.get("connectionId") {
            Some(AttributeValue::S(id)) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// `mb dev` keeping its connections in `table` on moto.
fn dev_on(moto: &Moto, table: &str, more: &[&str]) -> DevServer {
    let mut args = vec!["--dynamodb-endpoint", &moto.endpoint, "--table", table];
    args.extend_from_slice(more);
    DevServer::start(&args)
}

#[tokio::test]
async fn a_client_gone_without_a_close_frame_is_cleaned_up_on_the_next_broadcast() {
    let Some(moto) = Moto::start() else { return };
    let sdk = moto.sdk_config().await;
    let dev = dev_on(
        &moto,
        "e2e-drop",
        &["--no-disconnect-on-drop", "--connect-grace", "1"],
    );
    let mut a = Client::connect(&dev.url).await;
    let mut b = Client::connect(&dev.url).await;
    let mut c = Client::connect(&dev.url).await;
    let before = table_ids(&sdk, "e2e-drop").await;
    let vanishing = Client::connect(&dev.url).await;
    let with_vanishing = table_ids(&sdk, "e2e-drop").await;
    assert_eq!(with_vanishing.len(), 4);
    let vanished_id = with_vanishing.difference(&before).next().cloned().unwrap();

    vanishing.drop_abruptly();
    let ended = dev
        .log_line(
            &["connection ended", &vanished_id, "dropped"],
            Duration::from_secs(10),
        )
        .await;
    assert!(ended.is_some(), "mb dev did not notice the dropped socket");
    // No $disconnect came, so the row is still there...
    assert!(table_ids(&sdk, "e2e-drop").await.contains(&vanished_id));

    // ...until the next broadcast meets its 410, once the row is older than the grace.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    a.send_text("still here?").await;
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(client.recv_json().await["data"], "still here?");
    }
    let line = dev
        .log_line(
            &[
                "invocation",
                "$default",
                "recipients=4",
                "delivered=3",
                "gone=1",
            ],
            Duration::from_secs(10),
        )
        .await;
    assert!(line.is_some(), "logs:\n{}", dev.stderr().join("\n"));
    assert_eq!(table_ids(&sdk, "e2e-drop").await, before);
}

#[tokio::test]
async fn the_in_memory_store_forgets_a_vanished_client_after_its_410_and_the_grace() {
    let dev = DevServer::start(&["--no-disconnect-on-drop", "--connect-grace", "1"]);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(&dev.url).await);
    }
    Client::connect(&dev.url).await.drop_abruptly();
    assert!(
        dev.log_line(&["connection ended", "dropped"], Duration::from_secs(10))
            .await
            .is_some()
    );
    for round in ["young", "old", "forgotten"] {
        if round == "old" {
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
        clients[0].send_text(round).await;
        for client in &mut clients {
            assert_eq!(client.recv_json().await["data"], round);
        }
    }
    // Within the grace, its 410 may be the connect window: the row stays. Past it, the
    // 410 deletes the row, and the next broadcast no longer has it.
    let expected: [&[&str]; 3] = [
        &[
            "$default",
            "recipients=4",
            "delivered=3",
            "gone=0",
            "connecting=1",
        ],
        &[
            "$default",
            "recipients=4",
            "delivered=3",
            "gone=1",
            "connecting=0",
        ],
        &[
            "$default",
            "recipients=3",
            "delivered=3",
            "gone=0",
            "connecting=0",
        ],
    ];
    for words in expected {
        assert!(
            dev.log_line(words, Duration::from_secs(10)).await.is_some(),
            "no line with {words:?}; logs:\n{}",
            dev.stderr().join("\n")
        );
    }
}

#[tokio::test]
async fn close_frames_and_dropped_sockets_run_disconnect_by_default() {
    let Some(moto) = Moto::start() else { return };
    let sdk = moto.sdk_config().await;
    let dev = dev_on(&moto, "e2e-close", &[]);
    let a = Client::connect(&dev.url).await;
    let b = Client::connect(&dev.url).await;
    let _c = Client::connect(&dev.url).await;
    assert_eq!(table_ids(&sdk, "e2e-close").await.len(), 3);
    a.close().await;
    b.drop_abruptly();
    let cleaned = mb_tests::eventually(Duration::from_secs(10), || {
        let sdk = sdk.clone();
        async move { table_ids(&sdk, "e2e-close").await.len() == 1 }
    })
    .await;
    assert!(cleaned, "$disconnect should remove both rows");
}

#[tokio::test]
async fn the_management_api_answers_like_api_gateway() {
    let Some(moto) = Moto::start() else { return };
    let sdk = moto.sdk_config().await;
    let dev = dev_on(&moto, "e2e-mgmt", &[]);
    let mut a = Client::connect(&dev.url).await;
    let a_id = table_ids(&sdk, "e2e-mgmt")
        .await
        .into_iter()
        .next()
        .unwrap();
    let management = aws_sdk_apigatewaymanagement::Client::from_conf(
        aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
            .endpoint_url(&dev.http)
            .build(),
    );

    let info = management
        .get_connection()
        .connection_id(&a_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        info.identity().and_then(|i| i.source_ip()),
        Some("127.0.0.1")
    );
    assert!(info.connected_at().is_some());

    management
        .post_to_connection()
        .connection_id(&a_id)
        .data(aws_smithy_types::Blob::new(b"direct".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(a.recv_text().await, "direct");

    let gone = management
        .post_to_connection()
        .connection_id("NoSuchConnXXXX=")
        .data(aws_smithy_types::Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "{gone:?}"
    );

    management
        .delete_connection()
        .connection_id(&a_id)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(a.next_within(Duration::from_secs(10)).await, Next::Close(Some(f)) if u16::from(f.code) == 1000)
    );
    let err = management
        .get_connection()
        .connection_id(&a_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.code()),
        Some("GoneException")
    );
}

#[tokio::test]
async fn ctrl_c_closes_every_client_and_exits_zero() {
    let mut dev = DevServer::start(&[]);
    let mut a = Client::connect(&dev.url).await;
    let mut b = Client::connect(&dev.url).await;
    let stopping = tokio::task::spawn_blocking(move || {
        let status = dev.interrupt(Duration::from_secs(20));
        (status, dev)
    });
    for client in [&mut a, &mut b] {
        match client.next_within(Duration::from_secs(20)).await {
            Next::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    let (status, dev) = stopping.await.unwrap();
    let status = status.expect("mb dev exits after Ctrl-C");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        dev.stdout()
            .iter()
            .any(|l| l.contains("stopped (2 connection(s) closed)")),
        "stdout: {:?}",
        dev.stdout()
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = mb::run(&["dev", "--port", &port], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--port"), "{stderr}");
}

#[tokio::test]
async fn the_startup_lines_say_where_to_connect() {
    let dev = DevServer::start(&[]);
    let hint = format!("wscat -c {}", dev.url);
    let printed = mb_tests::eventually(Duration::from_secs(10), || {
        let found = dev.stdout().iter().any(|l| l.contains(&hint));
        async move { found }
    })
    .await;
    let stdout = dev.stdout();
    assert!(printed, "{stdout:?}");
    assert!(
        stdout[0].starts_with("mb dev: broadcasting on ws://127.0.0.1:"),
        "{stdout:?}"
    );
}

/// A browser's plain `GET /` gets the console page (announced among the startup lines),
/// while a WebSocket upgrade on the same `/` still connects and broadcasts; other paths
/// and methods keep their errors.
#[tokio::test]
async fn a_plain_get_of_the_root_is_the_console_and_an_upgrade_still_connects() {
    let dev = DevServer::start(&[]);
    let open = format!("open {} in a browser", dev.http);
    let printed = mb_tests::eventually(Duration::from_secs(10), || {
        let found = dev.stdout().iter().any(|l| l.contains(&open));
        async move { found }
    })
    .await;
    assert!(printed, "{:?}", dev.stdout());

    let (status, content_type, body) = mb_tests::http_get(&format!("{}/", dev.http)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(body.contains("<title>mb console</title>"), "{body}");
    // The page is mb dev's: it connects to the server that served it, and may publish.
    assert!(body.contains(r#""url":null"#) && body.contains(r#""publish":true"#));

    let mut a = Client::connect(&dev.url).await;
    let mut b = Client::connect(&format!("{}/", dev.url)).await;
    a.send_text("after the page").await;
    assert_eq!(a.recv_json().await["_me"], true);
    let theirs = b.recv_json().await;
    assert_eq!(theirs["data"], "after the page");
    assert_eq!(theirs["_me"], false);

    // Anything else that is not an upgrade is refused as before.
    let (status, _, _) = mb_tests::http_get(&format!("{}/elsewhere", dev.http)).await;
    assert_eq!(status, 400);
    let (status, _) = mb_tests::http_post(&format!("{}/", dev.http), "x").await;
    assert_eq!(status, 405);
}

/// On a wildcard address `mb dev` warns that the network can reach its unauthenticated
/// Management API; on loopback it does not. (The test only binds 0.0.0.0; it talks to
/// 127.0.0.1.)
#[tokio::test]
async fn a_non_loopback_host_is_warned_about() {
    let exposed = DevServer::start(&["--host", "0.0.0.0"]);
    let warning = exposed
        .log_line(
            &["warning: mb dev listens on 0.0.0.0:", "Management API"],
            Duration::from_secs(10),
        )
        .await;
    assert!(warning.is_some(), "{:?}", exposed.stderr());
    let mut client = Client::connect(&exposed.url).await;
    client.send_text("still works").await;
    assert!(client.recv_text().await.contains("still works"));

    let quiet = DevServer::start(&[]);
    let mut client = Client::connect(&quiet.url).await;
    client.send_text("hi").await;
    assert!(client.recv_text().await.contains("hi"));
    assert!(
        !quiet
            .stderr()
            .iter()
            .any(|l| l.contains("other machines can reach")),
        "{:?}",
        quiet.stderr()
    );
}

/// Reads frames until `text` arrives as `data`; false if it did not within `wait`.
async fn receives(client: &mut Client, text: &str, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_within(left).await {
            Next::Text(frame) => {
                let value: serde_json::Value = serde_json::from_str(&frame).unwrap_or_default();
                if value["data"] == text {
                    return true;
                }
            }
            _ => return false,
        }
    }
}

/// API Gateway's connect window, reproduced (`--connect-delay`: the connection is
/// established 20 ms after `$connect` stored its row and returned): while one client
/// broadcasts without pause, 50 more connect; the broadcasts that meet them in the window
/// (a 410) must not delete their rows, and a connection is live as soon as its handshake
/// completes. 20 rounds, 0 misses.
#[tokio::test]
async fn clients_connecting_during_broadcasts_miss_nothing() {
    const ROUNDS: usize = 20;
    const JOINING: usize = 50;
    let dev = DevServer::start(&["--connect-delay", "20"]);
    let mut misses = Vec::new();
    let mut noise_total = 0;
    for round in 0..ROUNDS {
        let mut sender = Client::connect(&dev.url).await;
        let last = format!("all here {round}");
        let (all_connected, mut told) = tokio::sync::oneshot::channel::<()>();
        let noise = {
            let last = last.clone();
            tokio::spawn(async move {
                // Broadcast continuously, a few messages ahead of their echoes, for at
                // most 10 s; once everyone is connected, send the last message.
                let limit = tokio::time::Instant::now() + Duration::from_secs(10);
                let (mut sent, mut echoed) = (0usize, 0usize);
                while tokio::time::Instant::now() < limit {
                    if told.try_recv().is_ok() {
                        break;
                    }
                    while sent - echoed < 4 {
                        sender.send_text(&format!("noise {sent}")).await;
                        sent += 1;
                    }
                    match sender.next_within(Duration::from_secs(5)).await {
                        Next::Text(_) => echoed += 1,
                        other => panic!("the broadcaster got {other:?}"),
                    }
                }
                sender.send_text(&last).await;
                (sender, sent)
            })
        };
        let joining =
            futures_util::future::join_all((0..JOINING).map(|_| Client::connect(&dev.url))).await;
        let _ = all_connected.send(());
        let (sender, sent) = noise.await.expect("the broadcaster");
        noise_total += sent;

        let mut everyone = joining;
        everyone.push(sender);
        // Every client reads at once, under one bound.
        let received = futures_util::future::join_all(
            everyone
                .iter_mut()
                .map(|client| receives(client, &last, Duration::from_secs(5))),
        )
        .await;
        misses.extend(
            received
                .iter()
                .enumerate()
                .filter(|(_, got)| !**got)
                .map(|(i, _)| (round, i)),
        );
        futures_util::future::join_all(everyone.into_iter().map(Client::close)).await;
    }
    assert!(
        noise_total >= ROUNDS,
        "the broadcaster hardly ran ({noise_total} broadcasts): the test tests nothing"
    );
    eprintln!("{noise_total} broadcasts while clients connected");
    assert!(misses.is_empty(), "missed (round, client): {misses:?}");
    let met_the_window = dev
        .stderr()
        .iter()
        .filter(|l| {
            l.contains("$default") && l.contains("connecting=") && !l.contains("connecting=0")
        })
        .count();
    eprintln!("{met_the_window} broadcasts met a connection in its connect window");
    assert!(
        met_the_window > 0,
        "no broadcast met a connection in its connect window: the test tests nothing"
    );
}

/// `mb dev` serves the Lambda Invoke API where its handler hands a broadcast on: the real
/// `aws-sdk-lambda` client's `Event` invocation of a continuation reaches the connected
/// clients (not the sender, whose copy went first), `DryRun` answers 204 and another
/// function's name is Lambda's `ResourceNotFoundException`.
#[tokio::test]
async fn the_lambda_invoke_api_continues_a_broadcast() {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::InvocationType;
    use mb_lambda::delivery::continuation::Continuation;

    let Some(moto) = Moto::start() else { return };
    let sdk = moto.sdk_config().await;
    let dev = dev_on(&moto, "e2e-invoke", &[]);
    let mut a = Client::connect(&dev.url).await;
    let a_id = table_ids(&sdk, "e2e-invoke")
        .await
        .into_iter()
        .next()
        .unwrap();
    let mut b = Client::connect(&dev.url).await;
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&sdk)
            .endpoint_url(&dev.http)
            .build(),
    );
    let continuation = Continuation {
        endpoint: dev.http.clone(),
        sender: a_id,
        text: Continuation::encode_text("handed on"),
        now: 1_700_000_000_000,
        rooms: Vec::new(),
        positions: Vec::new(),
        room_index: 0,
        after: None,
        retry: Vec::new(),
        hop: 1,
        scan: true,
    };
    let answer = lambda
        .invoke()
        .function_name("mb-dev")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(continuation.to_payload()))
        .send()
        .await
        .expect("an Event invocation");
    assert_eq!(answer.status_code(), 202);
    assert_eq!(
        b.recv_json().await,
        serde_json::json!({"data": "handed on", "_now": 1_700_000_000_000i64, "_me": false})
    );
    assert!(
        matches!(
            a.next_within(Duration::from_millis(300)).await,
            Next::Silent
        ),
        "a continuation skips the sender"
    );
    assert!(
        dev.log_line(
            &["continuation", "recipients=1", "delivered=1", "hop=1"],
            Duration::from_secs(10)
        )
        .await
        .is_some(),
        "logs:\n{}",
        dev.stderr().join("\n")
    );

    let dry = lambda
        .invoke()
        .function_name("mb-dev")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .expect("a DryRun");
    assert_eq!(dry.status_code(), 204);
    let missing = lambda
        .invoke()
        .function_name("another-function")
        .payload(Blob::new("{}"))
        .send()
        .await
        .expect_err("another function");
    assert_eq!(
        missing.as_service_error().and_then(|e| e.code()),
        Some("ResourceNotFoundException")
    );
}

/// Nothing arrives for a while (each wait bounded).
async fn silent(client: &mut Client, what: &str) {
    match client.next_within(Duration::from_millis(400)).await {
        Next::Silent => {}
        other => panic!("{what} should get nothing, got {other:?}"),
    }
}

/// A1 and A2 in channel `a`, B1 in `b`, D in the default room.
async fn rooms(dev: &DevServer) -> [Client; 4] {
    [
        Client::connect(&format!("{}/?channel=a", dev.url)).await,
        Client::connect(&format!("{}/?channels=a", dev.url)).await,
        Client::connect(&format!("{}/?channel=b", dev.url)).await,
        Client::connect(&dev.url).await,
    ]
}

#[tokio::test]
async fn a_channel_message_reaches_only_its_members() {
    let dev = DevServer::start(&[]);
    let [mut a1, mut a2, mut b1, mut d] = rooms(&dev).await;

    a1.send_text("hi").await;
    let mine = a1.recv_json().await;
    assert_eq!(
        (&mine["data"], &mine["_me"], &mine["_channel"]),
        (&"hi".into(), &true.into(), &"a".into())
    );
    let theirs = a2.recv_json().await;
    assert_eq!(
        (&theirs["data"], &theirs["_me"], &theirs["_channel"]),
        (&"hi".into(), &false.into(), &"a".into())
    );
    silent(&mut b1, "B1 (channel b)").await;
    silent(&mut d, "D (no channel)").await;

    // The default room is as it was: no _channel, and channel members do not hear it.
    d.send_text("plain").await;
    let plain = d.recv_text().await;
    assert!(!plain.contains("_channel"), "{plain}");
    silent(&mut a1, "A1").await;
}

#[tokio::test]
async fn subscribe_unsubscribe_and_ping_from_a_real_client() {
    let dev = DevServer::start(&[]);
    let [mut a1, mut a2, mut b1, mut d] = rooms(&dev).await;

    b1.send_text(r#"{"action":"subscribe","channel":"a"}"#)
        .await;
    assert_eq!(
        b1.recv_json().await,
        serde_json::json!({"action": "subscribed", "channel": "a"})
    );
    a1.send_text("after subscribe").await;
    assert_eq!(a1.recv_json().await["_me"], true);
    assert_eq!(a2.recv_json().await["data"], "after subscribe");
    let heard = b1.recv_json().await;
    assert_eq!(
        (&heard["data"], &heard["_channel"]),
        (&"after subscribe".into(), &"a".into())
    );
    silent(&mut d, "D").await;

    b1.send_text(r#"{"action":"unsubscribe","channel":"a"}"#)
        .await;
    assert_eq!(
        b1.recv_json().await,
        serde_json::json!({"action": "unsubscribed", "channel": "a"})
    );
    a1.send_text("after unsubscribe").await;
    assert_eq!(a1.recv_json().await["_me"], true);
    assert_eq!(a2.recv_json().await["data"], "after unsubscribe");
    silent(&mut b1, "B1 after unsubscribing").await;

    d.send_text(r#"{"action":"ping"}"#).await;
    assert_eq!(d.recv_json().await, serde_json::json!({"action": "pong"}));
    a2.send_text(r#"{"action":"ping","data":"hello"}"#).await;
    assert_eq!(
        a2.recv_json().await,
        serde_json::json!({"action": "pong", "data": "hello"})
    );
    silent(&mut a1, "A1 (the pong is the sender's alone)").await;
    silent(&mut d, "D").await;
}

#[tokio::test]
async fn a_publish_to_mb_dev_reaches_the_channel_as_from_nobody() {
    let dev = DevServer::start(&[]);
    let [mut a1, mut a2, mut b1, mut d] = rooms(&dev).await;

    let (status, answer) =
        mb_tests::http_post(&format!("{}/publish?channel=a", dev.http), "shipped").await;
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["recipients"], 2);
    assert_eq!(answer["delivered"], 2);
    assert_eq!(answer["gone"], 0);
    assert_eq!(answer["failed"], 0);
    for client in [&mut a1, &mut a2] {
        let got = client.recv_json().await;
        assert_eq!(
            (&got["data"], &got["_me"], &got["_channel"]),
            (&"shipped".into(), &false.into(), &"a".into())
        );
    }
    silent(&mut b1, "B1").await;
    silent(&mut d, "D").await;

    // The same through `mb publish`, which prints the counts.
    let out = mb::run_async(
        &["publish", "--url", &dev.http, "--channel", "a", "hello"],
        &[],
        Duration::from_secs(30),
    )
    .await;
    mb_tests::assert_ok("mb publish", &out);
    assert_eq!(
        mb_tests::text(&out.stdout).trim(),
        "published to channel a: 2 recipients, 2 delivered, 0 gone, 0 failed"
    );
    for client in [&mut a1, &mut a2] {
        let got = client.recv_json().await;
        assert_eq!(
            (&got["data"], &got["_me"], &got["_channel"]),
            (&"hello".into(), &false.into(), &"a".into())
        );
    }
    silent(&mut b1, "B1").await;
    silent(&mut d, "D").await;

    // No channel: the default room.
    let (status, _) = mb_tests::http_post(&format!("{}/publish", dev.http), r#"{"k":1}"#).await;
    assert_eq!(status, 200);
    let got = d.recv_text().await;
    assert!(
        got.starts_with(r#"{"k":1,"_now":"#) && got.ends_with(r#""_me":false}"#),
        "{got}"
    );
}

#[tokio::test]
async fn bad_channel_names_and_strangers_publishing_get_their_documented_errors() {
    let dev = DevServer::start(&[]);
    let (status, body) = Client::refused(&format!("{}/?channel=a%20b", dev.url)).await;
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "bad_channel");
    assert!(
        body["reason"].as_str().unwrap().contains("may use only"),
        "{body}"
    );
    let many: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
    let (status, body) =
        Client::refused(&format!("{}/?channels={}", dev.url, many.join(","))).await;
    assert_eq!(status, 400);
    assert!(body.contains("at most 20"), "{body}");

    let [mut a1, _a2, mut b1, _d] = rooms(&dev).await;
    b1.send_text(r#"{"action":"publish","channel":"a","data":"psst"}"#)
        .await;
    let refusal = b1.recv_json().await;
    assert_eq!(refusal["error"], "not_a_member");
    assert!(
        refusal["reason"]
            .as_str()
            .unwrap()
            .contains("subscribe first")
    );
    silent(&mut a1, "A1").await;
    b1.send_text(r#"{"action":"subscribe","channel":"no spaces"}"#)
        .await;
    assert_eq!(b1.recv_json().await["error"], "bad_channel");

    let (status, answer) =
        mb_tests::http_post(&format!("{}/publish?channel=no%20spaces", dev.http), "x").await;
    assert_eq!(status, 400);
    assert!(answer.contains("bad_channel"), "{answer}");
}

/// The id in a `connection opened` log line (`connection_id=ID`).
fn logged_connection_id(line: &str) -> String {
    let rest = line
        .split_once("connection_id")
        .unwrap_or_else(|| panic!("no connection_id in {line:?}"))
        .1
        .trim_start_matches(['=', '"', ':']);
    rest.chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect()
}

#[tokio::test]
async fn a_client_that_stops_reading_cannot_grow_mb_devs_memory() {
    use mb_lambda::gateway::{DirectGateway, Gateway, PostFailure, Poster};
    let dev = DevServer::start(&[]);
    // A client that completes its handshake and then never reads again.
    let stuck = Client::connect(&dev.url).await;
    let line = dev
        .log_line(&["connection opened"], Duration::from_secs(10))
        .await
        .expect("mb dev logs the connection");
    let stuck_id = logged_connection_id(&line);
    let baseline = dev.peak_rss_mib();

    // 4,000 posts of 64 KiB (250 MiB) through the function's own Management API client.
    let sdk = mb_tests::sdk_config(None, None).await;
    let poster = DirectGateway::new(&sdk, 1).poster(&dev.http);
    let data = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    let (mut queued, mut throttled) = (0, 0);
    let started = std::time::Instant::now();
    for _ in 0..4_000 {
        match poster.post(&stuck_id, data.clone()).await {
            Ok(()) => queued += 1,
            Err(PostFailure::Service { status: 429, code }) => {
                assert_eq!(code.as_deref(), Some("LimitExceededException"));
                throttled += 1;
            }
            Err(other) => panic!("post to the stuck client: {other}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "4,000 posts took over 2 minutes"
        );
    }
    let peak = dev.peak_rss_mib();
    eprintln!(
        "stuck reader: {queued} queued, {throttled} throttled; mb dev peak RSS {baseline:.1} -> {peak:.1} MiB"
    );
    assert!(throttled > 0, "the stuck client's queue never filled");
    // At most its outbox (1,024 messages, 64 MiB here) and the socket's buffers are held,
    // not the 250 MiB posted.
    assert!(
        peak - baseline < 100.0,
        "mb dev grew from {baseline:.1} to {peak:.1} MiB for one stuck client"
    );

    // Everyone else is still served.
    let mut a = Client::connect(&dev.url).await;
    let mut b = Client::connect(&dev.url).await;
    a.send_text("still here").await;
    assert_eq!(a.recv_json().await["data"], "still here");
    assert_eq!(b.recv_json().await["data"], "still here");
    drop(stuck);
}
