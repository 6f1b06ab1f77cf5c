//! `mb doctor`, through the built binary, as a user runs it.
//!
//! - Against moto: the identity is reported, and moto's HTTP 500 for
//!   SimulatePrincipalPolicy is "unknown (simulation unavailable)", as is the account's
//!   concurrency (moto lacks GetAccountSettings), exit 0 with a warning.
//! - Against the IAM/STS wire fake (`mb_tests::fake_iam`; Lambda's account settings from
//!   `mb_tests::fake_lambda`; CloudFormation and S3 from moto): an all-allowed principal
//!   passes; denied `iam:PassRole` and `lambda:CreateFunction` fail listing exactly those;
//!   AccessDenied on the simulation is "unknown"; an assumed-role caller is simulated as
//!   its role's ARN with its path.
//! - `--policy`: valid JSON, no `*` action, every action the simulation checks.
//! - Text fits 100 columns; colour only on a terminal, and never with NO_COLOR.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mb_tests::fake_iam::{self, FakeIam};
use mb_tests::fake_lambda::FakeLambda;
use mb_tests::loopback;
use mb_tests::moto::Moto;
use mb_tests::{mb, text};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);
const USER: &str = "arn:aws:iam::123456789012:user/ci/deployer";

/// The environment of a doctor run: loopback credentials, the venv's tools on PATH (for
/// the toolchain check), every call to `endpoint` unless a service has its own.
fn env(endpoint: &str, services: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut vars: Vec<(&'static str, String)> = mb::loopback_aws_env()
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    vars.push((
        "PATH",
        mb_tests::path_with_venv().to_string_lossy().into_owned(),
    ));
    vars.push(("AWS_REGION", "us-east-1".to_owned()));
    vars.push(("AWS_ENDPOINT_URL", endpoint.to_owned()));
    for (name, value) in services {
        vars.push((name, (*value).to_owned()));
    }
    vars
}

async fn doctor(args: &[&str], vars: &[(&'static str, String)]) -> std::process::Output {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut all = vec!["doctor", "--arch", "x86_64"];
    all.extend_from_slice(args);
    mb::run_async(&all, &vars, LIMIT).await
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    check(report, id)["status"].as_str().unwrap_or_default()
}

/// Moto and the stand-ins a doctor run needs, kept alive together.
type World = (Moto, FakeIam, FakeLambda, Vec<(&'static str, String)>);

/// The fakes and moto, wired as a doctor run sees them: STS and IAM from the IAM fake,
/// Lambda's account settings (which moto lacks) from the Lambda one (a normal account).
async fn with_fake(caller: &str) -> Option<World> {
    let moto = Moto::start()?;
    let fake = FakeIam::start(caller).await;
    let lambda = FakeLambda::start(1000, 1000).await;
    let vars = env(
        &moto.endpoint,
        &[
            ("AWS_ENDPOINT_URL_IAM", &fake.endpoint),
            ("AWS_ENDPOINT_URL_STS", &fake.endpoint),
            ("AWS_ENDPOINT_URL_LAMBDA", &lambda.endpoint),
        ],
    );
    Some((moto, fake, lambda, vars))
}

/// The actions of `mb doctor --policy` (the deploy policy).
async fn policy_actions(vars: &[(&'static str, String)]) -> BTreeSet<String> {
    let out = doctor(&["--policy", "--service", "chat"], vars).await;
    assert!(out.status.success(), "--policy: {}", text(&out.stderr));
    let policy: Value = json(&out);
    policy["Statement"]
        .as_array()
        .expect("Statement")
        .iter()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn against_moto_the_identity_is_reported_and_the_simulation_is_unknown() {
    let Some(moto) = Moto::start() else { return };
    let vars = env(&moto.endpoint, &[]);

    let out = doctor(&["--service", "chat", "--json"], &vars).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "unknowns alone exit 0\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = json(&out);
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "credentials",
            "identity",
            "permissions",
            "toolchain",
            "names",
            "stack",
            "bucket",
            "preflight",
            "concurrency"
        ]
    );
    assert_eq!(status(&report, "identity"), "pass");
    assert_eq!(check(&report, "identity")["account"], "123456789012");
    assert_eq!(status(&report, "permissions"), "unknown");
    let summary = check(&report, "permissions")["summary"]
        .as_str()
        .unwrap_or_default();
    assert!(summary.contains("simulation unavailable"), "{summary}");
    assert!(summary.contains("500"), "{summary}");
    assert_eq!(report["outcome"], "unverified");
    for id in [
        "credentials",
        "toolchain",
        "names",
        "stack",
        "bucket",
        "preflight",
    ] {
        assert_eq!(
            status(&report, id),
            "pass",
            "{id}: {:#}",
            check(&report, id)
        );
    }
    // moto has no GetAccountSettings: the account's concurrency is unknown too.
    assert_eq!(status(&report, "concurrency"), "unknown");
    assert!(text(&out.stderr).contains("warning: 2 checks could not be made"));

    // The same as text: 100 columns, no colour into a pipe.
    let out = doctor(&["--service", "chat"], &vars).await;
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\nunknown  permissions  not checked: simulation unavailable"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\npass     identity     account 123456789012"),
        "{stdout}"
    );
    for line in stdout.lines() {
        assert!(
            line.chars().count() <= 100,
            "wider than 100 columns: {line:?}"
        );
    }
    assert!(!stdout.contains('\u{1b}'), "colour into a pipe:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_all_allowed_user_passes_every_check() {
    let Some((_moto, fake, _lambda, vars)) = with_fake(USER).await else {
        return;
    };
    let out = doctor(&["--service", "chat", "--json"], &vars).await;
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["outcome"], "ready", "{report:#}");
    assert_eq!(check(&report, "permissions")["simulated_as"], USER);

    // Every action of the policy but GetCallerIdentity (which IAM cannot deny) was
    // simulated, each on one resource of the service, with the request's region.
    let simulations = fake.requests("SimulatePrincipalPolicy");
    assert!(!simulations.is_empty());
    let mut simulated = BTreeSet::new();
    for request in &simulations {
        assert_eq!(
            request.get("PolicySourceArn").map(String::as_str),
            Some(USER)
        );
        let resources = fake_iam::members(request, "ResourceArns");
        assert_eq!(resources.len(), 1, "{request:?}");
        // `*` only for the actions IAM cannot scope to a resource.
        let actions = fake_iam::members(request, "ActionNames");
        assert!(
            !resources[0].contains('*')
                || actions == ["lambda:GetAccountSettings"]
                || actions == ["secretsmanager:GetRandomPassword"],
            "{request:?}"
        );
        let keys = (1..)
            .map_while(|n| request.get(&format!("ContextEntries.member.{n}.ContextKeyName")))
            .cloned()
            .collect::<Vec<_>>();
        assert!(
            keys.contains(&"aws:RequestedRegion".to_owned()),
            "{request:?}"
        );
        if request.get("Marker").is_none() {
            simulated.extend(fake_iam::members(request, "ActionNames"));
        }
    }
    // Groups of more than a page were followed to their last page.
    assert!(
        simulations.iter().any(|r| r.contains_key("Marker")),
        "no simulation was paginated"
    );
    let mut expected = policy_actions(&vars).await;
    expected.remove("sts:GetCallerIdentity");
    assert_eq!(simulated, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_actions_fail_and_are_listed_with_the_grant() {
    let Some((_moto, fake, _lambda, vars)) = with_fake(USER).await else {
        return;
    };
    fake.deny(&["iam:PassRole", "lambda:CreateFunction"]);
    let out = doctor(&["--service", "chat", "--json"], &vars).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = json(&out);
    let permissions = check(&report, "permissions");
    assert_eq!(permissions["status"], "fail");
    assert_eq!(
        permissions["denied"],
        serde_json::json!({"iam": ["iam:PassRole"], "lambda": ["lambda:CreateFunction"]})
    );
    let granted: BTreeSet<&str> = permissions["grant"]
        .as_array()
        .expect("grant")
        .iter()
        .flat_map(|s| s["Action"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        granted,
        BTreeSet::from(["iam:PassRole", "lambda:CreateFunction"])
    );
    // Every other check still passes: only the permissions fail.
    for id in [
        "credentials",
        "identity",
        "toolchain",
        "names",
        "stack",
        "bucket",
        "preflight",
    ] {
        assert_eq!(status(&report, id), "pass", "{id}");
    }
    assert!(
        text(&out.stderr).contains("1 check failed"),
        "{}",
        text(&out.stderr)
    );

    // As text: by service, then the statement to add.
    let out = doctor(&["--service", "chat"], &vars).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\nfail     permissions  2 of "), "{stdout}");
    assert!(
        stdout.contains("\n                      iam: iam:PassRole\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n                      lambda: lambda:CreateFunction\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"iam:PassedToService\": \"lambda.amazonaws.com\""),
        "{stdout}"
    );
    for line in stdout.lines() {
        assert!(
            line.chars().count() <= 100,
            "wider than 100 columns: {line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_on_the_simulation_is_unknown() {
    let Some((_moto, fake, _lambda, vars)) = with_fake(USER).await else {
        return;
    };
    fake.forbid_simulation();
    let out = doctor(&["--service", "chat", "--json"], &vars).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    let permissions = check(&report, "permissions");
    assert_eq!(permissions["status"], "unknown");
    let summary = permissions["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("may not call IAM SimulatePrincipalPolicy"),
        "{summary}"
    );
    assert!(
        permissions["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("iam:SimulatePrincipalPolicy"),
        "{permissions:#}"
    );
    assert!(text(&out.stderr).contains("warning"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assumed_role_is_simulated_as_its_role_with_its_path() {
    let role = "AWSReservedSSO_AdministratorAccess_0123456789abcdef";
    let path = "/aws-reserved/sso.amazonaws.com/eu-west-1/";
    let caller = format!("arn:aws:sts::123456789012:assumed-role/{role}/alice@example.com");
    let Some((_moto, fake, _lambda, vars)) = with_fake(&caller).await else {
        return;
    };
    fake.add_role(role, path);
    let out = doctor(&["--service", "chat", "--json"], &vars).await;
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let role_arn = format!("arn:aws:iam::123456789012:role{path}{role}");
    // The preflight also asks for the function's role, which does not exist.
    let roles: Vec<_> = fake
        .requests("GetRole")
        .into_iter()
        .filter(|r| r.get("RoleName").map(String::as_str) != Some("mb-chat-dev-us-east-1"))
        .collect();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].get("RoleName").map(String::as_str), Some(role));
    let simulations = fake.requests("SimulatePrincipalPolicy");
    assert!(!simulations.is_empty());
    for request in &simulations {
        assert_eq!(
            request.get("PolicySourceArn").map(String::as_str),
            Some(role_arn.as_str())
        );
    }
    assert_eq!(status(&report, "permissions"), "pass");
    assert_eq!(check(&report, "identity")["principal"], caller.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_is_json_without_wildcard_actions() {
    let Some((_moto, _fake, _lambda, vars)) = with_fake(USER).await else {
        return;
    };
    let out = doctor(&["--policy", "--service", "chat"], &vars).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let policy = json(&out);
    assert_eq!(policy["Version"], "2012-10-17");
    let statements = policy["Statement"].as_array().expect("statements");
    for statement in statements {
        assert_eq!(statement["Effect"], "Allow");
        for action in statement["Action"].as_array().expect("actions") {
            let action = action.as_str().unwrap_or_default();
            assert!(!action.contains('*'), "wildcard action {action}");
        }
        assert!(statement.get("NotAction").is_none());
    }
    let actions = policy_actions(&vars).await;
    for needed in [
        "iam:PassRole",
        "lambda:CreateFunction",
        "cloudformation:CreateChangeSet",
    ] {
        assert!(actions.contains(needed), "{needed} missing");
    }

    // Without a service there is nothing to scope the policy to: a usage error.
    let out = doctor(&["--policy"], &vars).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--service"));

    // For another account, with no credentials and no AWS call: an administrator writing
    // the policy of a CI user.
    let offline = [
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_REGION", "eu-west-1"),
    ];
    let args = [
        "doctor",
        "--policy",
        "--service",
        "chat",
        "--account",
        "111122223333",
    ];
    let out = mb::run_async(&args, &offline, LIMIT).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let policy = json(&out);
    let function = policy["Statement"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["Sid"] == "Function"))
        .expect("the function's statement");
    assert_eq!(
        function["Resource"][0],
        "arn:aws:lambda:eu-west-1:111122223333:function:mb-chat-dev-broadcast"
    );
    let out = mb::run_async(
        &[
            "doctor",
            "--policy",
            "--service",
            "chat",
            "--account",
            "1234",
        ],
        &offline,
        LIMIT,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("12 digits"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_service_name_fails_its_check_and_the_rest_still_run() {
    let Some((_moto, _fake, _lambda, vars)) = with_fake(USER).await else {
        return;
    };
    let out = doctor(&["--service", "my_service", "--json"], &vars).await;
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let names = check(&report, "names");
    assert_eq!(names["status"], "fail");
    assert!(
        names["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("my-service")
    );
    assert_eq!(status(&report, "identity"), "pass");
    assert_eq!(status(&report, "toolchain"), "pass");
}

/// Runs `mb doctor` (no credentials: it fails fast) with stdout on a pseudo-terminal and
/// returns what it printed there.
fn on_a_terminal(no_color: bool) -> String {
    let (master, slave) = mb_tests::pty::open();
    let mut command = std::process::Command::new(mb::binary());
    command
        .args(["doctor", "--service", "chat", "--arch", "x86_64"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(slave));
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let status = command.status().expect("run mb doctor");
    assert_eq!(status.code(), Some(1), "no credentials fails");
    drop(command);
    let mut out = Vec::new();
    let mut master = master;
    // Read until the pty reports the other side closed (EIO on Linux).
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut master, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    text(&out)
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let coloured = on_a_terminal(false);
    assert!(coloured.contains("fail"), "{coloured}");
    assert!(
        coloured.contains("\u{1b}["),
        "no colour on a terminal:\n{coloured}"
    );
    let plain = on_a_terminal(true);
    assert!(plain.contains("fail"), "{plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "colour despite NO_COLOR:\n{plain}"
    );
}

/// S3 as it answers HeadBucket with `ExpectedBucketOwner` for a bucket of another account
/// (moto ignores the expected owner): 403 with no body. Records the header of each request.
async fn foreign_s3() -> (loopback::Server, Arc<Mutex<Vec<String>>>) {
    let owners = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&owners);
    let server = loopback::serve(move |request: http::Request<_>| {
        let owner = request
            .headers()
            .get("x-amz-expected-bucket-owner")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        loopback::lock(&seen).push(owner);
        let mut answer = http::Response::new(http_body_util::Empty::<bytes::Bytes>::new());
        *answer.status_mut() = http::StatusCode::FORBIDDEN;
        async move { answer }
    })
    .await;
    (server, owners)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_owned_by_another_account_is_a_hard_failure() {
    let Some((_moto, _fake, _lambda, mut vars)) = with_fake(USER).await else {
        return;
    };
    let (s3, owners) = foreign_s3().await;
    vars.push(("AWS_ENDPOINT_URL_S3", s3.endpoint.clone()));
    let out = doctor(&["--service", "chat", "--json"], &vars).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = json(&out);
    let bucket = check(&report, "bucket");
    assert_eq!(bucket["status"], "fail", "{bucket:#}");
    assert_eq!(bucket["bucket"], "mb-artifacts-123456789012-us-east-1");
    assert!(
        bucket["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("not owned by account 123456789012"),
        "{bucket:#}"
    );
    assert!(
        bucket["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("--bucket")
    );
    // The probe named the owner it expects, as every S3 call of mb does.
    let owners = loopback::lock(&owners).clone();
    assert!(!owners.is_empty());
    assert!(owners.iter().all(|o| o == "123456789012"), "{owners:?}");
}
