//! What a `resume` gets (pure; docs/protocol.md, "History and resume"): from the position
//! the client asks after and the room's stream as the store reads it, either an answer
//! at once or a read of the kept messages, and then which of them to replay.
//!
//! Why a hole after the first kept message is skipped, not reported: a number is taken
//! before its message is kept, and the message is kept before its room's members are
//! read for the live copies. So a number the read does not find, with a later one found,
//! is either still being kept by an invocation that will then post its live copy to
//! this connection (which joined before the read), or was burnt (its message reached
//! nobody). Only the numbers right after the position can be gone for this client: they
//! expired, so those are what `expired` reports.

use crate::wire::position::{Asked, Position};

/// The most messages one resume replays; a longer gap is `too_many`.
pub const MAX_REPLAY: u64 = 1_000;

/// How many times a resume reads again, a little later, when the first message after
/// the position is not found yet (it may be being kept by another invocation).
pub const REREADS: u32 = 2;

/// Why a gap cannot be filled whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Another epoch, or a position past the stream's newest.
    Reset,
    /// The first message after the position is no longer kept.
    Expired,
    /// More than [`MAX_REPLAY`] messages since the position.
    TooMany,
    /// The room keeps no history.
    HistoryOff,
}

impl Lost {
    /// The reply's `reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Lost::Reset => "reset",
            Lost::Expired => "expired",
            Lost::TooMany => "too_many",
            Lost::HistoryOff => "history_off",
        }
    }
}

/// What to do once the stream's newest position (`head`, `None`: no stream) is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to replay: recovered, at the stream's position now.
    UpToDate,
    /// Not recoverable.
    Lost(Lost),
    /// Read the kept messages numbered `after + 1 ..= through` of the head's epoch.
    Read { after: u64, through: u64 },
}

/// The plan for a resume asking `asked` of a stream at `head`.
pub fn plan(asked: &Asked, head: Option<&Position>) -> Plan {
    let (epoch, seq) = match asked {
        Asked::Head => return Plan::UpToDate,
        Asked::After { epoch, seq } => (epoch.as_deref(), *seq),
    };
    let Some(head) = head else {
        // No stream: nothing was ever numbered, or what was is gone with its counter.
        return match (epoch, seq) {
            (None, 0) => Plan::UpToDate,
            _ => Plan::Lost(Lost::Reset),
        };
    };
    match epoch {
        // Before any stream: every number of this one came after.
        None if seq == 0 => {}
        None => return Plan::Lost(Lost::Reset),
        Some(epoch) if epoch != head.epoch || seq > head.seq => return Plan::Lost(Lost::Reset),
        Some(_) => {}
    }
    if seq == head.seq {
        Plan::UpToDate
    } else if head.seq - seq > MAX_REPLAY {
        Plan::Lost(Lost::TooMany)
    } else {
        Plan::Read {
            after: seq,
            through: head.seq,
        }
    }
}

/// What a read of the kept numbers `kept` (any order) for `Read { after, through }` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Replay these numbers, in this order (ascending, each once): recovered.
    Replay(Vec<u64>),
    /// The first message after the position is not found: read again, or, after
    /// [`REREADS`], it expired.
    FirstMissing,
}

pub fn settle(after: u64, through: u64, kept: &[u64]) -> Settled {
    let mut wanted: Vec<u64> = kept
        .iter()
        .copied()
        .filter(|seq| (after + 1..=through).contains(seq))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.first() == Some(&(after + 1)) {
        Settled::Replay(wanted)
    } else {
        Settled::FirstMissing
    }
}

/// How a resume ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumed {
    /// Every kept message after the position was replayed (`replayed` copies); the
    /// client is at `at` (`None`: a stream with no message yet).
    Recovered {
        at: Option<Position>,
        replayed: usize,
    },
    /// The gap cannot be filled whole; the stream is at `head`.
    Lost { lost: Lost, head: Option<Position> },
}

