//! The Lambda Invoke API on loopback for an in-process handler, answering by
//! [`mb_lambda::local::invoke_api`]'s rules exactly as `mb dev` does (there over axum, here over
//! hyper), so a handler's real `aws-sdk-lambda` client hands a broadcast on to the same
//! in-memory store. It records every invocation's report and counts those still running.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use mb_lambda::Handler;
use mb_lambda::delivery::fanout::Report;
use mb_lambda::event::Event;
use mb_lambda::gateway::Gateway;
use mb_lambda::handler::Answer;
use mb_lambda::local::invoke_api::{self, Decision};
use mb_lambda::store::ConnectionStore;

use crate::loopback::{self, Server};

/// The function name the fixture serves.
pub const FUNCTION: &str = "mb-test";

struct State {
    reports: Mutex<Vec<Report>>,
    running: AtomicUsize,
    invocations: AtomicUsize,
}

type Target<S, G> = Arc<OnceLock<Arc<Handler<S, G>>>>;

pub struct InvokeApi<S, G> {
    pub endpoint: String,
    state: Arc<State>,
    target: Target<S, G>,
    _server: Server,
}

impl<S, G> InvokeApi<S, G>
where
    S: ConnectionStore + 'static,
    G: Gateway + 'static,
{
    /// Listens; invocations run the handler given to [`InvokeApi::serve`] (the handler
    /// needs this endpoint first, to hand on to it), each under a `timeout` deadline.
    pub async fn start(timeout: Duration) -> Self {
        let state = Arc::new(State {
            reports: Mutex::default(),
            running: AtomicUsize::new(0),
            invocations: AtomicUsize::new(0),
        });
        let target: Target<S, G> = Arc::default();
        let (shared, handler) = (Arc::clone(&state), Arc::clone(&target));
        let server = loopback::serve(move |request: Request<Incoming>| {
            let handler = handler.get().cloned();
            let state = Arc::clone(&shared);
            async move {
                match handler {
                    Some(handler) => answer(handler, state, timeout, request).await,
                    None => respond(StatusCode::SERVICE_UNAVAILABLE, None, Bytes::new()),
                }
            }
        })
        .await;
        InvokeApi {
            endpoint: server.endpoint.clone(),
            state,
            target,
            _server: server,
        }
    }

    pub fn serve(&self, handler: Arc<Handler<S, G>>) {
        let _ = self.target.set(handler);
    }

    /// The reports of the invocations that finished.
    pub fn reports(&self) -> Vec<Report> {
        loopback::lock(&self.state.reports).clone()
    }

    /// Invocations accepted so far.
    pub fn invocations(&self) -> usize {
        self.state.invocations.load(Ordering::SeqCst)
    }

    /// Whether no invocation is running.
    pub fn idle(&self) -> bool {
        self.state.running.load(Ordering::SeqCst) == 0
    }
}

async fn answer<S, G>(
    handler: Arc<Handler<S, G>>,
    state: Arc<State>,
    timeout: Duration,
    request: Request<Incoming>,
) -> Response<Full<Bytes>>
where
    S: ConnectionStore + 'static,
    G: Gateway + 'static,
{
    let path = request.uri().path().to_owned();
    let name = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|rest| rest.strip_suffix("/invocations"))
        .map(|name| {
            percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .into_owned()
        });
    let invocation_type = request
        .headers()
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let Some(name) = name else {
        return respond(StatusCode::NOT_FOUND, None, Bytes::new());
    };
    match invoke_api::decide(FUNCTION, &name, invocation_type.as_deref(), &body) {
        Decision::DryRun => respond(StatusCode::NO_CONTENT, None, Bytes::new()),
        Decision::Run { event, wait } => {
            state.invocations.fetch_add(1, Ordering::SeqCst);
            state.running.fetch_add(1, Ordering::SeqCst);
            let run = async move {
                let Answer {
                    json: answer,
                    report,
                    ..
                } = handler
                    .dispatch(Event::recognize(event), Instant::now() + timeout)
                    .await;
                loopback::lock(&state.reports).push(report);
                state.running.fetch_sub(1, Ordering::SeqCst);
                answer
            };
            if wait {
                let answer = run.await;
                respond(StatusCode::OK, None, Bytes::from(answer.to_string()))
            } else {
                tokio::spawn(run);
                respond(StatusCode::ACCEPTED, None, Bytes::new())
            }
        }
        Decision::Refuse {
            status,
            code,
            message,
        } => respond(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            Some(code),
            Bytes::from(invoke_api::error_body(&message)),
        ),
    }
}

fn respond(status: StatusCode, error: Option<&str>, body: Bytes) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(code) = error {
        builder = builder.header("x-amzn-ErrorType", code);
    }
    builder.body(Full::new(body)).expect("a valid response")
}
