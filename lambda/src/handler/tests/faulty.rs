//! The in-memory store with chosen faults, for what a storage failure does to a handler.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::store::{
    Claim, Connection, ConnectionStore, DedupeStore, HistoryStore, Kept, MemoryStore, Room, Row,
    StoreError,
};
use crate::wire::position::Position;

/// The in-memory store, except that keeping a message fails (`keep_fails`), or reading
/// the members of the room keyed `members_of` fails while `members_fail` is set.
#[derive(Default)]
pub struct Faulty {
    pub store: MemoryStore,
    pub keep_fails: bool,
    pub members_of: Option<&'static str>,
    pub members_fail: AtomicBool,
}

impl Faulty {
    /// Keeping a message fails.
    pub fn keep_fails() -> Self {
        Self {
            keep_fails: true,
            ..Self::default()
        }
    }

    /// Reading `room`'s members fails until [`Faulty::recover`].
    pub fn members_of(room: &'static str) -> Self {
        Self {
            members_of: Some(room),
            members_fail: AtomicBool::new(true),
            ..Self::default()
        }
    }

    pub fn recover(&self) {
        self.members_fail.store(false, Ordering::SeqCst);
    }
}

fn throttled(operation: &'static str) -> StoreError {
    StoreError {
        operation,
        detail: "ProvisionedThroughputExceededException".into(),
    }
}

impl DedupeStore for Faulty {
    async fn claim(
        &self,
        key: &str,
        owner: &str,
        now_s: i64,
        until: i64,
    ) -> Result<Claim, StoreError> {
        self.store.claim(key, owner, now_s, until).await
    }
    async fn settle(&self, key: &str, answer: &str) -> Result<(), StoreError> {
        self.store.settle(key, answer).await
    }
    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.store.release(key, owner).await
    }
}

impl HistoryStore for Faulty {
    async fn next_position(
        &self,
        room: &Room,
        epoch: &str,
        until: i64,
    ) -> Result<Position, StoreError> {
        self.store.next_position(room, epoch, until).await
    }
    async fn keep(&self, room: &Room, seq: u64, copy: &str, until: i64) -> Result<(), StoreError> {
        if self.keep_fails {
            return Err(throttled("PutItem"));
        }
        self.store.keep(room, seq, copy, until).await
    }
    async fn head(&self, room: &Room) -> Result<Option<Position>, StoreError> {
        self.store.head(room).await
    }
    async fn kept(
        &self,
        room: &Room,
        after: u64,
        through: u64,
        now_s: i64,
    ) -> Result<Vec<Kept>, StoreError> {
        self.store.kept(room, after, through, now_s).await
    }
}

impl ConnectionStore for Faulty {
    async fn put(&self, c: &Connection) -> Result<(), StoreError> {
        self.store.put(c).await
    }
    async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        ConnectionStore::get(&self.store, id).await
    }
    async fn join(&self, c: &Connection, room: &Room) -> Result<(), StoreError> {
        self.store.join(c, room).await
    }
    async fn leave(&self, id: &str, room: &Room) -> Result<(), StoreError> {
        self.store.leave(id, room).await
    }
    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.store.delete(id).await
    }
    async fn delete_seen(&self, row: &Row, room: &Room) -> Result<bool, StoreError> {
        self.store.delete_seen(row, room).await
    }
    async fn members(
        &self,
        room: &Room,
        now_s: i64,
        after: Option<&str>,
    ) -> Result<Vec<Row>, StoreError> {
        if self.members_of == Some(room.key()) && self.members_fail.load(Ordering::SeqCst) {
            return Err(throttled("Query"));
        }
        self.store.members(room, now_s, after).await
    }
    async fn scan(&self) -> Result<Vec<String>, StoreError> {
        self.store.scan().await
    }
    async fn count_message(&self, id: &str, window: i64) -> Result<u32, StoreError> {
        self.store.count_message(id, window).await
    }
}
