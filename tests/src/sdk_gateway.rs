//! The SDK-backed gateway: the real `aws-sdk-apigatewaymanagement` client, kept here in
//! the tests as the reference implementation the function's direct poster is tested
//! against (and for `--poster sdk` in the benchmarks). Neither the function nor `mb`
//! links it.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::StalledStreamProtectionConfig;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_smithy_types::Blob;
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;

use mb_lambda::gateway::{Gateway, PostFailure, Poster};

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
                // itself (mb_lambda::delivery::pacing), within a budget for the whole broadcast; the
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
