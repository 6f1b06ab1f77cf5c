//! When a broadcast must stop starting posts, and when it must stop waiting for them
//! (pure).
//!
//! The deadline that counts is the earlier of the function's (its `Timeout`) and, for an
//! invocation API Gateway waits on, API Gateway's 29-second integration timeout (not
//! adjustable): past it the sender gets API Gateway's error while the function keeps
//! running. An invocation that continues a broadcast is asynchronous, so only the
//! function's own deadline counts there.
//!
//! Before the deadline, two reserves: the last [`reserve`] is for handing the rest of the
//! broadcast on, deleting gone rows and writing the log line; the [`drain`] before it lets
//! posts already in flight finish. No post starts after `stop_posting_at`; a post still
//! unanswered at `hard_stop` is abandoned and counted as failed.

use std::time::{Duration, Instant};

/// API Gateway's integration timeout for WebSocket APIs.
pub const API_GATEWAY_TIMEOUT: Duration = Duration::from_secs(29);

/// One invocation's time plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub started: Instant,
    /// No post starts after this.
    pub stop_posting_at: Instant,
    /// Posts still in flight are abandoned here.
    pub hard_stop: Instant,
}

/// A tenth of the time, within bounds.
fn share(total: Duration, min: Duration, max: Duration) -> Duration {
    (total / 10).clamp(min, max)
}

/// Time kept for handing on, deleting gone rows and logging.
pub fn reserve(total: Duration) -> Duration {
    share(total, Duration::from_millis(100), Duration::from_secs(2))
}

/// Time kept for posts in flight to finish.
pub fn drain(total: Duration) -> Duration {
    share(total, Duration::from_millis(100), Duration::from_secs(3))
}

impl Budget {
    /// The plan for an invocation that started at `started` and must be done by
    /// `function_deadline`; `from_api_gateway` when API Gateway waits on it.
    pub fn new(started: Instant, function_deadline: Instant, from_api_gateway: bool) -> Self {
        let deadline = if from_api_gateway {
            function_deadline.min(started + API_GATEWAY_TIMEOUT)
        } else {
            function_deadline
        };
        let total = deadline.saturating_duration_since(started);
        let hard_stop = deadline
            .checked_sub(reserve(total))
            .unwrap_or(started)
            .max(started);
        let stop_posting_at = hard_stop
            .checked_sub(drain(total))
            .unwrap_or(started)
            .max(started);
        Self {
            started,
            stop_posting_at,
            hard_stop,
        }
    }

    /// No deadline to speak of (tests, tools): a day.
    pub fn unbounded(started: Instant) -> Self {
        Self::new(started, started + Duration::from_secs(86_400), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_gateway_cuts_a_message_invocation_at_29_seconds() {
        let t0 = Instant::now();
        let b = Budget::new(t0, t0 + Duration::from_secs(900), true);
        assert_eq!(b.hard_stop, t0 + Duration::from_secs(27));
        assert_eq!(b.stop_posting_at, t0 + Duration::from_millis(24_100));
        // A continuation is asynchronous: its function's deadline counts.
        let b = Budget::new(t0, t0 + Duration::from_secs(60), false);
        assert_eq!(b.hard_stop, t0 + Duration::from_secs(58));
    }

    #[test]
    fn the_function_deadline_counts_when_earlier() {
        let t0 = Instant::now();
        let b = Budget::new(t0, t0 + Duration::from_secs(2), true);
        assert_eq!(b.hard_stop, t0 + Duration::from_millis(1800));
        assert_eq!(b.stop_posting_at, t0 + Duration::from_millis(1600));
    }

    #[test]
    fn a_deadline_already_past_leaves_no_time_to_post() {
        let t0 = Instant::now();
        let b = Budget::new(t0, t0 + Duration::from_millis(50), false);
        assert_eq!(b.stop_posting_at, t0);
        assert_eq!(b.hard_stop, t0);
    }
}
