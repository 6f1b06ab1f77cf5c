//! How fast a fan-out posts, and when a throttled or failed post is tried again (pure:
//! every decision takes the time as an argument).
//!
//! The Management API's `POST /@connections/{id}` shares the account's per-region
//! throttle with every API of the account (10,000 requests/s steady, a 5,000 burst; less
//! in some regions), and a 429 `LimitExceededException` also means one client's buffer is
//! full. So the fan-out paces itself with an adaptive token bucket shaped like the
//! account's: it starts with the account's burst and its steady rate; a 429 cuts the rate by [`DECREASE`] (at most once per
//! [`DECREASE_EVERY`], so one volley of 429s from the posts already in flight counts
//! once); every [`INCREASE_EVERY`] without a 429 adds [`INCREASE`] of the rate back
//! (AIMD, as TCP does with its window). Throttled recipients are retried after a fully
//! jittered exponential backoff, within a per-recipient attempt cap and a retry budget
//! for the whole broadcast (half the recipients), so a broadcast never sends more than
//! 1.5 requests per recipient: no retry storm.

use std::time::{Duration, Instant};

use crate::gateway::PostFailure;

/// The account's steady callback rate: where pacing starts.
pub const START_RATE: f64 = 10_000.0;
/// Tokens at the start: the account's burst.
pub const START_BURST: f64 = 5_000.0;
/// Pacing never goes slower than this many posts per second.
pub const MIN_RATE: f64 = 20.0;
/// A 429 multiplies the rate by this.
pub const DECREASE: f64 = 0.7;
/// At most one decrease per this interval.
pub const DECREASE_EVERY: Duration = Duration::from_millis(50);
/// Each interval without a 429 adds this share of the rate back.
pub const INCREASE: f64 = 0.05;
pub const INCREASE_EVERY: Duration = Duration::from_millis(100);
/// Tokens the bucket may hold: this much time at the current rate (a small burst).
const BUCKET: Duration = Duration::from_millis(20);

/// Attempts per recipient, first included, for throttling (429).
pub const THROTTLED_ATTEMPTS: u32 = 10;
/// Attempts per recipient, first included, for server and connection errors.
pub const ERROR_ATTEMPTS: u32 = 3;
/// The first retry waits up to this long; each further one doubles it, up to [`BACKOFF_CAP`].
pub const BACKOFF_BASE: Duration = Duration::from_millis(25);
pub const BACKOFF_CAP: Duration = Duration::from_secs(1);

/// The adaptive token bucket of one broadcast.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: f64,
    tokens: f64,
    refilled: Instant,
    decreased: Option<Instant>,
    increased: Instant,
}

impl Pacer {
    pub fn new(now: Instant) -> Self {
        Self {
            rate: START_RATE,
            tokens: START_BURST,
            refilled: now,
            decreased: None,
            increased: now,
        }
    }

    /// Posts per second allowed now.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        let cap = (self.rate * BUCKET.as_secs_f64()).max(1.0);
        // The starting burst drains first; refills never go past the small cap.
        self.tokens = (self.tokens + elapsed * self.rate).min(cap.max(self.tokens));
        self.refilled = now;
        if now.saturating_duration_since(self.increased) >= INCREASE_EVERY {
            self.increased = now;
            let quiet = self
                .decreased
                .is_none_or(|at| now.saturating_duration_since(at) >= INCREASE_EVERY);
            if quiet {
                self.rate = (self.rate * (1.0 + INCREASE)).min(START_RATE);
            }
        }
    }

    /// Takes a token for one post, or says how long until one is ready.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// A post answered 429: slow down, once per [`DECREASE_EVERY`].
    pub fn throttled(&mut self, now: Instant) {
        if self
            .decreased
            .is_some_and(|at| now.saturating_duration_since(at) < DECREASE_EVERY)
        {
            return;
        }
        self.refill(now);
        self.decreased = Some(now);
        self.rate = (self.rate * DECREASE).max(MIN_RATE);
        self.tokens = self.tokens.min(1.0);
    }
}

