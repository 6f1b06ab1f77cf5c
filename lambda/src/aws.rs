//! The HTTPS client under every SDK client `mb` builds: rustls with ring, the platform's
//! root certificates, and optionally one more root (a loopback stand-in's test CA); and
//! the SDK configuration for loopback endpoints (`mb dev`, tests, benchmarks).
//!
//! The SDK crates' default client is turned off in the workspace: ring gives a smaller
//! Lambda binary than aws-lc, and tests need to trust their own loopback endpoints.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, HttpClientError};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// rustls's cryptography: ring, unless the measure-only `tls-aws-lc` feature asks for
/// aws-lc-rs (docs/benchmarks.md compares the two binaries).
#[cfg(not(feature = "tls-aws-lc"))]
const CRYPTO: CryptoMode = CryptoMode::Ring;
#[cfg(feature = "tls-aws-lc")]
const CRYPTO: CryptoMode = CryptoMode::AwsLc;

/// An HTTPS (and plain HTTP) client trusting the platform roots plus `extra_root_pem`.
pub fn https_client(extra_root_pem: Option<&[u8]>) -> Result<SharedHttpClient, HttpClientError> {
    let mut trust = TrustStore::default();
    if let Some(pem) = extra_root_pem {
        trust = trust.with_pem_certificate(pem.to_vec());
    }
    let context = TlsContext::builder().with_trust_store(trust).build()?;
    Ok(Builder::new()
        .tls_provider(tls::Provider::Rustls(CRYPTO))
        .tls_context(context)
        .build_https())
}

/// Timeouts for calls made while a client waits (a broadcast in a Lambda invocation):
/// a dead endpoint must not hold the function until its own timeout.
pub fn interactive_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(5))
        .build()
}

/// SDK configuration for loopback endpoints (`mb dev`'s own Management API, moto, test
/// stand-ins): fixed local credentials and region, no profile lookups, this module's
/// HTTPS client trusting `extra_root_pem` too, and `endpoint` for every client if given.
pub async fn loopback_config(
    endpoint: Option<&str>,
    extra_root_pem: Option<&[u8]>,
) -> Result<SdkConfig, HttpClientError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "mb-local", "mb-local", None, None, "mb-local",
        )))
        .http_client(https_client(extra_root_pem)?)
        .timeout_config(interactive_timeouts());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    Ok(loader.load().await)
}
