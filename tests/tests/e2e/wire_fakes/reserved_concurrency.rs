//! The reserved concurrency, through the built `mb` as a user runs it: CloudFormation, S3
//! and STS from moto behind the recorder, Lambda's GetAccountSettings from the wire
//! stand-in (`mb_tests::fake_lambda`), whose account concurrency the test sets.
//!
//! - A new account (total 10): `--reserved-concurrency 5`, by flag or `mb.toml`, exits 2
//!   naming the account's limit before any change (only reads reached AWS); the default
//!   deploy reserves nothing and says so, and the function has no reservation.
//! - GetAccountSettings denied: a given value proceeds, unchecked, with a warning.
//! - A normal account (total 1,000): the default deploy reserves 100, which the stack's
//!   parameter and the function show, `mb info` (text and JSON) and `mb doctor` report,
//!   and the next deploy keeps.

use mb_tests::deploying::Deploying;
use mb_tests::fake_lambda::FakeLambda;
use mb_tests::{assert_ok, text};
use serde_json::Value;

const FUNCTION: &str = "mb-cap-dev-broadcast";
const STACK: &str = "mb-cap-dev";

/// moto behind the recorder for the service `cap`, and the Lambda stand-in.
async fn world(total: u32, unreserved: u32) -> Option<(Deploying, FakeLambda)> {
    let world = Deploying::start("cap").await?;
    let lambda = FakeLambda::start(total, unreserved).await;
    Some((world, lambda))
}

fn lambda_env(lambda: &FakeLambda) -> Vec<(&'static str, &str)> {
    vec![("AWS_ENDPOINT_URL_LAMBDA", lambda.endpoint.as_str())]
}

/// The stack's ReservedConcurrency as deployed.
async fn parameter(world: &Deploying) -> String {
    let cf = aws_sdk_cloudformation::Client::new(&world.config);
    mb_tests::deployed_parameter(&cf, STACK, "ReservedConcurrency").await
}

/// The function's reservation in moto (`None`: no reservation). GetFunctionConcurrency,
/// as moto's GetFunction answers environment values as numbers, which the SDK refuses.
async fn function_reservation(world: &Deploying) -> Option<i32> {
    let lambda = aws_sdk_lambda::Client::new(&world.config);
    lambda
        .get_function_concurrency()
        .function_name(FUNCTION)
        .send()
        .await
        .expect("the function's concurrency from moto")
        .reserved_concurrent_executions()
}

