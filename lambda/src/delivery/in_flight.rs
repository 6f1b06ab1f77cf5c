//! How many posts a fan-out keeps in flight (pure: every decision takes the time and the
//! measurements as arguments).
//!
//! A fixed number caps a broadcast at that number divided by the endpoint's latency: 256
//! posts in flight answered in 100 ms make 2,560 posts/s, a quarter of the account's
//! 10,000. So the window follows Little's law, in flight = rate × latency: every
//! [`ADJUST_EVERY`] it becomes what the pacer's rate needs at the fastest answer seen
//! (the endpoint's own latency, not the time a post also waited for this process's CPU or
//! for a TLS handshake; refreshed every [`BASE_REFRESH`], as BBR does its minimum RTT),
//! with [`HEADROOM`]. The first period only measures: its answers all waited for new
//! connections. Two bounds keep it honest:
//! - never more than twice the rate the period actually achieved would need, so an
//!   invocation short of CPU (a small memory size) does not open connections, each a TLS
//!   handshake, that it has no CPU to serve; a window that limits the rate still grows
//!   2.5-fold per period;
//! - between [`MIN`] and the configured ceiling, which Lambda's 1,024 file descriptors per
//!   execution environment bound ([`MAX_CEILING`]; each post in flight holds a connection,
//!   and the pool keeps it open afterwards).
//!
//! A 429 lowers the pacer's rate, and the window follows it down: throttling never gets
//! more posts in flight.

use std::time::{Duration, Instant};

/// The window never goes below this many posts: answers whose latency is mostly this
/// process's own CPU (a loaded machine, a small memory size) vary widely, and the fastest
/// of them alone would keep too few in flight.
pub const MIN: usize = 64;
/// Where a broadcast starts, below its ceiling: today's fixed default, which reaches
/// the account's rate at 20 ms.
pub const START: usize = 256;
/// The highest ceiling a deployment may set: Lambda allows 1,024 file descriptors per
/// execution environment; the runtime, the store's connections and a broadcast's
/// deletes of gone rows ([`DELETES_IN_FLIGHT`]) need some of them.
pub const MAX_CEILING: usize = 960;
/// Deletes of gone rows in flight at once after a broadcast (their connections stay
/// open beside the posts' idle ones).
pub const DELETES_IN_FLIGHT: usize = 32;
/// How much above rate × latency the window is set (answers vary).
pub const HEADROOM: f64 = 1.25;
/// How often the window is set again.
pub const ADJUST_EVERY: Duration = Duration::from_millis(100);
/// How long the fastest answer stands for the endpoint's latency.
pub const BASE_REFRESH: Duration = Duration::from_secs(10);

/// The window of one broadcast.
#[derive(Debug, Clone)]
pub struct Window {
    limit: usize,
    ceiling: usize,
    period_start: Instant,
    answers: usize,
    /// The fastest answer since `base_since`.
    fastest: Option<Duration>,
    base_since: Instant,
    /// Periods ended so far.
    periods: u32,
}

impl Window {
    /// A window under `ceiling` posts (at least 1).
    pub fn new(ceiling: usize, now: Instant) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            limit: START.min(ceiling),
            ceiling,
            period_start: now,
            answers: 0,
            fastest: None,
            base_since: now,
            periods: 0,
        }
    }

    /// Posts allowed in flight now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A post was answered `latency` after it started (whatever the answer: a 429 or a
    /// 410 took the endpoint's time too); `rate` is the pacer's rate now.
    pub fn answered(&mut self, latency: Duration, rate: f64, now: Instant) {
        self.answers += 1;
        self.fastest = Some(self.fastest.map_or(latency, |f| f.min(latency)));
        let elapsed = now.saturating_duration_since(self.period_start);
        if elapsed < ADJUST_EVERY {
            return;
        }
        self.periods += 1;
        if let Some(fastest) = self.fastest
            && self.periods > 1
        {
            let achieved = self.answers as f64 / elapsed.as_secs_f64();
            self.limit = limit_for(rate, achieved, fastest, self.ceiling);
        }
        self.period_start = now;
        self.answers = 0;
        if now.saturating_duration_since(self.base_since) >= BASE_REFRESH {
            // The next period's fastest answer stands for the latency from here on.
            self.fastest = None;
            self.base_since = now;
        }
    }
}

