//! Fan-out benchmark: one message to N recipients through the broadcast handler, against
//! a loopback HTTPS stand-in of the Management API with injected latency, in the same run
//! with each Management API client: `handler` (the direct client the function ships
//! with), `handler-sdk` (the real `aws-sdk-apigatewaymanagement` client) and `raw`, a
//! keep-alive HTTP/1.1 client posting the same N requests to the same endpoint,
//! unsigned and with no handler (the machine's limit), with a fixed number in flight:
//! 256 (`--raw-concurrency`), where the handler's window starts (the handler's follows
//! the latency under its ceiling, `--concurrency`).
//!
//! Each case runs in a fresh worker process, so its peak RSS is its own, and the
//! endpoint runs in another process, so its CPU is not counted. Reported per case:
//! post phase (wall time of the broadcast), CPU time (user + system of the worker during
//! it), the worker's peak RSS, and the TCP connections (TLS handshakes) the endpoint
//! accepted; the median of `--reps` runs (peak RSS: the largest).
//!
//! As deployed: `--memory MB` (repeatable) runs the handler's workers under the CPU
//! share Lambda gives that memory ([`cpu_share`]); the raw client and the endpoint stay
//! unconstrained, so `post / raw` compares a deployment with the machine's limit. The
//! throttled cases ([`throttled`]) post 100,000 recipients against an endpoint that
//! answers 429 above 10,000/s with a 5,000 burst, as the account's throttle does.
//!
//!     cargo bench -p mb-tests --bench fanout
//!     cargo bench -p mb-tests --bench fanout -- --memory 256 --memory 1769
//!     cargo bench -p mb-tests --bench fanout -- --cases throttled --memory 1769
//!     cargo bench -p mb-tests --bench fanout -- --concurrency 512 --h2 --reps 5
//!     cargo bench -p mb-tests --bench fanout -- --raw-concurrency 512
//!     cargo bench -p mb-tests --bench fanout -- --plain    (no TLS: the SDK's own cost)
//!
//! Every loop here is bounded: N posts per case, a fixed number of cases and
//! repetitions, and a time limit on every worker.

mod cpu_share;
mod throttled;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use mb_lambda::Handler;
use mb_lambda::config::{DEFAULT_CONCURRENCY, Settings};
use mb_lambda::delivery::continuation::LambdaInvoker;
use mb_lambda::delivery::in_flight;
use mb_lambda::gateway::{DirectGateway, DirectOptions};
use mb_lambda::store::{Connection, ConnectionStore, MemoryStore};
use mb_tests::fake_gateway::{FakeGateway, Options};
use mb_tests::invoke_api::{FUNCTION, InvokeApi};
use mb_tests::post_client::AnyGateway;
use mb_tests::sdk_gateway::SdkGateway;
use tokio_rustls::rustls;

use cpu_share::CpuShare;

const RECIPIENTS: [usize; 2] = [1_000, 10_000];
const LATENCIES_MS: [u64; 2] = [0, 20];
const WORKER_LIMIT: Duration = Duration::from_secs(180);
/// The function's timeout at the default settings: an invocation's deadline.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The clients of every case, the raw one last (the ratios' reference);
/// `handler-history` is `handler` with the room keeping history (numbered copies).
const CLIENTS: [&str; 4] = ["handler", "handler-history", "handler-sdk", "raw"];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("worker") => worker(&args[1..]),
        _ => drive(&args),
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Every value of a repeatable flag.
fn numbers(args: &[String], name: &str) -> Vec<u64> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| {
            w[1].parse()
                .unwrap_or_else(|_| panic!("{name} takes a whole number, not {:?}", w[1]))
        })
        .collect()
}

fn number(args: &[String], name: &str, default: u64) -> u64 {
    flag(args, name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} takes a whole number, not {v:?}"))
    })
}

// ---------------------------------------------------------------- driver

struct Server {
    child: Child,
    stats: BufReader<std::process::ChildStdout>,
    endpoint: String,
    ca_path: String,
}

