//! The one door: every kind of event the function receives, recognised once, in one
//! place, for `bootstrap` (the Lambda Runtime API's JSON) and `mb dev` (the same JSON, built
//! by its local gateway) alike. Pure; [`crate::handler::Handler::dispatch`] serves the
//! result.
//!
//! Lambda hands the function bare JSON, so the kind is read from the event's shape, in
//! this order (each test is one the later kinds cannot pass):
//! 1. a continuation carries its marker key ([`Continuation::from_event`]);
//! 2. a `$connect` authorizer request is `"type":"REQUEST"` with a `methodArn`;
//! 3. a function URL request (payload format 2.0) has `requestContext.http.method`;
//! 4. a batch from an SQS event source mapping has `Records` whose first record's
//!    `eventSource` is `aws:sqs`;
//! 5. anything else must be an API Gateway WebSocket event, whose `routeKey` names the
//!    route ([`Route::of`]).

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;

use crate::access::authorizer;
use crate::delivery::continuation::Continuation;
use crate::wire::publish::{self, UrlRequest};

/// Which WebSocket route an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Connect,
    Disconnect,
    /// `$default`, and any other route key: route selection (`$request.body.action`)
    /// sends every message without a route of its own to `$default`.
    Message,
}

impl Route {
    /// The route for an event's `routeKey` (pure).
    pub fn of(route_key: Option<&str>) -> Route {
        match route_key {
            Some("$connect") => Route::Connect,
            Some("$disconnect") => Route::Disconnect,
            _ => Route::Message,
        }
    }

    /// The route key as API Gateway names it (and the log line does).
    pub fn key(self) -> &'static str {
        match self {
            Route::Connect => "$connect",
            Route::Disconnect => "$disconnect",
            Route::Message => "$default",
        }
    }
}

/// Every kind of event the function receives.
#[derive(Debug, Clone)]
pub enum Event {
    /// An API Gateway WebSocket event: a connect, a disconnect, a message.
    WebSocket {
        route: Route,
        request: Box<ApiGatewayWebsocketProxyRequest>,
    },
    /// The `$connect` REQUEST authorizer (with `--auth jwt`), kept as JSON: its answer
    /// echoes the `methodArn`.
    Authorizer(Value),
    /// A publish through the function URL.
    Publish(UrlRequest),
    /// The rest of a broadcast another invocation handed on.
    Continuation(Box<Continuation>),
    /// Bus events: a batch of the events queue's messages.
    Queue(SqsEvent),
    /// A continuation's marker on a body that is not one: dropped, and logged.
    BadContinuation(String),
    /// None of the above: answered 400, and logged.
    Unknown(String),
}

impl Event {
    /// The kind of `event` (pure, total: any JSON is one of them).
    pub fn recognize(event: Value) -> Event {
        if let Some(continuation) = Continuation::from_event(&event) {
            return match continuation {
                Ok(continuation) => Event::Continuation(Box::new(continuation)),
                Err(why) => Event::BadContinuation(why),
            };
        }
        if authorizer::is_authorizer_event(&event) {
            return Event::Authorizer(event);
        }
        if let Some(request) = publish::from_function_url(&event) {
            return Event::Publish(request);
        }
        if is_sqs_batch(&event) {
            return match serde_json::from_value::<SqsEvent>(event) {
                Ok(batch) => Event::Queue(batch),
                Err(err) => Event::Unknown(format!("not an SQS batch: {err}")),
            };
        }
        match serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(event) {
            Ok(request) => Event::WebSocket {
                route: Route::of(request.request_context.route_key.as_deref()),
                request: Box::new(request),
            },
            Err(err) => Event::Unknown(format!("not an API Gateway WebSocket event: {err}")),
        }
    }

    /// The kind's name, as the log line gives it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::WebSocket { route, .. } => route.key(),
            Event::Authorizer(_) => "authorizer",
            Event::Publish(_) => "publish",
            Event::Continuation(_) => "continuation",
            Event::BadContinuation(_) => "continuation",
            Event::Queue(_) => "queue",
            Event::Unknown(_) => "unknown",
        }
    }
}

