//! How many posts a fan-out keeps in flight (pure: every decision takes the time and the
//! measurements as arguments).
//!
//! A fixed number caps a broadcast at that number divided by the endpoint's latency: 256
//! posts in flight answered in 100 ms make 2,560 posts/s, a quarter of the account's
//! 10,000. So the window follows Little's law, in flight = rate × latency: every
//! [`ADJUST_EVERY`] it becomes what the pacer's rate needs at the fastest answer seen
//! (the endpoint's own latency, not the time a post also waited for this process's CPU or
//! for a TLS handshake; refreshed every [`BASE_REFRESH`], as BBR does its minimum RTT),
//! with [`HEADROOM`]. The first round of answers (one per connection the start opened)
//! is not measured: each waited for a TLS handshake, and under a small CPU share for all
//! of them. Three bounds keep it honest:
//! - never more than twice the rate the period actually achieved would need, so an
//!   invocation short of CPU (a small memory size) does not open connections, each a TLS
//!   handshake, that it has no CPU to serve; a window that limits the rate still grows
//!   2.5-fold per period;
//! - a growth must pay before the next one ([`Growth`]): the window at most doubles, then
//!   holds until a whole window's worth of answers has come back; if no period achieved
//!   [`GAIN`] times the best rate so far by then, more posts in flight no longer bring
//!   more answers (the process is short of CPU: its answers waited for it, so even the
//!   fastest one overstates the endpoint's latency) and the window goes back to the one
//!   that achieved the best rate, resting there before it tries again, as BBR leaves its
//!   startup when the delivery rate stops growing; while a growth is judged, only a
//!   lower pacer rate or a faster endpoint shrinks the window, not the dip in answers its
//!   handshakes cause;
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
/// How much a period's rate must beat the best so far for a growth to have paid.
pub const GAIN: f64 = 1.25;
/// Periods the window rests at its best after a growth that did not pay.
pub const REPROBE_PERIODS: u32 = 10;
/// The longest a growth is judged, in periods, even if a window's worth of answers has
/// not come back: under a small CPU share they come slowly, and the posts waiting behind
/// the growth's handshakes must not wait past their timeout.
pub const JUDGE_PERIODS: u32 = 5;
/// A period whose rate is this share of the pacer's has all the window it needs.
pub const REACHED: f64 = 0.9;

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
    /// Answers still to come from the posts that opened the connections: they waited
    /// for TLS handshakes, so they only count once the next period starts.
    first_round: usize,
    growth: Growth,
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
            first_round: START.min(ceiling),
            growth: Growth::default(),
        }
    }

    /// Posts allowed in flight now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A post was answered `latency` after it started (whatever the answer: a 429 or a
    /// 410 took the endpoint's time too); `rate` is the pacer's rate now.
    pub fn answered(&mut self, latency: Duration, rate: f64, now: Instant) {
        if self.first_round > 0 {
            // An answer on a connection it opened: its latency is a handshake's too.
            self.first_round -= 1;
            if self.first_round == 0 {
                self.period_start = now;
                self.base_since = now;
            }
            return;
        }
        self.answers += 1;
        self.fastest = Some(self.fastest.map_or(latency, |f| f.min(latency)));
        let elapsed = now.saturating_duration_since(self.period_start);
        if elapsed < ADJUST_EVERY {
            return;
        }
        if let Some(fastest) = self.fastest {
            let achieved = self.answers as f64 / elapsed.as_secs_f64();
            let period = Period {
                for_rate: limit_for(rate, f64::INFINITY, fastest, self.ceiling),
                for_achieved: limit_for(rate, achieved, fastest, self.ceiling),
                achieved,
                rate,
                answers: self.answers,
            };
            self.limit = self.growth.next(self.limit, &period);
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

/// What one period measured, for [`Growth::next`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// The window the pacer's rate needs at the fastest latency ([`limit_for`]).
    pub for_rate: usize,
    /// The same, but for at most twice the rate achieved: the most a growth may reach.
    pub for_achieved: usize,
    /// Answers per second in the period, and the pacer's rate.
    pub achieved: f64,
    pub rate: f64,
    /// Answers in the period.
    pub answers: usize,
}

/// Whether the window's growths pay (pure). A growth (at most a doubling) is judged once
/// a whole window's worth of answers has come back after it, or after [`JUDGE_PERIODS`]:
/// a growth opens connections, whose handshakes take the CPU for a while, and under a
/// small CPU share take it for good. Until then the window holds. A growth paid when a
/// period achieved [`GAIN`] times the best rate so far (or the pacer's rate, which is
/// then the limit); one that did not sends the window back to the one that achieved the
/// best rate, which holds for [`REPROBE_PERIODS`] before a growth is tried again.
#[derive(Debug, Clone, Default)]
pub struct Growth {
    /// The best rate a period achieved, and the window it had.
    best: Option<(f64, usize)>,
    /// A growth being judged: answers and periods since it.
    judging: Option<(usize, u32)>,
    /// Periods left before growing is tried again, after a growth that did not pay.
    resting: u32,
}

impl Growth {
    /// The window after `period`, which had `current` posts allowed in flight.
    pub fn next(&mut self, current: usize, period: &Period) -> usize {
        let best_rate = self.best.map_or(0.0, |(best, _)| best);
        if period.achieved >= period.rate * REACHED {
            // The pacer's rate is the limit, not the window: this window is enough.
            self.best = Some((best_rate.max(period.achieved), current));
            self.judging = None;
        } else if self.best.is_none() || period.achieved >= best_rate * GAIN {
            self.best = Some((period.achieved, current));
            self.judging = None;
        } else if let Some((since, periods)) = &mut self.judging {
            *since += period.answers;
            *periods += 1;
            if *since >= current || *periods >= JUDGE_PERIODS {
                // A whole window's answers since the growth, and no gain: back.
                self.judging = None;
                self.resting = REPROBE_PERIODS;
                let best_window = self.best.map_or(current, |(_, at)| at);
                return period.for_rate.min(best_window);
            }
        }
        if period.for_rate < current {
            // The rate or the latency asks for fewer: always allowed.
            self.judging = None;
            return period.for_rate;
        }
        if self.judging.is_some() {
            // A growth's handshakes may hold answers back for a while: no verdict from
            // one period.
            return current;
        }
        if period.for_achieved < current {
            // More in flight than twice the achieved rate needs: the process cannot
            // serve them (short of CPU), so fewer.
            return period.for_achieved;
        }
        if self.resting > 0 {
            self.resting -= 1;
            return current;
        }
        let grown = period
            .for_rate
            .min(period.for_achieved)
            .min(current.saturating_mul(2));
        if grown > current {
            self.judging = Some((0, 0));
            grown
        } else {
            current
        }
    }
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

    /// What a broadcast of `millis` milliseconds sees, simulated one millisecond at a
    /// time. Posts are admitted while the window and the pacer's `rate` allow; the
    /// process then works through its tasks in order with `cpu` units a millisecond (its
    /// CPU share): sending a post costs 1 on an open connection and `handshake` on a new
    /// one (a TLS handshake), handling an answer costs 1. The endpoint answers each
    /// post `latency` after it is sent; a post's latency as measured runs from its
    /// admission to its answer's handling, waits for the CPU included. Returns the
    /// connections opened, the last window, and the answers per second over the last half.
    fn broadcast(
        latency: Duration,
        (cpu, handshake): (f64, f64),
        rate: f64,
        millis: u64,
    ) -> (usize, usize, f64) {
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, VecDeque};
        enum Task {
            Send(Instant),
            Answer(Instant),
        }
        let t0 = Instant::now();
        let mut window = Window::new(MAX_CEILING, t0);
        let mut tasks: VecDeque<Task> = VecDeque::new();
        // Sent posts by the time their answer arrives: (arrival, admission).
        let mut at_endpoint: BinaryHeap<Reverse<(Instant, Instant)>> = BinaryHeap::new();
        let (mut in_flight, mut busy, mut connections) = (0usize, 0usize, 0usize);
        let (mut tokens, mut budget, mut late_answers) = (0.0, 0.0, 0usize);
        for ms in 1..=millis {
            let now = t0 + MS * ms as u32;
            tokens = (tokens + rate / 1_000.0).min(rate / 100.0);
            while in_flight < window.limit() && tokens >= 1.0 {
                tasks.push_back(Task::Send(now));
                in_flight += 1;
                tokens -= 1.0;
            }
            while let Some(&Reverse((arrival, admitted))) = at_endpoint.peek() {
                if arrival > now {
                    break;
                }
                at_endpoint.pop();
                tasks.push_back(Task::Answer(admitted));
            }
            budget = (budget + cpu).min(cpu.max(handshake));
            while let Some(task) = tasks.front() {
                let cost = match task {
                    Task::Send(_) if busy == connections => handshake,
                    _ => 1.0,
                };
                if budget < cost {
                    break;
                }
                budget -= cost;
                match tasks.pop_front() {
                    Some(Task::Send(admitted)) => {
                        connections = connections.max(busy + 1);
                        busy += 1;
                        at_endpoint.push(Reverse((now + latency, admitted)));
                    }
                    Some(Task::Answer(admitted)) => {
                        busy -= 1;
                        in_flight -= 1;
                        window.answered(now - admitted, rate, now);
                        if ms > millis / 2 {
                            late_answers += 1;
                        }
                    }
                    None => break,
                }
            }
        }
        let late_rate = late_answers as f64 / (millis as f64 / 2_000.0);
        (connections, window.limit(), late_rate)
    }

    /// A CPU in the model's units: a post costs about 40 µs of a core, a TLS handshake
    /// about 1 ms, so one core is 25 units a millisecond and a handshake 25 units.
    const CORE: (f64, f64) = (25.0, 25.0);

    #[test]
    fn a_process_short_of_cpu_keeps_its_window() {
        // A small share of a CPU (0.06 of the model's core): the first posts' handshakes
        // take it for long enough that every answer waits for it, the fastest included,
        // which then overstates the endpoint's 20 ms. More posts in flight would bring no
        // more answers, only more connections, each a handshake it has no CPU for.
        let (connections, last, achieved) = broadcast(MS * 20, (1.5, 10.0), 10_000.0, 4_000);
        assert!(connections <= 2 * START, "{connections} connections");
        assert!(last <= 2 * START, "the window ended at {last}");
        // Sending and handling cost 2 of the 1.5 units a millisecond: 750 a second.
        assert!(achieved >= 700.0, "{achieved}/s: the CPU's rate, not less");
    }

    #[test]
    fn a_growth_pays_after_its_handshakes_and_the_latency() {
        // A whole core: a growth's new connections take their handshakes' CPU before
        // their posts answer, a latency later. At 100 ms that is more than two periods,
        // and the window must still reach its ceiling.
        let (connections, last, achieved) = broadcast(MS * 100, CORE, 10_000.0, 6_000);
        assert_eq!(last, MAX_CEILING, "{connections} connections");
        assert!(achieved >= 9_000.0, "{achieved}/s");
        let (_, last, achieved) = broadcast(MS * 50, CORE, 10_000.0, 6_000);
        assert!(last >= 600, "{last}");
        assert!(achieved >= 9_500.0, "{achieved}/s");
        let (connections, _, achieved) = broadcast(MS * 20, CORE, 10_000.0, 6_000);
        assert!(connections <= 2 * START, "{connections} connections");
        assert!(achieved >= 9_500.0, "{achieved}/s");
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
