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
//!
//! A continuation never passes Lambda's asynchronous payload limit ([`PAYLOAD_LIMIT`]):
//! the recipients waiting for a retry that do not fit in it travel in further
//! continuations that only retry ([`Continuation::split`]). An invocation that still fails
//! on every attempt goes to the stack's on-failure queue (docs/deploy.md), so a lost
//! continuation is never silent.
//!
//! Anyone allowed `lambda:InvokeFunction` could invoke the function with a made-up
//! continuation, so a continuation is only followed when it names the function's own
//! Management API endpoint ([`check_endpoint`]): otherwise the function would post room
//! messages, SigV4-signed, to whatever host it was told.

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
use crate::wire::position::Position;

/// Hand-ons one broadcast may make.
pub const MAX_HOPS: u32 = 10;

/// The top-level key that marks a continuation event (API Gateway's events have none).
pub const MARKER: &str = "mbContinuation";

/// The largest payload of an asynchronous invocation Lambda accepts: 256 KB (262,144
/// bytes), the limit every region has had (docs/architecture.md, "Continuations").
pub const PAYLOAD_LIMIT: usize = 256 * 1024;

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
    /// The message's position in each of those rooms that keeps history (none: no room
    /// did, or a continuation from before history).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub positions: Vec<Option<Position>>,
    /// The index in `rooms` of the room the read resumes in (`room` on the wire).
    #[serde(rename = "room", default)]
    pub room_index: usize,
    /// The read resumes after this key in that room (`None`: from its start).
    pub after: Option<String>,
    /// Recipients that were waiting for a retry.
    pub retry: Vec<Row>,
    /// How many hand-ons led here (1 for the first continuation).
    pub hop: u32,
    /// Whether it reads the rooms from its cursor on (`false`: it only retries `retry`,
    /// the part of a split that did not fit in the first continuation).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub scan: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Whether a continuation naming `named` may be followed by a function whose own
