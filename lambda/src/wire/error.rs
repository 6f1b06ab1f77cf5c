//! The one error object: `{"error": CODE, "reason": WORDS, ...details}`. A client gets it as
//! a frame (with `_now`, as every frame the function sends) when its message is refused; a
//! refused connect or publish gets it as the HTTP body (without `_now`). docs/protocol.md
//! lists the codes. Pure.

use bytes::Bytes;
use serde_json::{Map, Value};

/// An error object: its code, its reason in words with what to do, and any details
/// (`limit`, `size`).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorFrame {
    pub code: &'static str,
    pub reason: String,
    details: Vec<(&'static str, Value)>,
}

impl ErrorFrame {
    pub fn new(code: &'static str, reason: impl Into<String>) -> ErrorFrame {
        ErrorFrame {
            code,
            reason: reason.into(),
            details: Vec::new(),
        }
    }

    /// With one more member (never `error`, `reason` or `_now`, which are the frame's own).
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> ErrorFrame {
        debug_assert!(!["error", "reason", "_now"].contains(&key), "{key}");
        self.details.push((key, value.into()));
        self
    }

    /// The object as an HTTP body.
    pub fn body(&self) -> Value {
        Value::Object(self.members())
    }

    /// The object as a frame for a client, stamped with the time it was refused.
    pub fn frame(&self, now_ms: i64) -> Bytes {
        let mut members = self.members();
        members.insert("_now".into(), now_ms.into());
        Bytes::from(Value::Object(members).to_string())
    }

    fn members(&self) -> Map<String, Value> {
        let mut members = Map::new();
        members.insert("error".into(), self.code.into());
        for (key, value) in &self.details {
            members.insert((*key).into(), value.clone());
        }
        members.insert("reason".into(), self.reason.clone().into());
        members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes clients read today: serde_json writes an object's members in key order,
    /// so `_now` comes first and the details between `error` and `reason`.
    #[test]
    fn frames_and_bodies_keep_their_bytes() {
        let frame = ErrorFrame::new("rate_limited", "slow down").with("limit", 5);
        assert_eq!(
            frame.frame(7),
            Bytes::from_static(
                br#"{"_now":7,"error":"rate_limited","limit":5,"reason":"slow down"}"#
            )
        );
        assert_eq!(
            frame.body().to_string(),
            r#"{"error":"rate_limited","limit":5,"reason":"slow down"}"#
        );
        assert_eq!(
            ErrorFrame::new("bad_channel", "no").body().to_string(),
            r#"{"error":"bad_channel","reason":"no"}"#
        );
    }
}
