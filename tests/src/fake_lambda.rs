//! A loopback stand-in of AWS Lambda's account settings, speaking its wire protocol
//! (REST-JSON: `GET /2016-08-19/account-settings/`, with or without the trailing slash
//! (the SDK sends none), a JSON answer, errors named by the
//! `x-amzn-ErrorType` header), so that the real `aws-sdk-lambda` client parses its answers
//! and maps its errors as it does Lambda's.
//!
//! It exists because moto does not implement GetAccountSettings and has no account
//! concurrency a test can set: here a test sets the total and the unreserved concurrency
//! (a new account's 10, a normal account's 1,000), can make the call answer 403
//! AccessDeniedException, and reads back every request. Any other path answers 404
//! `ResourceNotFoundException`; malformed requests never panic.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::json;

use crate::loopback::{self, Server, lock};

/// The path of GetAccountSettings (its API version), without the trailing slash the API
/// reference shows.
pub const ACCOUNT_SETTINGS: &str = "/2016-08-19/account-settings";

struct State {
    total: u32,
    unreserved: u32,
    denied: bool,
    /// Every request: (method, path).
    requests: Vec<(String, String)>,
}

pub struct FakeLambda {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_LAMBDA`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    _server: Server,
}

impl FakeLambda {
    /// Starts with an account whose total concurrency is `total`, `unreserved` of it
    /// reserved by no function.
    pub async fn start(total: u32, unreserved: u32) -> FakeLambda {
        let state = Arc::new(Mutex::new(State {
            total,
            unreserved,
            denied: false,
            requests: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let server = loopback::serve(move |request| {
            let state = Arc::clone(&shared);
            async move { answer(&state, request) }
        })
        .await;
        FakeLambda {
            endpoint: server.endpoint.clone(),
            state,
            _server: server,
        }
    }

    /// The account's concurrency from now on (after a reservation, say).
    pub fn set(&self, total: u32, unreserved: u32) {
        let mut state = self.lock();
        state.total = total;
        state.unreserved = unreserved;
    }

    /// GetAccountSettings answers 403 AccessDeniedException (`true`) or the settings.
    pub fn deny(&self, denied: bool) {
        self.lock().denied = denied;
    }

    /// How many GetAccountSettings requests came.
    pub fn account_settings_calls(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|(method, path)| method == "GET" && path == ACCOUNT_SETTINGS)
            .count()
    }

    /// Every request, as (method, path).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn answer(state: &Mutex<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let mut state = lock(state);
    state.requests.push((method.to_string(), path.clone()));
    if method != Method::GET || path != ACCOUNT_SETTINGS {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("The stand-in serves only GET {ACCOUNT_SETTINGS}, not {method} {path}"),
        );
    }
    if state.denied {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/ci/deployer is not authorized to perform: \
             lambda:GetAccountSettings on resource: * because no identity-based policy \
             allows the lambda:GetAccountSettings action",
        );
    }
    let body = json!({
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800_u64,
            "CodeSizeUnzipped": 262_144_000,
            "CodeSizeZipped": 52_428_800,
            "ConcurrentExecutions": state.total,
            "UnreservedConcurrentExecutions": state.unreserved,
        },
        "AccountUsage": { "TotalCodeSize": 0, "FunctionCount": 0 },
    });
    respond(StatusCode::OK, None, body.to_string())
}

/// A Lambda error: its code in `x-amzn-ErrorType` and the body, its message in the body.
fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({ "Type": "User", "message": message });
    respond(status, Some(code), body.to_string())
}

fn respond(status: StatusCode, error: Option<&str>, body: String) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "lambda-fake-1");
    if let Some(code) = error {
        builder = builder.header("x-amzn-errortype", code);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
