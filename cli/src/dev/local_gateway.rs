//! How `mb dev`'s handler posts: straight into the recipients' outboxes, answered as API
//! Gateway's Management API answers (200, 410 `GoneException`, 429
//! `LimitExceededException`, 413 `PayloadTooLargeException`), and reported as the same
//! [`PostFailure`]s the function's own client reports for those answers, so the handler
//! cannot tell the difference.
//!
//! The HTTP Management API (`management.rs`) answers every other caller from the same
//! decision, [`post_to_connection::post_to`]. The handler does not go through it over
//! loopback HTTP: that costs a signed request per copy, 1,000 for a broadcast to 1,000
//! clients (docs/benchmarks.md). The function's own client is held to the wire format
//! elsewhere (`tests/tests/e2e/wire_fakes/fanout_faults.rs`, `post_client.rs`).

use std::sync::Arc;

use bytes::Bytes;
use mb_lambda::gateway::{Gateway, PostFailure, Poster};

use super::connections::Connections;
use super::post_to_connection;

/// Every endpoint is this `mb dev`.
pub struct LocalGateway {
    connections: Arc<Connections>,
}

impl LocalGateway {
    pub fn new(connections: Arc<Connections>) -> Self {
        Self { connections }
    }
}

impl Gateway for LocalGateway {
    type Poster = LocalPoster;

    fn poster(&self, _endpoint: &str) -> LocalPoster {
        LocalPoster {
            connections: Arc::clone(&self.connections),
        }
    }
}

#[derive(Clone)]
pub struct LocalPoster {
    connections: Arc<Connections>,
}

impl Poster for LocalPoster {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<(), PostFailure> {
        post_to_connection::post_to(&self.connections, connection_id, data).map_err(|refused| {
            PostFailure::Service {
                status: refused.status.as_u16(),
                code: Some(refused.code.to_owned()),
            }
        })
    }
}
