//! `mb dev`'s server-side publish, `POST /publish?channel=NAME` with the message as the
//! body: the request deployed stacks take at their function URL, without the signature
//! (loopback only). The rules are [`mb_lambda::wire::publish`]'s; this is their HTTP edge:
//! the request becomes the event a function URL would send and goes through the
//! function's one door. An `Idempotency-Key` header makes a repeat within the dedupe
//! window a duplicate that reaches nobody.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mb_lambda::event::Event;
use mb_lambda::store::ConnectionStore;

use super::events;
use super::state::Dev;

/// The path of the publish endpoint.
pub const PATH: &str = "/publish";

/// `POST /publish`.
pub async fn publish<S: ConnectionStore + 'static>(
    State(dev): State<Arc<Dev<S>>>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
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
    // The event a function URL sends, through the function's one door, as on AWS.
    let event = events::function_url(
        method.as_str(),
        query.as_deref().unwrap_or_default(),
        &body,
        encoded,
        headers.get("idempotency-key").and_then(|v| v.to_str().ok()),
        mb_lambda::clock::now_ms(),
    );
    let answer = dev
        .handler
        .dispatch(Event::recognize(event), Instant::now() + dev.timeout)
        .await
        .json;
    // A function URL answers with the response's status and body.
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = answer["body"].as_str().unwrap_or_default().to_owned();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
