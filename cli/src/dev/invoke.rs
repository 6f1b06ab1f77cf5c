//! The Lambda Invoke API of `mb dev` (`POST /2015-03-31/functions/{name}/invocations`),
//! so that a broadcast the deadline cuts short continues locally through the handler's
//! real `aws-sdk-lambda` client, the same code path as on AWS, where the function invokes
//! itself. `Event` invocations answer 202 at once and run in the background;
//! `RequestResponse` runs the handler and answers its JSON; `DryRun` answers 204.
//! Errors are Lambda's: `x-amzn-ErrorType` and a JSON `message`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mb_lambda::store::ConnectionStore;
use serde_json::json;

use super::Dev;

/// The function name `mb dev`'s handler hands on to.
pub const FUNCTION: &str = "mb-dev";

/// What an invocation request asks for (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Event,
    RequestResponse,
    DryRun,
}

/// The `X-Amz-Invocation-Type` header's meaning; absent is `RequestResponse`.
pub fn kind(header: Option<&str>) -> Result<Kind, String> {
    match header {
        None | Some("RequestResponse") => Ok(Kind::RequestResponse),
        Some("Event") => Ok(Kind::Event),
        Some("DryRun") => Ok(Kind::DryRun),
        Some(other) => Err(format!(
            "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        )),
    }
}

/// `Invoke`.
pub async fn invoke<S: ConnectionStore + 'static>(
    State(dev): State<Arc<Dev<S>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The name may also be given as an ARN or `name:qualifier`.
    let plain = name.rsplit(':').find(|p| *p == FUNCTION).unwrap_or(&name);
    if plain != FUNCTION {
        return lambda_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {name} (mb dev serves only {FUNCTION})"),
        );
    }
    let kind = match kind(
        headers
            .get("x-amz-invocation-type")
            .and_then(|v| v.to_str().ok()),
    ) {
        Ok(kind) => kind,
        Err(message) => {
            return lambda_error(StatusCode::BAD_REQUEST, "ValidationException", &message);
        }
    };
    let event: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(_) => {
            return lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "Could not parse request body into json",
            );
        }
    };
    match kind {
        Kind::DryRun => StatusCode::NO_CONTENT.into_response(),
        Kind::Event => {
            let deadline = Instant::now() + dev.timeout;
            let tracker = dev.tracker.clone();
            tracker.spawn(async move {
                dev.handler.handle_json(event, deadline).await;
            });
            StatusCode::ACCEPTED.into_response()
        }
        Kind::RequestResponse => {
            let answer = dev
                .handler
                .handle_json(event, Instant::now() + dev.timeout)
                .await;
            (
                StatusCode::OK,
                [("x-amz-executed-version", "$LATEST")],
                axum::Json(answer),
            )
                .into_response()
        }
    }
}

fn lambda_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("x-amzn-ErrorType", code)],
        axum::Json(json!({ "Type": "User", "message": message })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_types() {
        assert_eq!(kind(None), Ok(Kind::RequestResponse));
        assert_eq!(kind(Some("Event")), Ok(Kind::Event));
        assert_eq!(kind(Some("DryRun")), Ok(Kind::DryRun));
        assert!(kind(Some("event")).unwrap_err().contains("invocationType"));
    }
}
