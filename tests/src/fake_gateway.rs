//! A loopback stand-in of the API Gateway Management API (`POST /@connections/{id}`),
//! over HTTP or HTTPS (a fresh self-signed certificate), answering in API Gateway's wire
//! format so that the real `aws-sdk-apigatewaymanagement` client parses and maps its
//! errors: `x-amzn-ErrorType: GoneException` with status 410, and so on.
//!
//! Per connection id it can answer a status, delay, hold the request until released, or
//! answer 410 until a moment (a connection whose `$connect` has not returned yet); over
//! everything, an optional token bucket answers 429 `LimitExceededException` above its
//! rate, as the account's throttle does. It records what it received and how many
//! requests were in flight at most.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::post_client::{AnyGateway, PostClient};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use mb_lambda::Handler;
use mb_lambda::config::Settings;
use mb_lambda::store::ConnectionStore;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// How the fake answers posts to one connection id.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 after `delay`.
    Ok { delay: Duration },
    /// An error status with its `x-amzn-ErrorType` code.
    Error { status: u16, code: &'static str },
    /// Wait until [`FakeGateway::release`], then 200.
    Hold,
    /// 410 Gone before this moment, 200 from then on.
    GoneUntil(std::time::Instant),
}

impl Behaviour {
    pub fn gone() -> Self {
        Behaviour::Error {
            status: 410,
            code: "GoneException",
        }
    }

    pub fn throttled() -> Self {
        Behaviour::Error {
            status: 429,
            code: "LimitExceededException",
        }
    }

    pub fn server_error() -> Self {
        Behaviour::Error {
            status: 500,
            code: "InternalServerErrorException",
        }
    }