/// The reply that ends a resume of `channel` (`None`: the default room), after the
/// replayed copies (pure).
pub fn resumed_frame(channel: Option<&str>, resumed: &Resumed) -> bytes::Bytes {
    let mut frame = serde_json::json!({"action": "resumed"});
    if let Some(channel) = channel {
        frame["channel"] = channel.into();
    }
    let at = match resumed {
        Resumed::Recovered { at, replayed } => {
            frame["recovered"] = true.into();
            frame["replayed"] = (*replayed).into();
            at
        }
        Resumed::Lost { lost, head } => {
            frame["recovered"] = false.into();
            frame["reason"] = lost.reason().into();
            head
        }
    };
    if *resumed
        != (Resumed::Lost {
            lost: Lost::HistoryOff,
            head: None,
        })
    {
        frame["seq"] = at.as_ref().map_or(0, |p| p.seq).into();
        if let Some(at) = at {
            frame["epoch"] = at.epoch.clone().into();
        }
    }
    bytes::Bytes::from(frame.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(epoch: &str, seq: u64) -> Position {
        Position {
            epoch: epoch.into(),
            seq,
        }
    }

    fn after(epoch: &str, seq: u64) -> Asked {
        Asked::After {
            epoch: Some(epoch.into()),
            seq,
        }
    }

    #[test]
    fn plans() {
        let head = at("e", 10);
        assert_eq!(plan(&Asked::Head, Some(&head)), Plan::UpToDate);
        assert_eq!(plan(&Asked::Head, None), Plan::UpToDate);
        assert_eq!(plan(&after("e", 10), Some(&head)), Plan::UpToDate);
        assert_eq!(
            plan(&after("e", 3), Some(&head)),
            Plan::Read {
                after: 3,
                through: 10
            }
        );
        assert_eq!(plan(&after("old", 3), Some(&head)), Plan::Lost(Lost::Reset));
        assert_eq!(plan(&after("e", 11), Some(&head)), Plan::Lost(Lost::Reset));
        assert_eq!(plan(&after("e", 3), None), Plan::Lost(Lost::Reset));
        let before_any = Asked::After {
            epoch: None,
            seq: 0,
        };
        assert_eq!(plan(&before_any, None), Plan::UpToDate);
        assert_eq!(
            plan(&before_any, Some(&head)),
            Plan::Read {
                after: 0,
                through: 10
            }
        );
        let far = at("e", 5_000);
        assert_eq!(plan(&after("e", 3), Some(&far)), Plan::Lost(Lost::TooMany));
        assert_eq!(
            plan(&after("e", 4_000), Some(&far)),
            Plan::Read {
                after: 4_000,
                through: 5_000
            }
        );
    }

    #[test]
    fn replies() {
        let text = |b: bytes::Bytes| String::from_utf8(b.to_vec()).unwrap();
        let done = Resumed::Recovered {
            at: Some(at("e", 12)),
            replayed: 5,
        };
        assert_eq!(
            text(resumed_frame(Some("lobby"), &done)),
            r#"{"action":"resumed","channel":"lobby","epoch":"e","recovered":true,"replayed":5,"seq":12}"#
        );
        let empty = Resumed::Recovered {
            at: None,
            replayed: 0,
        };
        assert_eq!(
            text(resumed_frame(None, &empty)),
            r#"{"action":"resumed","recovered":true,"replayed":0,"seq":0}"#
        );
        let lost = Resumed::Lost {
            lost: Lost::Expired,
            head: Some(at("e", 40)),
        };
        assert_eq!(
            text(resumed_frame(Some("a"), &lost)),
            r#"{"action":"resumed","channel":"a","epoch":"e","reason":"expired","recovered":false,"seq":40}"#
        );
        let off = Resumed::Lost {
            lost: Lost::HistoryOff,
            head: None,
        };
        assert_eq!(
            text(resumed_frame(None, &off)),
            r#"{"action":"resumed","reason":"history_off","recovered":false}"#
        );
    }

    #[test]
    fn settling() {
        assert_eq!(settle(3, 6, &[6, 4, 5]), Settled::Replay(vec![4, 5, 6]));
        // A hole after the first: skipped (being kept, or burnt).
        assert_eq!(settle(3, 6, &[4, 6]), Settled::Replay(vec![4, 6]));
        // The newest not kept yet: its live copy is still to come.
        assert_eq!(settle(3, 6, &[4]), Settled::Replay(vec![4]));
        assert_eq!(settle(3, 6, &[5, 6]), Settled::FirstMissing);
        assert_eq!(settle(3, 6, &[]), Settled::FirstMissing);
        // Numbers outside the range are not replayed.
        assert_eq!(settle(3, 6, &[2, 3, 4, 7]), Settled::Replay(vec![4]));
    }

    proptest! {
        /// A plan never reads more than the cap, reads only after the position and up
        /// to the head, and is up to date exactly when the position is the head's.
        #[test]
        fn a_plan_reads_only_what_the_position_missed(
            asked_epoch in prop::option::of(prop::sample::select(vec!["a", "b"])),
            asked_seq in 0u64..3_000,
            head in prop::option::of((prop::sample::select(vec!["a", "b"]), 0u64..3_000)),
        ) {
            let asked = Asked::After { epoch: asked_epoch.map(str::to_owned), seq: asked_seq };
            let head = head.map(|(e, s)| at(e, s));
            match plan(&asked, head.as_ref()) {
                Plan::Read { after, through } => {
                    let head = head.unwrap();
                    prop_assert_eq!(after, asked_seq);
                    prop_assert_eq!(through, head.seq);
                    prop_assert!(after < through && through - after <= MAX_REPLAY);
                    prop_assert!(asked_epoch.is_none_or(|e| e == head.epoch));
                }
                Plan::UpToDate => {
                    let up_to_date = match &head {
                        None => asked_epoch.is_none() && asked_seq == 0,
                        Some(h) => h.seq == asked_seq && asked_epoch.is_none_or(|e| e == h.epoch),
                    };
                    prop_assert!(up_to_date);
                }
                Plan::Lost(Lost::TooMany) => {
                    prop_assert!(head.unwrap().seq - asked_seq > MAX_REPLAY)
                }
                Plan::Lost(lost) => prop_assert_eq!(lost, Lost::Reset),
            }
        }

        /// A replay is ascending, each number once, within the range, starts right after
        /// the position, and holds every kept number in the range.
        #[test]
        fn a_replay_is_ordered_once_and_whole(
            after in 0u64..50,
            span in 1u64..50,
            kept in prop::collection::vec(0u64..120, 0..80),
        ) {
            let through = after + span;
            match settle(after, through, &kept) {
                Settled::Replay(seqs) => {
                    prop_assert_eq!(seqs.first(), Some(&(after + 1)));
                    prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]));
                    let mut expected: Vec<u64> =
                        kept.iter().copied().filter(|s| *s > after && *s <= through).collect();
                    expected.sort_unstable();
                    expected.dedup();
                    prop_assert_eq!(seqs, expected);
                }
                Settled::FirstMissing => prop_assert!(!kept.contains(&(after + 1))),
            }
        }
    }
}