/// Management API endpoint is `own` (pure). Without one of its own (no
/// `MB_MANAGEMENT_ENDPOINT`: the endpoint comes from each event) there is nothing to
/// hold it against; `mb`'s template always sets it.
pub fn check_endpoint(own: Option<&str>, named: &str) -> Result<(), String> {
    let Some(own) = own else {
        return Ok(());
    };
    if own.trim_end_matches('/') == named.trim_end_matches('/') {
        Ok(())
    } else {
        Err(format!(
            "it names the Management API endpoint {named:?}, not this function's own ({own:?}); \
             a forged invocation?"
        ))
    }
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

    /// This continuation as one or more whose payloads each fit in `limit` bytes (pure):
    /// the first keeps the cursor and as many retry rows as fit, in order; the rows left
    /// over follow in continuations that only retry (`scan: false`). Every row is in
    /// exactly one. If even a continuation without rows passes the limit (it cannot with
    /// a message of at most 128 KB), the first carries none and each other one row.
    pub fn split(mut self, limit: usize) -> Vec<Continuation> {
        let rows = std::mem::take(&mut self.retry);
        let mut parts = vec![self.clone()];
        let mut empty_retry = self;
        empty_retry.scan = false;
        // The size of `part` plus one more row: a row adds its JSON and one comma.
        let mut size = parts[0].to_payload().len();
        for row in rows {
            let row_size = serde_json::to_vec(&row).map_or(0, |v| v.len()) + 1;
            let last = parts.len() - 1;
            if size + row_size > limit && !(parts[last].retry.is_empty() && last > 0) {
                parts.push(empty_retry.clone());
                size = empty_retry.to_payload().len();
            }
            let last = parts.len() - 1;
            parts[last].retry.push(row);
            size += row_size;
        }
        parts
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
pub trait Invoker: Send + Sync {
    fn invoke_async<'a>(
        &'a self,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Hands on through the Lambda Invoke API, asynchronously (`Event`): on AWS the function
/// invokes itself (its role may invoke only its own ARN); in `mb dev` the same client
/// calls the Invoke API `mb dev` serves.
pub struct LambdaInvoker {
    client: Client,
    function: String,
}

impl LambdaInvoker {
    pub fn new(config: &aws_config::SdkConfig, function: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            function: function.into(),
        }
    }
}

impl Invoker for LambdaInvoker {
    fn invoke_async<'a>(
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
            positions: vec![],
            room_index: 1,
            after: Some("k+/=".into()),
            retry: vec![
                Row::new("r", 5),
                Row {
                    room_index: 1,
                    ..Row::new("s", 6)
                },
            ],
            hop: 2,
            scan: true,
        };
        let event: serde_json::Value = serde_json::from_slice(&c.to_payload()).unwrap();
        assert_eq!(Continuation::from_event(&event), Some(Ok(c.clone())));
        assert_eq!(c.decode_text().unwrap(), "{\"k\":\"\\u0000\"}");
        // The wire keeps its names, so a continuation handed on by the version before a
        // deploy means the same to the version after it.
        assert_eq!(event[MARKER]["room"], 1);
        assert_eq!(event[MARKER]["retry"][1]["room"], 1);
        assert!(event[MARKER]["retry"][0].get("room").is_none());
    }

    #[test]
    fn a_continuation_from_before_channels_is_the_default_room() {
        let event = serde_json::json!({"mbContinuation": {
            "endpoint": "e", "sender": "s", "text": "eA==", "now": 1,
            "after": "k", "retry": [{"id": "r", "connected_at_ms": 5}], "hop": 1
        }});
        let c = Continuation::from_event(&event).unwrap().unwrap();
        assert!(c.rooms.is_empty());
        assert_eq!(c.room_index, 0);
        assert_eq!(c.retry, vec![Row::new("r", 5)]);
    }

    #[test]
    fn only_the_functions_own_endpoint_is_followed() {
        let own = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev";
        assert!(check_endpoint(Some(own), own).is_ok());
        assert!(check_endpoint(Some(own), &format!("{own}/")).is_ok());
        let err = check_endpoint(Some(own), "https://attacker.example/dev").unwrap_err();
        assert!(
            err.contains("attacker.example") && err.contains(own),
            "{err}"
        );
        assert!(
            check_endpoint(
                Some(own),
                "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
            )
            .is_err()
        );
        // Nothing to compare with: the endpoint comes from each event.
        assert!(check_endpoint(None, "https://x.example").is_ok());
    }

    fn big(text_len: usize, rows: usize) -> Continuation {
        Continuation {
            endpoint: "https://a.execute-api.eu-west-1.amazonaws.com/dev".into(),
            sender: "s=".into(),
            text: Continuation::encode_text(&"\"".repeat(text_len)),
            now: 1,
            rooms: vec!["a".into(), "b".into()],
            positions: vec![],
            room_index: 1,
            after: Some("k".into()),
            retry: (0..rows)
                .map(|i| Row {
                    room_index: i % 2,
                    ..Row::new(format!("Zk9xYm{i:06}ABC="), 1_700_000_000_000 + i as i64)
                })
                .collect(),
            hop: 3,
            scan: true,
        }
    }

    /// A 128 KB message and 5,000 recipients waiting for a retry: one payload would be
    /// about 0.5 MB, past Lambda's limit for an asynchronous invocation.
    #[test]
    fn a_continuation_too_big_for_one_invocation_is_split() {
        let whole = big(128 * 1024, 5_000);
        assert!(whole.to_payload().len() > PAYLOAD_LIMIT);
        let parts = whole.clone().split(PAYLOAD_LIMIT);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(
                part.to_payload().len() <= PAYLOAD_LIMIT,
                "{}",
                part.to_payload().len()
            );
        }
        assert!(
            parts[0].scan
                && parts[0].after == whole.after
                && parts[0].room_index == whole.room_index
        );
        assert!(parts[1..].iter().all(|p| !p.scan && p.hop == whole.hop));
        let rows: Vec<Row> = parts.iter().flat_map(|p| p.retry.clone()).collect();
        assert_eq!(rows, whole.retry);
        // A part that only retries says so on the wire; one that scans keeps the old form.
        let retrying: serde_json::Value = serde_json::from_slice(&parts[1].to_payload()).unwrap();
        assert_eq!(retrying[MARKER]["scan"], false);
        let scanning: serde_json::Value = serde_json::from_slice(&parts[0].to_payload()).unwrap();
        assert!(scanning[MARKER].get("scan").is_none());
        assert_eq!(
            Continuation::from_event(&retrying),
            Some(Ok(parts[1].clone()))
        );
        // What fits stays one continuation.
        let small = big(10, 100);
        assert_eq!(small.clone().split(PAYLOAD_LIMIT), vec![small]);
    }

    proptest::proptest! {
        // About 5 ms a case (it serialises hundreds of rows several times): a tenth.
        #![proptest_config(crate::costly_cases(10))]
        #[test]
        fn every_row_travels_once_within_the_limit(
            text_len in 0usize..4_000,
            rows in 0usize..600,
            limit in 1_000usize..40_000,
        ) {
            let whole = big(text_len, rows);
            let parts = whole.clone().split(limit);
            let carried: Vec<Row> = parts.iter().flat_map(|p| p.retry.clone()).collect();
            proptest::prop_assert_eq!(&carried, &whole.retry);
            proptest::prop_assert!(parts[0].scan);
            let mut bare = whole.clone();
            bare.retry.clear();
            bare.scan = false;
            // Every part fits when a part that only retries fits with the largest row.
            let largest = whole.retry.iter().map(|r| serde_json::to_vec(r).unwrap().len()).max();
            let fits = bare.to_payload().len() + largest.unwrap_or(0) <= limit;
            for part in &parts[1..] {
                proptest::prop_assert!(!part.scan);
                proptest::prop_assert!(!part.retry.is_empty());
            }
            if fits {
                for part in &parts {
                    proptest::prop_assert!(part.to_payload().len() <= limit);
                }
            }
        }
    }

    #[test]
    fn api_gateway_events_are_not_continuations() {
        let event = serde_json::json!({"requestContext": {"routeKey": "$default"}});
        assert_eq!(Continuation::from_event(&event), None);
        let bad = serde_json::json!({MARKER: {"sender": 1}});
        assert!(matches!(Continuation::from_event(&bad), Some(Err(_))));
    }
}
