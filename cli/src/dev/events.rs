//! The event JSON API Gateway sends a WebSocket API's integration, and the one a function
//! URL sends for a publish, built for `mb dev` (pure). Field names and shapes follow the
//! events AWS delivers to Lambda, and every event goes through the function's one door
//! (`mb_lambda::event::Event::recognize`, then `aws_lambda_events`' own type) before it
//! reaches the handler, exactly as on AWS.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use serde_json::{Value, json};

/// What stays the same for every event of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    pub connection_id: String,
    pub connected_at_ms: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// `Host` as a client would see it, e.g. `127.0.0.1:8080`.
    pub domain_name: String,
    pub stage: String,
    pub api_id: String,
}

/// A frame's content: text as is, binary base64-encoded (`isBase64Encoded`).
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// The `$connect` event, carrying the upgrade request's headers and query string.
pub fn connect(
    ctx: &ConnectionContext,
    headers: &[(String, String)],
    query: &[(String, String)],
    now_ms: i64,
    request_id: &str,
) -> Value {
    let mut event = base(ctx, "$connect", "CONNECT", now_ms, request_id);
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    let multi: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    event["headers"] = Value::Object(header_map);
    event["multiValueHeaders"] = Value::Object(multi);
    if !query.is_empty() {
        let single: serde_json::Map<String, Value> = query
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        event["queryStringParameters"] = Value::Object(single);
        // As API Gateway: every value of a repeated parameter, in order.
        let mut multi = serde_json::Map::new();
        for (k, v) in query {
            if let Value::Array(values) = multi.entry(k.clone()).or_insert_with(|| json!([])) {
                values.push(Value::from(v.as_str()));
            }
        }
        event["multiValueQueryStringParameters"] = Value::Object(multi);
    }
    event
}

/// The Lambda `REQUEST` authorizer event API Gateway sends before `$connect` (the
/// identity source, `?token=`, is present).
pub fn authorizer(
    ctx: &ConnectionContext,
    headers: &[(String, String)],
    query: &[(String, String)],
    now_ms: i64,
    request_id: &str,
) -> Value {
    let mut event = connect(ctx, headers, query, now_ms, request_id);
    event["type"] = "REQUEST".into();
    event["methodArn"] = format!(
        "arn:aws:execute-api:local:000000000000:{}/{}/$connect",
        ctx.api_id, ctx.stage
    )
    .into();
    event
}

/// A `MESSAGE` event for the `$default` route.
pub fn message(ctx: &ConnectionContext, frame: Frame<'_>, now_ms: i64, request_id: &str) -> Value {
    let mut event = base(ctx, "$default", "MESSAGE", now_ms, request_id);
    event["requestContext"]["messageDirection"] = "IN".into();
    event["requestContext"]["messageId"] = request_id.into();
    let (body, encoded) = match frame {
        Frame::Text(text) => (text.to_owned(), false),
        Frame::Binary(bytes) => (BASE64_STANDARD.encode(bytes), true),
    };
    event["body"] = body.into();
    event["isBase64Encoded"] = encoded.into();
    event
}

/// The `$disconnect` event, with the close code and reason API Gateway reports.
pub fn disconnect(
    ctx: &ConnectionContext,
    status_code: u16,
    reason: &str,
    now_ms: i64,
    request_id: &str,
) -> Value {
    let mut event = base(ctx, "$disconnect", "DISCONNECT", now_ms, request_id);
    event["requestContext"]["disconnectStatusCode"] = status_code.into();
    event["requestContext"]["disconnectReason"] = reason.into();
    event
}

fn base(
    ctx: &ConnectionContext,
    route_key: &str,
    event_type: &str,
    now_ms: i64,
    request_id: &str,
) -> Value {
    let mut identity = json!({ "sourceIp": ctx.source_ip });
    if let Some(agent) = &ctx.user_agent {
        identity["userAgent"] = agent.as_str().into();
    }
    json!({
        "requestContext": {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": request_time(now_ms),
            "stage": ctx.stage,
            "connectedAt": ctx.connected_at_ms,
            "requestTimeEpoch": now_ms,
            "identity": identity,
            "requestId": request_id,
            "domainName": ctx.domain_name,
            "connectionId": ctx.connection_id,
            "apiId": ctx.api_id,
        },
        "isBase64Encoded": false,
    })
}

/// API Gateway's `requestTime`: `22/Nov/2026:05:23:46 +0000`.
pub fn request_time(now_ms: i64) -> String {
    // HTTP date: "Sun, 22 Nov 2026 05:23:46 GMT"
    let http = DateTime::from_millis(now_ms)
        .fmt(Format::HttpDate)
        .unwrap_or_default();
    let parts: Vec<&str> = http.split(' ').collect();
    match parts.as_slice() {
        [_, day, month, year, time, _] => format!("{day}/{month}/{year}:{time} +0000"),
        _ => http,
    }
}

