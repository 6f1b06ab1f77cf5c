//! The one place that builds the AWS SDK configuration for `mb`.
//!
//! `mb dev` talks only to loopback endpoints (its own Management API, an optional local
//! DynamoDB such as moto), so it uses fixed local credentials and never needs an AWS
//! account. Commands that reach AWS add profile, region and endpoint handling here.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

/// The region `mb dev` puts in its requests (loopback endpoints ignore it).
const LOCAL_REGION: &str = "us-east-1";

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTPS client: {0}")]
pub struct ConfigError(String);

/// SDK configuration for loopback endpoints: static local credentials, no profile or
/// environment lookups, mb's rustls HTTPS client.
pub async fn local_config() -> Result<SdkConfig, ConfigError> {
    let http = mb_lambda::aws::https_client(None).map_err(|e| ConfigError(e.to_string()))?;
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(LOCAL_REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "mb-dev", "mb-dev", None, None, "mb-dev",
        )))
        .http_client(http)
        .timeout_config(mb_lambda::aws::interactive_timeouts())
        .load()
        .await)
}

/// `config` with every client pointed at `endpoint` (an emulator).
pub fn with_endpoint(config: &SdkConfig, endpoint: &str) -> SdkConfig {
    config.to_builder().endpoint_url(endpoint).build()
}
