//! The publish URL: a backend's `POST {PublishUrl}?channel=NAME` (read by
//! [`crate::wire::publish`]) reaches every member of the room with `_me` false.

use std::time::Instant;

use super::Handler;
use super::broadcast::{Job, shape_rooms, too_large};
use super::reply::{log, log_publish_refused};
use crate::clock::now_ms;
use crate::delivery::deadline::Budget;
use crate::delivery::fanout::Report;
use crate::gateway::Gateway;
use crate::store::ConnectionStore;
use crate::wire::error::ErrorFrame;
use crate::wire::message::Refusal;
use crate::wire::publish::{self, UrlRequest};

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    /// A function URL request: read, then published (at most once per its
    /// `Idempotency-Key`, when it has one). Returns the HTTP status and JSON body.
    pub async fn publish_url(
        &self,
        request: &UrlRequest,
        deadline: Instant,
    ) -> (u16, serde_json::Value, Report) {
        let read = request
            .read()
            .and_then(|publish| Ok((publish, request.idempotency_key()?)));
        match read {
            Err(refused) => {
                log_publish_refused(&refused);
                (refused.status, refused.body(), Report::default())
            }
            Ok((publish, None)) => self.publish(publish, deadline).await,
            Ok((publish, Some(key))) => {
                // Each request its own owner: a retry after a failure may claim the key.
                let owner = format!("publish-{:016x}", fastrand::u64(..));
                let (outcome, report) = self.publish_once(key, &owner, publish, deadline).await;
                let (status, body) = publish::answer_once(&outcome);
                (status, body, report)
            }
        }
    }

    /// Publishes `request` as if from no client: every member of its room gets it with
    /// `_me` false. Returns the HTTP status and JSON body of the answer, and the report.
    pub async fn publish(
        &self,
        request: publish::Publish,
        deadline: Instant,
    ) -> (u16, serde_json::Value, Report) {
        let started = Instant::now();
        let Some(endpoint) = self.settings.management_endpoint.clone() else {
            tracing::error!("publish refused: MB_MANAGEMENT_ENDPOINT is unset");
            let body = ErrorFrame::new(
                "not_configured",
                "the function has no MB_MANAGEMENT_ENDPOINT, so it cannot reach the WebSocket API; deploy with mb deploy",
            );
            return (500, body.body(), Report::default());
        };
        let now = now_ms();
        let rooms = vec![request.room];
        let unnumbered = shape_rooms(&request.text, now, &rooms, &[]);
        if let Some(refusal) = too_large(&unnumbered, self.numbers_any(&rooms)) {
            let refused = publish::too_large(&refusal);
            log_publish_refused(&refused);
            return (refused.status, refused.body(), Report::default());
        }
        let (shaped, positions) = match self.number(&request.text, now, &rooms).await {
            Ok(numbered) => numbered,
            Err(err) => {
                tracing::error!(%err, "could not number the message; nothing published");
                let body = Refusal::StorageUnavailable.error().body();
                log("publish", 503, &Report::default(), 0, started);
                return (503, body, Report::default());
            }
        };
        let poster = self.gateway.poster(&endpoint);
        let job = Job {
            endpoint: &endpoint,
            sender: "",
            text: &request.text,
            now,
            rooms: &rooms,
            positions: &positions,
            cursor: (0, None),
            hop: 0,
        };
        let budget = Budget::new(started, deadline, false);
        let report = match self.recipients(&rooms, None).await {
            Ok(queue) => {
                self.deliver(&poster, &job, &shaped, queue, Vec::new(), budget)
                    .await
            }
            Err(err) => {
                tracing::error!(%err, "could not read the room; nothing published");
                let body = Refusal::StorageUnavailable.error().body();
                log("publish", 503, &Report::default(), 0, started);
                return (503, body, Report::default());
            }
        };
        log("publish", 200, &report, 0, started);
        (200, publish::answer(&report), report)
    }
}
