//! An in-memory [`ConnectionStore`]: `mb dev`'s default, and the store of handler tests.
//! Each room's members are kept in key order, as a read that resumes after a key needs.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

use super::dedupe::{Claim, DedupeStore};
use super::error::StoreError;
use super::history::{HistoryStore, Kept};
use super::model::{Connection, ConnectionStore, Row};
use super::room::Room;
use crate::wire::position::Position;

#[derive(Debug, Default)]
struct Tables {
    /// Each connection's own record.
    connections: BTreeMap<String, Connection>,
    /// Each room's members: id → (connectedAt ms, expiresAt s).
    rooms: HashMap<Room, BTreeMap<String, (i64, i64)>>,
    /// Each connection's message window and its count.
    windows: HashMap<String, (i64, u32)>,
    /// Each room's stream: its position and its kept messages.
    streams: HashMap<Room, (Position, KeptCopies)>,
    /// Dedupe claims: key → (owner, expiresAt s, the answer once done).
    claims: HashMap<String, (String, i64, Option<String>)>,
}

/// A room's kept messages: number → (copy, expiresAt s).
type KeptCopies = BTreeMap<u64, (String, i64)>;

impl Tables {
    fn forget(&mut self, id: &str) {
        self.windows.remove(id);
        if let Some(connection) = self.connections.remove(id) {
            for room in &connection.rooms {
                self.leave(id, room);
            }
        }
    }

    fn leave(&mut self, id: &str, room: &Room) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }
}

/// Connections and rooms, behind a mutex.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A poisoned lock means a panic elsewhere mid-update of plain maps: still usable.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.tables().connections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables().connections.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<Connection> {
        self.tables().connections.get(id).cloned()
    }

    /// How many rooms have members (rooms without members are not kept).
    pub fn room_count(&self) -> usize {
        self.tables().rooms.len()
    }
}

impl ConnectionStore for MemoryStore {
    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut tables = self.tables();
        tables.forget(&connection.id);
        for room in &connection.rooms {
            tables.rooms.entry(room.clone()).or_default().insert(
                connection.id.clone(),
                (connection.connected_at_ms, connection.expires_at),
            );
        }
        tables
            .connections
            .insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        Ok(MemoryStore::get(self, id))
    }

    async fn join(&self, connection: &Connection, room: &Room) -> Result<(), StoreError> {
        let mut tables = self.tables();
        tables.rooms.entry(room.clone()).or_default().insert(
            connection.id.clone(),
            (connection.connected_at_ms, connection.expires_at),
        );
        if let Some(stored) = tables.connections.get_mut(&connection.id) {
            stored.rooms.insert(room.clone());
        }
        Ok(())
    }

    async fn leave(&self, id: &str, room: &Room) -> Result<(), StoreError> {
        let mut tables = self.tables();
        tables.leave(id, room);
        if let Some(stored) = tables.connections.get_mut(id) {
            stored.rooms.remove(room);
        }
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.tables().forget(id);
        Ok(())
    }

    async fn delete_seen(&self, row: &Row, room: &Room) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        match tables.connections.get(&row.id) {
            Some(stored) if stored.connected_at_ms == row.connected_at_ms => {
                tables.forget(&row.id);
                Ok(true)
            }
            Some(_) => Ok(false),
            None => {
                // A membership left behind by a record already gone.
                let seen = tables
                    .rooms
                    .get(room)
                    .and_then(|members| members.get(&row.id))
                    .is_some_and(|(at, _)| *at == row.connected_at_ms);
                if seen {
                    tables.leave(&row.id, room);
                }
                Ok(false)
            }
        }
    }

    async fn members(
        &self,
        room: &Room,
        now_s: i64,
        after: Option<&str>,
    ) -> Result<Vec<Row>, StoreError> {
        let start = match after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        let tables = self.tables();
        let Some(members) = tables.rooms.get(room) else {
            return Ok(Vec::new());
        };
        Ok(members
            .range::<str, _>((start, Bound::Unbounded))
            .filter(|(_, (_, expires_at))| *expires_at > now_s)
            .map(|(id, (connected_at_ms, _))| Row::new(id.clone(), *connected_at_ms))
            .collect())
    }

    async fn scan(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.tables().connections.keys().cloned().collect())
    }

    async fn count_message(&self, id: &str, window: i64) -> Result<u32, StoreError> {
        let mut tables = self.tables();
        if !tables.connections.contains_key(id) {
            return Ok(0);
        }
        let entry = tables.windows.entry(id.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        Ok(entry.1)
    }
}