/// The window for a pacer's `rate`, the posts per second `achieved` in the last period
/// and the `fastest` answer in it, under `ceiling` (pure).
pub fn limit_for(rate: f64, achieved: f64, fastest: Duration, ceiling: usize) -> usize {
    let ceiling = ceiling.max(1);
    let wanted_rate = rate.min(2.0 * achieved).max(0.0);
    let wanted = (wanted_rate * fastest.as_secs_f64() * HEADROOM).ceil();
    // A float past usize's range (or NaN) saturates, then the clamp bounds it.
    (wanted as usize).clamp(MIN.min(ceiling), ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs a window against an endpoint of `latency` whose posts all complete as fast
    /// as the window lets them (a simulation: `rate` is the pacer's, never reached
    /// faster than the window allows), for `periods` adjustment periods; returns the
    /// limits seen at the end of each.
    fn simulate(latency: Duration, rate: f64, ceiling: usize, periods: u32) -> Vec<usize> {
        let t0 = Instant::now();
        let mut window = Window::new(ceiling, t0);
        let mut limits = Vec::new();
        for p in 0..periods {
            let start = t0 + ADJUST_EVERY * p;
            // Posts per period: what the window and the rate allow.
            let by_window = window.limit() as f64 / latency.as_secs_f64();
            let posts = by_window.min(rate) * ADJUST_EVERY.as_secs_f64();
            let posts = posts.max(1.0) as u32;
            for i in 1..=posts {
                let at = start + ADJUST_EVERY.mul_f64(f64::from(i) / f64::from(posts));
                window.answered(latency, rate, at);
            }
            limits.push(window.limit());
        }
        limits
    }

    #[test]
    fn the_window_reaches_the_accounts_rate_at_20_50_and_100_ms() {
        for (latency_ms, needed) in [(20, 200), (50, 500), (100, 1_000)] {
            let limits = simulate(MS * latency_ms, 10_000.0, MAX_CEILING, 10);
            let last = *limits.last().unwrap();
            assert!(
                last >= needed.min(MAX_CEILING),
                "{latency_ms} ms: the window settled at {last} ({limits:?}); 10,000/s needs {needed}"
            );
            // And within a few periods, not at the end of a long broadcast.
            assert!(
                limits[3] >= needed.min(MAX_CEILING),
                "{latency_ms} ms: {limits:?}"
            );
        }
    }

    #[test]
    fn a_fast_endpoint_keeps_few_posts_in_flight() {
        // 2 ms answers: 10,000/s needs 20 in flight; the window comes down to its floor
        // band rather than holding 256 connections open.
        let limits = simulate(MS * 2, 10_000.0, MAX_CEILING, 5);
        assert!(*limits.last().unwrap() <= MIN, "{limits:?}");
    }

    #[test]
    fn a_lower_rate_after_429s_means_fewer_posts_in_flight() {
        let t0 = Instant::now();
        let mut window = Window::new(MAX_CEILING, t0);
        let mut t = t0;
        for _ in 0..1_000 {
            t += Duration::from_micros(200);
            window.answered(MS * 50, 10_000.0, t);
        }
        let before = window.limit();
        for _ in 0..1_000 {
            t += Duration::from_micros(200);
            window.answered(MS * 50, 3_000.0, t);
        }
        assert!(window.limit() < before, "{before} -> {}", window.limit());
        assert_eq!(
            window.limit(),
            limit_for(3_000.0, 5_000.0, MS * 50, MAX_CEILING)
        );
    }

    #[test]
    fn a_start_slowed_by_handshakes_does_not_grow_the_window() {
        // A process short of CPU: its first answers all waited for TLS handshakes
        // (250 ms), then posts on open connections answer in 2 ms, 1,000 a second. The
        // window never grows past its start (each growth would be more handshakes).
        let t0 = Instant::now();
        let mut window = Window::new(MAX_CEILING, t0);
        let mut most = window.limit();
        for i in 0..100u32 {
            window.answered(MS * 250, 10_000.0, t0 + Duration::from_micros(1_500) * i);
            most = most.max(window.limit());
        }
        for i in 0..300u32 {
            window.answered(MS * 2, 10_000.0, t0 + MS * 150 + MS * i);
            most = most.max(window.limit());
        }
        assert!(most <= START, "the window reached {most}");
        assert_eq!(window.limit(), MIN, "2 ms answers need few posts in flight");
    }

    #[test]
    fn a_process_short_of_cpu_does_not_open_more_connections() {
        // Answers arrive at 2,000/s whatever the window (the CPU is the limit) while the
        // endpoint answers in 20 ms: 2 × 2,000/s × 20 ms × 1.25 = 100.
        assert_eq!(limit_for(10_000.0, 2_000.0, MS * 20, 1_000), 100);
    }

    #[test]
    fn the_ceiling_is_the_limit_even_at_the_start() {
        assert_eq!(Window::new(64, Instant::now()).limit(), 64);
        assert_eq!(Window::new(0, Instant::now()).limit(), 1);
        assert_eq!(limit_for(10_000.0, 10_000.0, MS * 1_000, 64), 64);
        assert_eq!(limit_for(10_000.0, 0.0, MS, 8), 8);
    }

    proptest! {
        #[test]
        fn the_limit_stays_within_its_bounds(
            rate in 0.0f64..1e7,
            achieved in 0.0f64..1e7,
            fastest_us in 0u64..10_000_000,
            ceiling in 0usize..5_000,
        ) {
            let limit = limit_for(rate, achieved, Duration::from_micros(fastest_us), ceiling);
            prop_assert!(limit >= 1);
            prop_assert!(limit <= ceiling.max(1));
            prop_assert!(limit >= MIN.min(ceiling.max(1)));
        }
    }

    proptest! {
        // A case is up to 300 answers.
        #![proptest_config(crate::costly_cases(10))]

        #[test]
        fn answers_never_push_the_window_past_its_ceiling(
            ceiling in 1usize..2_000,
            answers in proptest::collection::vec((0u64..500_000, 0u64..200_000, 1.0f64..20_000.0), 1..300),
        ) {
            let t0 = Instant::now();
            let mut window = Window::new(ceiling, t0);
            let mut t = t0;
            for (latency_us, gap_us, rate) in answers {
                t += Duration::from_micros(gap_us);
                window.answered(Duration::from_micros(latency_us), rate, t);
                prop_assert!(window.limit() >= 1 && window.limit() <= ceiling);
            }
        }
    }
}