    pub fn forbidden() -> Self {
        Behaviour::Error {
            status: 403,
            code: "ForbiddenException",
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub connection_id: String,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Added to every answer (a network round trip to API Gateway).
    pub latency: Duration,
    /// Serve HTTPS with a fresh self-signed certificate for 127.0.0.1.
    pub tls: bool,
    /// Keep every request's body (tests); off for benchmarks, which only count.
    pub record: bool,
    /// Offer HTTP/2 by ALPN (TLS only).
    pub http2: bool,
    /// A token bucket over every post: (requests per second, burst); above it, 429.
    pub throttle: Option<(f64, f64)>,
    /// Only these access keys, each until its moment, may post; others get 403 as
    /// expired credentials do.
    pub keys: Option<Arc<KeyRing>>,
}

/// Access keys the fake accepts, and how often each signed a post.
#[derive(Debug, Default)]
pub struct KeyRing {
    valid_until: Mutex<HashMap<String, std::time::Instant>>,
    used: Mutex<HashMap<String, usize>>,
}

impl KeyRing {
    pub fn allow(&self, access_key: &str, until: std::time::Instant) {
        self.valid_until
            .lock()
            .unwrap()
            .insert(access_key.to_owned(), until);
    }

    /// Posts signed by each key, accepted or not.
    pub fn used(&self) -> HashMap<String, usize> {
        self.used.lock().unwrap().clone()
    }

    /// Whether a request with this `authorization` header is signed by a valid key.
    fn admits(&self, authorization: Option<&str>) -> bool {
        let key = authorization
            .and_then(|a| a.split_once("Credential="))
            .and_then(|(_, rest)| rest.split('/').next())
            .unwrap_or_default()
            .to_owned();
        *self.used.lock().unwrap().entry(key.clone()).or_default() += 1;
        self.valid_until
            .lock()
            .unwrap()
            .get(&key)
            .is_some_and(|until| std::time::Instant::now() < *until)
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            tls: false,
            record: true,
            http2: false,
            throttle: None,
            keys: None,
        }
    }
}

struct State {
    options: Options,
    behaviours: Mutex<HashMap<String, Behaviour>>,
    received: Mutex<Vec<Received>>,
    requests: AtomicUsize,
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    released: watch::Sender<bool>,
    /// The throttle's tokens and when they were counted.
    bucket: Mutex<(f64, std::time::Instant)>,
    throttled: AtomicUsize,
    /// Posts answered 200, by connection id.
    delivered: Mutex<HashMap<String, usize>>,
}

pub struct FakeGateway {
    /// The Management API endpoint URL (`http://127.0.0.1:PORT` or `https://...`).
    pub endpoint: String,
    /// The certificate to trust, with `tls`.
    pub ca_pem: Option<Vec<u8>>,
    state: Arc<State>,
    server: JoinHandle<()>,
}

impl FakeGateway {
    pub async fn start(options: Options) -> FakeGateway {
        // A deep accept queue: a fan-out opens hundreds of connections at once, and the
        // default backlog (128) drops SYNs, which then wait a second to be retried.
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("bind the fake Management API");
        let listener = socket.listen(4096).expect("listen");
        let addr = listener.local_addr().expect("its address");
        let (tls, ca_pem) = if options.tls {
            let (acceptor, pem) = tls_acceptor(options.http2);
            (Some(acceptor), Some(pem))
        } else {
            (None, None)
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(State {
            options: options.clone(),
            behaviours: Mutex::default(),
            received: Mutex::default(),
            requests: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            released: watch::channel(false).0,
            bucket: Mutex::new((
                options.throttle.map_or(0.0, |(_, burst)| burst),
                std::time::Instant::now(),
            )),
            throttled: AtomicUsize::new(0),
            delivered: Mutex::default(),
        });
        let server = tokio::spawn(accept_loop(listener, tls, Arc::clone(&state)));
        FakeGateway {
            endpoint: format!("{scheme}://{addr}"),
            ca_pem,
            state,
            server,
        }
    }

    /// A broadcast handler over `store` whose direct client (the one the function ships
    /// with) posts here.
    pub async fn handler<S: ConnectionStore>(
        &self,
        store: S,
        concurrency: usize,
    ) -> Handler<S, AnyGateway> {
        self.handler_using(PostClient::Direct, store, concurrency)
            .await
    }

    /// [`FakeGateway::handler`] posting with `client`.
    pub async fn handler_using<S: ConnectionStore>(
        &self,
        client: PostClient,
        store: S,
        concurrency: usize,
    ) -> Handler<S, AnyGateway> {
        let sdk = crate::sdk_config(None, self.ca_pem.as_deref()).await;
        self.handler_with(client, &sdk, store, concurrency)
    }

    /// [`FakeGateway::handler_using`] with SDK configuration of the caller's (timeouts,
    /// credentials).
    pub fn handler_with<S: ConnectionStore>(
        &self,
        client: PostClient,
        sdk: &aws_config::SdkConfig,
        store: S,
        concurrency: usize,
    ) -> Handler<S, AnyGateway> {
        self.handler_over(
            client.gateway(sdk, self.ca_pem.as_deref(), concurrency),
            store,
            concurrency,
        )
    }

    /// A broadcast handler over `store` posting here through `gateway`.
    pub fn handler_over<S: ConnectionStore>(
        &self,
        gateway: AnyGateway,
        store: S,
        concurrency: usize,
    ) -> Handler<S, AnyGateway> {
        Handler::new(
            store,
            gateway,
            Settings {
                concurrency,
                management_endpoint: Some(self.endpoint.clone()),
                ..Settings::default()
            },
        )
    }

    pub fn set(&self, connection_id: &str, behaviour: Behaviour) {
        self.state
            .behaviours
            .lock()
            .unwrap()
            .insert(connection_id.to_owned(), behaviour);
    }

    /// Lets every held request answer.
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// How many posts to `connection_id` were answered 200.
    pub fn delivered_to(&self, connection_id: &str) -> usize {
        self.state
            .delivered
            .lock()
            .unwrap()
            .get(connection_id)
            .copied()
            .unwrap_or(0)
    }

    /// Posts answered 200, by connection id.
    pub fn delivered(&self) -> HashMap<String, usize> {
        self.state.delivered.lock().unwrap().clone()
    }

    /// The requests received for `connection_id`.
    pub fn received_by(&self, connection_id: &str) -> Vec<Bytes> {
        self.received()
            .into_iter()
            .filter(|r| r.connection_id == connection_id)
            .map(|r| r.body)
            .collect()
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Posts the token bucket answered with 429.
    pub fn throttled(&self) -> usize {
        self.state.throttled.load(Ordering::SeqCst)
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.server.abort();
        self.release();
    }
}

fn tls_acceptor(http2: bool) -> (TlsAcceptor, Vec<u8>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a self-signed certificate");
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
        .expect("its private key");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("a server certificate");
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    (
        TlsAcceptor::from(Arc::new(config)),
        certified.cert.pem().into_bytes(),
    )
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, state: Arc<State>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        state.connections.fetch_add(1, Ordering::SeqCst);
        let state = Arc::clone(&state);
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&state), request));
            let builder = auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                }
            }
        });
    }
}

