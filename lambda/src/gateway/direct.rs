//! The direct gateway: `PostToConnection` as the SDK sends it (same path, headers and
//! SigV4 signature, made by `aws-sigv4`), over `hyper` on a [`Pool`] per endpoint.
//!
//! The SDK client spends most of a post's CPU in its orchestration (interceptors,
//! endpoint resolution, identity and retry plumbing) rather than in the request; this
//! one signs and sends. Answers are read the way the SDK reads them ([`failure_of`]), so
//! the fan-out sees the same [`PostFailure`] from either gateway; tests check both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http::label::{EncodingStrategy, fmt_string};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

use super::credentials::CredentialCache;
use super::pool::{Answer, Pool, Target};
use super::post::{Gateway, PostFailure, Poster};

/// The SigV4 signing name of the Management API.
pub const SIGNING_NAME: &str = "execute-api";

/// Connect (TCP and TLS) and whole-post limits when the SDK configuration sets none; the
/// function's configuration sets both (`crate::aws::interactive_timeouts`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The request the SDK's `PostToConnection` sends for `data` to `connection_id` at
/// `target`, signed for `region` at `time`: `POST {base}/@connections/{id}` with the id
/// encoded as a Smithy label, `content-type: application/octet-stream`, `content-length`,
/// and the signature headers.
pub fn signed_post(
    target: &Target,
    connection_id: &str,
    data: Bytes,
    identity: &Identity,
    region: &str,
    time: SystemTime,
) -> Result<Request<Full<Bytes>>, String> {
    let path = format!(
        "{}/@connections/{}",
        target.base_path,
        fmt_string(connection_id, EncodingStrategy::Default)
    );
    let scheme = if target.https { "https" } else { "http" };
    let url = format!("{scheme}://{}{path}", target.authority);
    let length = data.len().to_string();
    let headers = [
        ("content-type", "application/octet-stream"),
        ("content-length", length.as_str()),
    ];
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(SIGNING_NAME)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign the post: {e}"))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.iter().copied(),
        SignableBody::Bytes(&data),
    )
    .map_err(|e| format!("cannot sign the post: {e}"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| format!("cannot sign the post: {e}"))?
        .into_parts();
    let mut builder = Request::post(path).header("host", target.authority.as_str());
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let mut request = builder
        .body(Full::new(data))
        .map_err(|e| format!("cannot build the post: {e}"))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}

/// What an answer means, read as the SDK reads a restJson1 answer: success for 2xx, else
/// the status with the error code from `x-amzn-errortype` or the body's `code` or
/// `__type` (a namespace before `#` and anything after `:` removed).
pub fn failure_of(answer: &Answer) -> Option<PostFailure> {
    if (200..300).contains(&answer.status) {
        return None;
    }
    let header = answer
        .headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let code = header.or_else(|| {
        let body: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
        ["code", "__type"]
            .iter()
            .find_map(|key| body.get(*key)?.as_str().map(str::to_owned))
    });
    Some(PostFailure::Service {
        status: answer.status,
        code: code.map(|c| sanitize(&c).to_owned()),
    })
}

fn sanitize(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit_once('#').map_or(code, |(_, name)| name)
}

struct Shared {
    credentials: CredentialCache,
    region: Option<String>,
    extra_root: Option<Vec<u8>>,
    tls: OnceLock<Result<TlsConnector, String>>,
    max_connections: usize,
    connect_timeout: Duration,
    attempt_timeout: Duration,
}

impl Shared {
    fn tls(&self) -> Result<TlsConnector, String> {
        self.tls
            .get_or_init(|| tls_connector(self.extra_root.as_deref()))
            .clone()
    }
}

