//! Work past one invocation: when a broadcast meets its deadline, the rest is handed to
//! a new asynchronous invocation of the same function (Lambda `Invoke` with
//! `InvocationType=Event`), carrying what that invocation needs: the message's inputs
//! (the frame's text and `_now`, so it is shaped again byte for byte), the sender, where
//! the scan resumes, and the recipients still waiting for a retry.
//!
//! Each recipient is reached once: an invocation posts room by room (the rooms in their
//! order, each room's members in key order, each recipient through the first room that
//! has it), and the next resumes after the last (room, key) the previous one started,
//! reading the rooms before the cursor's only to skip their members again. The sender's copy
//! always goes first, in the first invocation, and later ones skip the sender. A chain
//! stops after [`MAX_HOPS`] hand-ons, so a broadcast costs at most `MAX_HOPS + 1`
//! invocations; what is left then is logged as failed.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_smithy_types::error::display::DisplayErrorContext;
use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use serde::{Deserialize, Serialize};

use crate::store::Row;

/// Hand-ons one broadcast may make.
pub const MAX_HOPS: u32 = 10;

/// The top-level key that marks a continuation event (API Gateway's events have none).
pub const MARKER: &str = "mbContinuation";

/// What a continuing invocation needs. Its JSON is `{"mbContinuation": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Continuation {
    /// The Management API endpoint of the sender's stage.
    pub endpoint: String,
    pub sender: String,
    /// The frame's text, base64: a 128 KB message stays within Lambda's 256 KB limit for
    /// an asynchronous payload whatever it contains (JSON escaping can grow text 6×).
    pub text: String,
    /// The message's `_now`.
    pub now: i64,
    /// The rooms' keys, in order (none: the default room alone, as before channels).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<String>,
    /// The index in `rooms` of the room the read resumes in.
    #[serde(default)]
    pub room: usize,
    /// The read resumes after this key in that room (`None`: from its start).
    pub after: Option<String>,
    /// Recipients that were waiting for a retry.
    pub retry: Vec<Row>,
    /// How many hand-ons led here (1 for the first continuation).
    pub hop: u32,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(rename = "mbContinuation")]
    continuation: Continuation,
}

impl Continuation {
    pub fn encode_text(text: &str) -> String {
        BASE64_STANDARD.encode(text)
    }

    /// The frame's text, or why it cannot be read.
    pub fn decode_text(&self) -> Result<String, String> {
        let bytes = BASE64_STANDARD
            .decode(&self.text)
            .map_err(|e| format!("text is not base64: {e}"))?;
        String::from_utf8(bytes).map_err(|e| format!("text is not UTF-8: {e}"))
    }

    /// The event payload.
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(&Envelope {
            continuation: self.clone(),
        })
        .unwrap_or_default()
    }

    /// The continuation in an event, if the event is one.
    pub fn from_event(event: &serde_json::Value) -> Option<Result<Continuation, String>> {
        event.get(MARKER)?;
        Some(
            serde_json::from_value::<Envelope>(event.clone())
                .map(|e| e.continuation)
                .map_err(|e| format!("malformed continuation: {e}")),
        )
    }
}

/// Starts another invocation with a payload, without waiting for it.
pub trait HandOn: Send + Sync {
    fn hand_on<'a>(
        &'a self,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Hands on through the Lambda Invoke API, asynchronously (`Event`): on AWS the function
/// invokes itself (its role may invoke only its own ARN); in `mb dev` the same client
/// calls the Invoke API `mb dev` serves.
pub struct LambdaHandOn {
    client: Client,
    function: String,
}

impl LambdaHandOn {
    pub fn new(config: &aws_config::SdkConfig, function: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            function: function.into(),
        }
    }
}

impl HandOn for LambdaHandOn {
    fn hand_on<'a>(
        &'a self,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let answer = self
                .client
                .invoke()
                .function_name(&self.function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(payload))
                .send()
                .await
                .map_err(|e| format!("Lambda Invoke failed: {}", DisplayErrorContext(&e)))?;
            match answer.status_code() {
                202 => Ok(()),
                other => Err(format!("Lambda Invoke answered {other}, not 202")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continuation_round_trips_through_its_event() {
        let c = Continuation {
            endpoint: "https://a.execute-api.eu-west-1.amazonaws.com/dev".into(),
            sender: "s=".into(),
            text: Continuation::encode_text("{\"k\":\"\\u0000\"}"),
            now: 1_700_000_000_000,
            rooms: vec!["#".into(), "b".into()],
            room: 1,
            after: Some("k+/=".into()),
            retry: vec![
                Row::new("r", 5),
                Row {
                    room: 1,
                    ..Row::new("s", 6)
                },
            ],
            hop: 2,
        };
        let event: serde_json::Value = serde_json::from_slice(&c.to_payload()).unwrap();
        assert_eq!(Continuation::from_event(&event), Some(Ok(c.clone())));
        assert_eq!(c.decode_text().unwrap(), "{\"k\":\"\\u0000\"}");
    }

    #[test]
    fn a_continuation_from_before_channels_is_the_default_room() {
        let event = serde_json::json!({"mbContinuation": {
            "endpoint": "e", "sender": "s", "text": "eA==", "now": 1,
            "after": "k", "retry": [{"id": "r", "connected_at_ms": 5}], "hop": 1
        }});
        let c = Continuation::from_event(&event).unwrap().unwrap();
        assert!(c.rooms.is_empty());
        assert_eq!(c.room, 0);
        assert_eq!(c.retry, vec![Row::new("r", 5)]);
    }

    #[test]
    fn api_gateway_events_are_not_continuations() {
        let event = serde_json::json!({"requestContext": {"routeKey": "$default"}});
        assert_eq!(Continuation::from_event(&event), None);
        let bad = serde_json::json!({MARKER: {"sender": 1}});
        assert!(matches!(Continuation::from_event(&bad), Some(Err(_))));
    }
}
