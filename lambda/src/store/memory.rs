//! An in-memory [`ConnectionStore`]: `mb dev`'s default, and the store of handler tests.

use std::sync::Mutex;

use indexmap::IndexMap;

use super::{Connection, ConnectionStore, StoreError};

/// Connections in insertion order, behind a mutex.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rows: Mutex<IndexMap<String, Connection>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, IndexMap<String, Connection>> {
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
        self.rows().shift_remove(id);
        Ok(())
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
}
