//! Access: origins, tokens and the channels they allow, a lost record, the message rate, events without a connection.

use super::*;

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
