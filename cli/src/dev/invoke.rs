//! The Lambda Invoke API of `mb dev` (`POST /2015-03-31/functions/mb-dev/invocations`):
//! the request rules are [`mb_lambda::local::invoke_api`]'s; this is their HTTP edge. An `Event`
//! invocation runs in the background, tracked so that stopping waits for it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mb_lambda::event::Event;
use mb_lambda::local::invoke_api::{self, Decision};
use mb_lambda::store::ConnectionStore;

use super::state::Dev;

/// The function name `mb dev`'s handler hands on to.
pub const FUNCTION: &str = "mb-dev";

/// `Invoke`.
pub async fn invoke<S: ConnectionStore + 'static>(
    State(dev): State<Arc<Dev<S>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let invocation_type = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok());
    match invoke_api::decide(FUNCTION, &name, invocation_type, &body) {
        Decision::DryRun => StatusCode::NO_CONTENT.into_response(),
        Decision::Run { event, wait: false } => {
            let deadline = Instant::now() + dev.timeout;
            let tracker = dev.tracker.clone();
            tracker.spawn(async move {
                dev.handler
                    .dispatch(Event::recognize(event), deadline)
                    .await;
            });
            StatusCode::ACCEPTED.into_response()
        }
        Decision::Run { event, wait: true } => {
            let answer = dev
                .handler
                .dispatch(Event::recognize(event), Instant::now() + dev.timeout)
                .await
                .json;
            (
                StatusCode::OK,
                [("x-amz-executed-version", "$LATEST")],
                axum::Json(answer),
            )
                .into_response()
        }
        Decision::Refuse {
            status,
            code,
            message,
        } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            [
                ("x-amzn-ErrorType", code),
                ("content-type", "application/json"),
            ],
            invoke_api::error_body(&message),
        )
            .into_response(),
    }
}
