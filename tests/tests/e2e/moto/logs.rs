//! `mb logs` against moto, through the built `mb`, as a user runs it: the log group and its
//! events are made with the SDK (as Lambda would write them), and `mb logs` must print
//! every event of the window once, oldest first, across FilterLogEvents pages (moto pages
//! at 10,000 events, one log stream after another); `--json` the messages as stored;
//! `--since` leaves older events out; an absent log group is one clear error and exit 1;
//! `--follow` prints what arrives later and ends with exit 0 on Ctrl-C (SIGINT).
//!
//! mb's calls go through the recorder, which counts the FilterLogEvents pages asked for
//! and checks that `mb doctor --policy` grants what `mb logs` calls.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use mb_tests::moto::Moto;
use mb_tests::recorder::Recorder;
use mb_tests::{mb, text};

const LIMIT: Duration = Duration::from_secs(120);
const GROUP: &str = "/aws/lambda/mb-chat-dev-broadcast";
const FILTER: &str = "CloudWatch Logs FilterLogEvents";
/// One invocation's line, as the function writes it (lambda/src/handler.rs through
/// tracing's JSON formatter, lambda/src/bin/bootstrap.rs).
const INVOCATION: &str = r#"{"level":"INFO","fields":{"message":"invocation","route":"$default","status":200,"recipients":3,"delivered":3,"gone":0,"failed":0,"duration_ms":12.34}}"#;

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

async fn logs_client(moto: &Moto) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config().await)
}

async fn create_group(client: &aws_sdk_cloudwatchlogs::Client) {
    client
        .create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .expect("create the log group");
}

/// Writes `events` (time, message) to `stream`, creating it first when `create`.
async fn put(
    client: &aws_sdk_cloudwatchlogs::Client,
    stream: &str,
    create: bool,
    events: &[(i64, String)],
) {
    if create {
        client
            .create_log_stream()
            .log_group_name(GROUP)
            .log_stream_name(stream)
            .send()
            .await
            .expect("create a log stream");
    }
    // PutLogEvents takes at most 10,000 events per call.
    for chunk in events.chunks(10_000) {
        let batch: Vec<InputLogEvent> = chunk
            .iter()
            .map(|(timestamp, message)| {
                InputLogEvent::builder()
                    .timestamp(*timestamp)
                    .message(message)
                    .build()
                    .expect("an event")
            })
            .collect();
        let out = client
            .put_log_events()
            .log_group_name(GROUP)
            .log_stream_name(stream)
            .set_log_events(Some(batch))
            .send()
            .await
            .expect("put log events");
        assert!(out.rejected_log_events_info().is_none(), "{out:?}");
    }
}

/// Runs `mb logs --service chat` with `extra` against `endpoint`.
async fn logs(endpoint: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "logs",
        "--service",
        "chat",
        "--region",
        "us-east-1",
        "--endpoint-url",
        endpoint,
    ];
    args.extend_from_slice(extra);
    mb::run_async(&args, &mb::loopback_aws_env(), LIMIT).await
}

fn count(recorder: &Recorder, operation: &str) -> usize {
    recorder
        .operations()
        .iter()
        .filter(|o| o.as_str() == operation)
        .count()
}

