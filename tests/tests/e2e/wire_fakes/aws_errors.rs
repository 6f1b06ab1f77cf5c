//! What a user sees when AWS cannot be used: missing credentials, a missing region, an
//! unreachable endpoint, a denied call. Each is one sentence on one line saying what to
//! do, exit code 1, never a panic or a debug dump; bad names are usage errors (exit 2)
//! found before any AWS lookup.

use std::time::Duration;

use mb_tests::fake_cloudformation::FakeCloudFormation;
use mb_tests::mb;
use mb_tests::moto::{Moto, free_port};

const LIMIT: Duration = Duration::from_secs(120);

/// The one line `mb` printed on stderr, checked to be a plain sentence.
fn one_error_line(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line:\n{stderr}");
    let last = lines[0].to_owned();
    assert!(last.starts_with("error: "), "{stderr}");
    for dump in [
        "panicked",
        "ErrorMetadata",
        "Unhandled",
        "DispatchFailure",
        "{ ",
    ] {
        assert!(!stderr.contains(dump), "a debug dump ({dump}):\n{stderr}");
    }
    assert!(!last.contains('\n'));
    last
}

fn env_without(names: &[&str]) -> Vec<(&'static str, &'static str)> {
    mb::loopback_aws_env()
        .into_iter()
        .map(|(k, v)| if names.contains(&k) { (k, "") } else { (k, v) })
        .collect()
}

#[test]
fn missing_credentials_say_how_to_provide_them() {
    let vars = env_without(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
    let out = mb::run_with_env(
        &["info", "--service", "demo", "--region", "us-east-1"],
        &vars,
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert!(
        line.starts_with("error: no AWS credentials found"),
        "{line}"
    );
    assert!(
        line.contains("AWS_ACCESS_KEY_ID") && line.contains("--profile"),
        "{line}"
    );
}

#[test]
fn a_missing_profile_is_named() {
    let out = mb::run_with_env(
        &[
            "info",
            "--service",
            "demo",
            "--region",
            "us-east-1",
            "--profile",
            "nosuchprofile",
        ],
        &env_without(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert!(line.contains("nosuchprofile"), "{line}");
}

#[test]
fn a_missing_region_says_how_to_set_one() {
    let out = mb::run_with_env(
        &["destroy", "--service", "demo", "--yes"],
        &mb::loopback_aws_env(),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert_eq!(
        line,
        "error: no AWS region: pass --region REGION, set AWS_REGION, or set `region` in your \
         AWS profile (`aws configure set region REGION`)"
    );
}

#[test]
fn an_unreachable_endpoint_names_the_call_and_the_cause() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let out = mb::run_with_env(
        &[
            "deploy",
            "--service",
            "demo",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &endpoint,
            "--artifact",
            "unused.zip",
        ],
        &mb::loopback_aws_env(),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert!(
        line.starts_with("error: cannot reach AWS for STS GetCallerIdentity: "),
        "{line}"
    );
    assert!(line.contains("refused"), "the cause: {line}");
    assert!(line.contains("--endpoint-url"), "{line}");
}

#[test]
fn bad_names_are_usage_errors_before_any_aws_lookup() {
    // No credentials and no region: the names are checked first.
    let vars = env_without(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
    let out = mb::run_with_env(&["deploy", "--service", "My_Service"], &vars, LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_error_line(&out).contains("my-service"));
    let out = mb::run_with_env(
        &["deploy", "--service", "demo", "--bucket", "Not_A_Bucket"],
        &vars,
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(one_error_line(&out).contains("Not_A_Bucket"));
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_quotes_aws_and_points_at_the_permissions() {
    // STS from moto, CloudFormation from the wire fake, which denies DescribeStacks.
    let Some(moto) = Moto::start() else { return };
    let fake = FakeCloudFormation::start(None).await;
    fake.deny("DescribeStacks");
    let mut vars = mb::loopback_aws_env();
    vars.push(("AWS_ENDPOINT_URL", &moto.endpoint));
    vars.push(("AWS_ENDPOINT_URL_CLOUDFORMATION", &fake.endpoint));
    let out = mb::run_async(
        &["info", "--service", "demo", "--region", "us-east-1"],
        &vars,
        LIMIT,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let line = one_error_line(&out);
    assert!(
        line.starts_with(
            "error: AWS denied CloudFormation DescribeStacks: User: \
             arn:aws:iam::123456789012:user/dev is not authorized to perform: \
             cloudformation:DescribeStacks"
        ),
        "{line}"
    );
    assert!(line.ends_with("docs/deploy.md"), "{line}");
}