/// `/@connections/{id}` or `/{stage}/@connections/{id}` → the decoded id.
fn connection_id(path: &str) -> Option<String> {
    let (_, encoded) = path.split_once("/@connections/")?;
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|id| id.into_owned())
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    state.requests.fetch_add(1, Ordering::SeqCst);
    let response = respond(&state, request).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    Ok(response)
}

async fn respond(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(id) = connection_id(request.uri().path()) else {
        return error(404, "NotFoundException", "no such route");
    };
    let is_post = request.method() == http::Method::POST;
    if let Some(keys) = &state.options.keys {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !keys.admits(authorization) {
            return error(
                403,
                "ForbiddenException",
                "The security token included in the request is expired",
            );
        }
    }
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return error(400, "BadRequestException", "unreadable body"),
    };
    if !is_post {
        return error(404, "NotFoundException", "only POST is faked");
    }
    if state.options.record {
        state.received.lock().unwrap().push(Received {
            connection_id: id.clone(),
            body,
        });
    }
    let response = answer_post(state, &id).await;
    if response.status() == StatusCode::OK {
        *state.delivered.lock().unwrap().entry(id).or_default() += 1;
    }
    response
}

async fn answer_post(state: &State, id: &str) -> Response<Full<Bytes>> {
    let behaviour = state.behaviours.lock().unwrap().get(id).cloned();
    if !state.options.latency.is_zero() {
        tokio::time::sleep(state.options.latency).await;
    }
    if let Some((rate, burst)) = state.options.throttle {
        let mut bucket = state.bucket.lock().unwrap();
        let now = std::time::Instant::now();
        let tokens = (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * rate).min(burst);
        if tokens < 1.0 {
            *bucket = (tokens, now);
            state.throttled.fetch_add(1, Ordering::SeqCst);
            return error(429, "LimitExceededException", "Rate exceeded");
        }
        *bucket = (tokens - 1.0, now);
    }
    match behaviour.unwrap_or(Behaviour::Ok {
        delay: Duration::ZERO,
    }) {
        Behaviour::Ok { delay } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            ok()
        }
        Behaviour::Error { status, code } => error(status, code, "faked error"),
        Behaviour::GoneUntil(until) if std::time::Instant::now() < until => {
            error(410, "GoneException", "faked: not connected yet")
        }
        Behaviour::GoneUntil(_) => ok(),
        Behaviour::Hold => {
            let mut released = state.released.subscribe();
            let _ = released.wait_for(|r| *r).await;
            ok()
        }
    }
}

fn ok() -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::new()))
}

fn error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "message": message }).to_string();
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("x-amzn-ErrorType", code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_decoded_from_either_path() {
        assert_eq!(
            connection_id("/@connections/a%2Fb%3D").as_deref(),
            Some("a/b=")
        );
        assert_eq!(connection_id("/dev/@connections/x").as_deref(), Some("x"));
        assert_eq!(connection_id("/other"), None);
    }
}
