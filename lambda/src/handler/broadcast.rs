//! The delivery every way in shares: read a room's members, fan out, hand on what the
//! deadline leaves ([`crate::delivery::continuation`]), delete the gone.

use futures_util::StreamExt;
use futures_util::future::try_join_all;
use futures_util::stream;

use super::Handler;
use crate::clock::now_ms;
use crate::delivery::continuation::{Continuation, MAX_HOPS, PAYLOAD_LIMIT};
use crate::delivery::deadline::Budget;
use crate::delivery::fanout::{Limits, Report, fanout};
use crate::delivery::in_flight::DELETES_IN_FLIGHT;
use crate::gateway::{Gateway, Poster};
use crate::store::{COUNTER_GRACE_SECONDS, ConnectionStore, Room, Row, StoreError};
use crate::wire::channel;
use crate::wire::message::{self, Refusal};
use crate::wire::position::{self, Position};

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    /// The members of `rooms`, each once, through the first room that has it, in (room,
    /// key) order; with a cursor, only those after it.
    pub(super) async fn recipients(
        &self,
        rooms: &[Room],
        cursor: Option<(usize, Option<&str>)>,
    ) -> Result<Vec<Row>, StoreError> {
        let now_s = now_ms() / 1000;
        if let [room] = rooms {
            // One room needs no deduplication: read only what is after the cursor.
            let after = cursor.and_then(|(_, after)| after);
            return self.store.members(room, now_s, after).await;
        }
        let mut members = Vec::with_capacity(rooms.len());
        for room in rooms {
            members.push(self.store.members(room, now_s, None).await?);
        }
        Ok(channel::recipients(&members)
            .into_iter()
            .filter(|(row, room)| match cursor {
                None => true,
                Some((at, after)) => {
                    *room > at || (*room == at && after.is_none_or(|key| row.id.as_str() > key))
                }
            })
            .map(|(row, room)| Row {
                room_index: room,
                ..row
            })
            .collect())
    }

    /// Gives the message its number in each of `rooms` that keeps history and keeps its
    /// copy there, before any member is read (so a client that joins later finds it in
    /// the history, and one that joined earlier gets the live copy); then the copies for
    /// each room. A number taken for a message that cannot be kept is burnt: the message
    /// is refused, and that number is a hole nobody received.
    pub(super) async fn number(
        &self,
        text: &str,
        now: i64,
        rooms: &[Room],
    ) -> Result<(Vec<message::Shaped>, Vec<Option<Position>>), StoreError> {
        let now_s = now_ms().div_euclid(1000);
        let window = i64::from(self.settings.history_seconds);
        let epoch = position::new_epoch(now_ms(), fastrand::u32(..));
        let numbered = try_join_all(rooms.iter().map(|room| async {
            if !self.settings.keeps_history(room) {
                return Ok((message::shape_in(text, now, room.channel()), None));
            }
            let counter_expires = now_s + window + COUNTER_GRACE_SECONDS;
            let at = self
                .store
                .next_position(room, &epoch, counter_expires)
                .await?;
            let shaped = message::shape_at(text, now, room.channel(), Some(&at));
            let copy = String::from_utf8_lossy(&shaped.for_others);
            if let Err(err) = self.store.keep(room, at.seq, &copy, now_s + window).await {
                tracing::error!(%err, seq = at.seq, "could not keep the message; its number is burnt");
                return Err(err);
            }
            Ok((shaped, Some(at)))
        }))
        .await?;
        Ok(numbered.into_iter().unzip())
    }

    /// Whether any of `rooms` numbers its messages (their copies grow by a position).
    pub(super) fn numbers_any(&self, rooms: &[Room]) -> bool {
        rooms.iter().any(|room| self.settings.keeps_history(room))
    }

    /// Fans out to `retry` and `queue`, hands on what the deadline leaves, deletes the
    /// gone rows.
    pub(super) async fn deliver<P: Poster>(
        &self,
        poster: &P,
        job: &Job<'_>,
        shaped: &[message::Shaped],
        queue: Vec<Row>,
        retry: Vec<Row>,
        budget: Budget,
    ) -> Report {
        let limits = Limits {
            concurrency: self.settings.concurrency,
            budget,
            grace_ms: self.settings.connect_grace_ms,
        };
        let mut report = fanout(poster, &queue, retry, job.sender, shaped, &limits).await;
        let unstarted = queue.len() - report.started;
        if unstarted + report.pending.len() > 0 {
            // Resume after the last (room, key) started (the sender is not one).
            let last = queue[..report.started]
                .iter()
                .rev()
                .find(|r| r.id != job.sender);
            self.continue_elsewhere(job, last, unstarted, &mut report)
                .await;
        }
        self.forget(&report.gone, job.rooms).await;
        report
    }

    /// Hands what this invocation could not reach to continuations: new invocations of
    /// the function through the invoker, each within Lambda's payload limit; what cannot
    /// be handed on is counted as failed or throttled and logged.
    pub(super) async fn continue_elsewhere(
        &self,
        job: &Job<'_>,
        last: Option<&Row>,
        unstarted: usize,
        report: &mut Report,
    ) {
        let why = match &self.invoker {
            _ if job.hop >= MAX_HOPS => {
                format!("the chain reached its limit of {MAX_HOPS} hand-ons")
            }
            None => "this handler cannot hand on".to_owned(),
            Some(invoker) => {
                let (room, after) = match last {
                    Some(row) => (row.room_index, Some(row.id.clone())),
                    None => (job.cursor.0, job.cursor.1.map(str::to_owned)),
                };
                let continuation = Continuation {
                    endpoint: job.endpoint.to_owned(),
                    sender: job.sender.to_owned(),
                    text: Continuation::encode_text(job.text),
                    now: job.now,
                    rooms: job.rooms.iter().map(|r| r.key().to_owned()).collect(),
                    positions: job.positions.to_vec(),
                    room_index: room,
                    after,
                    retry: std::mem::take(&mut report.pending),
                    hop: job.hop + 1,
                    scan: true,
                };
                // Each part within the async payload limit; what a part that cannot be
                // handed on carried stays pending and is counted below.
                let mut first_failed = None;
                for (index, part) in continuation.split(PAYLOAD_LIMIT).into_iter().enumerate() {
                    let carried = part.retry.len() + if index == 0 { unstarted } else { 0 };
                    match invoker.invoke_async(part.to_payload()).await {
                        Ok(()) => report.continued += carried,
                        Err(err) if index == 0 => {
                            report.pending.extend(part.retry);
                            first_failed = Some(err);
                        }
                        Err(err) => {
                            tracing::error!(
                                not_reached = part.retry.len(),
                                reason = %err,
                                "a continuation that only retries could not be handed on"
                            );
                            report.throttled += part.retry.len();
                        }
                    }
                }
                match first_failed {
                    None => return,
                    Some(err) => err,
                }
            }
        };
        let left = unstarted + report.pending.len();
        tracing::error!(
            not_reached = left,
            reason = %why,
            "the deadline came before every recipient was reached"
        );
        report.throttled += report.pending.len();
        report.failed += unstarted;
        report.pending.clear();
    }

    /// Deletes the connections that answered 410 Gone, each only if it is still the one
    /// the broadcast read, [`DELETES_IN_FLIGHT`] at once.
    pub(super) async fn forget(&self, gone: &[Row], rooms: &[Room]) {
        // Owned rows: futures borrowing the slice's items trip rustc's higher-ranked
        // `Send` inference when this handler runs in a spawned task.
        let mut deletes = stream::iter(gone.iter().cloned())
            .map(|row| {
                let room = rooms.get(row.room_index).cloned().unwrap_or(Room::Default);
                async move { self.store.delete_seen(&row, &room).await }
            })
            .buffer_unordered(DELETES_IN_FLIGHT);
        while let Some(result) = deletes.next().await {
            if let Err(err) = result {
                tracing::warn!(%err, "could not delete a gone connection; TTL will");
            }
        }
    }
}

