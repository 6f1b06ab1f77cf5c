//! Delivers one message to many connections, and decides what each delivery result
//! means.
//!
//! Only 410 Gone proves a connection is gone, and only for a row older than the connect
//! window's grace ([`crate::delivery::connect_window`]); its row is then deleted. Throttling (429),
//! server errors, 403 and timeouts keep the row: the old backend deleted on any error, so
//! one throttled broadcast could empty the table. Posts are paced and retried as
//! [`crate::delivery::pacing`] decides; as many are in flight as [`crate::delivery::in_flight`]
//! decides from the endpoint's latency, never more than `concurrency`; nothing starts after
//! the budget's `stop_posting_at` ([`crate::delivery::deadline`]), and what is left is reported for
//! the handler to hand on. One failing recipient never stops the others.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::clock::now_ms;
use crate::delivery::connect_window::{self, Verdict};
use crate::delivery::deadline::Budget;
use crate::delivery::in_flight::Window;
use crate::delivery::pacing::{Pacer, retry_after, retry_budget};
use crate::gateway::{PostFailure, Poster};
use crate::store::Row;
use crate::wire::message::Shaped;

/// Log at most this many individual delivery failures per broadcast; the rest are counted.
const FAILURES_LOGGED: usize = 10;

/// What one delivery means for its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The connection is not (or not yet) connected.
    Gone,
    /// Not delivered, but not proof the connection is gone: keep the row.
    Failed(PostFailure),
}

/// The decision for one post result (pure).
pub fn outcome(result: Result<(), PostFailure>) -> Outcome {
    match result {
        Ok(()) => Outcome::Delivered,
        Err(PostFailure::Service { status: 410, .. }) => Outcome::Gone,
        Err(PostFailure::Service {
            code: Some(code), ..
        }) if code == "GoneException" => Outcome::Gone,
        Err(failure) => Outcome::Failed(failure),
    }
}

/// How one broadcast runs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Posts in flight at most (at least 1): the ceiling of the in-flight window.
    pub concurrency: usize,
    pub budget: Budget,
    /// A 410 from a row younger than this is the connect window, not a gone client.
    pub grace_ms: i64,
}

/// The totals of one broadcast (one invocation's share of it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Recipients this invocation was given (new ones and retries handed on).
    pub recipients: usize,
    pub delivered: usize,
    /// Rows that answered 410 Gone and are older than the grace: to be deleted.
    pub gone: Vec<Row>,
    /// 410s from rows within the connect window's grace: kept.
    pub connecting: usize,
    /// Still throttled (429) when the retries or their budget ran out: kept.
    pub throttled: usize,
    /// Other failures (5xx after retries, 403, timeouts, abandoned at the deadline): kept.
    pub failed: usize,
    /// How many of the new recipients, in order, were started.
    pub started: usize,
    /// Recipients waiting for a retry when posting stopped.
    pub pending: Vec<Row>,
    /// Recipients handed on to another invocation (set by the handler).
    pub continued: usize,
}

impl Report {
    /// Adds another broadcast's totals to these (a batch of bus events, each one publish).
    pub fn add(&mut self, other: Report) {
        self.recipients += other.recipients;
        self.delivered += other.delivered;
        self.gone.extend(other.gone);
        self.connecting += other.connecting;
        self.throttled += other.throttled;
        self.failed += other.failed;
        self.started += other.started;
        self.pending.extend(other.pending);
        self.continued += other.continued;
    }
}

/// A throttled or failed recipient waiting for its retry, earliest first.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Waiting {
    at: Instant,
    seq: u64,
    row: Row,
    attempts: u32,
}

async fn attempt<P: Poster>(
    poster: &P,
    row: Row,
    attempts: u32,
    sender: &str,
    shaped: &[Shaped],
) -> (Row, u32, Instant, Result<(), PostFailure>) {
    let started = Instant::now();
    // The copy shaped for the room the recipient is reached through.
    let result = match shaped.get(row.room_index).or_else(|| shaped.first()) {
        Some(copies) => poster.post(&row.id, copies.copy_for(&row.id, sender)).await,
        None => Err(PostFailure::Transport("no message to send".into())),
    };
    (row, attempts, started, result)
}