/// A stream lives as long as `mb dev` runs: a restart starts every stream again, with a
/// new epoch, as a counter DynamoDB's TTL deleted does.
impl DedupeStore for MemoryStore {
    async fn claim(
        &self,
        key: &str,
        owner: &str,
        now_s: i64,
        expires_at: i64,
    ) -> Result<Claim, StoreError> {
        let mut tables = self.tables();
        // What expired is forgotten (TTL's work on DynamoDB).
        tables.claims.retain(|_, (_, expires, _)| *expires >= now_s);
        match tables.claims.get(key) {
            Some((_, _, Some(answer))) => Ok(Claim::Done {
                answer: answer.clone(),
            }),
            Some((holder, _, None)) => Ok(Claim::Held {
                same_owner: holder == owner,
            }),
            None => {
                tables
                    .claims
                    .insert(key.to_owned(), (owner.to_owned(), expires_at, None));
                Ok(Claim::Won)
            }
        }
    }

    async fn settle(&self, key: &str, answer: &str) -> Result<(), StoreError> {
        if let Some((_, _, done)) = self.tables().claims.get_mut(key) {
            *done = Some(answer.to_owned());
        }
        Ok(())
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut tables = self.tables();
        if tables
            .claims
            .get(key)
            .is_some_and(|(holder, _, done)| holder == owner && done.is_none())
        {
            tables.claims.remove(key);
        }
        Ok(())
    }
}

impl HistoryStore for MemoryStore {
    async fn next_position(
        &self,
        room: &Room,
        new_epoch: &str,
        _expires_at: i64,
    ) -> Result<Position, StoreError> {
        let mut tables = self.tables();
        let (position, _) = tables.streams.entry(room.clone()).or_insert_with(|| {
            let start = Position {
                epoch: new_epoch.to_owned(),
                seq: 0,
            };
            (start, BTreeMap::new())
        });
        position.seq += 1;
        Ok(position.clone())
    }

    async fn keep(
        &self,
        room: &Room,
        seq: u64,
        copy: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables();
        if let Some((_, kept)) = tables.streams.get_mut(room) {
            // What expired before this one is forgotten (TTL's work on DynamoDB).
            let now_s = crate::clock::now_ms() / 1000;
            kept.retain(|_, (_, expires)| *expires > now_s);
            kept.insert(seq, (copy.to_owned(), expires_at));
        }
        Ok(())
    }

    async fn head(&self, room: &Room) -> Result<Option<Position>, StoreError> {
        Ok(self.tables().streams.get(room).map(|(p, _)| p.clone()))
    }