/// What the endpoint has seen so far.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    /// TCP connections accepted (each one a TLS handshake).
    connections: usize,
    requests: usize,
    /// Answered 429.
    throttled: usize,
    /// Connection ids that got a copy, and the most copies one got.
    reached: usize,
    most_copies: usize,
}

impl Server {
    fn totals(&mut self) -> Totals {
        let stdin = self.child.stdin.as_mut().expect("the endpoint's stdin");
        writeln!(stdin).expect("ask the endpoint for its totals");
        let mut line = String::new();
        self.stats.read_line(&mut line).expect("its totals");
        // "connections N requests M throttled T reached R most_copies C"
        let v: Vec<usize> = line
            .split_whitespace()
            .skip(1)
            .step_by(2)
            .map(|n| {
                n.parse()
                    .unwrap_or_else(|_| panic!("unexpected totals line {line:?}"))
            })
            .collect();
        let [connections, requests, throttled, reached, most_copies] = v[..] else {
            panic!("unexpected totals line {line:?}");
        };
        Totals {
            connections,
            requests,
            throttled,
            reached,
            most_copies,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the endpoint is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// HTTPS, HTTP/1.1 only (the default).
    Https,
    /// HTTPS offering HTTP/2 by ALPN (`--h2`).
    HttpsH2,
    /// Plain HTTP (`--plain`): the SDK's cost without TLS.
    Plain,
}

impl Transport {
    fn from_args(args: &[String]) -> Transport {
        if args.iter().any(|a| a == "--plain") {
            Transport::Plain
        } else if args.iter().any(|a| a == "--h2") {
            Transport::HttpsH2
        } else {
            Transport::Https
        }
    }

    fn flag(self) -> Option<&'static str> {
        match self {
            Transport::Https => None,
            Transport::HttpsH2 => Some("--h2"),
            Transport::Plain => Some("--plain"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Transport::Https => "HTTPS, HTTP/1.1",
            Transport::HttpsH2 => "HTTPS offering h2",
            Transport::Plain => "plain HTTP/1.1",
        }
    }
}

/// The account's throttle, for the endpoint: (requests per second, burst).
type Throttle = Option<(u64, u64)>;

fn start_server(latency_ms: u64, transport: Transport, throttle: Throttle) -> Server {
    let mut command = Command::new(std::env::current_exe().expect("this executable"));
    command.args(["serve", "--latency-ms", &latency_ms.to_string()]);
    command.args(transport.flag());
    if let Some((rate, burst)) = throttle {
        command.args([
            "--throttle",
            &rate.to_string(),
            "--burst",
            &burst.to_string(),
        ]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .env_remove("RUST_BACKTRACE")
        .spawn()
        .expect("start the endpoint process");
    let mut stats = BufReader::new(child.stdout.take().expect("its stdout"));
    let mut line = String::new();
    stats.read_line(&mut line).expect("its address line");
    let mut words = line.split_whitespace();
    let (Some("ENDPOINT"), Some(endpoint), Some("CA"), Some(ca_path)) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        panic!("unexpected line from the endpoint process: {line:?}");
    };
    Server {
        endpoint: endpoint.to_owned(),
        ca_path: ca_path.to_owned(),
        child,
        stats,
    }
}

#[derive(Debug, Clone)]
struct Measured {
    post_s: f64,
    cpu_s: f64,
    peak_rss_mb: f64,
    delivered: usize,
    /// Invocations the broadcast took (1 unless it was handed on).
    invocations: usize,
    connections: usize,
    /// What the endpoint saw during the run.
    seen: Totals,
}

/// One worker run: `client` posts to `n` recipients, under `share` if given; `invoke`
/// lets the handler hand the rest of a broadcast on (the Invoke API stand-in).
struct Run<'a> {
    client: &'a str,
    n: usize,
    concurrency: u64,
    share: Option<&'a CpuShare>,
    invoke: bool,
}

fn run_worker(server: &mut Server, run: &Run) -> Measured {
    let before = server.totals();
    let mut command = Command::new(std::env::current_exe().expect("this executable"));
    command.args([
        "worker",
        "--client",
        run.client,
        "--n",
        &run.n.to_string(),
        "--concurrency",
        &run.concurrency.to_string(),
        "--endpoint",
        &server.endpoint,
        "--ca",
        &server.ca_path,
    ]);
    if run.invoke {
        command.arg("--invoke");
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // As on Lambda, where it is unset: with it, some errors capture backtraces.
        .env_remove("RUST_BACKTRACE")
        .spawn()
        .expect("start a worker");
    if let Some(share) = run.share
        && let Err(why) = share.join(child.id())
    {
        let _ = child.kill();
        panic!("{why}");
    }
    // The worker starts on this line, inside its share.
    writeln!(child.stdin.as_mut().expect("the worker's stdin"), "go").expect("start the worker");
    let deadline = Instant::now() + WORKER_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("worker status") {
            assert!(status.success(), "worker failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a worker ran longer than {WORKER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut out = String::new();
    BufReader::new(child.stdout.take().expect("worker stdout"))
        .read_line(&mut out)
        .expect("worker result");
    let v: Vec<f64> = out
        .split_whitespace()
        .map(|w| w.parse().expect("a number"))
        .collect();
    let after = server.totals();
    let seen = Totals {
        connections: after.connections - before.connections,
        requests: after.requests - before.requests,
        throttled: after.throttled - before.throttled,
        reached: after.reached - before.reached,
        most_copies: after.most_copies,
    };
    Measured {
        post_s: v[0],
        cpu_s: v[1],
        peak_rss_mb: v[2],
        delivered: v[3] as usize,
        invocations: v[4] as usize,
        connections: seen.connections,
        seen,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The CPU shares to measure the handler under: one per `--memory`, or none (a whole
/// core) when no `--memory` is given or this machine cannot make a share.
fn shares(args: &[String]) -> Vec<Option<CpuShare>> {
    let memories = numbers(args, "--memory");
    if memories.is_empty() {
        return vec![None];
    }
    memories
        .into_iter()
        .map(|mb| match CpuShare::for_memory(mb) {
            Ok(share) => Some(share),
            Err(why) => {
                println!(
                    "note: {why}; the {mb} MB cases run unconstrained (a whole core): run as root on a machine with a CPU cgroup controller"
                );
                None
            }
        })
        .collect()
}

/// The memory column: `1024 MB (0.58 CPU)`, or `whole core`.
fn memory_label(share: Option<&CpuShare>) -> String {
    match share {
        Some(share) => format!(
            "{} MB ({:.3} CPU)",
            share.memory_mb,
            cpu_share::share(share.memory_mb)
        ),
        None => "whole core".to_owned(),
    }
}

fn drive(args: &[String]) {
    let concurrency = number(args, "--concurrency", DEFAULT_CONCURRENCY as u64);
    // The raw client keeps a fixed number in flight: the handler's window starts there.
    let raw_concurrency = number(args, "--raw-concurrency", in_flight::START as u64);
    let reps = number(args, "--reps", 3).clamp(1, 20);
    let transport = Transport::from_args(args);
    let cases = flag(args, "--cases").unwrap_or_else(|| "all".to_owned());
    assert!(
        ["all", "fanout", "throttled"].contains(&cases.as_str()),
        "--cases takes all, fanout or throttled, not {cases:?}"
    );
    let shares = shares(args);
    println!(
        "fan-out: concurrency {concurrency} (the raw client's: {raw_concurrency}), {reps} run(s) per case (median; peak RSS: max), endpoint {}",
        transport.describe()
    );
    if cases != "throttled" {
        fanout_table([concurrency, raw_concurrency], reps, transport, &shares);
    }
    if cases != "fanout" {
        throttled::table(concurrency, reps, transport, &shares);
    }
}

/// `[handler, raw]`: each client's posts in flight at most.
fn fanout_table(
    [concurrency, raw_concurrency]: [u64; 2],
    reps: u64,
    transport: Transport,
    shares: &[Option<CpuShare>],
) {
    println!();
    println!(
        "| recipients | latency | memory | client | post phase (s) | CPU (s) | peak RSS (MB) | connections | reached (fewest) | post / raw | CPU / raw |"
    );
    println!("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for latency in LATENCIES_MS {
        let mut server = start_server(latency, transport, None);
        for n in RECIPIENTS {
            // The raw client: unconstrained, the reference of every row of the case.
            let raw = measure(
                &mut server,
                reps,
                &Run {
                    client: "raw",
                    n,
                    concurrency: raw_concurrency,
                    share: None,
                    invoke: false,
                },
            );
            for share in shares {
                for client in &CLIENTS[..CLIENTS.len() - 1] {
                    let row = measure(
                        &mut server,
                        reps,
                        &Run {
                            client,
                            n,
                            concurrency,
                            share: share.as_ref(),
                            invoke: false,
                        },
                    );
                    println!(
                        "| {n} | {latency} ms | {} | {client} | {:.3} | {:.3} | {:.1} | {} | {} | {:.2}x | {:.2}x |",
                        memory_label(share.as_ref()),
                        row.post_s,
                        row.cpu_s,
                        row.peak_rss_mb,
                        row.connections,
                        row.delivered,
                        row.post_s / raw.post_s,
                        row.cpu_s / raw.cpu_s,
                    );
                }
            }
            println!(
                "| {n} | {latency} ms | whole core | raw | {:.3} | {:.3} | {:.1} | {} | {} | | |",
                raw.post_s, raw.cpu_s, raw.peak_rss_mb, raw.connections, raw.delivered
            );
        }
    }
}

/// The medians of `reps` runs (peak RSS: the largest), each checked to have reached
/// all `n`.
fn measure(server: &mut Server, reps: u64, run: &Run) -> Measured {
    let runs: Vec<Measured> = (0..reps).map(|_| run_worker(server, run)).collect();
    for measured in &runs {
        // The SDK's client is a reference, not what ships: a shortfall of it (its
        // timeouts under a small CPU share) is a finding the table shows.
        if run.client != "handler-sdk" {
            assert_eq!(
                measured.delivered, run.n,
                "{} delivered {} of {}",
                run.client, measured.delivered, run.n
            );
        }
    }
    let fewest = runs.iter().map(|r| r.delivered).min().unwrap_or(0);
    let mut median = median_of(runs);
    median.delivered = fewest;
    median
}

/// The run whose post phase is the median, with the median CPU and the largest RSS.
fn median_of(runs: Vec<Measured>) -> Measured {
    let cpu = median(runs.iter().map(|r| r.cpu_s).collect());
    let rss = runs.iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max);
    let post = median(runs.iter().map(|r| r.post_s).collect());
    let mut middle = runs
        .into_iter()
        .find(|r| r.post_s == post)
        .expect("the median is one of the runs");
    middle.cpu_s = cpu;
    middle.peak_rss_mb = rss;
    middle
}

// ---------------------------------------------------------------- endpoint process

fn serve(args: &[String]) {
    let latency = Duration::from_millis(number(args, "--latency-ms", 0));
    let transport = Transport::from_args(args);
    let throttle = flag(args, "--throttle").map(|_| {
        (
            number(args, "--throttle", 10_000) as f64,
            number(args, "--burst", 5_000) as f64,
        )
    });
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let fake = FakeGateway::start(Options {
            latency,
            tls: transport != Transport::Plain,
            record: false,
            http2: transport == Transport::HttpsH2,
            throttle,
            keys: None,
        })
        .await;
        let ca_path = std::env::temp_dir().join(format!("mb-bench-ca-{}.pem", std::process::id()));
        let ca_arg = match &fake.ca_pem {
            Some(pem) => {
                std::fs::write(&ca_path, pem).expect("write the certificate");
                ca_path.display().to_string()
            }
            None => "-".to_owned(),
        };
        println!("ENDPOINT {} CA {ca_arg}", fake.endpoint);
        std::io::stdout().flush().expect("flush");
        // Serve until the driver closes our stdin (it exits or kills us); each line read
        // is answered with the totals so far.
        let fake = Arc::new(fake);
        let stats = Arc::clone(&fake);
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                let delivered = stats.delivered();
                println!(
                    "connections {} requests {} throttled {} reached {} most_copies {}",
                    stats.connections(),
                    stats.requests(),
                    stats.throttled(),
                    delivered.len(),
                    delivered.values().copied().max().unwrap_or(0)
                );
                line.clear();
            }
        })
        .await
        .expect("stdin watcher");
        let _ = std::fs::remove_file(ca_path);
    });
}

// ---------------------------------------------------------------- worker process

fn worker(args: &[String]) {
    let client = flag(args, "--client").expect("--client");
    let n = number(args, "--n", 1_000) as usize;
    let concurrency = number(args, "--concurrency", DEFAULT_CONCURRENCY as u64) as usize;
    let endpoint = flag(args, "--endpoint").expect("--endpoint");
    // `--ca -`: the endpoint is plain HTTP.
    let ca = match flag(args, "--ca").expect("--ca").as_str() {
        "-" => None,
        path => Some(std::fs::read(path).expect("the certificate")),
    };
    let invoke = args.iter().any(|a| a == "--invoke");
    // Wait for the driver's line: by then this process is inside its CPU share.
    let mut go = String::new();
    std::io::stdin()
        .read_line(&mut go)
        .expect("the driver's start line");
    // The Lambda's runtime (src/bin/bootstrap.rs) is single-threaded; `--runtime multi`
    // compares tokio's multi-threaded one.
    let runtime = match flag(args, "--runtime").as_deref() {
        Some("multi") => tokio::runtime::Runtime::new(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .expect("a runtime");
    let (post_s, cpu_s, delivered, invocations) = runtime.block_on(async {
        let handler = |sdk_client, history| Through {
            n,
            concurrency,
            endpoint: &endpoint,
            ca: ca.as_deref(),
            sdk_client,
            history,
            invoke,
        };
        match client.as_str() {
            "handler" => handler(false, false).run().await,
            "handler-history" => handler(false, true).run().await,
            "handler-sdk" => handler(true, false).run().await,
            "raw" => {
                let (post_s, cpu_s, delivered) =
                    raw_keep_alive(n, concurrency, &endpoint, ca.as_deref()).await;
                (post_s, cpu_s, delivered, 1)
            }
            other => panic!("unknown --client {other}"),
        }
    });
    let rss_mb = peak_rss_kb() as f64 / 1024.0;
    println!("{post_s} {cpu_s} {rss_mb} {delivered} {invocations}");
}

/// User + system CPU seconds of this process so far, and its peak RSS in KiB.
fn rusage() -> (f64, i64) {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_SELF is valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        seconds(usage.ru_utime) + seconds(usage.ru_stime),
        usage.ru_maxrss,
    )
}

fn cpu_seconds() -> f64 {
    rusage().0
}

fn peak_rss_kb() -> i64 {
    rusage().1
}

/// A broadcast through the handler (the function's code, a memory store).
struct Through<'a> {
    n: usize,
    concurrency: usize,
    endpoint: &'a str,
    ca: Option<&'a [u8]>,
    /// The SDK's Management API client instead of the direct one.
    sdk_client: bool,
    /// The room keeps history (numbered copies).
    history: bool,
    /// The invocation has the function's timeout and hands the rest on through the
    /// Invoke API stand-in, in this process (without: a deadline it never meets).
    invoke: bool,
}

impl Through<'_> {
    /// Post phase (s), CPU (s), delivered, invocations.
    async fn run(&self) -> (f64, f64, usize, usize) {
        let store = MemoryStore::new();
        for i in 0..self.n {
            store
                .put(&Connection::new(
                    format!("conn{i:08}AAAA="),
                    mb_tests::a_minute_ago(),
                ))
                .await
                .expect("memory store");
        }
        let sdk = mb_tests::sdk_config(None, self.ca).await;
        let gateway = if self.sdk_client {
            AnyGateway::Sdk(Box::new(SdkGateway::new(&sdk)))
        } else {
            AnyGateway::Direct(DirectGateway::with_options(
                &sdk,
                DirectOptions {
                    max_connections: self.concurrency,
                    extra_root_pem: self.ca.map(<[u8]>::to_vec),
                    ..DirectOptions::default()
                },
            ))
        };
        let handler = Handler::new(
            store,
            gateway,
            Settings {
                concurrency: self.concurrency,
                management_endpoint: Some(self.endpoint.to_owned()),
                // The recipients are in the default room: history on for it, or off.
                default_room_history: self.history,
                ..Settings::default()
            },
        );
        let event = mb_tests::event(
            "$default",
            "conn00000000AAAA=",
            Some(r#"{"type":"move","x":12,"y":-3}"#),
        );
        if !self.invoke {
            let cpu = cpu_seconds();
            let started = Instant::now();
            let invocation = handler
                .websocket(event, Instant::now() + Duration::from_secs(900))
                .await;
            let post_s = started.elapsed().as_secs_f64();
            let cpu_s = cpu_seconds() - cpu;
            return (post_s, cpu_s, invocation.report.delivered, 1);
        }
        let invoke: InvokeApi<MemoryStore, AnyGateway> = InvokeApi::start(FUNCTION_TIMEOUT).await;
        let lambda = mb_tests::sdk_config(Some(&invoke.endpoint), None).await;
        let handler =
            Arc::new(handler.with_invoker(Arc::new(LambdaInvoker::new(&lambda, FUNCTION))));
        invoke.serve(Arc::clone(&handler));
        let cpu = cpu_seconds();
        let started = Instant::now();
        let first = handler
            .websocket(event, Instant::now() + FUNCTION_TIMEOUT)
            .await
            .report;
        // Bounded: the worker's own time limit ends a chain that never finishes.
        while !invoke.idle() && started.elapsed() < WORKER_LIMIT {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let post_s = started.elapsed().as_secs_f64();
        let cpu_s = cpu_seconds() - cpu;
        let reports = invoke.reports();
        let delivered = first.delivered + reports.iter().map(|r| r.delivered).sum::<usize>();
        (post_s, cpu_s, delivered, 1 + invoke.invocations())
    }
}

async fn raw_keep_alive(
    n: usize,
    concurrency: usize,
    endpoint: &str,
    ca: Option<&[u8]>,
) -> (f64, f64, usize) {
    let authority = endpoint
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .to_owned();
    let connector = ca.map(|ca| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile_certs(ca) {
            roots.add(cert).expect("the CA certificate");
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    });
    let posts = Arc::new(Posts {
        authority,
        body: Bytes::from_static(
            br#"{"type":"move","x":12,"y":-3,"_now":1700000000000,"_me":false}"#,
        ),
        n,
        next: AtomicUsize::new(0),
        delivered: AtomicUsize::new(0),
    });

    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(n) {
        let (connector, posts) = (connector.clone(), Arc::clone(&posts));
        tasks.spawn(async move {
            let tcp = tokio::net::TcpStream::connect(&posts.authority)
                .await
                .expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            match connector {
                Some(connector) => {
                    let name =
                        rustls::pki_types::ServerName::try_from("127.0.0.1").expect("a name");
                    posts
                        .send(connector.connect(name, tcp).await.expect("TLS"))
                        .await;
                }
                None => posts.send(tcp).await,
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let post_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu;
    (post_s, cpu_s, posts.delivered.load(Ordering::Relaxed))
}

/// The raw client's shared work: `n` posts, taken in turn by every connection.
struct Posts {
    authority: String,
    body: Bytes,
    n: usize,
    next: AtomicUsize,
    delivered: AtomicUsize,
}

impl Posts {
    /// Posts on one keep-alive HTTP/1.1 connection until none are left.
    async fn send<IO>(&self, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .expect("HTTP/1.1");
        tokio::spawn(connection);
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n {
                break;
            }
            let request = http::Request::post(format!("/@connections/conn{i:08}AAAA%3D"))
                .header("host", &self.authority)
                .header("content-type", "application/json")
                .body(Full::new(self.body.clone()))
                .expect("a request");
            let response = sender.send_request(request).await.expect("a response");
            let ok = response.status().is_success();
            let _ = response.into_body().collect().await;
            if ok {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The DER certificates in a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates")
}
