//! `PostToConnection`'s decision in `mb dev`, for the handler (`local_gateway.rs`) and
//! HTTP callers of the Management API (`management.rs`) alike: queue the data for the
//! client, or refuse it as API Gateway does (413, 410, 429).

use axum::http::StatusCode;
use bytes::Bytes;
use mb_lambda::wire::message::MAX_MESSAGE_BYTES;

use super::connections::{Connections, Posted};

/// Why a post was not queued: API Gateway's status, error code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: &'static str,
}

pub const GONE: Refused = Refused {
    status: StatusCode::GONE,
    code: "GoneException",
    message: "Connection is gone",
};

/// `PostToConnection`'s decision, for HTTP callers and the handler alike
/// (`local_gateway.rs`): queue `data` for the client, or say why not.
pub fn post_to(connections: &Connections, id: &str, data: Bytes) -> Result<(), Refused> {
    if data.len() > MAX_MESSAGE_BYTES {
        return Err(Refused {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "PayloadTooLargeException",
            message: "Message too long",
        });
    }
    match connections.post(id, data) {
        Posted::Queued => Ok(()),
        Posted::Gone => Err(GONE),
        Posted::Throttled => Err(Refused {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "LimitExceededException",
            message: "The client's buffer is full",
        }),
    }
}