/// A function URL's request event (payload format 2.0) for a publish: the fields the
/// function reads (method, raw query string, body, whether it is base64), as AWS sends them.
pub fn function_url(
    method: &str,
    raw_query: &str,
    body: &str,
    is_base64_encoded: bool,
    idempotency_key: Option<&str>,
    now_ms: i64,
) -> Value {
    // A function URL sends header names in lower case.
    let headers = match idempotency_key {
        Some(key) => json!({ "idempotency-key": key }),
        None => json!({}),
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "http": { "method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1" },
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": now_ms
        },
        "body": body,
        "isBase64Encoded": is_base64_encoded
    })
}

/// The batch an SQS event source mapping sends for the events queue: one message per
/// body, each with its message id, as Lambda delivers them.
pub fn sqs_batch(messages: &[(String, String)], now_ms: i64) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("mb-dev-{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now_ms.to_string(),
                    "SenderId": "mb-dev",
                    "ApproximateFirstReceiveTimestamp": now_ms.to_string()
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:mb-dev-events",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event as the function's one door reads it: a WebSocket event of `route`.
    fn parse(
        event: Value,
    ) -> Result<aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest, String> {
        match mb_lambda::event::Event::recognize(event) {
            mb_lambda::event::Event::WebSocket { request, .. } => Ok(*request),
            other => Err(format!("recognised as {}", other.kind())),
        }
    }

    fn ctx() -> ConnectionContext {
        ConnectionContext {
            connection_id: "AbCdEfGhIjKlMn0=".into(),
            connected_at_ms: 1_700_000_000_000,
            source_ip: "127.0.0.1".into(),
            user_agent: Some("test".into()),
            domain_name: "127.0.0.1:8080".into(),
            stage: "dev".into(),
            api_id: "mbdev".into(),
        }
    }

    /// A publish to `mb dev` reaches the function as a function URL's event does on AWS:
    /// the one door recognises it, with its method, query and body.
    #[test]
    fn a_publish_is_a_function_url_event() {
        let event = function_url("POST", "channel=a", "aGk=", true, None, 1);
        match mb_lambda::event::Event::recognize(event) {
            mb_lambda::event::Event::Publish(request) => {
                assert_eq!(request.method, "POST");
                assert_eq!(request.query, "channel=a");
                assert_eq!(request.body.as_deref(), Some("aGk="));
                assert!(request.is_base64_encoded);
                assert_eq!(request.read().map(|p| p.text), Ok("hi".to_owned()));
            }
            other => panic!("recognised as {}", other.kind()),
        }
    }

    #[test]
    fn request_time_is_apache_common_log_format() {
        assert_eq!(
            request_time(1_700_000_000_000),
            "14/Nov/2023:22:13:20 +0000"
        );
    }

    #[test]
    fn message_events_parse_into_the_lambda_type() {
        let event = parse(message(&ctx(), Frame::Text("hi"), 1_700_000_000_500, "r1")).unwrap();
        let rc = &event.request_context;
        assert_eq!(rc.route_key.as_deref(), Some("$default"));
        assert_eq!(rc.event_type.as_deref(), Some("MESSAGE"));
        assert_eq!(rc.connection_id.as_deref(), Some("AbCdEfGhIjKlMn0="));
        assert_eq!(rc.domain_name.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(rc.stage.as_deref(), Some("dev"));
        assert_eq!(rc.request_time_epoch, 1_700_000_000_500);
        assert_eq!(rc.connected_at, 1_700_000_000_000);
        assert_eq!(event.body.as_deref(), Some("hi"));
        assert!(!event.is_base64_encoded);
    }

    #[test]
    fn binary_frames_are_base64_encoded() {
        let event = parse(message(&ctx(), Frame::Binary(&[0, 1, 255]), 1, "r")).unwrap();
        assert!(event.is_base64_encoded);
        assert_eq!(event.body.as_deref(), Some("AAH/"));
    }

    #[test]
    fn connect_and_disconnect_events() {
        let headers = vec![("Host".to_owned(), "127.0.0.1:8080".to_owned())];
        let query = vec![("room".to_owned(), "a".to_owned())];
        let event = parse(connect(&ctx(), &headers, &query, 1, "r")).unwrap();
        assert_eq!(event.request_context.event_type.as_deref(), Some("CONNECT"));
        assert_eq!(event.request_context.route_key.as_deref(), Some("$connect"));
        assert_eq!(event.headers["host"], "127.0.0.1:8080");
        assert!(event.body.is_none());

        let event = parse(disconnect(&ctx(), 1001, "Going away", 2, "r")).unwrap();
        assert_eq!(
            event.request_context.event_type.as_deref(),
            Some("DISCONNECT")
        );
        assert_eq!(event.request_context.disconnect_status_code, Some(1001));
        assert_eq!(
            event.request_context.disconnect_reason.as_deref(),
            Some("Going away")
        );
    }
}
