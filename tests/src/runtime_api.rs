//! A loopback stand-in of the Lambda Runtime API (`/2018-06-01/runtime/...`), so the
//! real `bootstrap` binary can be run as Lambda runs it: it asks for the next invocation,
//! gets an event with the request id and deadline headers, and posts its response.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// What the function posted back for one invocation.
#[derive(Debug, Clone)]
pub struct Answer {
    pub request_id: String,
    /// `response` or `error`.
    pub kind: String,
    pub body: Bytes,
}

struct State {
    events: Mutex<mpsc::UnboundedReceiver<(String, serde_json::Value, u64)>>,
    answers: mpsc::UnboundedSender<Answer>,
    /// When the function first asked for an invocation: the end of its init phase.
    first_poll: Arc<OnceLock<Instant>>,
}

pub struct RuntimeApi {
    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::UnboundedSender<(String, serde_json::Value, u64)>,
    answers: mpsc::UnboundedReceiver<Answer>,
    first_poll: Arc<OnceLock<Instant>>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Runtime API");
        let address = listener.local_addr().expect("its address").to_string();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (answers_tx, answers_rx) = mpsc::unbounded_channel();
        let first_poll = Arc::new(OnceLock::new());
        let state = Arc::new(State {
            events: Mutex::new(events_rx),
            answers: answers_tx,
            first_poll: Arc::clone(&first_poll),
        });
        let server = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(Arc::clone(&state), request));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        RuntimeApi {
            address,
            events: events_tx,
            answers: answers_rx,
            first_poll,
            server,
        }
    }

    /// A command for the function at `binary` with only what Lambda's environment sets
    /// (pointed at this stand-in), plus `PATH`: no profile or credentials of this machine
    /// leak in.
    pub fn command(&self, binary: &std::path::Path) -> std::process::Command {
        let mut command = std::process::Command::new(binary);
        command.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "mb-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/mb-test")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
        command
    }

    /// When the function first asked for an invocation (its init phase had ended), if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        self.first_poll.get().copied()
    }

    /// Queues an invocation with this request id and a 30 s deadline.
    pub fn invoke(&self, request_id: &str, event: serde_json::Value) {
        self.invoke_within(request_id, event, Duration::from_secs(30));
    }

    /// Queues an invocation whose deadline is `timeout` after the function receives it.
    pub fn invoke_within(&self, request_id: &str, event: serde_json::Value, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let _ = self.events.send((request_id.to_owned(), event, ms));
    }

    /// The next answer the function posted, waiting at most `limit`.
    pub async fn answer(&mut self, limit: Duration) -> Option<Answer> {
        tokio::time::timeout(limit, self.answers.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return Ok(status(StatusCode::NOT_FOUND));
    };
    if rest == "invocation/next" {
        let _ = state.first_poll.set(Instant::now());
        // Long-poll, as Lambda does, until an invocation is queued.
        let next = state.events.lock().await.recv().await;
        let Some((request_id, event, timeout_ms)) = next else {
            return Ok(status(StatusCode::GONE));
        };
        let deadline = mb_lambda::clock::now_ms() + i64::try_from(timeout_ms).unwrap_or(i64::MAX);
        let response = Response::builder()
            .header("Lambda-Runtime-Aws-Request-Id", request_id)
            .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
            .header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:mb-test",
            )
            .header(
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event.to_string())))
            .expect("a response");
        return Ok(response);
    }
    // `invocation/{id}/response`, `invocation/{id}/error` or `init/error`.
    let posted = match rest
        .strip_prefix("invocation/")
        .and_then(|invocation| invocation.split_once('/'))
    {
        Some((request_id, kind)) => Some((request_id.to_owned(), kind.to_owned())),
        None if rest == "init/error" => Some((String::new(), rest.to_owned())),
        None => None,
    };
    let Some((request_id, kind)) = posted else {
        return Ok(status(StatusCode::NOT_FOUND));
    };
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let _ = state.answers.send(Answer {
        request_id,
        kind,
        body,
    });
    Ok(status(StatusCode::ACCEPTED))
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
