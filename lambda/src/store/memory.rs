//! An in-memory [`ConnectionStore`]: `mb dev`'s default, and the store of handler tests.
//! Rows are kept in key order, as a scan that resumes after a key needs.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Mutex;

use super::{Connection, ConnectionStore, Row, StoreError};

/// Connections by id, behind a mutex.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rows: Mutex<BTreeMap<String, Connection>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Connection>> {
        // A poisoned lock means a panic elsewhere mid-update of a plain map: still usable.
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.rows().len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows().is_empty()
    }

    pub fn get(&self, id: &str) -> Option<Connection> {
        self.rows().get(id).cloned()
    }
}

impl ConnectionStore for MemoryStore {
    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        self.rows()
            .insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.rows().remove(id);
        Ok(())
    }

    async fn delete_seen(&self, row: &Row) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        match rows.get(&row.id) {
            Some(stored) if stored.connected_at_ms == row.connected_at_ms => {
                rows.remove(&row.id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn live(&self, now_s: i64, after: Option<&str>) -> Result<Vec<Row>, StoreError> {
        let start = match after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        Ok(self
            .rows()
            .range::<str, _>((start, Bound::Unbounded))
            .filter(|(_, c)| c.expires_at > now_s)
            .map(|(id, c)| Row {
                id: id.clone(),
                connected_at_ms: c.connected_at_ms,
            })
            .collect())
    }

    async fn scan(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.rows().keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_scan_delete() {
        let store = MemoryStore::new();
        store.put(&Connection::new("a", 0)).await.unwrap();
        store.put(&Connection::new("b", 0)).await.unwrap();
        assert_eq!(store.scan().await.unwrap(), vec!["a", "b"]);
        store.delete("a").await.unwrap();
        store.delete("missing").await.unwrap();
        assert_eq!(store.scan().await.unwrap(), vec!["b"]);
    }

    #[tokio::test]
    async fn live_rows_skip_the_expired_and_resume_after_a_key() {
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
        let ids = |rows: Vec<Row>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.live(11, None).await.unwrap()),
            ["a", "b", "c", "d"]
        );
        assert_eq!(
            ids(store.live(9, Some("b")).await.unwrap()),
            ["bb", "c", "d"]
        );
        // Resuming after a key that is gone works as on DynamoDB.
        store.delete("b").await.unwrap();
        assert_eq!(ids(store.live(11, Some("b")).await.unwrap()), ["c", "d"]);
    }

    #[tokio::test]
    async fn a_row_written_again_is_not_deleted_by_an_older_read() {
        let store = MemoryStore::new();
        store.put(&Connection::new("a", 5)).await.unwrap();
        let seen = Row {
            id: "a".into(),
            connected_at_ms: 4,
        };
        assert!(!store.delete_seen(&seen).await.unwrap());
        assert_eq!(store.len(), 1);
        let seen = Row {
            id: "a".into(),
            connected_at_ms: 5,
        };
        assert!(store.delete_seen(&seen).await.unwrap());
        assert!(store.is_empty());
    }
}
