//! Delivers one message to many connections with bounded concurrency, and decides what
//! each delivery result means.
//!
//! Only 410 Gone proves a connection is gone (its row is then deleted). Throttling (429),
//! server errors, 403 and timeouts keep the row: the old backend deleted on any error, so
//! one throttled broadcast could empty the table. One failing recipient never stops the
//! others, and at most `concurrency` posts are in flight at any time.

use futures_util::StreamExt;
use futures_util::stream;

use crate::gateway::{PostFailure, Poster};
use crate::message::Shaped;

/// Log at most this many individual delivery failures per broadcast; the rest are counted.
const FAILURES_LOGGED: usize = 10;

/// What one delivery means for its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The connection no longer exists: delete its row.
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

/// The totals of one broadcast.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub recipients: usize,
    pub delivered: usize,
    /// Connections that answered 410 Gone, to be deleted from the store.
    pub gone: Vec<String>,
    pub failed: usize,
}

/// Posts `shaped` to every recipient (the sender's own copy to `sender`), at most
/// `concurrency` at a time, and reports the outcomes.
pub async fn fanout<P: Poster>(
    poster: &P,
    recipients: Vec<String>,
    sender: &str,
    shaped: &Shaped,
    concurrency: usize,
) -> Report {
    let mut report = Report {
        recipients: recipients.len(),
        ..Report::default()
    };
    let mut results = stream::iter(recipients)
        .map(|id| async move {
            let data = shaped.copy_for(&id, sender);
            let result = poster.post(&id, data).await;
            (id, outcome(result))
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((id, outcome)) = results.next().await {
        match outcome {
            Outcome::Delivered => report.delivered += 1,
            Outcome::Gone => report.gone.push(id),
            Outcome::Failed(failure) => {
                report.failed += 1;
                if report.failed <= FAILURES_LOGGED {
                    tracing::warn!(connection_id = %id, %failure, "delivery failed; connection kept");
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
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::shape;
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

    #[tokio::test]
    async fn every_recipient_is_tried_and_counted() {
        let mut poster = Scripted::default();
        poster
            .answers
            .insert("c1".into(), service(410, "GoneException"));
        poster
            .answers
            .insert("c2".into(), service(429, "LimitExceededException"));
        poster.answers.insert("c3".into(), PostFailure::Timeout);
        let ids: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        let shaped = shape("hi", 1);
        let report = fanout(&poster, ids, "c0", &shaped, 3).await;
        assert_eq!(report.recipients, 10);
        assert_eq!(report.delivered, 7);
        assert_eq!(report.gone, vec!["c1".to_owned()]);
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
    async fn zero_concurrency_still_delivers() {
        let poster = Scripted::default();
        let report = fanout(&poster, vec!["a".into()], "a", &shape("x", 1), 0).await;
        assert_eq!(report.delivered, 1);
    }
}
