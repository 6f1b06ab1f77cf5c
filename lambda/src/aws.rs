//! The HTTPS client under every SDK client `mb` builds: rustls with ring, the platform's
//! root certificates, and optionally one more root (a loopback stand-in's test CA); the
//! timeouts of interactive calls; one HTTP request outside the SDK; an error as one line.
//! (The SDK configuration for loopback endpoints is `crate::local::loopback`.)
//!
//! The SDK crates' default client is turned off in the workspace: ring gives a smaller
//! Lambda binary than aws-lc, and tests need to trust their own loopback endpoints.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
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

/// One HTTP request outside the SDK (a key set, a publish) over this module's client:
/// the status and the whole body, within `limit`. Errors are one line.
pub async fn exchange(
    request: http::Request<Vec<u8>>,
    extra_root_pem: Option<&[u8]>,
    limit: Duration,
) -> Result<(u16, Vec<u8>), String> {
    use aws_smithy_runtime_api::client::http::HttpConnector;
    use aws_smithy_types::body::SdkBody;
    let url = request.uri().to_string();
    let mut trust = TrustStore::default();
    if let Some(pem) = extra_root_pem {
        trust = trust.with_pem_certificate(pem.to_vec());
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| format!("cannot set up the HTTPS client: {e}"))?;
    let connector = aws_smithy_http_client::Connector::builder()
        .tls_provider(tls::Provider::Rustls(CRYPTO))
        .tls_context(context)
        .build();
    let request = aws_smithy_runtime_api::http::Request::try_from(request.map(SdkBody::from))
        .map_err(|e| format!("cannot send the request to {url}: {e}"))?;
    let call = async {
        let response = connector.call(request).await.map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|e| error_chain(&e))?;
        Ok::<_, String>((status, body.into_bytes().to_vec()))
    };
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(why)) => Err(format!("cannot reach {url}: {why}")),
        Err(_) => Err(format!("{url} did not answer within {} s", limit.as_secs())),
    }
}

/// An error and its sources, as one line, each message once.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut messages: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(err) = next {
        let message = err.to_string();
        if !message.is_empty() && !messages.iter().any(|m| m.contains(&message)) {
            messages.push(message);
        }
        next = err.source();
    }
    messages.join(": ")
}
