//! The command line itself: help, versions and usage errors (exit code 2).

use std::process::Command;

fn mb(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mb"))
        .args(args)
        .output()
        .expect("run mb")
}

/// `mb --help` as a user reads it: the usage line, then every command, in the order
/// they are listed, each with the sentence saying what it does.
#[test]
fn help_lists_every_command_with_what_it_does() {
    let output = mb(&["--help"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Usage: mb [OPTIONS] <COMMAND>"), "{stdout}");
    let listed: Vec<(&str, &str)> = stdout
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .map(|line| {
            let line = line.trim();
            let (name, about) = line.split_once(' ').unwrap_or((line, ""));
            (name, about.trim())
        })
        .collect();
    let names: Vec<&str> = listed.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "dev", "build", "template", "deploy", "info", "logs", "publish", "destroy", "doctor",
            "token", "console", "help",
        ],
        "{stdout}"
    );
    for (name, about) in &listed {
        assert!(!about.is_empty(), "`{name}` has no description:\n{stdout}");
    }
    let about = |name: &str| {
        listed
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, about)| *about)
            .unwrap_or_default()
    };
    assert!(about("dev").contains("no AWS account needed"), "{stdout}");
    assert!(about("deploy").contains("wss:// URL"), "{stdout}");
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let output = mb(&["dev", "--port", "eighty"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--port"), "{stderr}");

    let output = mb(&["dev", "--concurrency", "0"]);
    assert_eq!(output.status.code(), Some(2));

    let output = mb(&["no-such-command"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn table_needs_a_dynamodb_endpoint() {
    let output = mb(&["dev", "--table", "t"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--dynamodb-endpoint"), "{stderr}");
}

#[test]
fn an_invalid_service_name_is_a_usage_error_with_the_fix() {
    let output = mb(&[
        "template",
        "--service",
        "my_service",
        "--region",
        "us-east-1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`_`"), "{stderr}");
    assert!(stderr.contains("Try `my-service`"), "{stderr}");
    assert!(output.stdout.is_empty(), "no template printed");
}

#[test]
fn a_name_too_long_for_a_derived_resource_names_that_resource() {
    let long = "s".repeat(60);
    let output = mb(&["template", "--service", &long, "--region", "us-east-1"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("Lambda function name `mb-{long}-dev-broadcast`")),
        "{stderr}"
    );
    assert!(stderr.contains("13 over its limit of 64"), "{stderr}");
    assert!(stderr.contains("47 characters or fewer"), "{stderr}");
}

#[test]
fn build_refuses_a_missing_artifact_and_an_unknown_arch() {
    let output = mb(&["build", "--arch", "sparc"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("arm64"));

    let output = mb(&["build", "--artifact", "/nonexistent/bootstrap.zip"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/bootstrap.zip"), "{stderr}");
}
