//! The server-side publish: `POST {url}?channel=NAME` with the message as the body (no
//! `channel`: the default room). On AWS it arrives as a Lambda function URL event
//! (`AuthType: AWS_IAM`, so only SigV4-signed requests of permitted callers reach the
//! function); `mb dev` serves the same request at `/publish`. Reading the request and
//! writing the answer are pure.

use serde_json::{Value, json};

use crate::delivery::dedupe::Outcome;
use crate::delivery::fanout::Report;
use crate::store::Room;
use crate::wire::bus;
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
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
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

    /// The `Idempotency-Key` it was sent with, checked: a repeat within the dedupe
    /// window is answered as a duplicate and reaches nobody.
    pub fn idempotency_key(&self) -> Result<Option<&str>, Refused> {
        match self.idempotency_key.as_deref() {
            None => Ok(None),
            Some(key) => bus::checked_key(key).map(Some).ok_or_else(|| {
                Refused::new(
                    400,
                    "bad_idempotency_key",
                    format!(
                        "the Idempotency-Key header must be 1 to {} characters without control characters",
                        bus::MAX_ID
                    ),
                )
            }),
        }
    }
}

/// The answer to a publish sent with an `Idempotency-Key` (pure): the counts, a repeat's
/// first counts with `"duplicate":true`, 409 while the first is still going, or the
/// refusal.
pub fn answer_once(outcome: &Outcome) -> (u16, Value) {
    match outcome {
        Outcome::Delivered(counts) => (200, counts.clone()),
        Outcome::Duplicate(Some(counts)) => {
            let mut counts = counts.clone();
            if let Value::Object(fields) = &mut counts {
                fields.insert("duplicate".to_owned(), Value::Bool(true));
            }
            (200, counts)
        }
        Outcome::Duplicate(None) => (
            409,
            ErrorFrame::new(
                "in_progress",
                "a publish with this Idempotency-Key is still going: ask again in a moment for its counts",
            )
            .body(),
        ),
        Outcome::Rejected { code, reason } => (
            if *code == "message_too_large" { 413 } else { 400 },
            ErrorFrame::new(code, reason.clone()).body(),
        ),
        Outcome::Retry(reason) => (
            503,
            ErrorFrame::new("storage_unavailable", reason.clone()).body(),
        ),
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
    // A function URL sends header names in lower case.
    let idempotency_key = event
        .pointer("/headers/idempotency-key")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(UrlRequest {
        method: method.to_owned(),
        query: query.to_owned(),
        body,
        is_base64_encoded,
        idempotency_key,
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
                is_base64_encoded: false,
                idempotency_key: None,
            })
        );
        let mut keyed = event.clone();
        keyed["headers"] = json!({"idempotency-key": "order-42-paid"});
        let keyed = from_function_url(&keyed).unwrap();
        assert_eq!(keyed.idempotency_key(), Ok(Some("order-42-paid")));
        keyed_refusals();
        let websocket = json!({"requestContext": {"routeKey": "$default", "connectionId": "x"}});
        assert_eq!(from_function_url(&websocket), None);
        let response = function_url_response(200, &json!({"delivered": 1}));
        assert_eq!(response["statusCode"], 200);
        assert_eq!(response["body"], r#"{"delivered":1}"#);
    }

    fn keyed_refusals() {
        let request = |key: &str| UrlRequest {
            method: "POST".into(),
            query: String::new(),
            body: Some("hi".into()),
            is_base64_encoded: false,
            idempotency_key: Some(key.into()),
        };
        for bad in ["", "a\nb", &"k".repeat(bus::MAX_ID + 1)] {
            let refused = request(bad).idempotency_key().unwrap_err();
            assert_eq!((refused.status, refused.code), (400, "bad_idempotency_key"));
        }
    }

    #[test]
    fn a_repeat_is_answered_with_the_first_counts() {
        let counts = json!({"recipients": 3, "delivered": 3});
        assert_eq!(
            answer_once(&Outcome::Delivered(counts.clone())),
            (200, counts.clone())
        );
        let (status, body) = answer_once(&Outcome::Duplicate(Some(counts)));
        assert_eq!(
            (status, &body["delivered"], &body["duplicate"]),
            (200, &json!(3), &json!(true))
        );
        let (status, body) = answer_once(&Outcome::Duplicate(None));
        assert_eq!((status, &body["error"]), (409, &json!("in_progress")));
        let too_large = Outcome::Rejected {
            code: "message_too_large",
            reason: "too large".into(),
        };
        assert_eq!(answer_once(&too_large).0, 413);
        assert_eq!(answer_once(&Outcome::Retry("down".into())).0, 503);
    }
}

