//! `mb dev` cuts connections as API Gateway does: every connection after
//! `--max-connection-seconds` (2 hours by default) whatever its traffic, and one without a
//! message in either direction for `--idle-timeout-seconds` (10 minutes), each with close
//! 1001 "Going away" and a `$disconnect`. A client's `ping` action and copies posted to it
//! (a broadcast, a publish, a Management API post) are messages; the tests use seconds
//! where AWS uses minutes. Every wait is bounded.

use std::time::{Duration, Instant};

use mb_tests::mb::{self, DevServer};
use mb_tests::ws::{Client, Next};

/// How a client's session ended: the close frame's code and reason and when it came, or
/// `None` if the connection was still open at the limit; and how many text frames came.
struct Session {
    closed: Option<(u16, String, Duration)>,
    texts: usize,
}

/// Reads `client` for at most `limit`, sending `{"action":"ping"}` every `ping_every`
/// when given, until the server closes it.
async fn session(client: &mut Client, ping_every: Option<Duration>, limit: Duration) -> Session {
    let start = Instant::now();
    let mut texts = 0;
    while start.elapsed() < limit {
        if ping_every.is_some() {
            client.send_text(r#"{"action":"ping"}"#).await;
        }
        let until_next = ping_every
            .unwrap_or(limit)
            .min(limit.saturating_sub(start.elapsed()));
        let slice_end = Instant::now() + until_next;
        loop {
            let left = slice_end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match client.next_within(left).await {
                Next::Text(_) => texts += 1,
                Next::Close(frame) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
                        .unwrap_or((1005, String::new()));
                    return Session {
                        closed: Some((code, reason, start.elapsed())),
                        texts,
                    };
                }
                Next::Silent => break,
                other => panic!("expected frames or a close frame, got {other:?}"),
            }
        }
    }
    Session {
        closed: None,
        texts,
    }
}

/// Fails unless `session` ended with API Gateway's close (1001 "Going away") within
/// `window` of its start.
fn assert_going_away(session: &Session, window: std::ops::Range<Duration>, what: &str) {
    match &session.closed {
        Some((code, reason, after)) => {
            assert_eq!((*code, reason.as_str()), (1001, "Going away"), "{what}");
            assert!(
                window.contains(after),
                "{what}: closed after {after:?}, expected within {window:?}"
            );
        }
        None => panic!("{what}: the connection was not closed"),
    }
}

/// Waits (at most 10 s) for `n` `$disconnect` invocation lines in `dev`'s log.
async fn disconnects(dev: &DevServer, n: usize) -> usize {
    let count = || {
        dev.stderr()
            .iter()
            .filter(|l| l.contains("invocation") && l.contains("$disconnect"))
            .count()
    };
    mb_tests::eventually(Duration::from_secs(10), || {
        let seen = count();
        async move { seen >= n }
    })
    .await;
    count()
}

#[tokio::test]
async fn a_connection_is_cut_at_its_maximum_lifetime_even_while_it_talks() {
    let dev = DevServer::start(&["--max-connection-seconds", "2"]);
    let mut client = Client::connect(&dev.url).await;
    let talked = session(
        &mut client,
        Some(Duration::from_millis(250)),
        Duration::from_secs(15),
    )
    .await;
    assert_going_away(
        &talked,
        Duration::from_millis(1800)..Duration::from_secs(6),
        "a client pinging every 250 ms past its lifetime",
    );
    assert!(
        talked.texts >= 4,
        "pongs came back meanwhile: {}",
        talked.texts
    );
    assert_eq!(disconnects(&dev, 1).await, 1, "the cut runs $disconnect");
}

#[tokio::test]
async fn an_idle_connection_is_cut_after_the_idle_timeout() {
    let dev = DevServer::start(&["--idle-timeout-seconds", "2"]);
    let mut client = Client::connect(&dev.url).await;
    let idle = session(&mut client, None, Duration::from_secs(15)).await;
    assert_going_away(
        &idle,
        Duration::from_millis(1800)..Duration::from_secs(6),
        "a client that says nothing",
    );
    assert_eq!(disconnects(&dev, 1).await, 1, "the cut runs $disconnect");
}

