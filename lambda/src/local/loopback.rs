//! SDK configuration for loopback endpoints (`mb dev`'s own Management API, moto, test
//! stand-ins): fixed local credentials and region, no profile lookups.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::HttpClientError;

use crate::aws::{https_client, interactive_timeouts};

/// SDK configuration for loopback endpoints (`mb dev`'s own Management API, moto, test
/// stand-ins): fixed local credentials and region, no profile lookups, the function's
/// HTTPS client ([`https_client`]) trusting `extra_root_pem` too, and `endpoint` for every client if given.
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
