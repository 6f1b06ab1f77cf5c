//! Channels: messages to members, subscribe and unsubscribe, control publishes, continuations across rooms, the publish URL.

use super::*;

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
    // Channels keep history: each copy also carries its position in the channel.
    let epoch = bodies["a1"]["_epoch"].clone();
    assert!(epoch.is_string());
    assert_eq!(
        bodies["a1"],
        serde_json::json!({"data": "hi", "_now": *CONNECTED_AT + 500, "_channel": "a",
                           "_seq": 1, "_epoch": epoch, "_me": true})
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
    // One number per channel: the second message of a, the first of b.
    assert_eq!(
        (&bodies["a1"]["_seq"], &bodies["b1"]["_seq"]),
        (&2.into(), &1.into())
    );
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