/// The message part of a printed line (after the time, `YYYY-MM-DD HH:MM:SS.mmmZ  `).
fn message(line: &str) -> &str {
    line.get(26..).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_is_printed_once_oldest_first_across_pages() {
    let Some(moto) = Moto::start() else { return };
    let client = logs_client(&moto).await;
    let recorder = Recorder::start(moto.endpoint.trim_start_matches("http://")).await;
    create_group(&client).await;

    // Stream `a`: 10,000 events, 10 ms apart, starting two minutes ago: moto's first page
    // holds exactly these. Stream `b`, written after, is moto's second page, although its
    // events fall between a's: one 5 ms after the first, one at the same millisecond as
    // a's 5,000th, the invocation line after all of them, and one 20 minutes old.
    let base = now_ms() - 120_000;
    let a: Vec<(i64, String)> = (0..10_000)
        .map(|i| (base + i * 10, format!("a {i:05}")))
        .collect();
    put(&client, "2026/01/01/[$LATEST]a", true, &a).await;
    let b = vec![
        (base - 20 * 60 * 1000, "b twenty minutes old".to_owned()),
        (base + 5, "b early".to_owned()),
        (base + 50_000, "b same time as a 05000".to_owned()),
        (base + 100_000, INVOCATION.to_owned()),
    ];
    put(&client, "2026/01/01/[$LATEST]b", true, &b).await;

    let before = count(&recorder, FILTER);
    let out = logs(&recorder.endpoint, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pages = count(&recorder, FILTER) - before;
    assert_eq!(
        pages,
        2,
        "FilterLogEvents calls: {:?}",
        recorder.operations()
    );

    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let mut expected: Vec<(i64, &str)> = a
        .iter()
        .chain(&b[1..3])
        .map(|(t, m)| (*t, m.as_str()))
        .collect();
    expected.sort_by_key(|(t, _)| *t);
    // Every event of the last ten minutes once, and the invocation last, readably.
    assert_eq!(lines.len(), expected.len() + 1, "{}", text(&out.stderr));
    let printed: BTreeSet<&str> = lines.iter().map(|l| message(l)).collect();
    assert_eq!(printed.len(), lines.len(), "an event was printed twice");
    assert!(
        !stdout.contains("twenty minutes old"),
        "--since 10m is the default"
    );
    assert_eq!(
        message(lines[lines.len() - 1]),
        "$default    200  recipients 3  delivered 3  gone 0  failed 0  12.3 ms"
    );
    // Oldest first: the times never go back, and b's events sit between a's.
    let times: Vec<&str> = lines.iter().map(|l| &l[..24]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times go back");
    assert_eq!(
        lines[..3].iter().map(|l| message(l)).collect::<Vec<_>>(),
        ["a 00000", "b early", "a 00001"]
    );
    let same = lines
        .iter()
        .position(|l| message(l) == "b same time as a 05000")
        .expect("the event at a's time");
    assert!(
        [message(lines[same - 1]), message(lines[same + 1])].contains(&"a 05000"),
        "{:?}",
        &lines[same - 1..=same + 1]
    );
    // Line for line the events' own order (at equal times, the one written first).
    let shown: Vec<&str> = lines[..lines.len() - 1]
        .iter()
        .map(|l| message(l))
        .collect();
    let want: Vec<&str> = expected.iter().map(|(_, m)| *m).collect();
    assert!(shown == want, "the events are not printed in time order");

    // --json: each message as stored, one per line, in the same order; --since 30m takes
    // the old one in.
    let json = logs(&recorder.endpoint, &["--json", "--since", "30m"]).await;
    assert!(json.status.success(), "{}", text(&json.stderr));
    let json = text(&json.stdout);
    let raw: Vec<&str> = json.lines().collect();
    assert_eq!(raw.len(), lines.len() + 1);
    assert_eq!(raw[0], "b twenty minutes old");
    assert_eq!(raw[1..raw.len() - 1], shown[..]);
    assert_eq!(raw[raw.len() - 1], INVOCATION);

    // `mb logs` calls nothing else, and `mb doctor --policy` grants what it calls.
    let called: BTreeSet<String> = recorder.operations().into_iter().collect();
    assert_eq!(called, BTreeSet::from([FILTER.to_owned()]));
    let policy = mb::run_async(
        &[
            "doctor",
            "--policy",
            "--service",
            "chat",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &recorder.endpoint,
        ],
        &mb::loopback_aws_env(),
        LIMIT,
    )
    .await;
    assert!(policy.status.success(), "{}", text(&policy.stderr));
    let policy: serde_json::Value = serde_json::from_slice(&policy.stdout).expect("JSON");
    let grant = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| {
            s["Action"]
                .as_array()
                .is_some_and(|a| a.contains(&"logs:FilterLogEvents".into()))
        })
        .expect("logs:FilterLogEvents is granted");
    assert_eq!(
        grant["Resource"][0],
        format!("arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_absent_log_group_is_one_clear_error() {
    let Some(moto) = Moto::start() else { return };
    let out = logs(&moto.endpoint, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: no log group {GROUP} in us-east-1: ")),
        "{stderr}"
    );
    assert!(
        stderr.contains("`mb info --service chat --stage dev`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // A --since mb cannot read is a usage error, before any call.
    let bad = logs("http://127.0.0.1:9", &["--since", "10 minutes"]).await;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(
        text(&bad.stderr).contains("30s, 10m, 2h or 1d"),
        "{}",
        text(&bad.stderr)
    );
}

/// A child process killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_prints_new_events_once_and_ctrl_c_exits_0() {
    let Some(moto) = Moto::start() else { return };
    let client = logs_client(&moto).await;
    create_group(&client).await;
    put(
        &client,
        "s1",
        true,
        &[(now_ms() - 60_000, "before the start".to_owned())],
    )
    .await;

    let args = [
        "logs",
        "--service",
        "chat",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &moto.endpoint,
        "--follow",
        "--json",
    ];
    let mut child = Killed(
        mb::command(&args, &mb::loopback_aws_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mb logs --follow"),
    );
    let child = &mut child.0;
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let mut wait_for = |want: usize, limit: Duration| {
        let deadline = Instant::now() + limit;
        while printed.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => printed.push(line),
                Err(_) => break,
            }
        }
        printed.clone()
    };
    assert_eq!(wait_for(1, LIMIT), ["before the start"], "nothing printed");

    // Two events at the same millisecond in two streams, written while mb follows.
    let at = now_ms();
    put(&client, "s1", false, &[(at, "new in s1".to_owned())]).await;
    put(&client, "s2", true, &[(at, "new in s2".to_owned())]).await;
    let seen = wait_for(3, LIMIT);
    assert_eq!(seen.len(), 3, "{seen:?}");
    let new: BTreeSet<&str> = seen[1..].iter().map(String::as_str).collect();
    assert_eq!(new, BTreeSet::from(["new in s1", "new in s2"]));
    // Many polls later (100 ms apart), nothing was printed again.
    let later = wait_for(4, Duration::from_secs(2));
    assert_eq!(later.len(), 3, "printed again: {later:?}");

    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mb") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "mb logs --follow did not stop within 10 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let errors = errors.join().unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(0),
        "Ctrl-C ends --follow normally: {errors}"
    );
}