#[tokio::test]
async fn pings_more_often_than_the_idle_timeout_keep_a_connection() {
    let dev = DevServer::start(&["--idle-timeout-seconds", "2"]);
    let mut client = Client::connect(&dev.url).await;
    let pinging = session(
        &mut client,
        Some(Duration::from_millis(700)),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        pinging.closed.is_none(),
        "pings every 700 ms keep the connection open: {:?}",
        pinging.closed
    );
    assert!(
        pinging.texts >= 5,
        "each ping had its pong: {}",
        pinging.texts
    );
    // Once the client stops, the idle timeout counts from its last message.
    let quiet = session(&mut client, None, Duration::from_secs(15)).await;
    assert_going_away(
        &quiet,
        Duration::from_millis(1000)..Duration::from_secs(6),
        "the same client once silent",
    );
}

#[tokio::test]
async fn messages_posted_to_a_client_keep_it_alive() {
    let dev = DevServer::start(&["--idle-timeout-seconds", "2"]);
    let mut client = Client::connect(&dev.url).await;
    let opened = dev
        .log_line(&["connection opened"], Duration::from_secs(10))
        .await
        .expect("a connection opened line");
    let id = connection_id(&opened);
    // A publish (the handler's post) and a Management API post, in turn, every 700 ms for
    // 5 s; the client itself sends nothing.
    let posting = {
        let http = dev.http.clone();
        tokio::spawn(async move {
            for i in 0..7 {
                tokio::time::sleep(Duration::from_millis(700)).await;
                let (status, _) = if i % 2 == 0 {
                    mb_tests::http_post(&format!("{http}/publish"), "published").await
                } else {
                    let url = format!("{http}/@connections/{}", percent_encode(&id));
                    mb_tests::http_post(&url, "posted").await
                };
                assert_eq!(status, 200, "post {i}");
            }
        })
    };
    let listened = session(&mut client, None, Duration::from_millis(5200)).await;
    posting.await.expect("the posts");
    assert!(
        listened.closed.is_none(),
        "a post every 700 ms keeps the connection open: {:?}",
        listened.closed
    );
    assert!(listened.texts >= 6, "the posts arrived: {}", listened.texts);
    let quiet = session(&mut client, None, Duration::from_secs(15)).await;
    assert_going_away(
        &quiet,
        Duration::from_millis(500)..Duration::from_secs(6),
        "the same client once nothing is posted",
    );
}

#[test]
fn the_limits_must_be_whole_positive_seconds_and_are_announced() {
    for flag in ["--max-connection-seconds", "--idle-timeout-seconds"] {
        for bad in ["0", "soon", "7201"] {
            let out = mb::run(&["dev", "--port", "0", flag, bad], Duration::from_secs(30));
            assert_eq!(out.status.code(), Some(2), "{flag} {bad}");
            let stderr = mb_tests::text(&out.stderr);
            assert!(stderr.contains(flag), "{flag} {bad}: {stderr}");
        }
    }
    let help = mb::run(&["dev", "--help"], Duration::from_secs(30));
    let help = mb_tests::text(&help.stdout);
    assert!(help.contains("--max-connection-seconds"), "{help}");
    assert!(help.contains("--idle-timeout-seconds"), "{help}");
}

#[tokio::test]
async fn the_startup_lines_give_the_limits() {
    let dev = DevServer::start(&[
        "--max-connection-seconds",
        "30",
        "--idle-timeout-seconds",
        "5",
    ]);
    let said = mb_tests::eventually(Duration::from_secs(10), || {
        let found = dev
            .stdout()
            .iter()
            .any(|l| l.contains("closed after 30 s, or 5 s without a message"));
        async move { found }
    })
    .await;
    assert!(said, "{:?}", dev.stdout());
}

/// The id in a `connection opened` log line (`connection_id=ID`).
fn connection_id(line: &str) -> String {
    let rest = line
        .split_once("connection_id")
        .unwrap_or_else(|| panic!("no connection_id in {line:?}"))
        .1
        .trim_start_matches(['=', '"', ':']);
    rest.chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect()
}

/// `id` for a URL path: its `/`, `+` and `=` percent-encoded.
fn percent_encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