/// What a broadcast needs besides its recipients.
pub(super) struct Job<'a> {
    pub(super) endpoint: &'a str,
    /// The sending connection ("" for a publish: nobody's copy says `_me`).
    pub(super) sender: &'a str,
    pub(super) text: &'a str,
    pub(super) now: i64,
    /// The rooms it goes to, in order.
    pub(super) rooms: &'a [Room],
    /// Its position in each room that keeps history, in the same order.
    pub(super) positions: &'a [Option<Position>],
    /// Where this invocation's read started: (room index, after key).
    pub(super) cursor: (usize, Option<&'a str>),
    pub(super) hop: u32,
}

/// The copies of a message for each room it goes through, at its position in each
/// (pure).
pub(super) fn shape_rooms(
    text: &str,
    now: i64,
    rooms: &[Room],
    positions: &[Option<Position>],
) -> Vec<message::Shaped> {
    rooms
        .iter()
        .enumerate()
        .map(|(i, room)| {
            let at = positions.get(i).and_then(Option::as_ref);
            message::shape_at(text, now, room.channel(), at)
        })
        .collect()
}

/// The refusal if any room's copy is too large, once `numbered` copies carry a position
/// (checked before a number is taken, so a refused message burns none).
pub(super) fn too_large(shaped: &[message::Shaped], numbered: bool) -> Option<Refusal> {
    let extra = if numbered { message::POSITION_BYTES } else { 0 };
    shaped
        .iter()
        .find_map(|s| message::check_size_with(s, extra).err())
}
