//! Where connection ids live: the [`ConnectionStore`] trait, with the DynamoDB table used
//! on AWS ([`dynamodb`]) and an in-memory store for `mb dev` ([`memory`]).

pub mod dynamodb;
pub mod memory;

use std::future::Future;

pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;

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
}

impl Connection {
    /// A connection made at `connected_at_ms`, expiring a little after API Gateway's
    /// 2-hour connection limit (pure).
    pub fn new(id: impl Into<String>, connected_at_ms: i64) -> Self {
        Self {
            id: id.into(),
            connected_at_ms,
            expires_at: connected_at_ms.div_euclid(1000)
                + MAX_CONNECTION_SECONDS
                + TTL_GRACE_SECONDS,
        }
    }
}

/// A storage operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {detail}")]
pub struct StoreError {
    pub operation: &'static str,
    pub detail: String,
}

/// A stored connection as a broadcast reads it: its id and when `$connect` stored it
/// (the connect window's grace and the conditional delete need the latter).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub id: String,
    pub connected_at_ms: i64,
}

/// The set of connected clients.
pub trait ConnectionStore: Send + Sync {
    /// Records a new connection (or records it again, replacing the row).
    fn put(&self, connection: &Connection) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Forgets a connection; forgetting an unknown one is not an error.
    fn delete(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Forgets a connection only if its row is still the one a broadcast read (same
    /// `connectedAt`): a row written after the read is kept. Ok(false) when kept.
    fn delete_seen(&self, row: &Row) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The connections whose row has not expired at `now_s` (unix seconds), in the
    /// store's key order, starting after the key `after` (which need not exist). Every
    /// page, strongly consistent.
    fn live(
        &self,
        now_s: i64,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;
    /// Every stored connection id, expired or not (all pages).
    fn scan(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_expire_ten_minutes_after_the_two_hour_limit() {
        let c = Connection::new("a", 1_700_000_000_999);
        assert_eq!(c.expires_at, 1_700_000_000 + 7_200 + 600);
    }
}
