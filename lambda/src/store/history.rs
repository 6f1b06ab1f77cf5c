//! A room's stream: its counter (the epoch and the newest number) and the messages it
//! keeps for the history window ([`HistoryStore`]; docs/protocol.md, "History and
//! resume"; the DynamoDB layout and its cost in docs/architecture.md, "History").

use std::future::Future;

use super::error::StoreError;
use super::room::Room;
use crate::wire::position::Position;

/// The most seconds a message may be kept (24 hours).
pub const MAX_HISTORY_SECONDS: u32 = 24 * 60 * 60;
/// How long a message is kept unless configured otherwise.
pub const DEFAULT_HISTORY_SECONDS: u32 = 120;
/// A counter outlives its newest message by this long (then its stream may start again).
pub const COUNTER_GRACE_SECONDS: i64 = 10 * 60;

/// One kept message: its number and the copy a member other than the sender receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub seq: u64,
    pub copy: String,
}

/// The streams of rooms that keep history.
pub trait HistoryStore: Send + Sync {
    /// Takes `room`'s next number (atomically: two callers never get the same one) and
    /// says the stream's epoch, `new_epoch` if this starts the stream. The counter
    /// expires at `expires_at` (unix seconds) unless a later number moves it on.
    fn next_position(
        &self,
        room: &Room,
        new_epoch: &str,
        expires_at: i64,
    ) -> impl Future<Output = Result<Position, StoreError>> + Send;
    /// Keeps message `seq` of `room` until `expires_at` (unix seconds).
    fn keep(
        &self,
        room: &Room,
        seq: u64,
        copy: &str,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The stream's newest position (strongly consistent), `None` if it has none. A
    /// counter past its expiry but not deleted yet still counts: the next number
    /// continues it.
    fn head(
        &self,
        room: &Room,
    ) -> impl Future<Output = Result<Option<Position>, StoreError>> + Send;
    /// The messages of `room` numbered `after + 1 ..= through` still kept at `now_s`, in
    /// number order (strongly consistent, every page, never a scan).
    fn kept(
        &self,
        room: &Room,
        after: u64,
        through: u64,
        now_s: i64,
    ) -> impl Future<Output = Result<Vec<Kept>, StoreError>> + Send;
}
