//! `mb dev`'s server-side publish, `POST /publish?channel=NAME` with the message as the
//! body: the request deployed stacks take at their function URL, without the signature
//! (loopback only). The rules are [`mb_lambda::publish`]'s; this is their HTTP edge.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mb_lambda::publish;
use mb_lambda::store::ConnectionStore;

use super::Dev;

/// The path of the publish endpoint.
pub const PATH: &str = "/publish";

/// `POST /publish`.
pub async fn publish<S: ConnectionStore + 'static>(
    State(dev): State<Arc<Dev<S>>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    // A body that is not UTF-8 is sent on as base64, as a function URL does with binary.
    let (body, encoded) = match std::str::from_utf8(&body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => {
            use base64::Engine;
            (base64::prelude::BASE64_STANDARD.encode(&body), true)
        }
    };
    let request = publish::read(
        method.as_str(),
        query.as_deref().unwrap_or_default(),
        Some(&body),
        encoded,
    );
    let (status, answer) = match request {
        Ok(request) => {
            let (status, answer, _) = dev
                .handler
                .publish(request, Instant::now() + dev.timeout)
                .await;
            (status, answer)
        }
        Err(refused) => (refused.status, refused.body()),
    };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(answer),
    )
        .into_response()
}
