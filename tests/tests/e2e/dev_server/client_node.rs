//! The JavaScript client (`cli/src/console/mb.js`) in Node 20, as a user runs it: saved
//! from what `mb dev` serves as `mb.mjs`, imported by a script run with
//! `node --experimental-websocket`, against the built `mb dev`. The scripts are in
//! `tests/fixtures/client/`; the assertions are here, on what they print.
//!
//! Without Node 20 or newer the tests skip (and fail under CI). Every wait is bounded.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mb_tests::mb::DevServer;
use serde_json::Value;

/// Node, if it is 20 or newer; else `None` after saying why the test skips.
pub fn node() -> Option<PathBuf> {
    let node = std::env::var_os("MB_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/node"));
    let version = Command::new(&node)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| mb_tests::text(&o.stdout));
    let major = version
        .as_deref()
        .and_then(|v| v.trim().trim_start_matches('v').split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 20 => Some(node),
        _ => {
            mb_tests::skip(&format!(
                "Node 20 or newer not found at {} ({}): install Debian's nodejs package \
                 (./scripts/test does as root or with passwordless sudo), or set MB_NODE",
                node.display(),
                version.as_deref().map_or("absent", str::trim)
            ));
            None
        }
    }
}

/// A folder removed at the end.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new folder holding the fixture scripts, and `client` saved as `mb.mjs`.
    pub fn with_client(name: &str, client: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let fixtures = mb_tests::workspace_root().join("tests/fixtures/client");
        for script in ["logic.mjs", "collect.mjs"] {
            std::fs::copy(fixtures.join(script), dir.join(script)).expect("copy a script");
        }
        std::fs::write(dir.join("mb.mjs"), client).expect("save the client");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Node process whose stdout lines arrive on a channel; killed at the end.
struct Script {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Script {
    fn start(node: &Path, dir: &Path, args: &[&str]) -> Script {
        let mut child = Command::new(node)
            .arg("--experimental-websocket")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let out = child.stdout.take().expect("node's stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Script { child, lines }
    }

    /// The next printed JSON line with `key`, waiting at most `limit`.
    fn line_with(&self, key: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("node printed no {key:?} line within {limit:?}"));
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && value.get(key).is_some()
            {
                return value;
            }
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `mb dev` serves at `path`, checked to be JavaScript.
async fn served(dev: &DevServer, path: &str) -> String {
    let (status, content_type, body) = mb_tests::http_get(&format!("{}{path}", dev.http)).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    assert_eq!(content_type, "text/javascript; charset=utf-8", "GET {path}");
    body
}

/// Publishes `m0`..`m{n-1}` to `channel` through `POST /publish`, about 50 a second.
async fn publish_at_50_a_second(dev: &DevServer, channel: &str, n: usize) {
    let start = tokio::time::Instant::now();
    for i in 0..n {
        let url = format!("{}/publish?channel={channel}", dev.http);
        let (status, body) = mb_tests::http_post(&url, &format!("m{i}")).await;
        assert_eq!(status, 200, "publish {i}: {body}");
        tokio::time::sleep_until(start + Duration::from_millis(20 * (i as u64 + 1))).await;
    }
}

/// Fails unless `done` holds exactly `m0`..`m{n-1}`, in order.
fn assert_all_in_order(done: &Value, n: usize) {
    let data: Vec<&str> = done["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d.as_str().unwrap_or("?"))
        .collect();
    let expected: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    if data != expected {
        let missing: Vec<&String> = expected
            .iter()
            .filter(|e| !data.contains(&e.as_str()))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let twice: Vec<&&str> = data.iter().filter(|d| !seen.insert(**d)).collect();
        panic!(
            "{} delivered of {n}; missing {missing:?}; twice {twice:?}; first 30 {:?}; \
             gaps {}; statuses {}",
            data.len(),
            &data[..data.len().min(30)],
            done["gaps"],
            done["statuses"]
        );
    }
}

/// Connections `mb dev` opened so far.
fn opened(dev: &DevServer) -> usize {
    dev.stderr()
        .iter()
        .filter(|l| l.contains("connection opened"))
        .count()
}

#[tokio::test]
async fn the_client_logic_holds_without_a_server() {
    let Some(node) = node() else { return };
    let scratch = Scratch::with_client("client-logic", repo_client());
    let out = Command::new(&node)
        .arg("logic.mjs")
        .current_dir(&scratch.0)
        .output()
        .expect("run node");
    let printed = mb_tests::text(&out.stdout);
    assert!(
        out.status.success() && printed.trim_end().ends_with("all ok"),
        "{printed}\n{}",
        mb_tests::text(&out.stderr)
    );
}

/// The client's source, as the repository holds it.
fn repo_client() -> &'static str {
    include_str!("../../../../cli/src/console/mb.js")
}

#[tokio::test]
async fn mb_dev_serves_the_client_as_a_module_and_as_a_classic_script() {
    let Some(node) = node() else { return };
    let dev = DevServer::start(&[]);
    let module = served(&dev, "/mb.js").await;
    assert_eq!(module, repo_client(), "/mb.js is the source");
    assert_eq!(served(&dev, "/mb.mjs").await, module, "/mb.mjs is the same");
    let classic = served(&dev, "/mb.global.js").await;
    let scratch = Scratch::with_client("client-classic", &module);
    std::fs::write(scratch.0.join("mb.global.js"), &classic).unwrap();
    // A classic script: run as one (no module syntax), it sets globalThis.mb.
    let out = Command::new(&node)
        .args([
            "-e",
            "require('vm').runInThisContext(require('fs').readFileSync('mb.global.js', 'utf8'));\
             console.log(typeof globalThis.mb.connect, typeof globalThis.mb.backoffDelay);",
        ])
        .current_dir(&scratch.0)
        .output()
        .expect("run node");
    assert_eq!(
        mb_tests::text(&out.stdout).trim(),
        "function function",
        "{}",
        mb_tests::text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_client_cut_every_3_seconds_gets_1000_messages_once_each_in_order() {
    let Some(node) = node() else { return };
    let dev = DevServer::start(&["--max-connection-seconds", "3"]);
    let scratch = Scratch::with_client("client-cuts", &served(&dev, "/mb.mjs").await);
    let script = Script::start(
        &node,
        &scratch.0,
        &["collect.mjs", &dev.url, "feed", "1000"],
    );
    tokio::task::block_in_place(|| script.line_with("ready", Duration::from_secs(30)));
    publish_at_50_a_second(&dev, "feed", 1000).await;
    let done = tokio::task::block_in_place(|| script.line_with("done", Duration::from_secs(150)));
    assert_all_in_order(&done, 1000);
    assert_eq!(
        done["gaps"],
        serde_json::json!([]),
        "nothing was lost for good"
    );
    // 20 s of publishing, a connection at most 3 s: cut and resumed at least 5 times.
    let opens = done["opens"].as_u64().unwrap();
    assert!(
        opens >= 6,
        "connections opened: {opens}; {}",
        done["statuses"]
    );
    assert!(opened(&dev) >= 6, "mb dev opened {}", opened(&dev));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_lost_on_the_way_is_filled_without_reconnecting() {
    let Some(node) = node() else { return };
    let dev = DevServer::start(&[]);
    let scratch = Scratch::with_client("client-lossy", &served(&dev, "/mb.mjs").await);
    let script = Script::start(
        &node,
        &scratch.0,
        &["collect.mjs", &dev.url, "lossy", "200", "100"],
    );
    tokio::task::block_in_place(|| script.line_with("ready", Duration::from_secs(30)));
    publish_at_50_a_second(&dev, "lossy", 200).await;
    let done = tokio::task::block_in_place(|| script.line_with("done", Duration::from_secs(150)));
    assert_eq!(done["dropped"], 1, "the class lost copy 100");
    assert_all_in_order(&done, 200);
    assert_eq!(done["opens"], 1, "{}", done["statuses"]);
    assert_eq!(opened(&dev), 1, "one connection all along");
    assert_eq!(done["gaps"], serde_json::json!([]));
    // The hole was asked for on that connection: the first resume, then one more.
    assert_eq!(done["resumes"], 2, "resumes sent");
}
