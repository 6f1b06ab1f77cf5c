//! The command line itself: help, versions and usage errors (exit code 2).

use std::process::Command;

fn mb(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mb"))
        .args(args)
        .output()
        .expect("run mb")
}

#[test]
fn help_lists_dev() {
    let output = mb(&["--help"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("dev"), "{stdout}");
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
