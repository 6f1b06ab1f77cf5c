//! The server-side publish: `POST {url}?channel=NAME` with the message as the body (no
//! `channel`: the default room). On AWS it arrives as a Lambda function URL event
//! (`AuthType: AWS_IAM`, so only SigV4-signed requests of permitted callers reach the
//! function); `mb dev` serves the same request at `/publish`. Reading the request and
//! writing the answer are pure.

use serde_json::{Value, json};

use crate::delivery::fanout::Report;
use crate::store::Room;
use crate::wire::channel::Channel;
use crate::wire::error::ErrorFrame;
use crate::wire::message;

/// A publish, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub room: Room,
    /// The message, shaped as a sent frame is (`_me` false for everyone).
    pub text: String,
}

/// A publish request that cannot be carried out, and the HTTP answer it gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refused {
    pub status: u16,
    pub code: &'static str,
    pub reason: String,
}

impl Refused {
    fn new(status: u16, code: &'static str, reason: impl Into<String>) -> Refused {
        Refused {
            status,
            code,
            reason: reason.into(),
        }
    }

    /// The answer's JSON body.
    pub fn body(&self) -> Value {
        ErrorFrame::new(self.code, self.reason.clone()).body()
    }
}

/// Reads a publish request: its method, its query string (without `?`), its body
/// (pure).
pub fn read(
    method: &str,
    query: &str,
    body: Option<&str>,
    is_base64_encoded: bool,
) -> Result<Publish, Refused> {
    if !method.eq_ignore_ascii_case("POST") {
        return Err(Refused::new(
            405,
            "method_not_allowed",
            format!("{method} is not a publish: send POST with the message as the body"),
        ));
    }
    let mut channels = form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == "channel")
        .map(|(_, value)| value.into_owned());
    let room = match (channels.next(), channels.next()) {
        (None, _) => Room::Default,
        (Some(name), None) => Room::Channel(
            Channel::parse(&name).map_err(|e| Refused::new(400, "bad_channel", e.to_string()))?,
        ),
        (Some(_), Some(_)) => {
            return Err(Refused::new(
                400,
                "bad_channel",
                "a publish goes to one channel: give `channel` once",
            ));
        }
    };
    let text = match body {
        None | Some("") => {
            return Err(Refused::new(
                400,
                "no_message",
                "the request body is the message to publish, and it is empty",
            ));
        }
        Some(body) => message::frame_text(Some(body), is_base64_encoded)
            .map_err(|refusal| Refused::new(400, refusal.code(), refusal.reason()))?
            .into_owned(),
    };
    Ok(Publish { room, text })
}

/// The refusal of a message too large once shaped.
pub fn too_large(refusal: &message::Refusal) -> Refused {
    Refused::new(413, refusal.code(), refusal.reason())
}

/// The answer to a publish carried out: what this invocation did (pure). `continued`
/// recipients were handed to another invocation and are not counted in the others.
pub fn answer(report: &Report) -> Value {
    json!({
        "recipients": report.recipients,
        "delivered": report.delivered,
        "gone": report.gone.len(),
        "connecting": report.connecting,
        "throttled": report.throttled,
        "failed": report.failed,
        "continued": report.continued,
    })
}

/// A function URL request (payload format 2.0), as much of it as a publish reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRequest {
    pub method: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub body: Option<String>,
    /// Whether `body` is base64 (the function URL encodes a body that is not text).
    pub is_base64_encoded: bool,
}

impl UrlRequest {
    /// Reads it as a publish ([`read`]).
    pub fn read(&self) -> Result<Publish, Refused> {
        read(
            &self.method,
            &self.query,
            self.body.as_deref(),
            self.is_base64_encoded,
        )
    }
}

/// The function URL request in an event, `None` if the event is not one (pure).
pub fn from_function_url(event: &Value) -> Option<UrlRequest> {
    let method = event.pointer("/requestContext/http/method")?.as_str()?;
    let query = event
        .get("rawQueryString")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = event.get("body").and_then(Value::as_str).map(str::to_owned);
    let is_base64_encoded = event
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Some(UrlRequest {
        method: method.to_owned(),
        query: query.to_owned(),
        body,
        is_base64_encoded,
    })
}

/// A function URL response with a JSON body.
pub fn function_url_response(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": { "content-type": "application/json" },
        "body": body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn a_publish_names_at_most_one_channel() {
        let p = read("POST", "channel=a", Some("hi"), false).unwrap();
        assert_eq!(p.room, Room::Channel(Channel::parse("a").unwrap()));
        assert_eq!(p.text, "hi");
        assert_eq!(
            read("post", "", Some("hi"), false).unwrap().room,
            Room::Default
        );
        assert_eq!(
            read("POST", "x=1&channel=a%3Ab", Some("hi"), false)
                .unwrap()
                .room,
            Room::Channel(Channel::parse("a:b").unwrap())
        );
        let twice = read("POST", "channel=a&channel=b", Some("hi"), false).unwrap_err();
        assert_eq!((twice.status, twice.code), (400, "bad_channel"));
        let bad = read("POST", "channel=a%20b", Some("hi"), false).unwrap_err();
        assert_eq!(bad.code, "bad_channel");
        assert!(bad.reason.contains("may use only"), "{bad}");
    }

    #[test]
    fn a_publish_is_a_post_with_a_body() {
        assert_eq!(read("GET", "", Some("hi"), false).unwrap_err().status, 405);
        assert_eq!(
            read("POST", "", None, false).unwrap_err().code,
            "no_message"
        );
        assert_eq!(read("POST", "", Some(""), false).unwrap_err().status, 400);
        let encoded = base64::prelude::BASE64_STANDARD.encode(r#"{"k":1}"#);
        assert_eq!(
            read("POST", "", Some(&encoded), true).unwrap().text,
            r#"{"k":1}"#
        );
    }

    #[test]
    fn function_url_events_are_told_apart() {
        let event = json!({
            "version": "2.0",
            "rawPath": "/",
            "rawQueryString": "channel=a",
            "requestContext": {"http": {"method": "POST", "path": "/"}},
            "body": "hello",
            "isBase64Encoded": false
        });
        assert_eq!(
            from_function_url(&event),
            Some(UrlRequest {
                method: "POST".into(),
                query: "channel=a".into(),
                body: Some("hello".into()),
                is_base64_encoded: false
            })
        );
        let websocket = json!({"requestContext": {"routeKey": "$default", "connectionId": "x"}});
        assert_eq!(from_function_url(&websocket), None);
        let response = function_url_response(200, &json!({"delivered": 1}));
        assert_eq!(response["statusCode"], 200);
        assert_eq!(response["body"], r#"{"delivered":1}"#);
    }
}
