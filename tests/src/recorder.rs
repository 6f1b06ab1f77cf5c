//! A loopback proxy in front of an AWS stand-in (moto) that records which AWS operation
//! each request is, so a test can compare the operations `mb` really calls with the IAM
//! actions it says it needs (`mb doctor --policy`).
//!
//! Operations are named as `mb`'s permission list names them, `"<Service> <Operation>"`:
//! the service from the request's SigV4 credential scope, the operation from the query
//! protocol's `Action`, JSON protocol's `X-Amz-Target`, S3's method, path and
//! sub-resource, or Lambda's REST path. Requests and answers pass through unchanged.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::loopback::{self, Server, lock};

pub struct Recorder {
    /// `http://127.0.0.1:PORT`, to pass as `--endpoint-url`.
    pub endpoint: String,
    operations: Arc<Mutex<Vec<String>>>,
    _server: Server,
}

impl Recorder {
    /// Starts a proxy to `target` (`127.0.0.1:PORT`).
    pub async fn start(target: &str) -> Recorder {
        let operations = Arc::new(Mutex::new(Vec::new()));
        let (target, shared) = (target.to_owned(), Arc::clone(&operations));
        let server = loopback::serve(move |request| {
            let (target, operations) = (target.clone(), Arc::clone(&shared));
            async move { forward(&target, &operations, request).await }
        })
        .await;
        Recorder {
            endpoint: server.endpoint.clone(),
            operations,
            _server: server,
        }
    }

    /// Every operation so far, in order.
    pub fn operations(&self) -> Vec<String> {
        lock(&self.operations).clone()
    }
}

async fn forward(
    target: &str,
    operations: &Mutex<Vec<String>>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return failed("unreadable request body");
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    lock(operations).push(operation(
        &parts.method,
        &path_and_query,
        &parts.headers,
        &body,
    ));
    let mut onward = Request::builder()
        .method(parts.method.clone())
        .uri(path_and_query);
    for (name, value) in &parts.headers {
        onward = onward.header(name, value);
    }
    let Ok(onward) = onward.body(Full::new(body)) else {
        return failed("cannot rebuild the request");
    };
    let Ok(tcp) = TcpStream::connect(target).await else {
        return failed("cannot reach the target");
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
    else {
        return failed("HTTP handshake with the target failed");
    };
    tokio::spawn(connection);
    let Ok(answer) = sender.send_request(onward).await else {
        return failed("the target did not answer");
    };
    let (parts, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Response::from_parts(parts, Full::new(body))
}

fn failed(why: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(why.to_owned())));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

/// The operation a request is, named `"<Service> <Operation>"`.
pub fn operation(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> String {
    let scope = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').nth(3))
        .unwrap_or("unknown");
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let operation = target.rsplit('.').next().unwrap_or(target);
        let service = if target.starts_with("DynamoDB") {
            "DynamoDB"
        } else if scope == "logs" {
            "CloudWatch Logs"
        } else if scope == "secretsmanager" {
            "Secrets Manager"
        } else if scope == "sqs" {
            "SQS"
        } else {
            scope
        };
        return format!("{service} {operation}");
    }
    if scope == "lambda" {
        let path = path_and_query.split('?').next().unwrap_or_default();
        return match (method.as_str(), path.trim_end_matches('/')) {
            ("GET", "/2016-08-19/account-settings") => "Lambda GetAccountSettings".to_owned(),
            _ => format!("Lambda {method} {path}"),
        };
    }
    if scope != "s3" {
        let action = form_urlencoded::parse(body)
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let service = match scope {
            "cloudformation" => "CloudFormation",
            "sts" => "STS",
            "iam" => "IAM",
            other => other,
        };
        return format!("{service} {action}");
    }
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let keys: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    let has = |key: &str| keys.iter().any(|k| k == key);
    let object =
        path.trim_start_matches('/').contains('/') && !path.trim_start_matches('/').ends_with('/');
    let name = match (method.as_str(), object) {
        ("HEAD", false) => "HeadBucket",
        ("HEAD", true) => "HeadObject",
        ("PUT", false) if has("publicAccessBlock") => "PutPublicAccessBlock",
        ("PUT", false) if has("encryption") => "PutBucketEncryption",
        ("PUT", false) if has("policy") => "PutBucketPolicy",
        ("PUT", false) if has("ownershipControls") => "PutBucketOwnershipControls",
        ("PUT", false) if has("versioning") => "PutBucketVersioning",
        ("PUT", false) if keys.iter().all(|k| k == "x-id") => "CreateBucket",
        ("PUT", true) if keys.iter().all(|k| k == "x-id") => "PutObject",
        ("GET", false) if has("publicAccessBlock") => "GetPublicAccessBlock",
        ("GET", false) if has("encryption") => "GetBucketEncryption",
        ("GET", false) if has("policy") => "GetBucketPolicy",
        ("GET", false) if has("location") => "GetBucketLocation",
        ("GET", false) if has("versions") => "ListObjectVersions",
        ("GET", false) if has("list-type") => "ListObjectsV2",
        ("GET", true) if keys.iter().all(|k| k == "x-id") => "GetObject",
        ("POST", false) if has("delete") => "DeleteObjects",
        ("DELETE", false) if keys.is_empty() => "DeleteBucket",
        ("DELETE", true) if keys.iter().all(|k| k == "x-id") => "DeleteObject",
        _ => return format!("S3 {method} {path_and_query}"),
    };
    format!("S3 {name}")
}
