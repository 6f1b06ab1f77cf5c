//! The one place that builds the AWS SDK configuration for `mb`.
//!
//! `mb dev` talks only to loopback endpoints (its own Management API, an optional local
//! DynamoDB such as moto), so it uses fixed local credentials and never needs an AWS
//! account; that configuration is `mb_lambda::aws::loopback_config`, which the tests use
//! too. Commands that reach AWS add profile, region and endpoint handling here.

use aws_config::SdkConfig;

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTPS client: {0}")]
pub struct ConfigError(String);

/// SDK configuration for loopback endpoints: static local credentials, no profile or
/// environment lookups, mb's rustls HTTPS client.
pub async fn local_config() -> Result<SdkConfig, ConfigError> {
    mb_lambda::aws::loopback_config(None, None)
        .await
        .map_err(|e| ConfigError(e.to_string()))
}

/// `config` with every client pointed at `endpoint` (an emulator).
pub fn with_endpoint(config: &SdkConfig, endpoint: &str) -> SdkConfig {
    config.to_builder().endpoint_url(endpoint).build()
}
