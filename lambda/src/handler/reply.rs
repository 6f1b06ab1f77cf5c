//! What every way in answers with: the sender's reply or error frame, the HTTP response,
//! and the one log line of an invocation (route, status, recipients, delivered, gone,
//! connecting, throttled, failed, continued, hop, duration; never a payload).

use std::time::Instant;

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use bytes::Bytes;

use crate::delivery::fanout::Report;
use crate::gateway::Poster;
use crate::wire::message::Refusal;
use crate::wire::publish::Refused;

pub(super) fn log(route: &str, status: i64, report: &Report, hop: u32, started: Instant) {
    tracing::info!(
        route,
        status,
        recipients = report.recipients,
        delivered = report.delivered,
        gone = report.gone.len(),
        connecting = report.connecting,
        throttled = report.throttled,
        failed = report.failed,
        continued = report.continued,
        hop,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "invocation"
    );
}

/// Sends the sender its error frame; the message itself went to nobody.
pub(super) async fn refuse<P: Poster>(
    poster: &P,
    sender: &str,
    refusal: Refusal,
    now: i64,
) -> Report {
    reply(poster, sender, refusal.frame(now), Some(refusal.code())).await
}

/// Sends the sender alone a frame: a reply, its own copy, or an error (`refused`, its
/// code, which is logged).
pub(super) async fn reply<P: Poster>(
    poster: &P,
    sender: &str,
    frame: Bytes,
    refused: Option<&'static str>,
) -> Report {
    if let Some(reason) = refused {
        tracing::warn!(reason, "message refused");
    }
    if let Err(failure) = poster.post(sender, frame).await {
        tracing::warn!(%failure, "could not send the sender its reply");
    }
    Report::default()
}

pub(super) fn response(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.body = body.map(aws_lambda_events::encodings::Body::Text);
    response
}

/// The log line of a publish refused before any post (never its body).
pub(super) fn log_publish_refused(refused: &Refused) {
    tracing::warn!(
        status = refused.status,
        reason = refused.code,
        "publish refused"
    );
}
