//! Keep-alive HTTP/1.1 connections to one endpoint, never more than requests in flight.
//!
//! A request first takes a permit (at most `max` at once), then an idle connection, or
//! opens one only when none is idle. Connections are only made for a request that holds
//! a permit and found none idle, so open connections never outnumber the permits: a
//! fan-out of concurrency N does at most N TLS handshakes (the SDK's pool opened about
//! 1.5 N, docs/benchmarks.md). A request that an idle connection could not even send
//! (the server had closed it) is sent again on a new one; nothing that may have reached
//! the server is sent twice.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::post::PostFailure;

/// An idle connection older than this is closed rather than reused: servers and load
/// balancers drop idle connections after a minute or so.
pub const MAX_IDLE: Duration = Duration::from_secs(30);
/// Connections opened at once at most: enough to hide a network round trip at one vCPU
/// (a handshake is about a millisecond of CPU), few enough that under 256 MB's share
/// (0.145 vCPU) none waits past the connect timeout for the CPU, as 256 at once did.
pub const CONNECTS_AT_ONCE: usize = 32;

/// Error answers are read up to this size (the Management API's are a few dozen bytes).
const MAX_ANSWER: usize = 64 * 1024;

/// Where an endpoint is: `http(s)://host[:port][/base]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// `host` or `host:port`, as the endpoint names it: the `Host` header and what is signed.
    pub authority: String,
    /// The stage path without a trailing slash (`/prod`), or empty.
    pub base_path: String,
}

impl Target {
    pub fn parse(endpoint: &str) -> Result<Target, String> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("the Management API endpoint {endpoint:?} is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(format!(
                    "the Management API endpoint {endpoint:?} must start with https:// or http://"
                ));
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(format!(
                "the Management API endpoint {endpoint:?} names no host"
            ));
        };
        Ok(Target {
            https,
            host: authority.host().trim_matches(['[', ']']).to_owned(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// What came back for one request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

/// Whether an idle connection may carry another request.
pub fn reusable(idle_since: Instant, now: Instant, closed: bool) -> bool {
    !closed && now.saturating_duration_since(idle_since) < MAX_IDLE
}

pub struct Pool {
    target: Target,
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
    permits: Semaphore,
    /// Connections being opened at once, at most [`CONNECTS_AT_ONCE`].
    connecting: Semaphore,
    idle: std::sync::Mutex<Vec<Idle>>,
}

impl Pool {
    /// A pool for `target`; `tls` is required for an https target.
    pub fn new(
        target: Target,
        tls: Option<TlsConnector>,
        max: usize,
        connect_timeout: Duration,
    ) -> Pool {
        Pool {
            target,
            tls,
            connect_timeout,
            permits: Semaphore::new(max.max(1)),
            connecting: Semaphore::new(CONNECTS_AT_ONCE),
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(entry) = idle.pop() {
            if reusable(entry.since, now, entry.sender.is_closed()) {
                return Some(entry.sender);
            }
        }
        None
    }

    fn give_back(&self, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.push(Idle {
            sender,
            since: Instant::now(),
        });
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, PostFailure> {
        let connecting = async {
            let tcp = tokio::net::TcpStream::connect((self.target.host.as_str(), self.target.port))
                .await
                .map_err(|e| transport("cannot connect", &e))?;
            // Posts are small writes answered one at a time: don't let Nagle hold them.
            tcp.set_nodelay(true)
                .map_err(|e| transport("cannot configure the connection", &e))?;
            match (self.target.https, &self.tls) {
                (true, Some(tls)) => {
                    let name = ServerName::try_from(self.target.host.clone()).map_err(|e| {
                        PostFailure::Transport(format!(
                            "{} is not a valid TLS server name: {e}",
                            self.target.host
                        ))
                    })?;
                    let stream = tls
                        .connect(name, tcp)
                        .await
                        .map_err(|e| transport("TLS handshake failed", &e))?;
                    handshake(stream).await
                }
                (true, None) => Err(PostFailure::Transport(
                    "no TLS configuration for an https endpoint".to_owned(),
                )),
                (false, _) => handshake(tcp).await,
            }
        };
        let sender = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| PostFailure::Timeout)??;
        Ok(sender)
    }

    /// Sends `request` and reads its whole answer.
    pub async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<Answer, PostFailure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PostFailure::Transport("the connection pool is closed".to_owned()))?;
        let mut request = request;
        // An idle connection may have been closed by the server while it sat idle; a
        // request it could not send is sent on a new connection (at most once).
        let mut fresh_only = false;
        loop {
            let (mut sender, reused) = match (!fresh_only).then(|| self.take_idle()).flatten() {
                Some(sender) => (sender, true),
                None => {
                    // Handshakes take CPU: a small share opening hundreds at once would
                    // run each past the connect timeout. While this waits its turn, a
                    // post may finish and leave its connection idle for it.
                    let _turn = self.connecting.acquire().await.map_err(|_| {
                        PostFailure::Transport("the connection pool is closed".to_owned())
                    })?;
                    match (!fresh_only).then(|| self.take_idle()).flatten() {
                        Some(sender) => (sender, true),
                        None => (self.connect().await?, false),
                    }
                }
            };
            if sender.ready().await.is_err() {
                if reused {
                    fresh_only = true;
                    continue;
                }
                return Err(PostFailure::Transport(
                    "the connection closed before the request was sent".to_owned(),
                ));
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = Limited::new(body, MAX_ANSWER)
                        .collect()
                        .await
                        .map_err(|e| {
                            PostFailure::Transport(format!("cannot read the answer: {e}"))
                        })?
                        .to_bytes();
                    self.give_back(sender);
                    return Ok(Answer {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body,
                    });
                }
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) if reused => {
                        request = unsent;
                        fresh_only = true;
                    }
                    _ => return Err(transport("the request failed", failed.error())),
                },
            }
        }
    }
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<Full<Bytes>>, PostFailure>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| transport("HTTP handshake failed", &e))?;
    // The connection runs until it is closed or its sender dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

fn transport(what: &str, err: &(dyn std::error::Error + 'static)) -> PostFailure {
    PostFailure::Transport(format!("{what}: {}", crate::aws::error_chain(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execute_api_endpoint_is_host_port_and_stage() {
        let t = Target::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod").unwrap();
        assert_eq!(
            t,
            Target {
                https: true,
                host: "abc.execute-api.eu-west-1.amazonaws.com".into(),
                port: 443,
                authority: "abc.execute-api.eu-west-1.amazonaws.com".into(),
                base_path: "/prod".into(),
            }
        );
        let t = Target::parse("http://127.0.0.1:9001/").unwrap();
        assert_eq!(
            (t.port, t.authority.as_str(), t.base_path.as_str()),
            (9001, "127.0.0.1:9001", "")
        );
    }

    #[test]
    fn endpoints_that_are_not_http_urls_are_refused_with_the_reason() {
        assert!(Target::parse("ftp://x/y").unwrap_err().contains("https://"));
        assert!(
            Target::parse("not a url")
                .unwrap_err()
                .contains("not a URL")
        );
    }

    #[test]
    fn idle_connections_are_reused_while_open_and_recent() {
        let t0 = Instant::now();
        assert!(reusable(t0, t0 + Duration::from_secs(29), false));
        assert!(!reusable(t0, t0 + MAX_IDLE, false));
        assert!(!reusable(t0, t0, true));
    }
}
