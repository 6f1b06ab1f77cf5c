//! The API Gateway Management API of `mb dev` (`POST`/`GET`/`DELETE /@connections/{id}`),
//! answering as API Gateway does, so AWS clients work unchanged: errors carry
//! `x-amzn-ErrorType` and a JSON `message`, a closed connection is 410.

use std::collections::HashMap;
use std::sync::Arc;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mb_lambda::store::ConnectionStore;
use serde_json::json;

use super::connections::Posted;
use super::post_to_connection::{GONE, post_to};
use super::state::Dev;

type Params = Path<HashMap<String, String>>;

fn connection_id(params: &HashMap<String, String>) -> &str {
    params.get("id").map(String::as_str).unwrap_or_default()
}

/// `PostToConnection`: queue `data` for the client.
pub async fn post<S: ConnectionStore + 'static>(
    State(dev): State<Arc<Dev<S>>>,
    Path(params): Params,
    data: Bytes,
) -> Response {
    match post_to(&dev.connections, connection_id(&params), data) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(refused) => aws_error(refused.status, refused.code, refused.message),
    }
}

/// `GetConnection`: when it connected, who it is, when it last sent.
pub async fn get<S: ConnectionStore + 'static>(
    State(dev): State<Arc<Dev<S>>>,
    Path(params): Params,
) -> Response {
    match dev.connections.info(connection_id(&params)) {
        None => gone(),
        Some(info) => {
            let mut identity = json!({ "sourceIp": info.source_ip });
            if let Some(agent) = info.user_agent {
                identity["userAgent"] = agent.into();
            }
            axum::Json(json!({
                "connectedAt": iso(info.connected_at_ms),
                "identity": identity,
                "lastActiveAt": iso(info.last_active_ms),
            }))
            .into_response()
        }
    }
}

/// `DeleteConnection`: close the connection (its `$disconnect` follows).
pub async fn delete<S: ConnectionStore + 'static>(
    State(dev): State<Arc<Dev<S>>>,
    Path(params): Params,
) -> Response {
    match dev
        .connections
        .close(connection_id(&params), 1000, "Connection deleted")
    {
        Posted::Gone => gone(),
        Posted::Queued | Posted::Throttled => StatusCode::NO_CONTENT.into_response(),
    }
}

fn iso(ms: i64) -> String {
    DateTime::from_millis(ms)
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

fn gone() -> Response {
    aws_error(GONE.status, GONE.code, GONE.message)
}

fn aws_error(status: StatusCode, code: &'static str, message: &str) -> Response {
    let mut response = (status, axum::Json(json!({ "message": message }))).into_response();
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    response
}