    async fn kept(
        &self,
        room: &Room,
        after: u64,
        through: u64,
        now_s: i64,
    ) -> Result<Vec<Kept>, StoreError> {
        let tables = self.tables();
        let Some((_, kept)) = tables.streams.get(room).filter(|_| through > after) else {
            return Ok(Vec::new());
        };
        Ok(kept
            .range(after.saturating_add(1)..=through)
            .filter(|(_, (_, expires))| *expires > now_s)
            .map(|(seq, (copy, _))| Kept {
                seq: *seq,
                copy: copy.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::channel::Channel;
    use std::collections::BTreeSet;

    fn channel(name: &str) -> Room {
        Room::Channel(Channel::parse(name).unwrap())
    }

    fn ids(rows: Vec<Row>) -> Vec<String> {
        rows.into_iter().map(|r| r.id).collect()
    }

    #[tokio::test]
    async fn put_scan_delete() {
        let store = MemoryStore::new();
        store.put(&Connection::new("a", 0)).await.unwrap();
        store.put(&Connection::new("b", 0)).await.unwrap();
        assert_eq!(store.scan().await.unwrap(), vec!["a", "b"]);
        store.delete("a").await.unwrap();
        store.delete("missing").await.unwrap();
        assert_eq!(store.scan().await.unwrap(), vec!["b"]);
        assert_eq!(
            ids(store.members(&Room::Default, 0, None).await.unwrap()),
            ["b"]
        );
    }

    #[tokio::test]
    async fn members_skip_the_expired_and_resume_after_a_key() {
        let store = MemoryStore::new();
        for id in ["a", "b", "c", "d"] {
            store
                .put(&Connection::new(id, 1_000_000_000_000))
                .await
                .unwrap();
        }
        let mut old = Connection::new("bb", 0);
        old.expires_at = 10;
        store.put(&old).await.unwrap();
        let live = |now, after| store.members(&Room::Default, now, after);
        assert_eq!(ids(live(11, None).await.unwrap()), ["a", "b", "c", "d"]);
        assert_eq!(ids(live(9, Some("b")).await.unwrap()), ["bb", "c", "d"]);
        // Resuming after a key that is gone works as on DynamoDB.
        store.delete("b").await.unwrap();
        assert_eq!(ids(live(11, Some("b")).await.unwrap()), ["c", "d"]);
    }

    #[tokio::test]
    async fn rooms_hold_only_their_members() {
        let store = MemoryStore::new();
        let (a, b) = (channel("a"), channel("b"));
        store
            .put(&Connection::new("x", 5).in_rooms(BTreeSet::from([a.clone(), b.clone()])))
            .await
            .unwrap();
        store
            .put(&Connection::new("y", 5).in_rooms(BTreeSet::from([a.clone()])))
            .await
            .unwrap();
        store.put(&Connection::new("z", 5)).await.unwrap();
        assert_eq!(ids(store.members(&a, 0, None).await.unwrap()), ["x", "y"]);
        assert_eq!(ids(store.members(&b, 0, None).await.unwrap()), ["x"]);
        assert_eq!(
            ids(store.members(&Room::Default, 0, None).await.unwrap()),
            ["z"]
        );

        let z = store.get("z").unwrap();
        store.join(&z, &b).await.unwrap();
        assert_eq!(ids(store.members(&b, 0, None).await.unwrap()), ["x", "z"]);
        assert!(store.get("z").unwrap().rooms.contains(&b));
        store.leave("x", &b).await.unwrap();
        store.leave("x", &b).await.unwrap();
        assert_eq!(ids(store.members(&b, 0, None).await.unwrap()), ["z"]);

        // Disconnecting leaves every room.
        store.delete("z").await.unwrap();
        assert!(store.members(&b, 0, None).await.unwrap().is_empty());
        assert!(
            store
                .members(&Room::Default, 0, None)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.room_count(), 1);
    }

    #[tokio::test]
    async fn a_stream_numbers_once_each_and_keeps_until_expiry() {
        let store = MemoryStore::new();
        let a = channel("a");
        assert_eq!(store.head(&a).await.unwrap(), None);
        let first = store.next_position(&a, "e1", 0).await.unwrap();
        let second = store.next_position(&a, "ignored", 0).await.unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(second.epoch, "e1");
        assert_eq!(store.head(&a).await.unwrap(), Some(second));
        let far = i64::MAX;
        store.keep(&a, 2, "two", far).await.unwrap();
        store.keep(&a, 1, "one", 100).await.unwrap();
        let kept = store.kept(&a, 0, 2, 50).await.unwrap();
        assert_eq!(kept.iter().map(|k| k.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(kept[0].copy, "one");
        // Expired: not returned, whatever is left in the map.
        let kept = store.kept(&a, 0, 2, 100).await.unwrap();
        assert_eq!(kept.iter().map(|k| k.seq).collect::<Vec<_>>(), [2]);
        assert!(store.kept(&a, 2, 2, 0).await.unwrap().is_empty());
        // Another room is another stream.
        let other = store.next_position(&Room::Default, "e2", 0).await.unwrap();
        assert_eq!((other.seq, other.epoch.as_str()), (1, "e2"));
    }

    #[tokio::test]
    async fn messages_are_counted_per_connection_and_second() {
        let store = MemoryStore::new();
        store.put(&Connection::new("a", 0)).await.unwrap();
        assert_eq!(store.count_message("a", 10).await.unwrap(), 1);
        assert_eq!(store.count_message("a", 10).await.unwrap(), 2);
        assert_eq!(store.count_message("a", 11).await.unwrap(), 1);
        assert_eq!(store.count_message("ghost", 11).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_connection_stored_again_is_not_deleted_by_an_older_read() {
        let store = MemoryStore::new();
        store.put(&Connection::new("a", 5)).await.unwrap();
        assert!(
            !store
                .delete_seen(&Row::new("a", 4), &Room::Default)
                .await
                .unwrap()
        );
        assert_eq!(store.len(), 1);
        assert!(
            store
                .delete_seen(&Row::new("a", 5), &Room::Default)
                .await
                .unwrap()
        );
        assert!(store.is_empty());
        assert_eq!(store.room_count(), 0);
    }
}
