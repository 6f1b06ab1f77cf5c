//! Events from the bus: a batch of SQS messages from the queue `mb deploy --events` makes
//! (SNS topics and EventBridge rules feed it), each read by [`crate::wire::bus`] and
//! published to its room as a server publish is, at most once per dedupe key
//! ([`crate::delivery::dedupe`] decides; the claims are in the store). The HTTP publish
//! with an `Idempotency-Key` goes through the same [`Handler::publish_once`].

use std::time::Instant;

use aws_lambda_events::sqs::SqsMessage;

use super::Handler;
use crate::clock::now_ms;
use crate::delivery::deadline::Budget;
use crate::delivery::dedupe::{ClaimEnd, Outcome, after_claim, after_publish};
use crate::delivery::fanout::Report;
use crate::gateway::Gateway;
use crate::store::ConnectionStore;
use crate::wire::bus::{self, EventResult};
use crate::wire::publish::Publish;

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    /// Serves a batch in order before `deadline`. A message not started when the
    /// deadline leaves no time to post is retried, as is one whose claim or room could
    /// not be read; one that can never be delivered is dropped and logged with its ids.
    pub async fn bus(
        &self,
        messages: &[SqsMessage],
        deadline: Instant,
    ) -> (Vec<EventResult>, Report) {
        let started = Instant::now();
        let budget = Budget::new(started, deadline, false);
        let mut results = Vec::with_capacity(messages.len());
        let mut total = Report::default();
        for message in messages {
            let message_id = message.message_id.clone().unwrap_or_default();
            if Instant::now() >= budget.stop_posting_at {
                results.push(EventResult {
                    message_id,
                    key: None,
                    outcome: Outcome::Retry(
                        "the invocation's deadline came before it started".into(),
                    ),
                });
                continue;
            }
            let (key, outcome, report) = match bus::read(message) {
                Ok(event) => {
                    let request = Publish {
                        room: event.room,
                        text: event.text,
                    };
                    let (outcome, report) = self
                        .publish_once(&event.key, &message_id, request, deadline)
                        .await;
                    (Some(event.key), outcome, report)
                }
                Err(rejected) => (
                    None,
                    Outcome::Rejected {
                        code: rejected.code(),
                        reason: rejected.to_string(),
                    },
                    Report::default(),
                ),
            };
            log_event(&message_id, key.as_deref(), &outcome);
            total.add(report);
            results.push(EventResult {
                message_id,
                key,
                outcome,
            });
        }
        (results, total)
    }

    /// Publishes `request` unless `key` was claimed within the dedupe window; `owner`
    /// is who claims it (an SQS message's id, which its retries keep; a fresh id for an
    /// HTTP publish).
    pub async fn publish_once(
        &self,
        key: &str,
        owner: &str,
        request: Publish,
        deadline: Instant,
    ) -> (Outcome, Report) {
        let now_s = now_ms().div_euclid(1000);
        let expires_at = now_s + i64::from(self.settings.dedupe_seconds);
        match self.store.claim(key, owner, now_s, expires_at).await {
            Ok(claim) => {
                if let Some(outcome) = after_claim(&claim) {
                    return (outcome, Report::default());
                }
            }
            Err(err) => {
                tracing::error!(%err, "could not claim the dedupe key; nothing published");
                return (
                    Outcome::Retry("the dedupe claim could not be stored".into()),
                    Report::default(),
                );
            }
        }
        let (status, body, report) = self.publish(request, deadline).await;
        let (outcome, end) = after_publish(status, &body);
        let ended = match end {
            ClaimEnd::Settle => self.store.settle(key, &body.to_string()).await,
            ClaimEnd::Release => self.store.release(key, owner).await,
        };
        if let Err(err) = ended {
            // Settling failed: a repeat within the window finds the claim held, not
            // done (a duplicate all the same). Releasing failed: a retry finds its own
            // claim held and goes to the dead-letter queue, not out twice.
            tracing::error!(%err, "could not record the dedupe claim's end");
        }
        (outcome, report)
    }
}

/// One line per event that did not go out: its ids and why (never its payload).
fn log_event(message_id: &str, key: Option<&str>, outcome: &Outcome) {
    match outcome {
        Outcome::Delivered(_) => {}
        Outcome::Duplicate(_) => {
            tracing::info!(
                message_id,
                key,
                "bus event is a duplicate; not delivered again"
            )
        }
        Outcome::Rejected { code, reason } => {
            tracing::warn!(message_id, key, code, reason = %reason, "bus event rejected")
        }
        Outcome::Retry(why) => {
            tracing::warn!(message_id, key, why = %why, "bus event not delivered; the queue retries it")
        }
    }
}