/// Posts `shaped` to `retry` then `queue` (the sender's own copy to `sender`; each
/// recipient the copies of `shaped[row.room]`, the room it is reached through), paced,
/// retried and bounded as the module says, and reports the outcomes.
pub async fn fanout<P: Poster>(
    poster: &P,
    queue: &[Row],
    retry: Vec<Row>,
    sender: &str,
    shaped: &[Shaped],
    limits: &Limits,
) -> Report {
    let mut report = Report {
        recipients: queue.len() + retry.len(),
        ..Report::default()
    };
    let mut retries_left = retry_budget(report.recipients);
    let mut pacer = Pacer::new(Instant::now());
    let mut window = Window::new(limits.concurrency, Instant::now());
    let mut fresh = queue.iter();
    let mut ready: VecDeque<(Row, u32)> = retry.into_iter().map(|row| (row, 0)).collect();
    let mut waiting: BinaryHeap<Reverse<Waiting>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut in_flight = FuturesUnordered::new();
    let mut next_fresh = fresh.next();

    loop {
        let now = Instant::now();
        while waiting.peek().is_some_and(|Reverse(w)| w.at <= now) {
            if let Some(Reverse(w)) = waiting.pop() {
                ready.push_back((w.row, w.attempts));
            }
        }
        let posting = now < limits.budget.stop_posting_at;
        let mut token_at = None;
        if posting {
            while in_flight.len() < window.limit() && (!ready.is_empty() || next_fresh.is_some()) {
                if let Err(wait) = pacer.take(now) {
                    token_at = Some(now + wait);
                    break;
                }
                let (row, attempts) = match ready.pop_front() {
                    Some(next) => next,
                    None => match next_fresh.take() {
                        Some(row) => {
                            report.started += 1;
                            next_fresh = fresh.next();
                            (row.clone(), 0)
                        }
                        None => break,
                    },
                };
                in_flight.push(attempt(poster, row, attempts + 1, sender, shaped));
            }
        }
        let work_left = !ready.is_empty() || next_fresh.is_some() || !waiting.is_empty();
        if in_flight.is_empty() && (!posting || !work_left) {
            break;
        }
        let wake = if posting {
            let mut wake = limits.budget.stop_posting_at;
            if let Some(at) = token_at {
                wake = wake.min(at);
            }
            if let Some(Reverse(w)) = waiting.peek() {
                wake = wake.min(w.at);
            }
            wake
        } else {
            limits.budget.hard_stop
        };
        tokio::select! {
            Some((row, attempts, started, result)) = in_flight.next(), if !in_flight.is_empty() => {
                let now = Instant::now();
                window.answered(now.saturating_duration_since(started), pacer.rate(), now);
                match outcome(result) {
                    Outcome::Delivered => report.delivered += 1,
                    Outcome::Gone => match connect_window::verdict(row.connected_at_ms, now_ms(), limits.grace_ms) {
                        Verdict::Gone => report.gone.push(row),
                        Verdict::Connecting => report.connecting += 1,
                    },
                    Outcome::Failed(failure) => {
                        let throttled = matches!(failure, PostFailure::Service { status: 429, .. });
                        if throttled {
                            pacer.throttled(now);
                        }
                        match retry_after(&failure, attempts, fastrand::f64()) {
                            Some(delay) if retries_left > 0 => {
                                retries_left -= 1;
                                seq += 1;
                                waiting.push(Reverse(Waiting { at: now + delay, seq, row, attempts }));
                            }
                            _ if throttled => report.throttled += 1,
                            _ => {
                                report.failed += 1;
                                if report.failed <= FAILURES_LOGGED {
                                    tracing::warn!(connection_id = %row.id, %failure, "delivery failed; connection kept");
                                }
                            }
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                if !posting && Instant::now() >= limits.budget.hard_stop {
                    if !in_flight.is_empty() {
                        tracing::warn!(abandoned = in_flight.len(), "posts unanswered at the deadline; connections kept");
                        report.failed += in_flight.len();
                    }
                    break;
                }
            }
        }
    }
    if report.failed > FAILURES_LOGGED {
        tracing::warn!(
            not_logged = report.failed - FAILURES_LOGGED,
            "more delivery failures; connections kept"
        );
    }
    report.pending = ready
        .into_iter()
        .map(|(row, _)| row)
        .chain(waiting.into_iter().map(|Reverse(w)| w.row))
        .collect();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::shape;
    use bytes::Bytes;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn service(status: u16, code: &str) -> PostFailure {
        PostFailure::Service {
            status,
            code: Some(code.to_owned()),
        }
    }

    #[test]
    fn only_gone_means_gone() {
        assert_eq!(outcome(Ok(())), Outcome::Delivered);
        assert_eq!(outcome(Err(service(410, "GoneException"))), Outcome::Gone);
        assert_eq!(
            outcome(Err(PostFailure::Service {
                status: 410,
                code: None
            })),
            Outcome::Gone
        );
        for failure in [
            service(429, "LimitExceededException"),
            service(500, "InternalServerError"),
            service(503, "ServiceUnavailable"),
            service(403, "ForbiddenException"),
            service(413, "PayloadTooLargeException"),
            PostFailure::Timeout,
            PostFailure::Transport("connection refused".into()),
        ] {
            assert_eq!(outcome(Err(failure.clone())), Outcome::Failed(failure));
        }
    }

    /// Answers from a table and records the highest number of posts in flight.
    #[derive(Default)]
    struct Scripted {
        answers: HashMap<String, PostFailure>,
        received: Mutex<Vec<(String, Bytes)>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    impl Poster for Scripted {
        async fn post(&self, id: &str, data: Bytes) -> Result<(), PostFailure> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.received.lock().unwrap().push((id.to_owned(), data));
            match self.answers.get(id) {
                Some(failure) => Err(failure.clone()),
                None => Ok(()),
            }
        }
    }

    fn rows(ids: &[String], connected_at_ms: i64) -> Vec<Row> {
        ids.iter()
            .map(|id| Row::new(id.clone(), connected_at_ms))
            .collect()
    }

    fn limits(concurrency: usize) -> Limits {
        Limits {
            concurrency,
            budget: Budget::unbounded(Instant::now()),
            grace_ms: 5_000,
        }
    }

    #[tokio::test]
    async fn every_recipient_is_tried_and_counted() {
        let mut poster = Scripted::default();
        poster
            .answers
            .insert("c1".into(), service(410, "GoneException"));
        poster.answers.insert("c3".into(), PostFailure::Timeout);
        poster
            .answers
            .insert("c4".into(), service(403, "ForbiddenException"));
        let ids: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        let shaped = shape("hi", 1);
        let report = fanout(
            &poster,
            &rows(&ids, 0),
            vec![],
            "c0",
            std::slice::from_ref(&shaped),
            &limits(3),
        )
        .await;
        assert_eq!(report.recipients, 10);
        assert_eq!(report.started, 10);
        assert_eq!(report.delivered, 7);
        assert_eq!(report.gone, rows(&["c1".to_owned()], 0));
        assert_eq!(report.failed, 2);
        assert!(poster.max_in_flight.load(Ordering::SeqCst) <= 3);
        let received = poster.received.lock().unwrap();
        assert_eq!(received.len(), 10);
        for (id, data) in received.iter() {
            let expected = if id == "c0" {
                &shaped.for_sender
            } else {
                &shaped.for_others
            };
            assert_eq!(data, expected, "copy for {id}");
        }
    }

    #[tokio::test]
    async fn a_410_within_the_grace_keeps_the_row() {
        let mut poster = Scripted::default();
        for id in ["young", "old"] {
            poster
                .answers
                .insert(id.into(), service(410, "GoneException"));
        }
        let queue = vec![
            Row::new("young", now_ms() - 1_000),
            Row::new("old", now_ms() - 6_000),
        ];
        let report = fanout(&poster, &queue, vec![], "x", &[shape("hi", 1)], &limits(2)).await;
        assert_eq!(report.connecting, 1);
        assert_eq!(report.gone.len(), 1);
        assert_eq!(report.gone[0].id, "old");
    }

    /// Answers 429 to the first `n` posts to each recipient.
    #[derive(Default)]
    struct ThrottledFirst {
        n: usize,
        seen: Mutex<HashMap<String, usize>>,
    }

    impl Poster for ThrottledFirst {
        async fn post(&self, id: &str, _: Bytes) -> Result<(), PostFailure> {
            let mut seen = self.seen.lock().unwrap();
            let count = seen.entry(id.to_owned()).or_default();
            *count += 1;
            if *count <= self.n {
                Err(service(429, "LimitExceededException"))
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn throttled_recipients_are_retried_within_the_budget() {
        let poster = ThrottledFirst {
            n: 1,
            ..Default::default()
        };
        let ids: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
        let report = fanout(
            &poster,
            &rows(&ids, 0),
            vec![],
            "c0",
            &[shape("x", 1)],
            &limits(4),
        )
        .await;
        // Four retries wanted, a budget of three: one stays throttled, and is kept.
        assert_eq!(report.delivered, 3);
        assert_eq!(report.throttled, 1);
        assert!(report.gone.is_empty());
        let total: usize = poster.seen.lock().unwrap().values().sum();
        assert_eq!(total, 7);
    }

    #[tokio::test]
    async fn nothing_starts_after_the_stop_and_the_rest_is_reported() {
        let poster = Scripted::default();
        let ids: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        let limits = Limits {
            budget: Budget::new(Instant::now(), Instant::now(), false),
            ..limits(2)
        };
        let report = fanout(
            &poster,
            &rows(&ids, 0),
            rows(&["r".to_owned()], 0),
            "c0",
            &[shape("x", 1)],
            &limits,
        )
        .await;
        assert_eq!(report.started, 0);
        assert_eq!(report.delivered, 0);
        assert_eq!(report.pending, rows(&["r".to_owned()], 0));
        assert!(poster.received.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn zero_concurrency_still_delivers() {
        let poster = Scripted::default();
        let report = fanout(
            &poster,
            &rows(&["a".to_owned()], 0),
            vec![],
            "a",
            &[shape("x", 1)],
            &limits(0),
        )
        .await;
        assert_eq!(report.delivered, 1);
    }
}
