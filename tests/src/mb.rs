//! The built `mb` binary, and `mb dev` run as a user runs it: a child process on a free
//! port, its stdout parsed for the URL it prints, its stderr (logs) collected.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `target/<profile>/mb`, built by `cargo build`/`cargo test --workspace` (the README's
/// test command builds it before the tests run).
pub fn binary() -> PathBuf {
    match std::env::var_os("MB_BINARY") {
        Some(path) => PathBuf::from(path),
        None => built("mb"),
    }
}

/// `target/<profile>/<name>`, a binary of the workspace built beside these tests
/// (`cargo build --workspace --bins`, which ./scripts/test runs first).
pub fn built(name: &str) -> PathBuf {
    // This test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (./scripts/test does) before these tests",
        path.display()
    );
    path
}

/// `mb` with `args`, run to completion; killed (and the test failed) after `limit`.
pub fn run(args: &[&str], limit: Duration) -> std::process::Output {
    run_with_env(args, &[], limit)
}

/// Variables of the test machine that would change what `mb` does; removed before a run
/// so only what a test sets counts.
const CLEARED: [&str; 23] = [
    "SERVICE_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_ENDPOINT_URL_LOGS",
    "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
    "NO_COLOR",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "MB_POLL_INTERVAL_MS",
    // The test command's lint-while-building (scripts/test): `mb build` compiles as a
    // user's would.
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTFLAGS",
];

/// The environment of an `mb` run against loopback stand-ins: test credentials, empty
/// shared config and credentials files (the machine's own are never read), no instance
/// metadata lookup (tests talk only to 127.0.0.1), and polls 100 ms apart.
pub fn loopback_aws_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("MB_POLL_INTERVAL_MS", "100"),
    ]
}

/// [`run_with_env`] from async code: on a blocking thread, so that in-process stand-ins
/// (the CloudFormation fake) keep answering while `mb` runs.
pub async fn run_async(
    args: &[&str],
    vars: &[(&str, &str)],
    limit: Duration,
) -> std::process::Output {
    run_on_blocking_thread(None, args, vars, limit).await
}

/// [`run_async`] in the folder `dir` (where `mb` looks for `mb.toml`).
pub async fn run_in_async(
    dir: &std::path::Path,
    args: &[&str],
    vars: &[(&str, &str)],
    limit: Duration,
) -> std::process::Output {
    run_on_blocking_thread(Some(dir.to_path_buf()), args, vars, limit).await
}

async fn run_on_blocking_thread(
    dir: Option<PathBuf>,
    args: &[&str],
    vars: &[(&str, &str)],
    limit: Duration,
) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_in(dir.as_deref(), &args, &vars, limit)
    })
    .await
    .expect("the mb run's thread")
}

/// `mb` with `args` and these environment variables (an empty value leaves it unset),
/// run to completion; killed (and the test failed) after `limit`.
pub fn run_with_env(args: &[&str], vars: &[(&str, &str)], limit: Duration) -> std::process::Output {
    run_in(None, args, vars, limit)
}

/// [`run_with_env`] in `dir` (else the test's own folder).
fn run_in(
    dir: Option<&std::path::Path>,
    args: &[&str],
    vars: &[(&str, &str)],
    limit: Duration,
) -> std::process::Output {
    let mut command = command(args, vars);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    Running::spawn(command, args).finish(limit)
}

/// The `mb` command for `args` with these environment variables (an empty value leaves
/// it unset) and none of [`CLEARED`] from the test machine's.
pub fn command(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    for name in CLEARED {
        command.env_remove(name);
    }
    for (name, value) in vars {
        if value.is_empty() {
            command.env_remove(name);
        } else {
            command.env(name, value);
        }
    }
    command.args(args);
    command
}

/// An `mb` running in the background with no input, its stdout and stderr collected: a
/// test can act while it runs (signal it, say) and then collect its output.
pub struct Running {
    child: Child,
    args: Vec<String>,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

impl Running {
    /// Starts `mb` with `args` and these environment variables, as [`command`] sets them.
    pub fn start(args: &[&str], vars: &[(&str, &str)]) -> Running {
        Running::spawn(command(args, vars), args)
    }

    /// Starts `command`, which runs `mb` with `args`.
    fn spawn(mut command: Command, args: &[&str]) -> Running {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mb");
        // Drain both pipes while it runs, so a chatty child (cargo's output) never blocks.
        let drain = |stream: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut stream) = stream {
                    let _ = stream.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        );
        Running {
            child,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            stdout,
            stderr,
        }
    }

    /// Sends SIGINT, as Ctrl-C on a terminal does.
    pub fn interrupt(&self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the end and returns what it printed; killed (and the test failed) after
    /// `limit`.
    pub fn finish(mut self, limit: Duration) -> std::process::Output {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout.join().unwrap_or_default();
        let stderr = self.stderr.join().unwrap_or_default();
        match status {
            Some(status) => std::process::Output {
                status,
                stdout,
                stderr,
            },
            None => panic!(
                "mb {:?} did not finish within {limit:?}; stderr:\n{}",
                self.args,
                String::from_utf8_lossy(&stderr)
            ),
        }
    }

    /// [`Running::finish`] from async code, on a blocking thread, so that in-process
    /// stand-ins keep answering meanwhile.
    pub async fn finish_async(self, limit: Duration) -> std::process::Output {
        tokio::task::spawn_blocking(move || self.finish(limit))
            .await
            .expect("the mb run's thread")
    }
}

/// A running `mb dev`.
pub struct DevServer {
    child: Child,
    /// `ws://127.0.0.1:PORT`
    pub url: String,
    /// `http://127.0.0.1:PORT`
    pub http: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl DevServer {
    /// Starts `mb dev --port 0 <args>` and waits (at most 60 s) for its URL.
    pub fn start(args: &[&str]) -> DevServer {
        let mut child = Command::new(binary())
            .args(["dev", "--port", "0"])
            .args(args)
            // The most verbose level: even then no payload may reach the logs.
            .env("MB_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mb dev");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let url = line
                    .split_whitespace()
                    .find(|w| w.starts_with("ws://"))
                    .map(str::to_owned);
                lines.lock().unwrap().push(line);
                if let Some(url) = url {
                    let _ = url_tx.send(url);
                }
            }
        });
        let err = child.stderr.take().expect("stderr");
        let lines = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let url = match url_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "mb dev printed no ws:// URL within 60 s; stderr:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        let http = url.replacen("ws://", "http://", 1);
        DevServer {
            child,
            url,
            http,
            stdout,
            stderr,
        }
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The most memory `mb dev` has held so far (its peak resident set, `VmHWM`), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        crate::peak_rss_mib(self.child.id()).expect("mb dev's /proc status")
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits at most `limit` for a log line containing every one of `parts`.
    pub async fn log_line(&self, parts: &[&str], limit: Duration) -> Option<String> {
        let found = |lines: &[String]| {
            lines
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .cloned()
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(line) = found(&self.stderr()) {
                return Some(line);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits at most `limit` for the exit.
    pub fn interrupt(&mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mb template <args>`'s standard output, for names derived in us-east-1; panics (with
/// mb's stderr) if it fails.
pub fn template(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["template"];
    all.extend_from_slice(args);
    let output = run_with_env(
        &all,
        &[("AWS_REGION", "us-east-1")],
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "mb {all:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
