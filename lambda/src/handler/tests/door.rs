//! The one door: every kind of event, as Lambda hands it over.

use super::*;

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
        positions: vec![],
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
