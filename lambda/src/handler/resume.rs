//! The `resume` action: a client back from a reconnect asks for a room's messages after
//! the last position it received; it gets the kept ones, in number order, each as the
//! ordinary copy, then the `resumed` reply (docs/protocol.md, "History and resume"; the
//! decisions are [`crate::delivery::recovery`]'s).

use std::time::Duration;

use super::Handler;
use super::reply::{refuse, reply};
use crate::clock::now_ms;
use crate::delivery::deadline::Budget;
use crate::delivery::fanout::Report;
use crate::delivery::recovery::{self, Lost, Plan, REREADS, Resumed, Settled};
use crate::gateway::{Gateway, Poster};
use crate::store::{Connection, ConnectionStore, Room};
use crate::wire::channel::Channel;
use crate::wire::control::ControlError;
use crate::wire::message::Refusal;
use crate::wire::position::{Asked, Position};

/// How long a resume waits before it reads again for a message that may be being kept
/// by another invocation (times the attempt).
const REREAD_AFTER: Duration = Duration::from_millis(100);

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    /// Replays `room`'s kept messages after `asked` to the connection, then replies.
    pub(super) async fn resume<P: Poster>(
        &self,
        poster: &P,
        connection: &Connection,
        channel: Option<Channel>,
        asked: Asked,
        now: i64,
        budget: Budget,
    ) -> Report {
        let id = connection.id.as_str();
        let room = channel.map_or(Room::Default, Room::Channel);
        if !connection.rooms.contains(&room) {
            let err = match &room {
                Room::Channel(channel) if !connection.may_join(channel) => {
                    ControlError::ForbiddenToResume(channel.as_str().to_owned())
                }
                _ => ControlError::NotMemberToResume(room.key().to_owned()),
            };
            return reply(poster, id, err.frame(now), Some(err.code())).await;
        }
        let resumed = if self.settings.keeps_history(&room) {
            match self.replay(poster, id, &room, &asked, budget).await {
                Ok(resumed) => resumed,
                Err(()) => return refuse(poster, id, Refusal::StorageUnavailable, now).await,
            }
        } else {
            Resumed::Lost {
                lost: Lost::HistoryOff,
                head: None,
            }
        };
        if let Resumed::Lost { lost, .. } = &resumed {
            tracing::info!(reason = lost.reason(), "resume not recovered");
        }
        let frame = recovery::resumed_frame(room.channel(), &resumed);
        reply(poster, id, frame, None).await
    }

    /// Reads the stream and posts what the plan replays, one copy after the other (in
    /// order); `Err` when the store could not be read.
    async fn replay<P: Poster>(
        &self,
        poster: &P,
        id: &str,
        room: &Room,
        asked: &Asked,
        budget: Budget,
    ) -> Result<Resumed, ()> {
        let head = self.store.head(room).await.map_err(|err| {
            tracing::error!(%err, "could not read the room's stream; resume refused");
        })?;
        let (after, through) = match recovery::plan(asked, head.as_ref()) {
            Plan::UpToDate => {
                return Ok(Resumed::Recovered {
                    at: head,
                    replayed: 0,
                });
            }
            Plan::Lost(lost) => return Ok(Resumed::Lost { lost, head }),
            Plan::Read { after, through } => (after, through),
        };
        let epoch = head.as_ref().map(|h| h.epoch.clone()).unwrap_or_default();
        let mut attempt = 0;
        let kept = loop {
            let kept = self
                .store
                .kept(room, after, through, now_ms().div_euclid(1000))
                .await
                .map_err(|err| {
                    tracing::error!(%err, "could not read the room's history; resume refused");
                })?;
            let seqs: Vec<u64> = kept.iter().map(|k| k.seq).collect();
            match recovery::settle(after, through, &seqs) {
                Settled::Replay(_) => break kept,
                Settled::FirstMissing if attempt < REREADS => {
                    attempt += 1;
                    tokio::time::sleep(REREAD_AFTER * attempt).await;
                }
                Settled::FirstMissing => {
                    return Ok(Resumed::Lost {
                        lost: Lost::Expired,
                        head,
                    });
                }
            }
        };
        let mut replayed = 0;
        let mut last = after;
        for item in kept
            .into_iter()
            .filter(|k| k.seq > after && k.seq <= through)
        {
            if item.seq <= last {
                continue;
            }
            if std::time::Instant::now() >= budget.stop_posting_at {
                // Out of time: what was posted stands; the client resumes again from it.
                tracing::warn!(replayed, "the deadline came mid-replay");
                return Ok(Resumed::Lost {
                    lost: Lost::TooMany,
                    head,
                });
            }
            if let Err(failure) = poster.post(id, item.copy.into()).await {
                tracing::warn!(%failure, replayed, "a replayed copy could not be posted; replay stopped");
                return Ok(Resumed::Lost {
                    lost: Lost::TooMany,
                    head,
                });
            }
            replayed += 1;
            last = item.seq;
        }
        Ok(Resumed::Recovered {
            at: Some(Position { epoch, seq: last }),
            replayed,
        })
    }
}