/// rustls with ring, the platform's root certificates (as the SDK's client) plus an
/// optional extra root, HTTP/1.1 by ALPN.
fn tls_connector(extra_root: Option<&[u8]>) -> Result<TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(pem) = extra_root {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("the extra root certificate is not PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("the extra root certificate is not usable: {e}"))?;
        }
    }
    if roots.is_empty() {
        return Err(format!(
            "no root certificates to check the Management API's with ({added} loaded from the \
             platform; {} errors)",
            native.errors.len()
        ));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("cannot set up TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// How a [`DirectGateway`] is set up besides its SDK configuration.
#[derive(Debug, Clone)]
pub struct DirectOptions {
    /// Connections (and posts in flight) per endpoint at most: the fan-out's concurrency.
    pub max_connections: usize,
    /// Trusted for https endpoints besides the platform's roots (a loopback stand-in's CA).
    pub extra_root_pem: Option<Vec<u8>>,
    /// Credentials are replaced this long before they expire.
    pub refresh_margin: Duration,
}

impl Default for DirectOptions {
    fn default() -> Self {
        Self {
            max_connections: crate::config::DEFAULT_CONCURRENCY,
            extra_root_pem: None,
            refresh_margin: super::credentials::REFRESH_MARGIN,
        }
    }
}

/// The shipped gateway: one [`DirectPoster`] (and connection pool) per endpoint.
pub struct DirectGateway {
    shared: Arc<Shared>,
    posters: Mutex<HashMap<String, DirectPoster>>,
}

impl DirectGateway {
    /// Signs with `sdk`'s credentials and region and keeps its connect and attempt
    /// timeouts; at most `max_connections` connections (and posts in flight) per endpoint.
    pub fn new(sdk: &aws_config::SdkConfig, max_connections: usize) -> Self {
        Self::with_options(
            sdk,
            DirectOptions {
                max_connections,
                ..DirectOptions::default()
            },
        )
    }

    pub fn with_options(sdk: &aws_config::SdkConfig, options: DirectOptions) -> Self {
        let timeouts = sdk.timeout_config();
        Self {
            shared: Arc::new(Shared {
                credentials: CredentialCache::new(sdk.credentials_provider())
                    .with_margin(options.refresh_margin),
                region: sdk.region().map(|r| r.as_ref().to_owned()),
                extra_root: options.extra_root_pem,
                tls: OnceLock::new(),
                max_connections: options.max_connections.max(1),
                connect_timeout: timeouts
                    .and_then(|t| t.connect_timeout())
                    .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
                attempt_timeout: timeouts
                    .and_then(|t| t.operation_attempt_timeout())
                    .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT),
            }),
            posters: Mutex::new(HashMap::new()),
        }
    }
}

impl Gateway for DirectGateway {
    type Poster = DirectPoster;

    fn poster(&self, endpoint: &str) -> DirectPoster {
        let mut posters = self.posters.lock().unwrap_or_else(|e| e.into_inner());
        posters
            .entry(endpoint.to_owned())
            .or_insert_with(|| DirectPoster::new(Arc::clone(&self.shared), endpoint))
            .clone()
    }
}

/// Posts to one endpoint through its pool.
#[derive(Clone)]
pub struct DirectPoster {
    shared: Arc<Shared>,
    pool: Result<Arc<Pool>, String>,
}

impl DirectPoster {
    fn new(shared: Arc<Shared>, endpoint: &str) -> Self {
        let pool = Target::parse(endpoint).and_then(|target| {
            let tls = if target.https {
                Some(shared.tls()?)
            } else {
                None
            };
            Ok(Arc::new(Pool::new(
                target,
                tls,
                shared.max_connections,
                shared.connect_timeout,
            )))
        });
        Self { shared, pool }
    }

    async fn attempt(&self, connection_id: &str, data: Bytes) -> Result<(), PostFailure> {
        let pool = self
            .pool
            .as_ref()
            .map_err(|e| PostFailure::Transport(e.clone()))?;
        let Some(region) = &self.shared.region else {
            return Err(PostFailure::Transport(
                "no AWS region is configured to sign posts for".to_owned(),
            ));
        };
        let identity = self
            .shared
            .credentials
            .identity()
            .await
            .map_err(PostFailure::Transport)?;
        let request = signed_post(
            pool.target(),
            connection_id,
            data,
            &identity,
            region,
            SystemTime::now(),
        )
        .map_err(PostFailure::Transport)?;
        let answer = pool.exchange(request).await?;
        match failure_of(&answer) {
            None => Ok(()),
            Some(failure) => Err(failure),
        }
    }
}

impl Poster for DirectPoster {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<(), PostFailure> {
        tokio::time::timeout(
            self.shared.attempt_timeout,
            self.attempt(connection_id, data),
        )
        .await
        .unwrap_or(Err(PostFailure::Timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn answer(status: u16, header: Option<&str>, body: &str) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert("x-amzn-errortype", h.parse().unwrap());
        }
        Answer {
            status,
            headers,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn success_is_no_failure() {
        assert_eq!(failure_of(&answer(200, None, "")), None);
    }

    #[test]
    fn the_error_code_comes_from_the_header_first_then_the_body() {
        assert_eq!(
            failure_of(&answer(
                410,
                Some("GoneException:http://internal.amazon.com/coral/"),
                r#"{"message":null}"#
            )),
            Some(PostFailure::Service {
                status: 410,
                code: Some("GoneException".into())
            })
        );
        assert_eq!(
            failure_of(&answer(
                429,
                None,
                r#"{"__type":"com.amazon#LimitExceededException","message":"Rate exceeded"}"#
            )),
            Some(PostFailure::Service {
                status: 429,
                code: Some("LimitExceededException".into())
            })
        );
        assert_eq!(
            failure_of(&answer(403, None, r#"{"code":"Forbidden","__type":"X"}"#)),
            Some(PostFailure::Service {
                status: 403,
                code: Some("Forbidden".into())
            })
        );
    }

    #[test]
    fn an_answer_without_a_code_keeps_its_status() {
        assert_eq!(
            failure_of(&answer(502, None, "<html>Bad Gateway</html>")),
            Some(PostFailure::Service {
                status: 502,
                code: None
            })
        );
    }

    #[test]
    fn the_connection_id_is_encoded_as_the_sdk_encodes_a_label() {
        let target = Target::parse("https://h.example/prod").unwrap();
        let identity = Identity::from(aws_credential_types::Credentials::new(
            "ANOTREAL",
            "notrealrnrELgWzOk3IfjzDKtFBhDby",
            None,
            None,
            "test",
        ));
        let request = signed_post(
            &target,
            "L0SM9cOFvHcCIhw=",
            Bytes::from_static(b"{}"),
            &identity,
            "eu-west-1",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        assert_eq!(
            request.uri().path(),
            "/prod/@connections/L0SM9cOFvHcCIhw%3D"
        );
        assert_eq!(request.headers()["host"], "h.example");
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=ANOTREAL/20231114/eu-west-1/execute-api/aws4_request"
            ),
            "{auth}"
        );
    }
}