/// A batch from an SQS event source mapping: `Records`, the first from `aws:sqs`.
fn is_sqs_batch(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|records| records.first())
        .and_then(|first| first.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(event: Value) -> &'static str {
        Event::recognize(event).kind()
    }

    #[test]
    fn routes() {
        assert_eq!(Route::of(Some("$connect")), Route::Connect);
        assert_eq!(Route::of(Some("$disconnect")), Route::Disconnect);
        assert_eq!(Route::of(Some("$default")), Route::Message);
        assert_eq!(Route::of(Some("sendmessage")), Route::Message);
        assert_eq!(Route::of(None), Route::Message);
    }

    #[test]
    fn every_kind_is_told_apart() {
        // The fields API Gateway always sends (the event type requires them).
        let websocket = |route: &str| {
            json!({
                "requestContext": {
                    "routeKey": route, "connectionId": "c", "connectedAt": 1,
                    "requestTimeEpoch": 1, "apiId": "a", "stage": "dev"
                },
                "isBase64Encoded": false
            })
        };
        if let Event::Unknown(why) = Event::recognize(websocket("$connect")) {
            panic!("{why}");
        }
        assert_eq!(kind(websocket("$connect")), "$connect");
        assert_eq!(kind(websocket("$disconnect")), "$disconnect");
        assert_eq!(kind(websocket("$default")), "$default");
        assert_eq!(
            kind(
                json!({"type": "REQUEST", "methodArn": "arn:aws:execute-api:x", "requestContext": {"routeKey": "$connect"}})
            ),
            "authorizer"
        );
        assert_eq!(
            kind(
                json!({"version": "2.0", "rawQueryString": "", "requestContext": {"http": {"method": "POST"}}, "body": "hi"})
            ),
            "publish"
        );
        let continuation = Continuation {
            endpoint: "https://a.execute-api.eu-west-1.amazonaws.com/dev".into(),
            sender: "s".into(),
            text: Continuation::encode_text("hi"),
            now: 1,
            rooms: vec![],
            positions: vec![],
            room_index: 0,
            after: None,
            retry: vec![],
            hop: 1,
            scan: true,
        };
        let payload: Value = serde_json::from_slice(&continuation.to_payload()).unwrap();
        match Event::recognize(payload) {
            Event::Continuation(c) => assert_eq!(*c, continuation),
            other => panic!("{other:?}"),
        }
        let marker = crate::delivery::continuation::MARKER;
        assert!(matches!(
            Event::recognize(json!({ marker: 7 })),
            Event::BadContinuation(_)
        ));
        assert!(matches!(Event::recognize(json!([1, 2])), Event::Unknown(_)));
        // A batch of the events queue, as Lambda's event source mapping sends it.
        let batch = json!({"Records": [{
            "messageId": "m-1", "receiptHandle": "r", "body": "{}",
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": "x", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:mb-chat-dev-events",
            "awsRegion": "us-east-1"
        }]});
        match Event::recognize(batch) {
            Event::Queue(batch) => assert_eq!(batch.records[0].message_id.as_deref(), Some("m-1")),
            other => panic!("{other:?}"),
        }
        // Records from elsewhere (S3, SNS straight to the function) are not a batch of it.
        assert_eq!(
            kind(json!({"Records": [{"eventSource": "aws:s3"}]})),
            "unknown"
        );
        // A REQUEST without a methodArn is no authorizer request.
        let mut request = websocket("$connect");
        request["type"] = json!("REQUEST");
        assert_eq!(kind(request), "$connect");
    }
}

