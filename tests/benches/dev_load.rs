//! `mb dev` under load, with real WebSocket clients (tokio-tungstenite) in this process
//! against the release `mb` binary in its own process:
//!
//! 1. `--clients` (1,000) connected clients and one sender making `--broadcasts` (100)
//!    broadcasts, one after the other: the latency from each send to each client's
//!    receipt (p50, p99, max) and how many copies were lost;
//! 2. `--many` (10,000) clients connect to a fresh `mb dev` and receive one broadcast:
//!    how long connecting and delivering took, and `mb dev`'s peak RSS.
//!
//! ```sh
//! cargo build --release --bin mb
//! cargo bench -p mb-tests --bench dev_load
//! cargo bench -p mb-tests --bench dev_load -- --clients 500 --broadcasts 50 --many 2000
//! ```
//!
//! `MB_BIN` names another `mb` binary, `MB_DEV_ARGS` adds options to `mb dev`. Every loop is bounded in count, and every wait in
//! time.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// Longest wait for one broadcast to reach everyone, and for a batch of connects.
const WAIT: Duration = Duration::from_secs(30);
/// Clients connecting at once.
const CONNECT_BATCH: usize = 250;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let number = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name} takes a whole number, not {v:?}"))
            })
    };
    let clients = number("--clients", 1_000);
    let broadcasts = number("--broadcasts", 100);
    let many = number("--many", 10_000);
    raise_open_files(2 * many + clients + 1_000);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        println!("mb dev under load ({})", binary().display());
        println!();
        latency(clients, broadcasts).await;
        println!();
        fan_in(many).await;
    });
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MB_BIN") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/mb");
    assert!(
        path.exists(),
        "no release mb at {}: run `cargo build --release --bin mb` first (or set MB_BIN)",
        path.display()
    );
    path
}

