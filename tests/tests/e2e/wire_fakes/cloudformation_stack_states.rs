//! Stack states moto never reaches, through the built `mb` binary and the real
//! CloudFormation SDK client, against a loopback fake speaking CloudFormation's
//! query/XML protocol (`mb_tests::fake_cloudformation`). STS and S3 are moto's.
//!
//! The fake releases an operation's progress one step per DescribeStacks call, so `mb`
//! sees IN_PROGRESS states and events arrive over several polls; it refuses to update or
//! create where CloudFormation would, so a deploy that did not wait would fail here.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mb_tests::fake_cloudformation::{Call, EventSpec, FakeCloudFormation, StackSetup};
use mb_tests::moto::Moto;
use mb_tests::{mb, text};

const LIMIT: Duration = Duration::from_secs(120);
const STACK: &str = "mb-chat-dev";

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

    /// The arguments of `mb deploy` (with `extra`) for this world's service.
    fn deploy_args(&self, extra: &[&str]) -> Vec<String> {
        let artifact = self.artifact();
        let mut args = vec!["deploy", "--arch", "x86_64", "--artifact", &artifact];
        args.extend(["--service", "chat", "--region", "us-east-1"]);
        args.extend(extra);
        args.into_iter().map(str::to_owned).collect()
    }

    /// `mb deploy` (with `extra`) started in the background.
    fn start_deploy(&self, extra: &[&str]) -> mb::Running {
        let args = self.deploy_args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        mb::Running::start(&args, &self.vars())
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
    let reason = "Table mb-chat-dev-rooms is in use by a backup";
    world.fake.fail_next_operation("Rooms", reason);
    let out = world.mb(&["destroy", "--yes"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not be deleted (DELETE_FAILED)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("  Rooms (AWS::DynamoDB::Table): {reason}")),
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

/// The change sets mb named in its CreateChangeSet calls, in order.
fn change_set_names(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.action == "CreateChangeSet")
        .filter_map(|c| c.params.get("ChangeSetName").cloned())
        .collect()
}

/// The DeleteChangeSet calls for the change set named `name` (mb deletes by id, an ARN
/// holding the name).
fn deletes_of<'a>(calls: &'a [Call], name: &str) -> Vec<&'a Call> {
    calls
        .iter()
        .filter(|c| c.action == "DeleteChangeSet")
        .filter(|c| {
            c.params
                .get("ChangeSetName")
                .is_some_and(|id| id == name || id.contains(&format!(":changeSet/{name}/")))
        })
        .collect()
}

/// CloudFormation's rule for a change set's name.
fn valid_change_set_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c == '-' || c.is_ascii_alphanumeric())
}

