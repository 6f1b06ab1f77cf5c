//! `mb dev`'s bus: `POST /events` takes one envelope, or a JSON array of them, as a
//! deployed stack's events queue takes messages from SQS, SNS or EventBridge
//! (docs/protocol.md, "Events from the bus"). The envelopes become the batch Lambda's
//! event source mapping would send and go through the function's one door; the answer
//! says, per event in order, `delivered` (with the counts), `duplicate` (with the first
//! delivery's counts) or `rejected` (with the reason), or `retry` where the queue would
//! redeliver it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mb_lambda::delivery::dedupe::Outcome;
use mb_lambda::event::Event;
use mb_lambda::store::ConnectionStore;
use mb_lambda::wire::error::ErrorFrame;
use serde_json::{Value, json};

use super::events;
use super::state::Dev;

/// The path of the bus endpoint.
pub const PATH: &str = "/events";
/// The most envelopes one request may carry: an SQS batch's largest with a batching
/// window is 10,000, but a request is one invocation's worth.
pub const MAX_EVENTS: usize = 100;

/// The next SQS message id: every message of this process has its own, as on AWS.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The SQS messages for a request body (pure): each envelope's JSON text and a message
/// id of its own, or why the body is refused.
pub fn messages(body: &[u8], first_id: u64) -> Result<Vec<(String, String)>, String> {
    let parsed: Value = serde_json::from_slice(body).map_err(|e| {
        format!("the body is not JSON ({e}): send one envelope, or a JSON array of them")
    })?;
    let envelopes = match parsed {
        Value::Array(envelopes) => envelopes,
        one => vec![one],
    };
    if envelopes.is_empty() {
        return Err("the array is empty: send at least one envelope".to_owned());
    }
    if envelopes.len() > MAX_EVENTS {
        return Err(format!(
            "{} envelopes in one request: send at most {MAX_EVENTS}",
            envelopes.len()
        ));
    }
    Ok(envelopes
        .iter()
        .enumerate()
        .map(|(i, envelope)| {
            (
                format!("mb-dev-{}", first_id + i as u64),
                envelope.to_string(),
            )
        })
        .collect())
}

/// One event's line of the answer (pure).
pub fn result_line(key: Option<&str>, outcome: &Outcome) -> Value {
    let mut line = json!({ "result": outcome.word() });
    if let Some(key) = key {
        line["id"] = json!(key);
    }
    match outcome {
        Outcome::Delivered(counts) | Outcome::Duplicate(Some(counts)) => {
            line["counts"] = counts.clone();
        }
        Outcome::Duplicate(None) => line["pending"] = json!(true),
        Outcome::Rejected { code, reason } => {
            line["error"] = json!(code);
            line["reason"] = json!(reason);
        }
        Outcome::Retry(reason) => line["reason"] = json!(reason),
    }
    line
}

/// `POST /events`.
pub async fn events<S: ConnectionStore + 'static>(
    State(dev): State<Arc<Dev<S>>>,
    body: Bytes,
) -> Response {
    let first_id = NEXT_ID.fetch_add(MAX_EVENTS as u64, Ordering::Relaxed);
    let messages = match messages(&body, first_id) {
        Ok(messages) => messages,
        Err(reason) => {
            let body = ErrorFrame::new("bad_events", reason).body();
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    };
    let batch = events::sqs_batch(&messages, mb_lambda::clock::now_ms());
    let answer = dev
        .handler
        .dispatch(Event::recognize(batch), Instant::now() + dev.timeout)
        .await;
    let results: Vec<Value> = answer
        .events
        .iter()
        .map(|event| result_line(event.key.as_deref(), &event.outcome))
        .collect();
    (StatusCode::OK, axum::Json(json!({ "events": results }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_envelope_or_an_array_of_them() {
        let one = messages(br#"{"channel":"a","data":1}"#, 7).unwrap();
        assert_eq!(
            one,
            [(
                "mb-dev-7".to_owned(),
                r#"{"channel":"a","data":1}"#.to_owned()
            )]
        );
        let two = messages(br#"[{"channel":"a"},"x"]"#, 0).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[1], ("mb-dev-1".to_owned(), "\"x\"".to_owned()));
        assert!(messages(b"[]", 0).unwrap_err().contains("empty"));
        assert!(messages(b"nope", 0).unwrap_err().contains("not JSON"));
        let many = format!("[{}]", vec!["1"; MAX_EVENTS + 1].join(","));
        assert!(
            messages(many.as_bytes(), 0)
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn each_result_says_what_became_of_it() {
        let line = result_line(Some("k"), &Outcome::Delivered(json!({"delivered": 2})));
        assert_eq!(
            line,
            json!({"result": "delivered", "id": "k", "counts": {"delivered": 2}})
        );
        let line = result_line(
            None,
            &Outcome::Rejected {
                code: "bad_channel",
                reason: "no channel".into(),
            },
        );
        assert_eq!(
            line,
            json!({"result": "rejected", "error": "bad_channel", "reason": "no channel"})
        );
    }

    proptest! {
        #[test]
        fn any_body_is_read_or_refused_with_a_reason(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            match messages(&body, 0) {
                Ok(messages) => prop_assert!(!messages.is_empty() && messages.len() <= MAX_EVENTS),
                Err(reason) => prop_assert!(!reason.is_empty()),
            }
        }
    }
}