/// Fails unless every operation the recorder saw only reads (nothing was uploaded,
/// created or changed).
fn assert_only_reads(world: &Deploying) {
    let operations = world.recorder.operations();
    assert!(!operations.is_empty(), "mb looked before refusing");
    for operation in &operations {
        let name = operation.split(' ').next_back().unwrap_or_default();
        assert!(
            ["Describe", "Get", "Head", "List"]
                .iter()
                .any(|read| name.starts_with(read)),
            "{operation} changes something: {operations:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_new_account_nothing_is_reserved_and_a_reservation_is_refused_before_any_change() {
    let Some((world, lambda)) = world(10, 10).await else {
        return;
    };
    let env = lambda_env(&lambda);

    // 1. An explicit reservation the account cannot spare: exit 2, naming its limit,
    //    before anything is uploaded or changed.
    let refused = world
        .deploy_env(&["--reserved-concurrency", "5"], &env)
        .await;
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("reserved-concurrency 5 is more than the account can spare"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the account's total concurrency is 10"),
        "{stderr}"
    );
    assert!(stderr.contains("can reserve at most 0"), "{stderr}");
    assert!(stderr.contains("0 for no reservation"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(lambda.account_settings_calls(), 1);
    assert_only_reads(&world);

    // 2. The same from mb.toml.
    std::fs::write(world.dir.join("mb.toml"), "reserved-concurrency = 5\n").expect("mb.toml");
    let from_file = world.deploy_env(&[], &env).await;
    assert_eq!(
        from_file.status.code(),
        Some(2),
        "{}",
        text(&from_file.stderr)
    );
    assert!(text(&from_file.stderr).contains("more than the account can spare"));
    std::fs::remove_file(world.dir.join("mb.toml")).expect("remove mb.toml");
    assert_only_reads(&world);

    // 3. The default deploys, reserving nothing, and says why in one line.
    let deployed = world.deploy_env(&[], &env).await;
    assert_ok("the default deploy", &deployed);
    let stderr = text(&deployed.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("reserved concurrency:"))
        .collect();
    assert_eq!(
        said,
        [
            "reserved concurrency: none (the account's total concurrency is 10, 10 \
          unreserved, and Lambda keeps all 10 unreserved (the total is under 100), so it \
          can spare none)"
        ],
        "{stderr}"
    );
    assert_eq!(parameter(&world).await, "0");
    assert_eq!(function_reservation(&world).await, None);

    // 4. GetAccountSettings denied: a given value proceeds unchecked, with a warning.
    lambda.deny(true);
    let unchecked = world
        .deploy_env(&["--reserved-concurrency", "5", "--yes"], &env)
        .await;
    assert_ok("the deploy with the account unreadable", &unchecked);
    let stderr = text(&unchecked.stderr);
    assert!(
        stderr.contains(
            "warning: cannot read the account's concurrency (AWS denied Lambda \
             GetAccountSettings"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("reserving 5 as given, unchecked"),
        "{stderr}"
    );
    assert!(
        stderr.contains("reserved concurrency: 5 (as given)"),
        "{stderr}"
    );
    assert_eq!(parameter(&world).await, "5");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_normal_account_the_default_reservation_is_made_and_reported() {
    let Some((world, lambda)) = world(1000, 1000).await else {
        return;
    };
    let env = lambda_env(&lambda);

    // 1. The default deploy reserves 100.
    let deployed = world.deploy_env(&[], &env).await;
    assert_ok("the default deploy", &deployed);
    let stderr = text(&deployed.stderr);
    assert!(
        stderr.contains(
            "reserved concurrency: 100 (the account's total concurrency is 1000, 1000 \
             unreserved, and Lambda keeps 100 unreserved)\n"
        ),
        "{stderr}"
    );
    assert_eq!(parameter(&world).await, "100");
    assert_eq!(function_reservation(&world).await, Some(100));
    // Lambda now counts it as reserved.
    lambda.set(1000, 900);

    // 2. mb info shows it, as text and JSON.
    let info = world.mb_env("info", &["--json"], &env).await;
    assert_ok("info --json", &info);
    let value: Value = serde_json::from_slice(&info.stdout).expect("JSON");
    assert_eq!(value["settings"]["reserved-concurrency"], 100, "{value:#}");
    let info = world.mb_env("info", &[], &env).await;
    assert_ok("info", &info);
    assert!(
        text(&info.stdout).lines().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words == ["reserved-concurrency", "100"]
        }),
        "{}",
        text(&info.stdout)
    );

    // 3. mb doctor reports the account's concurrency and what a deploy would do.
    let doctor = world
        .mb_env("doctor", &["--json", "--arch", "x86_64"], &env)
        .await;
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}\n{}",
            text(&doctor.stdout),
            text(&doctor.stderr)
        )
    });
    let check = report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == "concurrency"))
        .unwrap_or_else(|| panic!("no concurrency check: {report:#}"))
        .clone();
    assert_eq!(check["status"], "pass", "{check:#}");
    assert_eq!(check["total"], 1000, "{check:#}");
    assert_eq!(check["unreserved"], 900, "{check:#}");
    assert_eq!(check["reserve"], 100, "{check:#}");
    assert_eq!(
        check["summary"],
        "the account's concurrency is 1000 in all, 900 unreserved (Lambda keeps 100); mb \
         deploy would keep the deployed 100"
    );

    // 4. The next deploy keeps it and has nothing to change.
    let again = world.deploy_env(&[], &env).await;
    assert_ok("the deploy without settings", &again);
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains("reserved concurrency: 100, kept from the last deploy"),
        "{stderr}"
    );
    assert!(stderr.contains("no changes"), "{stderr}");
    assert_eq!(parameter(&world).await, "100");
}
