//! What a claim and a publish's answer make of one event (pure): delivered, a
//! duplicate, rejected for good, or retried. The rules (docs/protocol.md, "Events from
//! the bus"):
//! - a claim lost to a finished delivery is a duplicate, answered with that delivery's
//!   counts; lost to one still going (another message with the same id), a duplicate
//!   too; held by the caller's own earlier attempt that never answered, a retry (the
//!   queue redelivers it, and after its receive count, moves it to the dead-letter
//!   queue: whether that attempt posted anything is unknown, so it is never posted
//!   again from here);
//! - a storage failure before any post is a retry, and the claim is given back;
//! - a message that can never be delivered (too large) is rejected, and the claim given
//!   back;
//! - once posting started, the event is done: never retried, since a retry would post
//!   copies twice.

use serde_json::Value;

use crate::store::Claim;

/// One event's end.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Posted: the publish's answer (its counts).
    Delivered(Value),
    /// Seen within the dedupe window: the first delivery's answer, `None` while it is
    /// still going.
    Duplicate(Option<Value>),
    /// Can never be delivered: dropped, and logged.
    Rejected { code: &'static str, reason: String },
    /// Not done, and safe to try again: the queue redelivers it.
    Retry(String),
}

impl Outcome {
    /// The word an answer and a log line use.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Delivered(_) => "delivered",
            Outcome::Duplicate(_) => "duplicate",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Retry(_) => "retry",
        }
    }
}

/// What to do after a claim: `None` to go on and publish (pure).
pub fn after_claim(claim: &Claim) -> Option<Outcome> {
    match claim {
        Claim::Won => None,
        Claim::Done { answer } => Some(Outcome::Duplicate(Some(
            serde_json::from_str(answer).unwrap_or(Value::Null),
        ))),
        Claim::Held { same_owner: false } => Some(Outcome::Duplicate(None)),
        Claim::Held { same_owner: true } => Some(Outcome::Retry(
            "an earlier attempt of this message holds its id and never answered".to_owned(),
        )),
    }
}

/// What the claim becomes once the publish answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimEnd {
    /// Keep it with the answer: repeats are duplicates.
    Settle,
    /// Give it back: nothing was posted.
    Release,
}

/// The event's end from the publish's HTTP status and body (pure).
pub fn after_publish(status: u16, body: &Value) -> (Outcome, ClaimEnd) {
    let reason = || {
        body.get("reason")
            .and_then(Value::as_str)
            .unwrap_or("the publish was refused")
            .to_owned()
    };
    match status {
        200 => (Outcome::Delivered(body.clone()), ClaimEnd::Settle),
        // Too large once shaped, or otherwise refused for what it is.
        400..=499 => (
            Outcome::Rejected {
                code: match body.get("error").and_then(Value::as_str) {
                    Some("message_too_large") => "message_too_large",
                    _ => "refused",
                },
                reason: reason(),
            },
            ClaimEnd::Release,
        ),
        // Storage unavailable before any post, or not configured: nothing was posted.
        _ => (Outcome::Retry(reason()), ClaimEnd::Release),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_claim_lost_is_a_duplicate_unless_it_is_our_own_unanswered_attempt() {
        assert_eq!(after_claim(&Claim::Won), None);
        assert_eq!(
            after_claim(&Claim::Done {
                answer: r#"{"delivered":3}"#.into()
            }),
            Some(Outcome::Duplicate(Some(json!({"delivered": 3}))))
        );
        assert_eq!(
            after_claim(&Claim::Held { same_owner: false }),
            Some(Outcome::Duplicate(None))
        );
        assert!(matches!(
            after_claim(&Claim::Held { same_owner: true }),
            Some(Outcome::Retry(_))
        ));
    }

    #[test]
    fn only_a_publish_that_posted_keeps_its_claim() {
        let (outcome, end) = after_publish(200, &json!({"delivered": 2}));
        assert_eq!((outcome.word(), end), ("delivered", ClaimEnd::Settle));
        let too_large = json!({"error": "message_too_large", "reason": "over 128 KB"});
        let (outcome, end) = after_publish(413, &too_large);
        assert_eq!(
            (outcome, end),
            (
                Outcome::Rejected {
                    code: "message_too_large",
                    reason: "over 128 KB".into()
                },
                ClaimEnd::Release
            )
        );
        let unavailable = json!({"error": "storage_unavailable", "reason": "try again"});
        let (outcome, end) = after_publish(503, &unavailable);
        assert_eq!(
            (outcome, end),
            (Outcome::Retry("try again".into()), ClaimEnd::Release)
        );
    }
}
