//! What every request of the dev server shares: the handler, the connections, the names
//! API Gateway would give, and how stopping goes.

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use mb_lambda::Handler;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connections::Connections;
use super::local_gateway::LocalGateway;

/// The state every request of the dev server shares.
pub struct Dev<S> {
    pub handler: Handler<S, LocalGateway>,
    pub connections: std::sync::Arc<Connections>,
    /// `domainName` in events: the address clients use.
    pub domain_name: String,
    pub stage: String,
    pub api_id: String,
    pub disconnect_on_drop: bool,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// Connections closed because the server stopped.
    pub closed_at_shutdown: AtomicUsize,
    /// The function timeout each invocation runs under (API Gateway's 29 s also counts
    /// for the events it sends).
    pub timeout: Duration,
    /// How long after `$connect` returns the connection is established.
    pub connect_delay: Duration,
    /// How long a connection may live (API Gateway: 2 hours), whatever its traffic.
    pub max_connection: Duration,
    /// How long a connection may go without a message in either direction (API
    /// Gateway: 10 minutes): no data frame from the client, none posted to it.
    pub idle_timeout: Duration,
}
