//! The delivery client: posts a message to one connection through the API Gateway
//! Management API (`POST {endpoint}/@connections/{id}`), with the real SDK client.
//!
//! This module only performs calls and reports what happened as a [`PostFailure`]; what a
//! failure means for the connection (gone or not) is decided in [`crate::fanout`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::StalledStreamProtectionConfig;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_smithy_types::Blob;
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;

/// How one post failed, as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostFailure {
    /// The service answered with an error status (and, usually, an error code).
    Service { status: u16, code: Option<String> },
    /// No answer in time (connect or attempt timeout).
    Timeout,
    /// The request could not be sent or its answer not read (connection refused, reset, TLS).
    Transport(String),
}

impl std::fmt::Display for PostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostFailure::Service { status, code } => {
                write!(
                    f,
                    "HTTP {status} {}",
                    code.as_deref().unwrap_or("(no error code)")
                )
            }
            PostFailure::Timeout => f.write_str("timed out"),
            PostFailure::Transport(detail) => write!(f, "transport error: {detail}"),
        }
    }
}

/// Posts messages to the connections of one API stage.
pub trait Poster: Send + Sync {
    fn post(
        &self,
        connection_id: &str,
        data: Bytes,
    ) -> impl Future<Output = Result<(), PostFailure>> + Send;
}

/// Hands out a [`Poster`] for a Management API endpoint (`https://{domain}/{stage}`).
pub trait Gateway: Send + Sync {
    type Poster: Poster;
    fn poster(&self, endpoint: &str) -> Self::Poster;
}

/// The Management API endpoint for an event: the override when one is set (a custom
/// domain, `mb dev`, a test), else `https://{domain_name}/{stage}` as API Gateway documents.
pub fn management_endpoint(
    override_url: Option<&str>,
    domain_name: Option<&str>,
    stage: Option<&str>,
) -> Option<String> {
    if let Some(url) = override_url {
        return Some(url.trim_end_matches('/').to_owned());
    }
    match (domain_name, stage) {
        (Some(domain), Some(stage)) if !domain.is_empty() && !stage.is_empty() => {
            Some(format!("https://{domain}/{stage}"))
        }
        _ => None,
    }
}

/// The SDK-backed gateway: one `aws-sdk-apigatewaymanagement` client per endpoint, all
/// sharing the HTTP connection pool of the [`aws_config::SdkConfig`] they came from.
pub struct SdkGateway {
    config: aws_config::SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
}

impl SdkGateway {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            config: config.clone(),
            clients: Mutex::new(HashMap::new()),
        }
    }
}

impl Gateway for SdkGateway {
    type Poster = SdkPoster;

    fn poster(&self, endpoint: &str) -> SdkPoster {
        // A poisoned lock only means another invocation panicked mid-insert; the map is
        // still a valid cache.
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let client = clients
            .entry(endpoint.to_owned())
            .or_insert_with(|| {
                // Posts carry a few hundred bytes under an attempt timeout; the SDK's
                // stalled-stream protection only adds work per request (measured in
                // docs/benchmarks.md). No SDK retries: the fan-out paces and retries
                // itself (crate::pacing), within a budget for the whole broadcast; the
                // SDK's own 3 attempts per post would multiply a 429 storm.
                let config = aws_sdk_apigatewaymanagement::config::Builder::from(&self.config)
                    .endpoint_url(endpoint)
                    .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
                    .retry_config(RetryConfig::disabled())
                    .build();
                Client::from_conf(config)
            })
            .clone();
        SdkPoster { client }
    }
}

/// Posts through one SDK client.
#[derive(Clone, Debug)]
pub struct SdkPoster {
    client: Client,
}

impl Poster for SdkPoster {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<(), PostFailure> {
        self.client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| failure_of(&err))
    }
}

fn failure_of(err: &SdkError<PostToConnectionError>) -> PostFailure {
    match err {
        SdkError::ServiceError(service) => PostFailure::Service {
            status: service.raw().status().as_u16(),
            code: service.err().code().map(str::to_owned),
        },
        SdkError::TimeoutError(_) => PostFailure::Timeout,
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => PostFailure::Timeout,
        SdkError::ResponseError(response) => PostFailure::Service {
            status: response.raw().status().as_u16(),
            code: None,
        },
        other => PostFailure::Transport(DisplayErrorContext(other).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_comes_from_domain_and_stage() {
        assert_eq!(
            management_endpoint(
                None,
                Some("abc.execute-api.eu-west-1.amazonaws.com"),
                Some("dev")
            ),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/dev".to_owned())
        );
    }

    #[test]
    fn override_wins_and_loses_its_trailing_slash() {
        assert_eq!(
            management_endpoint(Some("http://127.0.0.1:9/"), Some("x"), Some("dev")),
            Some("http://127.0.0.1:9".to_owned())
        );
    }

    #[test]
    fn no_endpoint_without_domain_or_stage() {
        assert_eq!(management_endpoint(None, None, Some("dev")), None);
        assert_eq!(management_endpoint(None, Some("x"), Some("")), None);
    }
}
