//! Fixtures for `mb`'s end-to-end tests and benchmarks: the built `mb` binary, moto on a
//! free loopback port, a loopback stand-in of the API Gateway Management API that speaks
//! its wire protocol (so the real SDK client parses its answers), one of the Lambda
//! Runtime API (to run the real `bootstrap`), one of CloudFormation (the stack states moto
//! does not reach), one of IAM and STS (the policy simulation moto answers with HTTP 500),
//! one of Lambda's account settings (the account concurrency moto does not model),
//! a proxy that names the AWS operations `mb` sends, and WebSocket clients.
//!
//! Everything listens on 127.0.0.1 only.

pub mod deploying;
pub mod fake_cloudformation;
pub mod fake_gateway;
pub mod fake_iam;
pub mod fake_lambda;
pub mod invoke_api;
pub mod issuer;
pub mod loopback;
pub mod mb;
pub mod moto;
pub mod post_client;
pub mod pty;
pub mod recorder;
pub mod runtime_api;
pub mod sdk_gateway;
pub mod ws;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;

/// A process's output as text, for assertions and their messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails the test, showing what `mb` printed, unless `out` is a success.
pub fn assert_ok(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Fails the test unless `bucket` blocks all public access and encrypts with SSE-S3 by
/// default: the lock-down `mb deploy` gives its artifact bucket.
pub async fn assert_locked_down(s3: &aws_sdk_s3::Client, bucket: &str) {
    let block = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .expect("the public access block");
    let block = block.public_access_block_configuration().expect("a block");
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true)),
        "{bucket} blocks all public access"
    );
    let encryption = s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .expect("the bucket's encryption");
    let algorithm = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_owned());
    assert_eq!(
        algorithm.as_deref(),
        Some("AES256"),
        "{bucket} encrypts by default"
    );
}

/// The bytes of `bucket/key`, read with the test's own S3 client.
pub async fn s3_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object")
        .body
        .collect()
        .await
        .expect("object body")
        .to_vec()
}

/// A stack's parameter `key` as deployed (empty if it has none).
pub fn stack_parameter(stack: &aws_sdk_cloudformation::types::Stack, key: &str) -> String {
    stack
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value())
        .unwrap_or_default()
        .to_owned()
}

/// The parameter `key` of the stack `name` as deployed, read back with the SDK.
pub async fn deployed_parameter(
    cf: &aws_sdk_cloudformation::Client,
    name: &str,
    key: &str,
) -> String {
    let out = cf
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .expect("describe the stack");
    stack_parameter(out.stacks().first().expect("the stack"), key)
}

/// The workspace's top folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// True under CI (`CI=true`): missing tools are failures there, not skips.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `path` if it exists. Otherwise `None` after [`skip`] (the caller's test then returns
/// early), except under CI, where a missing tool fails the test.
pub fn required_tool(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    skip(&format!(
        "{what} not found at {} (run ./scripts/test, which installs it into .venv)",
        path.display()
    ));
    None
}

/// Whether the aarch64 Rust target (`mb build`'s default architecture, arm64) is
/// installed; if not, the calling test skips (under CI it fails). ./scripts/test adds
/// the target wherever rustup is present.
pub fn arm64_target_installed() -> bool {
    const TARGET: &str = "aarch64-unknown-linux-gnu";
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        });
    if !installed {
        skip(&format!(
            "the {TARGET} Rust target is not installed (./scripts/test adds it with \
             `rustup target add`)"
        ));
    }
    installed
}

/// Says why the calling test skips: `SKIPPED: why` on stderr, and a line in the file
/// `MB_SKIP_LOG` names (./scripts/test sets it and prints how many tests skipped and
/// why, which cargo's output hides). Under CI a test never skips: this panics instead.
pub fn skip(why: &str) {
    if in_ci() {
        panic!("{why} (under CI no test may skip)");
    }
    eprintln!("SKIPPED: {why}");
    if let Some(log) = std::env::var_os("MB_SKIP_LOG") {
        use std::io::Write;
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| writeln!(f, "{test}: {why}"));
        if let Err(err) = appended {
            eprintln!("cannot record the skip in MB_SKIP_LOG: {err}");
        }
    }
}