/// Whether a failed post is worth another attempt, and after how long: `attempt` is
/// the number of attempts made so far, `jitter` a uniform draw in [0, 1).
pub fn retry_after(failure: &PostFailure, attempt: u32, jitter: f64) -> Option<Duration> {
    let cap = match failure {
        PostFailure::Service { status: 429, .. } => THROTTLED_ATTEMPTS,
        PostFailure::Service { status, .. } if *status >= 500 => ERROR_ATTEMPTS,
        // Refused or reset before an answer: nothing was delivered.
        PostFailure::Transport(_) => ERROR_ATTEMPTS,
        // A timeout may have been delivered (a retry could send it twice); 403, 400 and
        // 413 will not change.
        _ => return None,
    };
    if attempt >= cap {
        return None;
    }
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    Some(ceiling.mul_f64(jitter.clamp(0.0, 1.0)))
}

/// Retries one broadcast may make in all: half its recipients (at least 3), so it never
/// sends more than 1.5 requests per recipient.
pub fn retry_budget(recipients: usize) -> usize {
    (recipients / 2).max(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16) -> PostFailure {
        PostFailure::Service { status, code: None }
    }

    #[test]
    fn a_429_cuts_the_rate_once_per_volley_and_quiet_time_restores_it() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        pacer.throttled(t0);
        assert_eq!(pacer.rate(), START_RATE * DECREASE);
        // The rest of the volley (posts already in flight) does not count again.
        for ms in 1..40 {
            pacer.throttled(t0 + Duration::from_millis(ms));
        }
        assert_eq!(pacer.rate(), START_RATE * DECREASE);
        pacer.throttled(t0 + Duration::from_millis(60));
        assert_eq!(pacer.rate(), START_RATE * DECREASE * DECREASE);
        // Quiet intervals add the rate back, never past the start.
        let mut t = t0 + Duration::from_millis(60);
        for _ in 0..200 {
            t += INCREASE_EVERY;
            let _ = pacer.take(t);
        }
        assert_eq!(pacer.rate(), START_RATE);
    }

    #[test]
    fn the_rate_never_falls_below_the_floor() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        for i in 0..200 {
            pacer.throttled(t0 + DECREASE_EVERY * i);
        }
        assert_eq!(pacer.rate(), MIN_RATE);
    }

    #[test]
    fn the_start_allows_the_accounts_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        for _ in 0..START_BURST as usize {
            assert_eq!(pacer.take(t0), Ok(()));
        }
        assert!(pacer.take(t0).is_err());
    }

    #[test]
    fn tokens_pace_posts_at_the_rate() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        for _ in 0..30 {
            pacer.throttled(t0);
            pacer.decreased = None;
        }
        let rate = pacer.rate();
        // Over one simulated second, about `rate` posts get a token.
        let mut t = t0;
        let mut posts = 0;
        while t < t0 + Duration::from_secs(1) {
            match pacer.take(t) {
                Ok(()) => posts += 1,
                Err(wait) => t += wait.max(Duration::from_micros(1)),
            }
        }
        assert!(
            (posts as f64 - rate).abs() <= rate * 0.1 + 2.0,
            "{posts} vs {rate}"
        );
    }

    #[test]
    fn what_is_retried() {
        assert!(retry_after(&service(429), 1, 0.5).is_some());
        assert!(retry_after(&service(429), THROTTLED_ATTEMPTS, 0.5).is_none());
        assert!(retry_after(&service(503), 2, 0.5).is_some());
        assert!(retry_after(&service(500), ERROR_ATTEMPTS, 0.5).is_none());
        assert!(retry_after(&PostFailure::Transport("reset".into()), 1, 0.5).is_some());
        for never in [
            service(403),
            service(410),
            service(413),
            PostFailure::Timeout,
        ] {
            assert_eq!(retry_after(&never, 1, 0.5), None, "{never}");
        }
    }

    #[test]
    fn backoff_doubles_with_full_jitter_up_to_the_cap() {
        let full = |attempt| retry_after(&service(429), attempt, 0.999_999).unwrap();
        assert!(full(1) <= BACKOFF_BASE);
        assert!(full(2) > BACKOFF_BASE && full(2) <= BACKOFF_BASE * 2);
        assert!(full(5) <= BACKOFF_CAP);
        assert_eq!(retry_after(&service(429), 3, 0.0), Some(Duration::ZERO));
    }

    #[test]
    fn the_budget_keeps_requests_under_one_and_a_half_per_recipient() {
        assert_eq!(retry_budget(5_000), 2_500);
        assert_eq!(retry_budget(1), 3);
    }
}
