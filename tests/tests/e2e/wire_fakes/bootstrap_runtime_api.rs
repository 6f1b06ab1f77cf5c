//! The real `bootstrap` binary run as Lambda runs it: against a loopback Runtime API,
//! with its configuration in environment variables, DynamoDB on moto and the Management
//! API on a loopback stand-in. This is the wiring `mb dev` does not exercise.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mb_lambda::store::{Connection, ConnectionStore, DynamoStore};
use mb_tests::fake_gateway::{FakeGateway, Options};
use mb_tests::loopback;
use mb_tests::moto::Moto;
use mb_tests::runtime_api::RuntimeApi;

const WAIT: Duration = Duration::from_secs(30);

struct Function {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Function {
    /// The logs once every one of `needles` is in them, or as they are after [`WAIT`]:
    /// a line is written before the answer it belongs to, but read from the pipe by
    /// another thread, so it may arrive just after the answer.
    async fn logs_with(&self, needles: &[&str]) -> String {
        let until = std::time::Instant::now() + WAIT;
        loop {
            let logs = self.logs.lock().unwrap().join("\n");
            if needles.iter().all(|n| logs.contains(n)) || std::time::Instant::now() >= until {
                return logs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn start(runtime: &RuntimeApi, vars: &[(&str, &str)]) -> Function {
    let mut command = runtime.command(&mb_tests::mb::built("bootstrap"));
    command
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start bootstrap");
    let logs = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let logs = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                logs.lock().unwrap().push(line);
            }
        });
    }
    Function { child, logs }
}

async fn status_of(
    runtime: &mut RuntimeApi,
    request_id: &str,
    logs: &Arc<Mutex<Vec<String>>>,
) -> i64 {
    let answer = runtime.answer(WAIT).await.unwrap_or_else(|| {
        panic!(
            "no answer to {request_id}; logs:\n{}",
            logs.lock().unwrap().join("\n")
        )
    });
    assert_eq!(answer.request_id, request_id);
    assert_eq!(
        answer.kind,
        "response",
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    body["statusCode"].as_i64().expect("a statusCode")
}

fn event(route: &str, id: &str, body: Option<&str>) -> serde_json::Value {
    serde_json::to_value(mb_tests::event(route, id, body)).unwrap()
}

#[tokio::test]
async fn bootstrap_serves_websocket_events_through_the_runtime_api() {
    let Some(moto) = Moto::start() else { return };
    let store = DynamoStore::new(&moto.sdk_config().await, "bootstrap-connections");
    store.ensure_table().await.unwrap();
    let fake = FakeGateway::start(Options::default()).await;
    let mut runtime = RuntimeApi::start().await;
    let function = start(
        &runtime,
        &[
            ("MB_TABLE_NAME", "bootstrap-connections"),
            ("MB_MANAGEMENT_ENDPOINT", &fake.endpoint),
            ("AWS_ENDPOINT_URL_DYNAMODB", &moto.endpoint),
            // The most verbose level: even then no payload may reach the logs.
            ("MB_LOG", "trace"),
        ],
    );

    runtime.invoke("r1", event("$connect", "a=", None));
    assert_eq!(status_of(&mut runtime, "r1", &function.logs).await, 200);
    runtime.invoke("r2", event("$connect", "b/", None));
    assert_eq!(status_of(&mut runtime, "r2", &function.logs).await, 200);
    let mut stored = store.scan().await.unwrap();
    stored.sort();
    assert_eq!(stored, vec!["a=", "b/"]);

    runtime.invoke("r3", event("$default", "a=", Some("payload-marker-88c1")));
    assert_eq!(status_of(&mut runtime, "r3", &function.logs).await, 200);
    let to_a: serde_json::Value = serde_json::from_slice(&fake.received_by("a=")[0]).unwrap();
    let to_b: serde_json::Value = serde_json::from_slice(&fake.received_by("b/")[0]).unwrap();
    assert_eq!(
        (to_a["_me"].clone(), to_b["_me"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(to_b["data"], "payload-marker-88c1");

    runtime.invoke("r4", event("$disconnect", "b/", None));
    assert_eq!(status_of(&mut runtime, "r4", &function.logs).await, 200);
    assert_eq!(store.scan().await.unwrap(), vec!["a="]);

    // One JSON log line per invocation, with the counts and never the payload.
    let logs = function.logs.lock().unwrap().clone();
    let broadcast = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["route"] == "$default")
        .unwrap_or_else(|| panic!("no JSON line for $default in:\n{}", logs.join("\n")));
    assert_eq!(broadcast["fields"]["recipients"], 2);
    assert_eq!(broadcast["fields"]["delivered"], 2);
    assert!(
        logs.iter().all(|l| !l.contains("payload-marker-88c1")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn bootstrap_without_a_table_name_exits_naming_the_variable() {
    let runtime = RuntimeApi::start().await;
    let mut function = start(&runtime, &[]);
    let (status, function) = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = function.child.try_wait() {
                return (Some(status), function);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (None, function)
    })
    .await
    .unwrap();
    let status = status.expect("bootstrap exits when misconfigured");
    assert!(!status.success());
    let logs = function.logs.lock().unwrap().join("\n");
    assert!(logs.contains("MB_TABLE_NAME is not set"), "{logs}");
}

/// One Invoke request: path, `X-Amz-Invocation-Type`, payload.
type Handed = (String, String, Vec<u8>);

/// The real binary under a short deadline: it stops posting in time, hands the rest on
/// through its real `aws-sdk-lambda` client to the function named by Lambda's
/// `AWS_LAMBDA_FUNCTION_NAME` (here a loopback Invoke API that records the event), and the
/// recorded continuation, invoked next, reaches everyone else: each recipient once.
#[tokio::test]
async fn bootstrap_hands_on_before_its_deadline() {
    const N: usize = 200;
    let Some(moto) = Moto::start() else { return };
    let store = DynamoStore::new(&moto.sdk_config().await, "handon-connections");
    store.ensure_table().await.unwrap();
    let ids: Vec<String> = (0..N).map(|i| format!("c{i:03}=")).collect();
    for id in &ids {
        store
            .put(&Connection::new(id.clone(), mb_tests::a_minute_ago()))
            .await
            .unwrap();
    }
    let fake = FakeGateway::start(Options {
        latency: Duration::from_millis(20),
        ..Options::default()
    })
    .await;
    // Lambda's Invoke API, recording what the function hands on.
    let handed: Arc<Mutex<Vec<Handed>>> = Arc::default();
    let recorded = Arc::clone(&handed);
    let invoke_api = loopback::serve(move |request: http::Request<hyper::body::Incoming>| {
        let recorded = Arc::clone(&recorded);
        async move {
            let path = request.uri().path().to_owned();
            let kind = request
                .headers()
                .get("x-amz-invocation-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = http_body_util::BodyExt::collect(request.into_body())
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            recorded.lock().unwrap().push((path, kind, body));
            http::Response::builder()
                .status(202)
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap()
        }
    })
    .await;
    let mut runtime = RuntimeApi::start().await;
    let function = start(
        &runtime,
        &[
            ("MB_TABLE_NAME", "handon-connections"),
            ("MB_MANAGEMENT_ENDPOINT", &fake.endpoint),
            ("MB_FANOUT_CONCURRENCY", "4"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &moto.endpoint),
            ("AWS_ENDPOINT_URL_LAMBDA", &invoke_api.endpoint),
        ],
    );

    // 4 posts in flight at 20 ms each: about 200 posts a second, so 1 s is not enough.
    runtime.invoke_within(
        "r1",
        event("$default", &ids[0], Some("long")),
        Duration::from_secs(1),
    );
    assert_eq!(status_of(&mut runtime, "r1", &function.logs).await, 200);
    let first = fake.delivered().len();
    assert!(
        first > 0 && first < N,
        "{first} reached in the first invocation"
    );
    let handed = handed.lock().unwrap().clone();
    assert_eq!(handed.len(), 1, "one hand-on");
    let (path, kind, payload) = &handed[0];
    assert_eq!(path, "/2015-03-31/functions/mb-test/invocations");
    assert_eq!(kind, "Event");

    // Lambda delivers the continuation to the function as its next event.
    let continuation: serde_json::Value = serde_json::from_slice(payload).unwrap();
    assert!(
        continuation.get("mbContinuation").is_some(),
        "{continuation}"
    );

    // The same continuation made up by someone who may invoke the function, naming
    // another endpoint: refused and logged, nothing posted there (or anywhere).
    let foreign = FakeGateway::start(Options::default()).await;
    let mut forged = continuation.clone();
    forged["mbContinuation"]["endpoint"] = serde_json::json!(foreign.endpoint);
    let before = fake.delivered().values().sum::<usize>();
    runtime.invoke("forged", forged);
    runtime
        .answer(WAIT)
        .await
        .expect("the forged event's answer");
    assert!(foreign.delivered().is_empty(), "posted to the named host");
    assert_eq!(fake.delivered().values().sum::<usize>(), before);
    let logs = function
        .logs_with(&["continuation refused", &foreign.endpoint])
        .await;
    assert!(
        logs.contains("continuation refused") && logs.contains(&foreign.endpoint),
        "{logs}"
    );

    runtime.invoke("r2", continuation);
    runtime
        .answer(WAIT)
        .await
        .expect("the continuation's answer");
    let delivered = fake.delivered();
    let wrong: Vec<&String> = ids
        .iter()
        .filter(|id| delivered.get(*id) != Some(&1))
        .collect();
    assert!(wrong.is_empty(), "not exactly once: {wrong:?}");
    let logs = function.logs_with(&["\"continuation\"", "\"hop\":1"]).await;
    assert!(
        logs.contains("\"continuation\"") && logs.contains("\"hop\":1"),
        "{logs}"
    );
}

/// An authorizer request for `$connect` with `token`.
fn authorizer_request(token: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/$connect",
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "queryStringParameters": {"token": token},
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "x="},
    })
}

/// The policy's effect and principal in the function's answer to request `id`.
async fn verdict(
    runtime: &mut RuntimeApi,
    id: &str,
    logs: &Arc<Mutex<Vec<String>>>,
) -> (String, String) {
    let answer = runtime.answer(WAIT).await.unwrap_or_else(|| {
        panic!(
            "no answer to {id}; logs:\n{}",
            logs.lock().unwrap().join("\n")
        )
    });
    assert_eq!(
        answer.kind,
        "response",
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    (
        body["policyDocument"]["Statement"][0]["Effect"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["principalId"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The real binary with `MB_AUTH=jwt`: it reads its HS256 secret from Secrets Manager
/// (moto) at cold start through the real client, then allows a token signed with it and
/// denies one signed otherwise; the token is in no log line.
#[tokio::test]
async fn bootstrap_reads_its_token_secret_from_secrets_manager() {
    let Some(moto) = Moto::start() else { return };
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let secret = "a generated secret of sixty-four characters, or nearly so......";
    let created = secrets
        .create_secret()
        .name("mb-chat-dev-token")
        .secret_string(secret)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_owned();
    let mut runtime = RuntimeApi::start().await;
    let function = start(
        &runtime,
        &[
            ("MB_TABLE_NAME", "unused"),
            ("MB_AUTH", "jwt"),
            ("MB_AUTH_SECRET_ARN", &arn),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto.endpoint),
            ("MB_LOG", "trace"),
        ],
    );
    let now = mb_lambda::clock::now_seconds();
    let good =
        mb_lambda::access::tokens::mint(secret.as_bytes(), Some("alice"), &[], 600, now).unwrap();
    runtime.invoke("r1", authorizer_request(&good));
    assert_eq!(
        verdict(&mut runtime, "r1", &function.logs).await,
        ("Allow".to_owned(), "alice".to_owned())
    );
    let forged = mb_lambda::access::tokens::mint(
        b"some other secret of thirty-two bytes",
        None,
        &[],
        600,
        now,
    )
    .unwrap();
    runtime.invoke("r2", authorizer_request(&forged));
    assert_eq!(verdict(&mut runtime, "r2", &function.logs).await.0, "Deny");
    let logs = function.logs.lock().unwrap().clone();
    for line in &logs {
        assert!(
            !line.contains(&good) && !line.contains(&forged) && !line.contains(secret),
            "a token or the secret in the log: {line}"
        );
    }
}

/// The real binary with `MB_JWKS_URL`: it fetches the issuer's key set at its first
/// authorizer request and verifies an ES256 token by its `kid`, with the issuer checked.
#[tokio::test]
async fn bootstrap_fetches_an_issuers_key_set() {
    let keys = mb_tests::issuer::Issuer::new("k1");
    let jwks = keys.jwks();
    let served = jwks.clone();
    let issuer = loopback::serve(move |_request: http::Request<hyper::body::Incoming>| {
        let served = served.clone();
        async move {
            http::Response::builder()
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(served)))
                .unwrap()
        }
    })
    .await;
    let mut runtime = RuntimeApi::start().await;
    let function = start(
        &runtime,
        &[
            ("MB_TABLE_NAME", "unused"),
            ("MB_AUTH", "jwt"),
            (
                "MB_JWKS_URL",
                &format!("{}/.well-known/jwks.json", issuer.endpoint),
            ),
            ("MB_JWT_ISSUER", "https://idp.example"),
        ],
    );
    let sign = |claims: serde_json::Value, kid: &str| keys.sign(&claims, kid);
    let exp = mb_lambda::clock::now_seconds() + 600;
    let good = sign(
        serde_json::json!({"sub": "u-7", "exp": exp, "iss": "https://idp.example"}),
        "k1",
    );
    runtime.invoke("r1", authorizer_request(&good));
    assert_eq!(
        verdict(&mut runtime, "r1", &function.logs).await,
        ("Allow".to_owned(), "u-7".to_owned())
    );
    for (id, token) in [
        (
            "r2",
            sign(
                serde_json::json!({"exp": exp, "iss": "https://other"}),
                "k1",
            ),
        ),
        (
            "r3",
            sign(
                serde_json::json!({"exp": exp, "iss": "https://idp.example"}),
                "k2",
            ),
        ),
    ] {
        runtime.invoke(id, authorizer_request(&token));
        assert_eq!(
            verdict(&mut runtime, id, &function.logs).await.0,
            "Deny",
            "{id}"
        );
    }
}

/// A loopback issuer whose key set can change, counting the requests for it; its
/// `answer` of `None` stands for an issuer that is down (HTTP 503).
struct KeyServer {
    jwks: Arc<Mutex<Option<String>>>,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    server: loopback::Server,
}

impl KeyServer {
    async fn start(jwks: Option<String>) -> KeyServer {
        let served = Arc::new(Mutex::new(jwks));
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (answer, counted) = (Arc::clone(&served), Arc::clone(&requests));
        let server = loopback::serve(move |_request: http::Request<hyper::body::Incoming>| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let jwks = answer.lock().unwrap().clone();
            async move {
                let response = http::Response::builder().header("content-type", "application/json");
                match jwks {
                    Some(jwks) => {
                        response.body(http_body_util::Full::new(bytes::Bytes::from(jwks)))
                    }
                    None => response
                        .status(503)
                        .body(http_body_util::Full::new(bytes::Bytes::new())),
                }
                .unwrap()
            }
        })
        .await;
        KeyServer {
            jwks: served,
            requests,
            server,
        }
    }

    fn url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.server.endpoint)
    }

    fn serve(&self, jwks: String) {
        *self.jwks.lock().unwrap() = Some(jwks);
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The issuer rotates a key in: the real binary fetches the key set again for the first
/// token that names it, and lets it in. A burst of tokens naming made-up keys right after
/// costs no further fetch (at most one per interval).
#[tokio::test]
async fn bootstrap_fetches_a_rotated_key_again_at_most_once_per_interval() {
    let (old, new) = (
        mb_tests::issuer::Issuer::new("k-old"),
        mb_tests::issuer::Issuer::new("k-new"),
    );
    let keys = KeyServer::start(Some(old.jwks())).await;
    let mut runtime = RuntimeApi::start().await;
    let function = start(
        &runtime,
        &[
            ("MB_TABLE_NAME", "unused"),
            ("MB_AUTH", "jwt"),
            ("MB_JWKS_URL", &keys.url()),
            ("MB_JWT_ISSUER", "https://idp.example"),
        ],
    );
    let claims = serde_json::json!({
        "sub": "u-8", "exp": mb_lambda::clock::now_seconds() + 600, "iss": "https://idp.example",
    });
    runtime.invoke("r1", authorizer_request(&old.sign(&claims, "k-old")));
    assert_eq!(verdict(&mut runtime, "r1", &function.logs).await.0, "Allow");
    assert_eq!(keys.requests(), 1);

    keys.serve(serde_json::json!({"keys": [old.jwk(), new.jwk()]}).to_string());
    runtime.invoke("r2", authorizer_request(&new.sign(&claims, "k-new")));
    assert_eq!(
        verdict(&mut runtime, "r2", &function.logs).await,
        ("Allow".to_owned(), "u-8".to_owned()),
        "the rotated key is fetched and used"
    );
    assert_eq!(keys.requests(), 2);

    for i in 0..20 {
        let id = format!("burst-{i}");
        runtime.invoke(
            &id,
            authorizer_request(&new.sign(&claims, &format!("made-up-{i}"))),
        );
        assert_eq!(verdict(&mut runtime, &id, &function.logs).await.0, "Deny");
    }
    assert_eq!(keys.requests(), 2, "no fetch within the interval");
    // The old key is still in the set.
    runtime.invoke("r3", authorizer_request(&old.sign(&claims, "k-old")));
    assert_eq!(verdict(&mut runtime, "r3", &function.logs).await.0, "Allow");
}

/// The issuer is down: the function starts anyway, denies every connect (API Gateway
/// answers 403), tries the key set again at most once per interval, and connections
/// already open still send ($default) and leave ($disconnect).
#[tokio::test]
async fn a_key_set_out_of_reach_refuses_connects_and_nothing_else() {
    let Some(moto) = Moto::start() else { return };
    let store = DynamoStore::new(&moto.sdk_config().await, "keyless-connections");
    store.ensure_table().await.unwrap();
    for id in ["a=", "b/"] {
        store
            .put(&Connection::new(id, mb_tests::a_minute_ago()))
            .await
            .unwrap();
    }
    let fake = FakeGateway::start(Options::default()).await;
    let keys = KeyServer::start(None).await;
    let issuer = mb_tests::issuer::Issuer::new("k1");
    let mut runtime = RuntimeApi::start().await;
    let function = start(
        &runtime,
        &[
            ("MB_TABLE_NAME", "keyless-connections"),
            ("MB_MANAGEMENT_ENDPOINT", &fake.endpoint),
            ("AWS_ENDPOINT_URL_DYNAMODB", &moto.endpoint),
            ("MB_AUTH", "jwt"),
            ("MB_JWKS_URL", &keys.url()),
            ("MB_JWT_ISSUER", "https://idp.example"),
        ],
    );
    let token = issuer.sign(
        &serde_json::json!({"exp": mb_lambda::clock::now_seconds() + 600, "iss": "https://idp.example"}),
        "k1",
    );
    for id in ["c1", "c2", "c3"] {
        runtime.invoke(id, authorizer_request(&token));
        assert_eq!(
            verdict(&mut runtime, id, &function.logs).await.0,
            "Deny",
            "{id}"
        );
    }
    assert_eq!(
        keys.requests(),
        1,
        "tried once, not again within the interval"
    );

    runtime.invoke("m1", event("$default", "a=", Some("still-here-5e1f")));
    assert_eq!(status_of(&mut runtime, "m1", &function.logs).await, 200);
    let to_b: serde_json::Value = serde_json::from_slice(&fake.received_by("b/")[0]).unwrap();
    assert_eq!(to_b["data"], "still-here-5e1f");
    runtime.invoke("d1", event("$disconnect", "b/", None));
    assert_eq!(status_of(&mut runtime, "d1", &function.logs).await, 200);
    assert_eq!(store.scan().await.unwrap(), vec!["a="]);

    let logs = function.logs.lock().unwrap().clone();
    assert!(
        logs.iter()
            .any(|l| l.contains("cannot load the token keys") && l.contains("503")),
        "the failed fetch is logged with why: {logs:?}"
    );
    assert!(
        logs.iter().all(|l| !l.contains(&token)),
        "a token in the log"
    );
    assert_eq!(keys.requests(), 1, "no other route touched the keys");
}
