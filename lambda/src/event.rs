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
//! 4. anything else must be an API Gateway WebSocket event, whose `routeKey` names the
//!    route ([`Route::of`]).

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
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
            Event::Unknown(_) => "unknown",
        }
    }
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
            room: 0,
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
        // A REQUEST without a methodArn is no authorizer request.
        let mut request = websocket("$connect");
        request["type"] = json!("REQUEST");
        assert_eq!(kind(request), "$connect");
    }
}
