//! Stack states moto never reaches, through the built `mb` binary and the real
//! CloudFormation SDK client, against a loopback fake speaking CloudFormation's
//! query/XML protocol (`mb_tests::fake_cloudformation`). STS and S3 are moto's.
//!
//! The fake releases an operation's progress one step per DescribeStacks call, so `mb`
//! sees IN_PROGRESS states and events arrive over several polls; it refuses to update or
//! create where CloudFormation would, so a deploy that did not wait would fail here.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mb_tests::fake_cloudformation::{Call, EventSpec, FakeCloudFormation, StackSetup};
use mb_tests::mb;
use mb_tests::moto::Moto;

const LIMIT: Duration = Duration::from_secs(120);
const STACK: &str = "mb-chat-dev";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// moto for STS and S3, the fake for CloudFormation, and the arguments of a deploy.
struct World {
    moto: Moto,
    fake: FakeCloudFormation,
    dir: PathBuf,
}

impl World {
    async fn start(stack: Option<StackSetup>) -> Option<World> {
        let moto = Moto::start()?;
        let fake = FakeCloudFormation::start(stack).await;
        let dir = std::env::temp_dir().join(format!(
            "mb-states-{}-{}",
            std::process::id(),
            fake.endpoint.rsplit(':').next().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Some(World { moto, fake, dir })
    }

    fn vars(&self) -> Vec<(&str, &str)> {
        let mut vars = mb::loopback_aws_env();
        vars.push(("AWS_ENDPOINT_URL", &self.moto.endpoint));
        vars.push(("AWS_ENDPOINT_URL_CLOUDFORMATION", &self.fake.endpoint));
        vars
    }

    fn artifact(&self) -> String {
        mb_tests::tiny_artifact(&self.dir)
            .to_string_lossy()
            .into_owned()
    }

    async fn mb(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--service", "chat", "--region", "us-east-1"]);
        mb::run_async(&all, &self.vars(), LIMIT).await
    }

    async fn deploy(&self, extra: &[&str]) -> std::process::Output {
        let artifact = self.artifact();
        let mut args = vec!["deploy", "--arch", "x86_64", "--artifact", &artifact];
        args.extend(extra);
        self.mb(&args).await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn actions(calls: &[Call]) -> Vec<&str> {
    calls.iter().map(|c| c.action.as_str()).collect()
}

/// The calls that change a stack, each with the status it met.
const MUTATING: [&str; 7] = [
    "CreateStack",
    "CreateChangeSet",
    "ExecuteChangeSet",
    "DeleteStack",
    "UpdateStack",
    "RollbackStack",
    "ContinueUpdateRollback",
];

/// The calls that changed the stack, in order.
fn mutating(calls: &[Call]) -> Vec<&str> {
    actions(calls)
        .into_iter()
        .filter(|a| MUTATING.contains(a))
        .collect()
}

fn assert_never_acted_in_progress(calls: &[Call]) {
    for call in calls
        .iter()
        .filter(|c| MUTATING.contains(&c.action.as_str()))
    {
        let status = call.status_before.as_deref().unwrap_or("none");
        assert!(
            !status.ends_with("_IN_PROGRESS") || status == "REVIEW_IN_PROGRESS",
            "{} was called while the stack was {status}",
            call.action
        );
    }
}

fn event(logical_id: &str, resource_type: &str, status: &str, reason: Option<&str>) -> EventSpec {
    EventSpec {
        logical_id: logical_id.to_owned(),
        resource_type: resource_type.to_owned(),
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
    }
}

/// The event lines mb printed: (status, logical id), in order.
fn printed_events(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let time = words.next()?;
            if time.len() != 8 || time.as_bytes().get(2) != Some(&b':') {
                return None;
            }
            let status = words.next()?.to_owned();
            let _type = words.next()?;
            let logical = words.next()?.to_owned();
            Some((status, logical))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_meeting_a_rollback_cleanup_waits_for_it_then_updates() {
    let mut setup = StackSetup::new(STACK, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS");
    setup.then = vec!["UPDATE_ROLLBACK_COMPLETE".to_owned()];
    setup.history = vec![
        event(
            STACK,
            "AWS::CloudFormation::Stack",
            "UPDATE_IN_PROGRESS",
            Some("User Initiated"),
        ),
        event(
            "Function",
            "AWS::Lambda::Function",
            "UPDATE_FAILED",
            Some("an old failure"),
        ),
        event(
            STACK,
            "AWS::CloudFormation::Stack",
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
            None,
        ),
    ];
    let Some(world) = World::start(Some(setup)).await else {
        return;
    };
    let out = world.deploy(&["--yes"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
            && stderr.contains("waiting"),
        "the wait is shown: {stderr}"
    );
    assert!(
        !stderr.contains("an old failure"),
        "old events are not printed: {stderr}"
    );
    let calls = world.fake.calls();
    assert_never_acted_in_progress(&calls);
    let change = calls
        .iter()
        .find(|c| c.action == "CreateChangeSet")
        .expect("a change set");
    assert_eq!(
        change.status_before.as_deref(),
        Some("UPDATE_ROLLBACK_COMPLETE")
    );
    assert_eq!(
        change.params.get("ChangeSetType").map(String::as_str),
        Some("UPDATE")
    );
    assert!(actions(&calls).contains(&"ExecuteChangeSet"));
    assert_eq!(world.fake.status().as_deref(), Some("UPDATE_COMPLETE"));
    assert!(
        text(&out.stdout).starts_with("wss://"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_first_create_is_deleted_and_created_again() {
    let Some(world) = World::start(Some(StackSetup::new(STACK, "ROLLBACK_COMPLETE"))).await else {
        return;
    };
    // Without a terminal and without --yes, nothing is deleted.
    let refused = world.deploy(&[]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("--yes"));
    assert!(!actions(&world.fake.calls()).contains(&"DeleteStack"));

    let out = world.deploy(&["--yes"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let calls = world.fake.calls();
    assert_never_acted_in_progress(&calls);
    let mutating = mutating(&calls);
    assert_eq!(mutating, ["DeleteStack", "CreateStack"]);
    let create = calls
        .iter()
        .find(|c| c.action == "CreateStack")
        .expect("CreateStack");
    assert_eq!(
        create
            .params
            .get("Capabilities.member.1")
            .map(String::as_str),
        Some("CAPABILITY_NAMED_IAM")
    );
    assert_eq!(world.fake.status().as_deref(), Some("CREATE_COMPLETE"));
    assert!(stderr.contains("DELETE_COMPLETE") && stderr.contains("CREATE_COMPLETE"));
    assert!(text(&out.stdout).starts_with("wss://"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_update_names_the_failed_resource_and_exits_1() {
    let mut setup = StackSetup::new(STACK, "UPDATE_COMPLETE");
    setup.history = vec![event(
        STACK,
        "AWS::CloudFormation::Stack",
        "UPDATE_COMPLETE",
        None,
    )];
    let Some(world) = World::start(Some(setup)).await else {
        return;
    };
    let reason =
        "Resource handler returned message: \"Memory size 99999 is not within 128 and 10240\"";
    world.fake.fail_next_operation("Function", reason);
    let out = world.deploy(&["--yes"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: the update failed"), "{last}");
    assert!(last.contains("rolled back"), "{last}");
    assert!(
        last.contains(&format!(
            "Cause: Function (AWS::Lambda::Function) UPDATE_FAILED: {reason}"
        )),
        "{last}"
    );
    assert_eq!(
        world.fake.status().as_deref(),
        Some("UPDATE_ROLLBACK_COMPLETE")
    );

    // Every event of the update, printed once each, oldest first: as the SDK lists them
    // (newest first, paginated), reversed, without the one that was there before.
    let config = mb_tests::sdk_config(Some(&world.fake.endpoint), None).await;
    let client = aws_sdk_cloudformation::Client::new(&config);
    let mut all = Vec::new();
    let mut items = client
        .describe_stack_events()
        .stack_name(STACK)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = items.next().await {
        let e = item.expect("an event");
        all.push((
            e.resource_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            e.logical_resource_id().unwrap_or_default().to_owned(),
        ));
    }
    all.reverse();
    let expected = all[1..].to_vec();
    assert!(
        expected.len() >= 6,
        "the fake's update has its steps: {expected:?}"
    );
    assert_eq!(printed_events(&stderr), expected, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_rollback_is_continued_with_yes_then_updated() {
    let Some(world) = World::start(Some(StackSetup::new(STACK, "UPDATE_ROLLBACK_FAILED"))).await
    else {
        return;
    };
    let out = world.deploy(&["--yes"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let calls = world.fake.calls();
    assert_never_acted_in_progress(&calls);
    let mutating = mutating(&calls);
    assert_eq!(
        mutating,
        [
            "ContinueUpdateRollback",
            "CreateChangeSet",
            "ExecuteChangeSet"
        ]
    );
    assert_eq!(world.fake.status().as_deref(), Some("UPDATE_COMPLETE"));
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_failed_lists_the_resource_and_keeps_the_artifacts() {
    let mut setup = StackSetup::new(STACK, "UPDATE_COMPLETE");
    setup.parameters = vec![(
        "ArtifactBucket".to_owned(),
        "mb-artifacts-123456789012-us-east-1".to_owned(),
    )];
    let Some(world) = World::start(Some(setup)).await else {
        return;
    };
    let config = world.moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("mb-artifacts-123456789012-us-east-1")
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket("mb-artifacts-123456789012-us-east-1")
        .key("chat/dev/abc.zip")
        .body(b"zip".to_vec().into())
        .send()
        .await
        .expect("artifact");
    let reason = "Table mb-chat-dev-connections is in use by a backup";
    world.fake.fail_next_operation("Table", reason);
    let out = world.mb(&["destroy", "--yes"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not be deleted (DELETE_FAILED)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("  Table (AWS::DynamoDB::Table): {reason}")),
        "{stderr}"
    );
    let kept = s3
        .list_objects_v2()
        .bucket("mb-artifacts-123456789012-us-east-1")
        .send()
        .await
        .expect("list");
    assert_eq!(kept.key_count(), Some(1), "the artifacts are kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_waiting_leaves_the_stack_to_cloudformation() {
    // An update that never ends while mb watches.
    let Some(world) = World::start(Some(StackSetup::new(STACK, "UPDATE_IN_PROGRESS"))).await else {
        return;
    };
    let artifact = world.artifact();
    let mut command = Command::new(mb::binary());
    for (name, value) in world.vars() {
        command.env(name, value);
    }
    let mut child = command
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .args([
            "deploy",
            "--service",
            "chat",
            "--region",
            "us-east-1",
            "--arch",
            "x86_64",
            "--artifact",
            &artifact,
            "--yes",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mb deploy");
    // Wait until mb is polling the stack: its second DescribeStackEvents is the first poll
    // of the follow loop (the first one marks the events that were there before).
    let started = Instant::now();
    let polls = || {
        actions(&world.fake.calls())
            .iter()
            .filter(|a| **a == "DescribeStackEvents")
            .count()
    };
    while polls() < 2 {
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mb never started waiting");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let output = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return child.wait_with_output().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    })
    .await
    .expect("wait thread")
    .expect("mb exits after Ctrl-C");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("CloudFormation carries on"), "{stderr}");
    assert!(
        stderr.contains("the next `mb deploy` waits for it"),
        "{stderr}"
    );
    let calls = world.fake.calls();
    assert!(
        !calls.iter().any(|c| MUTATING.contains(&c.action.as_str())),
        "nothing was changed: {:?}",
        actions(&calls)
    );
    assert_eq!(world.fake.status().as_deref(), Some("UPDATE_IN_PROGRESS"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_left_in_review_is_created_with_a_create_change_set() {
    let Some(world) = World::start(Some(StackSetup::new(STACK, "REVIEW_IN_PROGRESS"))).await else {
        return;
    };
    let out = world.deploy(&["--yes"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let calls = world.fake.calls();
    let mutating = mutating(&calls);
    assert_eq!(mutating, ["CreateChangeSet", "ExecuteChangeSet"]);
    let change = calls
        .iter()
        .find(|c| c.action == "CreateChangeSet")
        .expect("a change set");
    assert_eq!(
        change.params.get("ChangeSetType").map(String::as_str),
        Some("CREATE")
    );
    assert_eq!(world.fake.status().as_deref(), Some("CREATE_COMPLETE"));
    assert!(
        text(&out.stdout).starts_with("wss://"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_update_without_rollback_is_rolled_back_then_updated() {
    let Some(world) = World::start(Some(StackSetup::new(STACK, "UPDATE_FAILED"))).await else {
        return;
    };
    let out = world.deploy(&["--yes"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let calls = world.fake.calls();
    assert_never_acted_in_progress(&calls);
    let mutating = mutating(&calls);
    assert_eq!(
        mutating,
        ["RollbackStack", "CreateChangeSet", "ExecuteChangeSet"]
    );
    assert_eq!(world.fake.status().as_deref(), Some("UPDATE_COMPLETE"));
}
