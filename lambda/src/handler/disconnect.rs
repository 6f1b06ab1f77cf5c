//! `$disconnect`: forget the connection and its memberships (a missing row is fine: TTL
//! and the next broadcast's 410 remove what is left).

use super::Handler;
use crate::gateway::Gateway;
use crate::store::ConnectionStore;

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    pub(super) async fn disconnect(&self, connection_id: &str) -> i64 {
        if let Err(err) = self.store.delete(connection_id).await {
            // The rows expire by TTL, and the next broadcast's 410 removes them anyway.
            tracing::warn!(%err, "could not delete the closed connection");
        }
        200
    }
}
