//! A continuation: the rest of a broadcast another invocation handed on
//! ([`crate::delivery::continuation`]), followed only when it names this function's own
//! Management API endpoint.

use std::time::Instant;

use super::Handler;
use super::broadcast::{Job, shape_rooms};
use super::reply::log;
use crate::delivery::continuation::{self, Continuation};
use crate::delivery::deadline::Budget;
use crate::delivery::fanout::Report;
use crate::gateway::Gateway;
use crate::store::{ConnectionStore, Room, Row};

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    /// Continues a broadcast another invocation handed on.
    pub async fn continue_broadcast(
        &self,
        continuation: Continuation,
        deadline: Instant,
    ) -> Report {
        let started = Instant::now();
        let budget = Budget::new(started, deadline, false);
        let report = self.continued(&continuation, budget).await;
        log("continuation", 200, &report, continuation.hop, started);
        report
    }

    pub(super) async fn continued(&self, c: &Continuation, budget: Budget) -> Report {
        let own = self.settings.management_endpoint.as_deref();
        if let Err(err) = continuation::check_endpoint(own, &c.endpoint) {
            tracing::error!(%err, hop = c.hop, "continuation refused");
            return Report::default();
        }
        let text = match c.decode_text() {
            Ok(text) => text,
            Err(err) => {
                tracing::error!(%err, "continuation dropped");
                return Report::default();
            }
        };
        // No rooms: a continuation from before channels, in the one room there was.
        let rooms: Vec<Room> = if c.rooms.is_empty() {
            vec![Room::Default]
        } else {
            c.rooms
                .iter()
                .filter_map(|key| Room::from_key(key))
                .collect()
        };
        if rooms.len() != c.rooms.len().max(1) || c.room_index >= rooms.len() {
            tracing::error!("continuation dropped: it names a room that cannot be");
            return Report::default();
        }
        if !c.positions.is_empty() && c.positions.len() != rooms.len() {
            tracing::error!("continuation dropped: its positions do not match its rooms");
            return Report::default();
        }
        let shaped = shape_rooms(&text, c.now, &rooms, &c.positions);
        let poster = self.gateway.poster(&c.endpoint);
        let cursor = (c.room_index, c.after.as_deref());
        let read = if c.scan {
            self.recipients(&rooms, Some(cursor)).await
        } else {
            Ok(Vec::new())
        };
        let queue: Vec<Row> = match read {
            Ok(rows) => rows.into_iter().filter(|r| r.id != c.sender).collect(),
            Err(err) => {
                tracing::error!(%err, "could not read the rooms; the rest of the broadcast is lost");
                return Report::default();
            }
        };
        let job = Job {
            endpoint: &c.endpoint,
            sender: &c.sender,
            text: &text,
            now: c.now,
            rooms: &rooms,
            positions: &c.positions,
            cursor,
            hop: c.hop,
        };
        self.deliver(&poster, &job, &shaped, queue, c.retry.clone(), budget)
            .await
    }
}
