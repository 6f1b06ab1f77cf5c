//! The connect window: what a 410 Gone means for a young connection (pure).
//!
//! API Gateway establishes a connection only when its `$connect` integration returns, and
//! a post before then answers 410 Gone. `$connect` stores the row first, so a broadcast
//! that reads the table in that window meets a 410 from a client that is about to be
//! connected. Deleting the row then would leave that client deaf until it reconnects (up
//! to 2 hours). So a 410 deletes a row only if the row is older than the grace period,
//! and the delete is conditional on the `connectedAt` the broadcast read.

/// The grace period's default: a `$connect` (a cold start and one PutItem) returns well
/// within it.
pub const DEFAULT_GRACE_SECONDS: u32 = 5;

/// What a 410 means for one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Old enough: the connection is gone, delete its row.
    Gone,
    /// Stored less than `grace_ms` ago: maybe still connecting, keep the row.
    Connecting,
}

/// The verdict on a 410 for a row stored at `connected_at_ms`, seen at `now_ms`.
pub fn verdict(connected_at_ms: i64, now_ms: i64, grace_ms: i64) -> Verdict {
    if now_ms.saturating_sub(connected_at_ms) >= grace_ms {
        Verdict::Gone
    } else {
        Verdict::Connecting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn young_rows_are_kept_and_old_ones_go() {
        assert_eq!(verdict(1_000, 1_100, 5_000), Verdict::Connecting);
        assert_eq!(verdict(1_000, 5_999, 5_000), Verdict::Connecting);
        assert_eq!(verdict(1_000, 6_000, 5_000), Verdict::Gone);
        // A row from the future (clock skew between invocations) is young.
        assert_eq!(verdict(9_000, 1_000, 5_000), Verdict::Connecting);
        // No grace: every 410 deletes.
        assert_eq!(verdict(1_000, 1_000, 0), Verdict::Gone);
    }
}