/// Properties of the publish request, over generated input: total, and the method, the
/// channel and the body decide, in that order. `PROPTEST_CASES` sets how many cases each
/// runs.
#[cfg(test)]
mod properties {
    use super::*;
    use base64::Engine;
    use base64::prelude::BASE64_STANDARD;
    use proptest::prelude::*;

    fn method() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(vec!["POST", "post", "PoSt"]).prop_map(str::to_owned),
            1 => prop::sample::select(vec!["GET", "PUT", "POST ", "", "OPTIONS"]).prop_map(str::to_owned),
            1 => any::<String>(),
        ]
    }

    /// Query pairs, encoded as a client would; `channel` appears zero, one or more times.
    fn query() -> impl Strategy<Value = (Vec<(String, String)>, String)> {
        let pair = (
            prop_oneof![
                3 => Just("channel".to_owned()),
                1 => prop::sample::select(vec!["x", "Channel", "channels", "token"]).prop_map(str::to_owned),
                1 => any::<String>(),
            ],
            prop_oneof![
                4 => "[A-Za-z0-9._:@-]{1,64}",
                1 => any::<String>(),
                1 => "[A-Za-z0-9._:@ /-]{0,70}",
            ],
        );
        prop::collection::vec(pair, 0..4).prop_map(|pairs| {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish();
            (pairs, query)
        })
    }

    /// A body: none, empty, text, base64 of UTF-8 or of any bytes, or text marked base64.
    fn body() -> impl Strategy<Value = (Option<String>, bool)> {
        prop_oneof![
            1 => Just((None, false)),
            1 => (Just(Some(String::new())), any::<bool>()),
            3 => any::<String>().prop_map(|t| (Some(t), false)),
            1 => any::<String>().prop_map(|t| (Some(BASE64_STANDARD.encode(t)), true)),
            1 => prop::collection::vec(any::<u8>(), 0..16).prop_map(|b| (Some(BASE64_STANDARD.encode(b)), true)),
            1 => any::<String>().prop_map(|t| (Some(t), true)),
        ]
    }

    proptest! {
        /// Not a POST: 405. Else the `channel` pairs (none: the default room; one, valid:
        /// that channel; else 400 bad_channel), then the body (none or empty: 400
        /// no_message; binary that is not UTF-8: 400 binary_not_supported; else the text).
        #[test]
        fn a_publish_is_read_by_method_then_channel_then_body(
            method in method(),
            (pairs, query) in query(),
            (body, is_base64) in body(),
        ) {
            let got = read(&method, &query, body.as_deref(), is_base64);
            let channels: Vec<&str> = pairs
                .iter()
                .filter(|(k, _)| k == "channel")
                .map(|(_, v)| v.as_str())
                .collect();
            let status_code = got.as_ref().err().map(|r| (r.status, r.code));
            if !method.eq_ignore_ascii_case("POST") {
                prop_assert_eq!(status_code, Some((405, "method_not_allowed")));
                return Ok(());
            }
            let room = match channels[..] {
                [] => Room::Default,
                [name] => match Channel::parse(name) {
                    Ok(channel) => Room::Channel(channel),
                    Err(why) => {
                        prop_assert_eq!(status_code, Some((400, "bad_channel")));
                        prop_assert_eq!(&got.unwrap_err().reason, &why.to_string());
                        return Ok(());
                    }
                },
                _ => {
                    prop_assert_eq!(status_code, Some((400, "bad_channel")));
                    return Ok(());
                }
            };
            match body.as_deref() {
                None | Some("") => prop_assert_eq!(status_code, Some((400, "no_message"))),
                Some(body) => match message::frame_text(Some(body), is_base64) {
                    Ok(text) => prop_assert_eq!(got, Ok(Publish { room, text: text.into_owned() })),
                    Err(_) => prop_assert_eq!(status_code, Some((400, "binary_not_supported"))),
                },
            }
        }

        /// Any query string at all is read without a panic; a refusal's body is its code
        /// and reason.
        #[test]
        fn any_query_is_read(method in method(), query in any::<String>(), body in prop::option::of(any::<String>()), b64 in any::<bool>()) {
            if let Err(refused) = read(&method, &query, body.as_deref(), b64) {
                let answer = refused.body();
                prop_assert_eq!(&answer["error"], refused.code);
                prop_assert_eq!(&answer["reason"], &refused.reason);
                prop_assert!(matches!(refused.status, 400 | 405));
            }
        }

        /// An event is a function URL request exactly when it has
        /// `requestContext.http.method` as a string; its query, body and base64 flag are
        /// read when they have the right type and default otherwise.
        #[test]
        fn a_function_url_request_is_recognised_by_its_method(
            method in prop::option::of(prop_oneof![method().prop_map(Value::from), Just(json!(1)), Just(Value::Null)]),
            query in prop::option::of(prop_oneof![any::<String>().prop_map(Value::from), Just(json!(["x"]))]),
            body in prop::option::of(prop_oneof![any::<String>().prop_map(Value::from), Just(json!({"k": 1}))]),
            b64 in prop::option::of(prop_oneof![any::<bool>().prop_map(Value::from), Just(json!("true"))]),
            extra in prop::option::of(any::<String>()),
            key in prop::option::of(prop_oneof![any::<String>().prop_map(Value::from), Just(json!(7))]),
        ) {
            let mut event = json!({"version": "2.0", "requestContext": {"http": {}}});
            if let Some(key) = &key {
                event["headers"] = json!({"idempotency-key": key});
            }
            if let Some(method) = &method {
                event["requestContext"]["http"]["method"] = method.clone();
            }
            for (key, value) in [("rawQueryString", &query), ("body", &body), ("isBase64Encoded", &b64)] {
                if let Some(value) = value {
                    event[key] = value.clone();
                }
            }
            if let Some(extra) = extra {
                event["requestContext"]["routeKey"] = extra.into();
            }
            let expected = method.as_ref().and_then(Value::as_str).map(|m| UrlRequest {
                method: m.to_owned(),
                query: query.as_ref().and_then(Value::as_str).unwrap_or_default().to_owned(),
                body: body.as_ref().and_then(Value::as_str).map(str::to_owned),
                is_base64_encoded: b64.as_ref().and_then(Value::as_bool).unwrap_or(false),
                idempotency_key: key.as_ref().and_then(Value::as_str).map(str::to_owned),
            });
            if let Some(request) = &from_function_url(&event) {
                // A key is either refused with its reason or taken as sent.
                match request.idempotency_key() {
                    Ok(taken) => prop_assert_eq!(taken, request.idempotency_key.as_deref()),
                    Err(refused) => prop_assert_eq!(refused.code, "bad_idempotency_key"),
                }
            }
            let got = from_function_url(&event);
            if let Some(request) = &got {
                prop_assert_eq!(
                    request.read(),
                    read(&request.method, &request.query, request.body.as_deref(), request.is_base64_encoded)
                );
            }
            prop_assert_eq!(got, expected);
        }
    }
}