/// Properties of recognising events, over generated JSON: total, the kinds told apart in
/// the documented order, a WebSocket event's route read, a continuation's payload read
/// back. `PROPTEST_CASES` sets how many cases each runs.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::delivery::continuation::MARKER;
    use crate::store::Row;
    use proptest::prelude::*;
    use serde_json::json;

    /// Keys that the kinds are told apart by, and any others.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(vec![
                MARKER, "type", "methodArn", "requestContext", "http", "method", "routeKey",
                "connectionId", "body", "isBase64Encoded", "rawQueryString", "Records",
                "eventSource", "messageId",
            ])
            .prop_map(str::to_owned),
            1 => any::<String>(),
        ]
    }

    /// Any JSON value, nested, with the keys events are read by.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            prop::sample::select(vec![
                "REQUEST",
                "POST",
                "$connect",
                "$default",
                "$disconnect",
                "aws:sqs"
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..5)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// The fields API Gateway always sends with a WebSocket event, for `route`.
    fn websocket(route: &str, connection: &str) -> Value {
        json!({
            "requestContext": {
                "routeKey": route, "connectionId": connection, "connectedAt": 1,
                "requestTimeEpoch": 1, "apiId": "a", "stage": "dev"
            },
            "isBase64Encoded": false
        })
    }

    fn continuation() -> impl Strategy<Value = Continuation> {
        let row = (any::<String>(), any::<i64>(), 0usize..4).prop_map(|(id, at, room)| Row {
            room_index: room,
            ..Row::new(id, at)
        });
        (
            (
                any::<String>(),
                any::<String>(),
                any::<String>(),
                any::<i64>(),
            ),
            (
                prop::collection::vec(any::<String>(), 0..3),
                any::<usize>(),
                prop::option::of(any::<String>()),
            ),
            (
                prop::collection::vec(row, 0..3),
                any::<u32>(),
                any::<bool>(),
            ),
        )
            .prop_map(
                |((endpoint, sender, text, now), (rooms, room, after), (retry, hop, scan))| {
                    Continuation {
                        endpoint,
                        sender,
                        text: Continuation::encode_text(&text),
                        now,
                        rooms,
                        positions: Vec::new(),
                        room_index: room,
                        after,
                        retry,
                        hop,
                        scan,
                    }
                },
            )
    }

    proptest! {
        /// Any JSON at all is one of the kinds, in the documented order: a continuation's
        /// marker first, then an authorizer request, then a function URL request, then an
        /// SQS batch, then a WebSocket event (or unknown).
        #[test]
        fn any_json_is_one_kind_in_the_documented_order(
            event in json(),
            marker in prop::option::of(json()),
            authorizer in prop::option::of(json()),
            method in prop::option::of(json()),
            record in prop::option::of(json()),
        ) {
            let mut event = event;
            if let Value::Object(fields) = &mut event {
                if let Some(mut record) = record {
                    if let Value::Object(record) = &mut record {
                        record.insert("eventSource".into(), "aws:sqs".into());
                    }
                    fields.insert("Records".into(), json!([record]));
                }
                if let Some(marker) = marker {
                    fields.insert(MARKER.into(), marker);
                }
                if let Some(arn) = authorizer {
                    fields.insert("type".into(), "REQUEST".into());
                    fields.insert("methodArn".into(), arn);
                }
                if let Some(method) = method {
                    fields.insert("requestContext".into(), json!({"http": {"method": method}}));
                }
            }
            let expected = if event.get(MARKER).is_some() {
                "continuation"
            } else if event.get("type") == Some(&json!("REQUEST")) && event.get("methodArn").is_some() {
                "authorizer"
            } else if event.pointer("/requestContext/http/method").is_some_and(Value::is_string) {
                "publish"
            } else if event.pointer("/Records/0/eventSource") == Some(&json!("aws:sqs")) {
                "queue"
            } else {
                "websocket"
            };
            let recognized = Event::recognize(event.clone());
            match (&recognized, expected) {
                (Event::Continuation(_) | Event::BadContinuation(_), "continuation") => {}
                (Event::Authorizer(kept), "authorizer") => prop_assert_eq!(kept, &event),
                (Event::Publish(request), "publish") => {
                    prop_assert_eq!(Some(request.clone()), publish::from_function_url(&event));
                }
                (Event::WebSocket { route, request }, "websocket") => {
                    prop_assert_eq!(*route, Route::of(request.request_context.route_key.as_deref()));
                }
                (Event::Queue(batch), "queue") => prop_assert_eq!(batch.records.len(), 1),
                (Event::Unknown(why), "websocket" | "queue") => prop_assert!(!why.is_empty()),
                (other, _) => prop_assert!(false, "{} recognised as {:?}", expected, other),
            }
        }

        /// A WebSocket event with API Gateway's fields is recognised with its route, its
        /// connection and its body, whatever the route key and extra fields.
        #[test]
        fn a_websocket_event_is_recognised_with_its_route(
            route in prop_oneof![
                prop::sample::select(vec!["$connect", "$disconnect", "$default", "sendmessage"]).prop_map(str::to_owned),
                any::<String>(),
            ],
            connection in "[A-Za-z0-9=_-]{1,20}",
            body in prop::option::of(any::<String>()),
            request_type in any::<bool>(),
            extra in prop::option::of((any::<String>(), any::<String>())),
        ) {
            let mut event = websocket(&route, &connection);
            if let Some(body) = &body {
                event["body"] = body.clone().into();
            }
            if request_type {
                // A REQUEST without a methodArn is no authorizer request.
                event["type"] = "REQUEST".into();
            }
            if let Some((key, value)) = extra.filter(|(k, _)| !k.starts_with(['m', 't', 'r', 'b', 'i', 'h'])) {
                event[key] = value.into();
            }
            match Event::recognize(event) {
                Event::WebSocket { route: got, request } => {
                    prop_assert_eq!(got, Route::of(Some(&route)));
                    prop_assert_eq!(request.request_context.connection_id.as_deref(), Some(connection.as_str()));
                    prop_assert_eq!(request.body, body);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }

        /// A continuation's payload is recognised as that continuation.
        #[test]
        fn a_continuation_payload_round_trips(continuation in continuation()) {
            let payload: Value = serde_json::from_slice(&continuation.to_payload()).unwrap();
            match Event::recognize(payload) {
                Event::Continuation(read) => prop_assert_eq!(*read, continuation),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