/// The project's venv `bin` folder (moto, cfn-lint, cargo-zigbuild, zig), made by
/// ./scripts/test.
pub fn venv_bin() -> PathBuf {
    workspace_root().join(".venv/bin")
}

/// `PATH` with the venv's `bin` first, so `mb build` finds cargo-zigbuild and the venv's
/// `python3 -m ziglang` as a user who activated it would.
pub fn path_with_venv() -> std::ffi::OsString {
    let mut paths = vec![venv_bin()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// SDK configuration for loopback stand-ins (`mb_lambda::local::loopback::loopback_config`):
/// `endpoint` for every client when given, `ca_pem` trusted besides the platform roots.
pub async fn sdk_config(endpoint: Option<&str>, ca_pem: Option<&[u8]>) -> SdkConfig {
    mb_lambda::local::loopback::loopback_config(endpoint, ca_pem)
        .await
        .expect("test HTTPS client")
}

/// An API Gateway WebSocket event as Lambda receives it.
pub fn event(
    route: &str,
    connection_id: &str,
    body: Option<&str>,
) -> ApiGatewayWebsocketProxyRequest {
    let event_type = match route {
        "$connect" => "CONNECT",
        "$disconnect" => "DISCONNECT",
        _ => "MESSAGE",
    };
    serde_json::from_value(serde_json::json!({
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "connectionId": connection_id,
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "stage": "dev",
            "connectedAt": mb_lambda::clock::now_ms(),
            "requestTimeEpoch": mb_lambda::clock::now_ms(),
        },
        "body": body,
        "isBase64Encoded": false,
    }))
    .expect("a valid WebSocket event")
}

/// Polls `check` every 50 ms until it is true or `limit` passes; returns its last answer.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A zip holding the smallest `bootstrap` mb accepts, in `dir`: a static x86-64 ELF
/// header (no glibc needs), for deploys that test everything but the build (`--artifact`).
/// Building the real function is the job of `build::package_zigbuild` and
/// `moto::lifecycle` (tests/tests/e2e).
pub fn tiny_artifact(dir: &Path) -> PathBuf {
    let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    elf.resize(16, 0);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    elf.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    elf.extend_from_slice(&[0; 24]); // entry, program and section header offsets
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    for half in [64u16, 56, 0, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes()); // sizes and counts
    }
    let path = dir.join("bootstrap.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("zip file"));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    zip.start_file("bootstrap", options).expect("zip entry");
    zip.write_all(&elf).expect("zip write");
    zip.finish().expect("zip finish");
    path
}

/// Unix milliseconds a minute ago: when a stored test connection connected, past the
/// connect window's grace and long before its row expires.
pub fn a_minute_ago() -> i64 {
    mb_lambda::clock::now_ms() - 60_000
}

/// `POST url` with `body` over plain HTTP/1.1 on loopback: the status and the body.
/// The peak resident set (`VmHWM` in `/proc/PID/status`) of process `pid`, in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

pub async fn http_post(url: &str, body: &str) -> (u16, String) {
    let (status, _, body) = http_exchange(http::Method::POST, url, body).await;
    (status, body)
}

/// `GET url` over plain HTTP/1.1 on loopback, as a browser's first request (no upgrade):
/// the status, the `Content-Type` and the body.
pub async fn http_get(url: &str) -> (u16, String, String) {
    http_exchange(http::Method::GET, url, "").await
}

/// One request over plain HTTP/1.1 on loopback, within 30 s: the status, the
/// `Content-Type` and the body.
async fn http_exchange(method: http::Method, url: &str, body: &str) -> (u16, String, String) {
    use http_body_util::{BodyExt, Full};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(authority)
            .await
            .expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .expect("HTTP handshake");
        tokio::spawn(connection);
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", authority)
            .body(Full::new(bytes::Bytes::from(body.to_owned())))
            .expect("a request");
        let response = sender.send_request(request).await.expect("a response");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), exchange)
        .await
        .expect("an answer within 30 s")
}
