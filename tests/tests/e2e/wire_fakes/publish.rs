//! `mb publish` as a user runs it, through the built binary, with the network only on
//! 127.0.0.1: against a loopback endpoint that records what it receives and answers the
//! counts (as `mb dev`'s `POST /publish` does), and with `--service` against the
//! CloudFormation wire fake, whose stack's `PublishUrl` output names that endpoint.
//!
//! Signing (https endpoints) is unit-tested in cli/src/commands/publish.rs with fixed
//! credentials and time: no TLS endpoint runs here.

use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mb_tests::fake_cloudformation::{FakeCloudFormation, StackSetup};
use mb_tests::loopback::{self, Server, lock};
use mb_tests::{mb, text};

const LIMIT: Duration = Duration::from_secs(60);
const COUNTS: &str = r#"{"recipients":2,"delivered":2,"gone":0,"failed":0}"#;

/// One request the endpoint received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    query: Option<String>,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

/// A loopback endpoint answering every request with `status` and `body`, recording each.
async fn endpoint(status: u16, answer: &'static str) -> (Server, Arc<Mutex<Vec<Received>>>) {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = received.clone();
    let server = loopback::serve(move |request: http::Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let (parts, incoming) = request.into_parts();
            let body = incoming
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            lock(&log).push(Received {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                headers: parts.headers,
                body,
            });
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(answer.as_bytes())))
                .unwrap_or_default()
        }
    })
    .await;
    (server, received)
}

async fn publish(args: &[&str]) -> std::process::Output {
    let mut all = vec!["publish"];
    all.extend_from_slice(args);
    mb::run_async(&all, &mb::loopback_aws_env(), LIMIT).await
}

/// `mb publish <args>` with `input` on its standard input.
fn publish_with_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut all = vec!["publish"];
    all.extend_from_slice(args);
    let mut child = mb::command(&all, &mb::loopback_aws_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mb");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("mb's output")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loopback_publish_is_posted_unsigned_and_prints_the_counts() {
    let (server, received) = endpoint(200, COUNTS).await;
    // `mb dev`'s port alone: /publish is added.
    let out = publish(&["--url", &server.endpoint, "--channel", "a", "hello"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "published to channel a: 2 recipients, 2 delivered, 0 gone, 0 failed\n"
    );
    let got = lock(&received).clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let request = &got[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/publish");
    assert_eq!(request.query.as_deref(), Some("channel=a"));
    assert_eq!(request.body, b"hello");
    assert_eq!(request.headers["content-type"], "text/plain; charset=utf-8");
    // No signature to a local endpoint.
    assert!(
        request.headers.get("authorization").is_none(),
        "{request:?}"
    );
    assert!(request.headers.get("x-amz-date").is_none(), "{request:?}");

    // No channel: the default room, no query; JSON from standard input, said to be JSON;
    // --json prints the endpoint's answer.
    let url = format!("{}/publish", server.endpoint);
    let out = tokio::task::spawn_blocking(move || {
        publish_with_stdin(&["--url", &url, "--json", "-"], br#"{"order":"shipped"}"#)
    })
    .await
    .expect("the run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(printed["delivered"], 2);
    let got = lock(&received).clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].path, "/publish");
    assert_eq!(got[1].query, None);
    assert_eq!(got[1].body, br#"{"order":"shipped"}"#);
    assert_eq!(got[1].headers["content-type"], "application/json");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_usage_error_and_nothing_is_sent() {
    let (server, received) = endpoint(200, COUNTS).await;
    let out = publish(&["--url", &server.endpoint, "--channel", "a b", "hello"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(r#"channel name "a b" has ' '"#),
        "the channel rule's own message: {stderr}"
    );
    // Standard input empty (not a terminal, no MESSAGE): nothing to publish.
    let url = server.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || publish_with_stdin(&["--url", &url], b""))
        .await
        .expect("the run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("message is empty"));
    // Unsigned http only to this machine.
    let out = publish(&["--url", "http://example.com/publish", "hello"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("127.0.0.1"));
    assert!(lock(&received).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_is_one_sentence_with_the_status_and_reason() {
    let (server, _received) = endpoint(400, r#"{"error":"channel b has no members"}"#).await;
    let out = publish(&["--url", &server.endpoint, "--channel", "b", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        "error: the publish endpoint answered 400: channel b has no members",
        "{stderr}"
    );
    // Nothing listening: says so.
    let gone = server.endpoint.clone();
    drop(server);
    let out = publish(&["--url", &gone, "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach"),
        "{}",
        text(&out.stderr)
    );
}

/// The CloudFormation fake alone: `mb publish --service` reads nothing else.
fn fake_vars(fake: &FakeCloudFormation) -> Vec<(&str, &str)> {
    let mut vars = mb::loopback_aws_env();
    vars.push(("AWS_ENDPOINT_URL_CLOUDFORMATION", &fake.endpoint));
    vars
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_service_the_stack_output_names_the_endpoint() {
    let (server, received) = endpoint(200, COUNTS).await;
    let mut setup = StackSetup::new("mb-chat-dev", "UPDATE_COMPLETE");
    // The output holds the function URL on AWS; here it names the loopback endpoint, so
    // the request stays on this machine (and unsigned: http to 127.0.0.1).
    for (key, value) in &mut setup.outputs {
        if key == "PublishUrl" {
            *value = format!("{}/", server.endpoint);
        }
    }
    let fake = FakeCloudFormation::start(Some(setup)).await;
    let args = [
        "publish",
        "--service",
        "chat",
        "--region",
        "us-east-1",
        "--channel",
        "lobby",
        "the game starts",
    ];
    let out = mb::run_async(&args, &fake_vars(&fake), LIMIT).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("published to channel lobby: 2 recipients"));
    let got = lock(&received).clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/publish");
    assert_eq!(got[0].query.as_deref(), Some("channel=lobby"));
    assert_eq!(got[0].body, b"the game starts");
    let described = fake
        .calls()
        .iter()
        .filter(|c| c.action == "DescribeStacks")
        .count();
    assert!(described >= 1);

    // A bad channel is refused before any AWS call.
    let before = fake.calls().len();
    let mut bad = args;
    bad[6] = "no/slash";
    let out = mb::run_async(&bad, &fake_vars(&fake), LIMIT).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(fake.calls().len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_stack_or_output_is_a_clear_failure() {
    let fake = FakeCloudFormation::start(None).await;
    let args = [
        "publish",
        "--service",
        "chat",
        "--region",
        "us-east-1",
        "hi",
    ];
    let out = mb::run_async(&args, &fake_vars(&fake), LIMIT).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no stack mb-chat-dev in us-east-1")
            && stderr.contains("mb deploy --service chat --stage dev"),
        "{stderr}"
    );

    // A stack deployed before publishing has no PublishUrl output.
    let mut setup = StackSetup::new("mb-chat-dev", "UPDATE_COMPLETE");
    setup.outputs.retain(|(key, _)| key != "PublishUrl");
    let fake = FakeCloudFormation::start(Some(setup)).await;
    let out = mb::run_async(&args, &fake_vars(&fake), LIMIT).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("has no PublishUrl output") && stderr.contains("mb deploy"),
        "{stderr}"
    );
}
