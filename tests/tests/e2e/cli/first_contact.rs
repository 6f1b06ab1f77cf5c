//! What a new user sees on a machine with no AWS configuration at all: one error line
//! saying what to set, not the SDK's warnings with their debug dumps.
//!
//! The SDK looks for a region and credentials in the instance metadata service (IMDS)
//! when nothing else is configured. Here that service is a loopback server answering 403
//! to everything, as a network without IMDS does, so the test talks only to 127.0.0.1.

use std::time::Duration;

use mb_tests::loopback;
use mb_tests::mb;

const LIMIT: Duration = Duration::from_secs(60);

/// `mb` with an empty HOME, no AWS variables and IMDS answering 403.
async fn run_unconfigured(args: &[&str]) -> std::process::Output {
    let imds = loopback::serve(|_request: http::Request<_>| async {
        http::Response::builder()
            .status(403)
            .body(String::new())
            .expect("a response")
    })
    .await;
    let home = std::env::temp_dir().join(format!("mb-empty-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("an empty HOME");
    let home = home.to_string_lossy().into_owned();
    let vars = [
        ("HOME", home.as_str()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint.as_str()),
        ("MB_LOG", ""),
    ];
    mb::run_async(args, &vars, LIMIT).await
}

fn assert_one_error_line(what: &str, out: &std::process::Output, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
    assert_eq!(
        lines.len(),
        1,
        "{what} printed more than one line:\n{stderr}"
    );
    assert!(lines[0].starts_with("error: "), "{what}: {stderr}");
    assert!(lines[0].contains(says), "{what}: {stderr}");
    assert!(
        !stderr.contains("WARN") && !stderr.contains("{ "),
        "{what}: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_aws_settings_is_one_error_line() {
    let policy = run_unconfigured(&["doctor", "--policy", "--service", "broadcaster"]).await;
    assert_one_error_line("mb doctor --policy", &policy, "no AWS region");
    let deploy = run_unconfigured(&["deploy", "--service", "broadcaster"]).await;
    assert_one_error_line("mb deploy", &deploy, "no AWS region");
    // With a region but no credentials: still one line, saying how to set them.
    let deploy = run_unconfigured(&[
        "deploy",
        "--service",
        "broadcaster",
        "--region",
        "eu-west-1",
    ])
    .await;
    assert_one_error_line("mb deploy --region", &deploy, "AWS credentials");
}
