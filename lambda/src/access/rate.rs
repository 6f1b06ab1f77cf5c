//! The per-connection message limit: at most N messages per second from one connection,
//! counted in whole-second windows in the store (so the count survives across
//! invocations: API Gateway may run a connection's messages in different ones). A
//! message over the limit is not broadcast; its sender gets `rate_limited`. Pure.

use bytes::Bytes;

use crate::wire::error::ErrorFrame;

/// The window a message at `now_ms` (unix milliseconds) is counted in: its second.
pub fn window(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000)
}

/// Whether the `count`th message of a window may go, under `limit` per second (0: no
/// limit).
pub fn allowed(count: u32, limit: u32) -> bool {
    limit == 0 || count <= limit
}

/// The error frame for a message over the limit.
pub fn frame(limit: u32, now_ms: i64) -> Bytes {
    ErrorFrame::new(
        "rate_limited",
        format!(
            "more than {limit} messages in one second from this connection: this one was not sent; slow down"
        ),
    )
    .with("limit", limit)
    .frame(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_verdicts() {
        assert_eq!(window(1_700_000_000_999), 1_700_000_000);
        assert_eq!(window(1_700_000_001_000), 1_700_000_001);
        assert!(allowed(5, 5));
        assert!(!allowed(6, 5));
        assert!(allowed(1_000_000, 0));
        let frame: serde_json::Value = serde_json::from_slice(&frame(5, 7)).unwrap();
        assert_eq!(frame["error"], "rate_limited");
        assert_eq!(frame["limit"], 5);
    }
}