/// Lets this process (and `mb dev`, which inherits it) hold `wanted` sockets, up to the
/// hard limit.
fn raise_open_files(wanted: usize) {
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            let target = (wanted as libc::rlim_t).min(limit.rlim_max);
            if limit.rlim_cur < target {
                limit.rlim_cur = target;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

struct Dev {
    child: Child,
    url: String,
}

impl Dev {
    fn start() -> Dev {
        let mut child = Command::new(binary())
            .args(["dev", "--port", "0"])
            // More `mb dev` options, to compare settings: `MB_DEV_ARGS="--concurrency 64"`.
            .args(
                std::env::var("MB_DEV_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mb dev");
        let mut lines = BufReader::new(child.stdout.take().expect("its stdout")).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("mb dev printed its address")
                .expect("a line");
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("ws://")) {
                break url.to_owned();
            }
        };
        // Keep reading its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Dev { child, url }
    }

    fn peak_rss_mib(&self) -> f64 {
        mb_tests::peak_rss_mib(self.child.id()).expect("mb dev's /proc status")
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects `n` clients, `CONNECT_BATCH` at a time.
async fn connect_all(url: &str, n: usize) -> Vec<Socket> {
    let mut sockets = Vec::with_capacity(n);
    while sockets.len() < n {
        let batch = CONNECT_BATCH.min(n - sockets.len());
        let mut connecting = JoinSet::new();
        for _ in 0..batch {
            let url = url.to_owned();
            connecting.spawn(async move {
                tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
                    .await
                    .expect("connect in time")
                    .expect("connect")
                    .0
            });
        }
        while let Some(socket) = connecting.join_next().await {
            sockets.push(socket.expect("a connect task"));
        }
    }
    sockets
}

/// The `"i"` of a received broadcast.
fn index_of(message: &Message) -> Option<usize> {
    let Message::Text(text) = message else {
        return None;
    };
    let value: serde_json::Value = serde_json::from_str(text.as_str()).ok()?;
    value.get("i")?.as_u64().map(|i| i as usize)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn latency(clients: usize, broadcasts: usize) {
    let dev = Dev::start();
    let sockets = connect_all(&dev.url, clients).await;
    let mut sender = connect_all(&dev.url, 1).await.remove(0);
    // Copies of broadcast i received so far, by everyone but the sender.
    let counts: Arc<Vec<AtomicUsize>> =
        Arc::new((0..broadcasts).map(|_| AtomicUsize::new(0)).collect());
    let mut readers = JoinSet::new();
    for mut socket in sockets {
        let counts = Arc::clone(&counts);
        readers.spawn(async move {
            // (broadcast, when it arrived) for every copy.
            let mut seen = Vec::with_capacity(broadcasts);
            while seen.len() < broadcasts {
                let next = tokio::time::timeout(WAIT, socket.next()).await;
                let Ok(Some(Ok(message))) = next else { break };
                if let Some(i) = index_of(&message).filter(|i| *i < broadcasts) {
                    seen.push((i, Instant::now()));
                    counts[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            seen
        });
    }
    let mut sent_at = Vec::with_capacity(broadcasts);
    for i in 0..broadcasts {
        sent_at.push(Instant::now());
        sender
            .send(Message::text(format!(r#"{{"i":{i}}}"#)))
            .await
            .expect("send a broadcast");
        // The sender's own copy, and everyone's, before the next one.
        let _ = tokio::time::timeout(WAIT, sender.next()).await;
        let limit = Instant::now() + WAIT;
        while counts[i].load(Ordering::Relaxed) < clients && Instant::now() < limit {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    // Latencies of every copy, and apart from those of the first broadcast, which also
    // opens `mb dev`'s connections to its own Management API.
    let mut all_ms = Vec::with_capacity(clients * broadcasts);
    let mut warm_ms = Vec::with_capacity(clients * broadcasts);
    let mut first_ms = Vec::with_capacity(clients);
    while let Some(seen) = readers.join_next().await {
        for (i, at) in seen.expect("a reader") {
            let ms = at.duration_since(sent_at[i]).as_secs_f64() * 1e3;
            all_ms.push(ms);
            if i == 0 {
                first_ms.push(ms);
            } else {
                warm_ms.push(ms);
            }
        }
    }
    for v in [&mut all_ms, &mut warm_ms, &mut first_ms] {
        v.sort_by(f64::total_cmp);
    }
    let expected = clients * broadcasts;
    println!(
        "{clients} clients, {broadcasts} broadcasts from one sender, one after the other (send → each client's receipt):"
    );
    println!();
    println!(
        "| broadcasts | copies expected | received | lost | p50 (ms) | p99 (ms) | max (ms) | mb dev peak RSS (MB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let rss = dev.peak_rss_mib();
    for (label, values, expected) in [
        ("all", &all_ms, expected),
        ("the first", &first_ms, clients),
        ("all but the first", &warm_ms, expected - clients),
    ] {
        println!(
            "| {label} | {expected} | {} | {} | {:.2} | {:.2} | {:.2} | {rss:.1} |",
            values.len(),
            expected.saturating_sub(values.len()),
            percentile(values, 50.0),
            percentile(values, 99.0),
            values.last().copied().unwrap_or(f64::NAN),
        );
    }
}

async fn fan_in(many: usize) {
    let dev = Dev::start();
    let connecting = Instant::now();
    let sockets = connect_all(&dev.url, many).await;
    let connect_s = connecting.elapsed().as_secs_f64();
    let mut sender = connect_all(&dev.url, 1).await.remove(0);
    let received = Arc::new(AtomicUsize::new(0));
    let mut readers = JoinSet::new();
    for mut socket in sockets {
        let received = Arc::clone(&received);
        readers.spawn(async move {
            let next = tokio::time::timeout(WAIT, socket.next()).await;
            if let Ok(Some(Ok(message))) = next
                && index_of(&message) == Some(0)
            {
                received.fetch_add(1, Ordering::Relaxed);
                return Some(Instant::now());
            }
            None
        });
    }
    let sent = Instant::now();
    sender
        .send(Message::text(r#"{"i":0}"#))
        .await
        .expect("send the broadcast");
    let mut last = Duration::ZERO;
    while let Some(at) = readers.join_next().await {
        if let Some(at) = at.expect("a reader") {
            last = last.max(at.duration_since(sent));
        }
    }
    let got = received.load(Ordering::Relaxed);
    println!("{many} clients connect, then one broadcast reaches them all:");
    println!();
    println!(
        "| clients | connect all (s) | received | lost | deliver to all (s) | mb dev peak RSS (MB) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {many} | {connect_s:.2} | {got} | {} | {:.3} | {:.1} |",
        many - got,
        last.as_secs_f64(),
        dev.peak_rss_mib()
    );
}