/// Waits (at most [`LIMIT`]) until the fake has received `count` requests of `action`.
async fn until_called(fake: &FakeCloudFormation, action: &str, count: usize) {
    let started = Instant::now();
    while actions(&fake.calls())
        .iter()
        .filter(|a| **a == action)
        .count()
        < count
    {
        assert!(
            started.elapsed() < LIMIT,
            "mb never called {action} {count} time(s): {:?}",
            actions(&fake.calls())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_deploys_in_the_same_second_name_two_change_sets_and_leave_none() {
    let Some(world) = World::start(Some(StackSetup::new(STACK, "UPDATE_COMPLETE"))).await else {
        return;
    };
    // Neither change set can be described: each deploy fails after creating its own, which
    // must then be deleted.
    world.fake.deny("DescribeChangeSet");
    for _attempt in 0..3 {
        // Start both just after a second begins, so that both name their change set in it.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970");
        tokio::time::sleep(
            Duration::from_millis(1_020) - Duration::from_nanos(u64::from(now.subsec_nanos())),
        )
        .await;
        let before = world.fake.calls().len();
        let first = world.start_deploy(&["--yes"]);
        let second = world.start_deploy(&["--yes"]);
        let outputs = [
            first.finish_async(LIMIT).await,
            second.finish_async(LIMIT).await,
        ];
        let calls = world.fake.calls()[before..].to_vec();
        let names = change_set_names(&calls);
        assert_eq!(names.len(), 2, "{:?}", actions(&calls));
        assert_ne!(names[0], names[1], "two deploys, one change set name");
        for name in &names {
            assert!(valid_change_set_name(name), "{name}");
            let deletes = deletes_of(&calls, name);
            assert_eq!(
                deletes.len(),
                1,
                "one DeleteChangeSet of {name}: {:?}",
                actions(&calls)
            );
        }
        for out in &outputs {
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            let last = stderr.lines().last().unwrap_or_default();
            assert!(
                last.contains("DescribeChangeSet"),
                "the original error stays: {stderr}"
            );
            assert!(
                names.iter().any(|n| stderr.contains(&format!(
                    "deleted the change set {n}, which was not executed"
                ))),
                "the deletion is reported: {stderr}"
            );
        }
        assert!(
            world.fake.change_sets().is_empty(),
            "{:?}",
            world.fake.change_sets()
        );
        assert!(!actions(&calls).contains(&"ExecuteChangeSet"));
        // `mb-<time>-<random>`: the same time is the case this test is about.
        let time = |name: &str| name.split('-').nth(1).map(str::to_owned);
        if time(&names[0]) == time(&names[1]) {
            return;
        }
    }
    panic!("in three tries, the two deploys never named their change sets in the same second");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_the_change_set_is_computed_deletes_it_and_exits_130() {
    let Some(world) = World::start(Some(StackSetup::new(STACK, "UPDATE_COMPLETE"))).await else {
        return;
    };
    // CloudFormation computes it for a while, and refuses to delete it meanwhile.
    world.fake.hold_change_sets(30);
    let running = world.start_deploy(&["--yes"]);
    until_called(&world.fake, "DescribeChangeSet", 2).await;
    running.interrupt();
    let out = running.finish_async(Duration::from_secs(60)).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let calls = world.fake.calls();
    let names = change_set_names(&calls);
    assert_eq!(names.len(), 1, "{:?}", actions(&calls));
    assert!(
        !deletes_of(&calls, &names[0]).is_empty(),
        "DeleteChangeSet of {}: {:?}",
        names[0],
        actions(&calls)
    );
    assert!(
        world.fake.change_sets().is_empty(),
        "{:?}",
        world.fake.change_sets()
    );
    assert!(!actions(&calls).contains(&"ExecuteChangeSet"));
    assert!(
        stderr.contains(&format!(
            "deleted the change set {}, which was not executed",
            names[0]
        )),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("error: interrupted"),
        "{stderr}"
    );
}

/// `mb` on a pseudo-terminal (stdin, stdout and stderr), as a user runs it: the test reads
/// what it shows and types keys.
struct OnTerminal {
    child: std::process::Child,
    master: std::fs::File,
    shown: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl OnTerminal {
    fn start(args: &[&str], vars: &[(&str, &str)]) -> OnTerminal {
        let (master, slave) = mb_tests::pty::open();
        let mut command = mb::command(args, vars);
        command
            .stdin(Stdio::from(slave.try_clone().expect("dup the pty")))
            .stdout(Stdio::from(slave.try_clone().expect("dup the pty")))
            .stderr(Stdio::from(slave));
        let child = command.spawn().expect("start mb on a pty");
        // The parent's copies of the terminal's side go: the child's end closing ends the
        // reads below.
        drop(command);
        let shown = Arc::new(Mutex::new(Vec::new()));
        let mut from = master.try_clone().expect("dup the pty master");
        let into = Arc::clone(&shown);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Until the other side is closed (EIO on Linux).
            while let Ok(n @ 1..) = from.read(&mut buf) {
                into.lock().expect("output").extend_from_slice(&buf[..n]);
            }
        });
        OnTerminal {
            child,
            master,
            shown,
            reader,
        }
    }

    fn shown(&self) -> String {
        text(&self.shown.lock().expect("output"))
    }

    /// Waits (at most [`LIMIT`]) until `wanted` is on the screen, then until the terminal
    /// is in raw mode (where the prompt reads keys, and Ctrl-C is a byte, 0x03).
    async fn wait_for_prompt(&mut self, wanted: &str) {
        let started = Instant::now();
        loop {
            let raw = {
                use std::os::fd::AsRawFd;
                let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
                // SAFETY: the descriptor is open; tcgetattr fills the struct on success.
                let got = unsafe { libc::tcgetattr(self.master.as_raw_fd(), termios.as_mut_ptr()) };
                // SAFETY: initialised by the successful call.
                got == 0 && unsafe { termios.assume_init() }.c_lflag & libc::ICANON == 0
            };
            if raw && self.shown().contains(wanted) {
                return;
            }
            if started.elapsed() > LIMIT || matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = self.child.kill();
                panic!(
                    "no prompt `{wanted}` on the terminal; it shows:\n{}",
                    self.shown()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn press(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("type on the pty");
    }

    /// Waits (at most 30 s) for the exit; returns it with everything shown.
    async fn finish(mut self) -> (ExitStatus, String) {
        let started = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("mb did not exit; it shows:\n{}", self.shown());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        drop(self.master);
        let _ = tokio::task::spawn_blocking(move || self.reader.join()).await;
        let shown = text(&self.shown.lock().expect("output"));
        (status, shown)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_at_the_destroy_confirmation_exits_130_and_deletes_nothing() {
    let Some(world) = World::start(Some(StackSetup::new(STACK, "UPDATE_COMPLETE"))).await else {
        return;
    };
    let mut mb = OnTerminal::start(
        &["destroy", "--service", "chat", "--region", "us-east-1"],
        &world.vars(),
    );
    mb.wait_for_prompt("Type the service name").await;
    mb.press(&[0x03]);
    let (status, shown) = mb.finish().await;
    assert_eq!(status.code(), Some(130), "{shown}");
    assert!(shown.contains("error: interrupted"), "{shown}");
    assert!(shown.contains("nothing was deleted"), "{shown}");
    assert!(!actions(&world.fake.calls()).contains(&"DeleteStack"));
    assert_eq!(world.fake.status().as_deref(), Some("UPDATE_COMPLETE"));
}

/// A deploy on a terminal up to "Deploy these changes?", answered with `keys`.
async fn answer_the_deploy_prompt(
    keys: &[u8],
) -> Option<(ExitStatus, String, Vec<Call>, Vec<String>)> {
    let world = World::start(Some(StackSetup::new(STACK, "UPDATE_COMPLETE"))).await?;
    let args = world.deploy_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut mb = OnTerminal::start(&args, &world.vars());
    mb.wait_for_prompt("Deploy these changes?").await;
    mb.press(keys);
    let (status, shown) = mb.finish().await;
    Some((status, shown, world.fake.calls(), world.fake.change_sets()))
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_at_the_deploy_prompt_exits_130_and_deletes_the_change_set() {
    let Some((status, shown, calls, left)) = answer_the_deploy_prompt(&[0x03]).await else {
        return;
    };
    assert_eq!(status.code(), Some(130), "{shown}");
    assert!(shown.contains("error: interrupted"), "{shown}");
    let names = change_set_names(&calls);
    assert_eq!(names.len(), 1, "{:?}", actions(&calls));
    assert_eq!(
        deletes_of(&calls, &names[0]).len(),
        1,
        "{:?}",
        actions(&calls)
    );
    assert!(left.is_empty(), "{left:?}");
    assert!(!actions(&calls).contains(&"ExecuteChangeSet"));
    assert!(
        shown.contains(&format!("deleted the change set {}", names[0])),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_at_the_deploy_prompt_exits_1_and_deletes_the_change_set() {
    let Some((status, shown, calls, left)) = answer_the_deploy_prompt(b"n").await else {
        return;
    };
    assert_eq!(status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("error: deploy cancelled; nothing was changed"),
        "{shown}"
    );
    let names = change_set_names(&calls);
    assert_eq!(names.len(), 1, "{:?}", actions(&calls));
    assert_eq!(
        deletes_of(&calls, &names[0]).len(),
        1,
        "{:?}",
        actions(&calls)
    );
    assert!(left.is_empty(), "{left:?}");
    assert!(!actions(&calls).contains(&"ExecuteChangeSet"));
}

/// A stack deployed by the version before channels (its template, rendered as that
/// version's `mb template --format json --service chat --region us-east-1` did, is
/// tests/fixtures/broadcast-v12.json) updates through `mb deploy`: the change set adds
/// the rooms table under its new logical id and removes the old connection table, adds
/// the publish URL, and modifies the function and its role in place (the table's name
/// reaches them through `Ref`/`GetAtt`); CloudFormation creates the new table before it
/// points the function at it, and deletes the old one in the cleanup phase.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_from_the_version_before_channels_swaps_the_table() {
    let mut setup = StackSetup::new(STACK, "UPDATE_COMPLETE");
    setup.template_body = include_str!("../../../fixtures/broadcast-v12.json").to_owned();
    let previous: serde_json::Value =
        serde_json::from_str(&setup.template_body).expect("the fixture is JSON");
    setup.resources = previous["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .map(|(id, r)| {
            (
                id.clone(),
                r["Type"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        setup
            .resources
            .contains(&("Table".into(), "AWS::DynamoDB::Table".into()))
    );
    let Some(world) = World::start(Some(setup)).await else {
        return;
    };
    let out = world.deploy(&["--yes"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    // The change set as mb shows it before executing it.
    let rows: Vec<Vec<&str>> = stderr
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 3 && ["Add", "Modify", "Remove"].contains(&w[0]))
        .collect();
    let row = |id: &str| {
        rows.iter()
            .find(|w| w[1] == id)
            .unwrap_or_else(|| panic!("no change for {id} in:\n{stderr}"))
            .clone()
    };
    assert_eq!(row("Rooms"), ["Add", "Rooms", "AWS::DynamoDB::Table"]);
    assert_eq!(row("Table"), ["Remove", "Table", "AWS::DynamoDB::Table"]);
    assert_eq!(row("PublishUrl"), ["Add", "PublishUrl", "AWS::Lambda::Url"]);
    // Where continuations Lambda gives up on are recorded, which that version lacked.
    assert_eq!(
        row("LostContinuations"),
        ["Add", "LostContinuations", "AWS::SQS::Queue"]
    );
    assert_eq!(
        row("AsyncInvokes"),
        ["Add", "AsyncInvokes", "AWS::Lambda::EventInvokeConfig"]
    );
    // In place: no replacement of the function (its URL and permissions stay) or role.
    assert_eq!(
        row("Function"),
        ["Modify", "Function", "AWS::Lambda::Function"]
    );
    assert_eq!(
        row("FunctionRole"),
        ["Modify", "FunctionRole", "AWS::IAM::Role"]
    );
    assert!(!stderr.contains("replaced"), "{stderr}");
    // Without --auth jwt the token resources are not created (their condition is false).
    for absent in ["AuthSecret", "Authorizer", "AuthorizerPermission"] {
        assert!(rows.iter().all(|w| w[1] != absent), "{absent} in {rows:?}");
    }
    // Besides: the $connect route (its authorization is now conditional), and the API's
    // deployment, which follows its routes, with the stage that points at it.
    let others: Vec<&str> = rows
        .iter()
        .map(|w| w[1])
        .filter(|id| {
            ![
                "Rooms",
                "Table",
                "PublishUrl",
                "LostContinuations",
                "AsyncInvokes",
                "Function",
                "FunctionRole",
            ]
            .contains(id)
        })
        .filter(|id| !id.starts_with("Deployment"))
        .collect();
    assert_eq!(others, ["ConnectRoute", "Stage"], "{rows:?}");

    // The update: the new table before the function, the old one deleted in cleanup.
    let events = printed_events(&stderr);
    let at = |id: &str, status: &str| {
        events
            .iter()
            .position(|(s, l)| s == status && l == id)
            .unwrap_or_else(|| panic!("no {id} {status} in {events:?}"))
    };
    assert!(at("Rooms", "CREATE_COMPLETE") < at("Function", "UPDATE_IN_PROGRESS"));
    assert!(
        at(STACK, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS") < at("Table", "DELETE_COMPLETE"),
        "{events:?}"
    );
    assert_eq!(world.fake.status().as_deref(), Some("UPDATE_COMPLETE"));
    let resources = world.fake.resources();
    let ids: Vec<&str> = resources.iter().map(|(id, _)| id.as_str()).collect();
    assert!(
        ids.contains(&"Rooms") && ids.contains(&"PublishUrl"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"Table"), "{ids:?}");
    assert_never_acted_in_progress(&world.fake.calls());
}

/// The stage serves its deployment's snapshot of the routes and authorizers. Turning
/// tokens on (`--auth jwt`) and off again changes the `$connect` route and adds or removes
/// the authorizer only through the `Auth` parameter, so each step must create a new
/// deployment after those changes, and point the stage at it; a redeploy with nothing
/// changed must change nothing. The fake models the snapshot (`served`): a route or
/// authorizer changed after the served deployment was created is stale.
#[tokio::test(flavor = "multi_thread")]
async fn turning_tokens_on_and_off_redeploys_the_api() {
    let Some(world) = World::start(None).await else {
        return;
    };
    let mut last: Option<mb_tests::fake_cloudformation::Served> = None;
    for (step, extra) in [
        ("open", &["--yes"][..]),
        ("--auth jwt", &["--yes", "--auth", "jwt"][..]),
        ("open again", &["--yes", "--auth", "none"][..]),
    ] {
        let out = world.deploy(extra).await;
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{step}: {stderr}");
        assert_eq!(
            world.fake.status().as_deref(),
            Some(if step == "open" {
                "CREATE_COMPLETE"
            } else {
                "UPDATE_COMPLETE"
            }),
            "{step}"
        );
        let served = world.fake.served().expect("a stage");
        assert!(
            served.stale.is_empty(),
            "{step}: the stage serves {} from before these changes: {:?}\n{stderr}",
            served.deployment,
            served.stale
        );
        let created = served
            .created
            .expect("the deployment was created by this deploy");
        if let Some(previous) = &last {
            assert_ne!(served.deployment, previous.deployment, "{step}");
            assert!(created > previous.created.unwrap_or_default(), "{step}");
        }
        let ids: Vec<String> = world
            .fake
            .resources()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            ids.iter().any(|id| id == "Authorizer"),
            step == "--auth jwt",
            "{step}: {ids:?}"
        );
        last = Some(served);
    }

    // The same settings again: no change set is executed, the stage keeps its deployment.
    let before = world.fake.calls().len();
    let out = world.deploy(&["--yes"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("no changes"), "{stderr}");
    let calls = world.fake.calls();
    assert!(
        !calls[before..]
            .iter()
            .any(|c| c.action == "ExecuteChangeSet"),
        "{:?}",
        actions(&calls[before..])
    );
    assert_eq!(world.fake.served(), last);
}
