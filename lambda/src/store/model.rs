//! The store's model: a connection's record, the rows a broadcast reads, and the
//! [`ConnectionStore`] trait every store implements (pure types; the I/O is in the
//! stores).

use std::collections::BTreeSet;
use std::future::Future;

use super::dedupe::DedupeStore;
use super::error::StoreError;
use super::history::HistoryStore;
use super::room::Room;
use crate::wire::channel::Channel;

/// API Gateway closes every WebSocket connection after 2 hours at most.
pub const MAX_CONNECTION_SECONDS: i64 = 2 * 60 * 60;
/// Rows expire (DynamoDB TTL) this long after API Gateway's limit, so a row whose
/// `$disconnect` never came is removed even if no broadcast ever meets its 410.
pub const TTL_GRACE_SECONDS: i64 = 10 * 60;

/// One stored connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    /// Unix time in milliseconds when `$connect` ran.
    pub connected_at_ms: i64,
    /// Unix time in seconds after which the row may be deleted (the TTL attribute).
    pub expires_at: i64,
    /// The rooms it is in (the default room first, then channels by name).
    pub rooms: BTreeSet<Room>,
    /// The token's subject, when a token let it in.
    pub sub: Option<String>,
    /// The channels its token lets it join (`None`: any).
    pub allowed: Option<BTreeSet<Channel>>,
}

impl Connection {
    /// A connection made at `connected_at_ms` in the default room, expiring a little
    /// after API Gateway's 2-hour connection limit (pure).
    pub fn new(id: impl Into<String>, connected_at_ms: i64) -> Self {
        Self {
            id: id.into(),
            connected_at_ms,
            expires_at: connected_at_ms.div_euclid(1000)
                + MAX_CONNECTION_SECONDS
                + TTL_GRACE_SECONDS,
            rooms: BTreeSet::from([Room::Default]),
            sub: None,
            allowed: None,
        }
    }

    /// The same connection with the identity a token gave it.
    pub fn with_identity(
        mut self,
        sub: Option<String>,
        allowed: Option<BTreeSet<Channel>>,
    ) -> Self {
        self.sub = sub;
        self.allowed = allowed;
        self
    }

    /// Whether its token lets it into `channel`.
    pub fn may_join(&self, channel: &Channel) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|allowed| allowed.contains(channel))
    }

    /// The same connection in `rooms` instead.
    pub fn in_rooms(mut self, rooms: BTreeSet<Room>) -> Self {
        self.rooms = rooms;
        self
    }

    /// How many channels (not the default room) it is in.
    pub fn channel_count(&self) -> usize {
        self.rooms.iter().filter(|r| **r != Room::Default).count()
    }

    /// The row a broadcast reads for it.
    pub fn row(&self) -> Row {
        Row {
            id: self.id.clone(),
            connected_at_ms: self.connected_at_ms,
            room_index: 0,
        }
    }
}

/// A room's member as a broadcast reads it: its id and when `$connect` stored it (the
/// connect window's grace and the conditional delete need the latter), and, once the
/// broadcast has chosen it, the index of the room it is reached through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub id: String,
    pub connected_at_ms: i64,
    /// The index, in the broadcast's room list, of the room it is reached through
    /// (`room` on the wire: continuations in flight keep their meaning).
    #[serde(rename = "room", default, skip_serializing_if = "is_zero")]
    pub room_index: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl AsRef<str> for Row {
    fn as_ref(&self) -> &str {
        &self.id
    }
}

impl Row {
    pub fn new(id: impl Into<String>, connected_at_ms: i64) -> Row {
        Row {
            id: id.into(),
            connected_at_ms,
            room_index: 0,
        }
    }
}

/// The connected clients and their rooms (and, through [`HistoryStore`], the rooms'
/// streams; through [`DedupeStore`], the claims on dedupe keys).
pub trait ConnectionStore: HistoryStore + DedupeStore + Send + Sync {
    /// Records a new connection and its memberships (or records it again).
    fn put(&self, connection: &Connection) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The connection's own record (strongly consistent); `None` if it has none.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Connection>, StoreError>> + Send;
    /// Adds `connection` (as stored) to `room`.
    fn join(
        &self,
        connection: &Connection,
        room: &Room,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes the connection `id` from `room`; leaving a room it is not in is fine.
    fn leave(&self, id: &str, room: &Room) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Forgets a connection and every membership; forgetting an unknown one is fine.
    fn delete(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Forgets a connection a broadcast met in `room` and found gone, only if its record
    /// is still the one the broadcast read (same `connectedAt`): a connection stored again
    /// after the read is kept. Ok(false) when kept.
    fn delete_seen(
        &self,
        row: &Row,
        room: &Room,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The members of `room` whose rows have not expired at `now_s` (unix seconds), in
    /// key order, starting after the connection id `after` (which need not exist). Every
    /// page, strongly consistent; the other rooms are not read.
    fn members(
        &self,
        room: &Room,
        now_s: i64,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;
    /// Every stored connection id, expired or not (all pages).
    fn scan(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// Counts one more message from `id` in the one-second `window` (unix seconds) and
    /// returns the window's count so far, this one included; 0 if the connection has
    /// no record (nothing is created for it).
    fn count_message(
        &self,
        id: &str,
        window: i64,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_expire_ten_minutes_after_the_two_hour_limit() {
        let c = Connection::new("a", 1_700_000_000_999);
        assert_eq!(c.expires_at, 1_700_000_000 + 7_200 + 600);
        assert_eq!(c.rooms, BTreeSet::from([Room::Default]));
    }
}
