//! Fan-out benchmark: one message to N recipients through the broadcast handler, against
//! a loopback HTTPS stand-in of the Management API with injected latency, in the same run
//! with each Management API client: `handler` (the direct client the function ships
//! with), `handler-sdk` (the real `aws-sdk-apigatewaymanagement` client) and `raw`, a
//! keep-alive HTTP/1.1 client posting the same N requests to the same endpoint with the
//! same concurrency, unsigned and with no handler (the machine's limit).
//!
//! Each case runs in a fresh worker process, so its peak RSS is its own, and the
//! endpoint runs in another process, so its CPU is not counted. Reported per case:
//! post phase (wall time of the broadcast), CPU time (user + system of the worker during
//! it), the worker's peak RSS, and the TCP connections (TLS handshakes) the endpoint
//! accepted; the median of `--reps` runs (peak RSS: the largest).
//!
//!     cargo bench -p mb-tests --bench fanout
//!     cargo bench -p mb-tests --bench fanout -- --concurrency 512 --h2 --reps 5
//!     cargo bench -p mb-tests --bench fanout -- --plain    (no TLS: the SDK's own cost)
//!
//! Every loop here is bounded: N posts per case, a fixed number of cases and
//! repetitions, and a time limit on every worker.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use mb_lambda::Handler;
use mb_lambda::config::{DEFAULT_CONCURRENCY, Settings};
use mb_lambda::gateway::{DirectGateway, DirectOptions};
use mb_lambda::store::{Connection, ConnectionStore, MemoryStore};
use mb_tests::fake_gateway::{FakeGateway, Options};
use mb_tests::post_client::AnyGateway;
use mb_tests::sdk_gateway::SdkGateway;
use tokio_rustls::rustls;

const RECIPIENTS: [usize; 2] = [1_000, 10_000];
const LATENCIES_MS: [u64; 2] = [0, 20];
const WORKER_LIMIT: Duration = Duration::from_secs(120);
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

impl Server {
    /// TCP connections the endpoint has accepted so far (each one a TLS handshake).
    fn connections(&mut self) -> usize {
        let stdin = self.child.stdin.as_mut().expect("the endpoint's stdin");
        writeln!(stdin).expect("ask the endpoint for its totals");
        let mut line = String::new();
        self.stats.read_line(&mut line).expect("its totals");
        // "connections N requests M"
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected totals line {line:?}"))
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

fn start_server(latency_ms: u64, transport: Transport) -> Server {
    let mut command = Command::new(std::env::current_exe().expect("this executable"));
    command.args(["serve", "--latency-ms", &latency_ms.to_string()]);
    command.args(transport.flag());
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
    connections: usize,
}

fn run_worker(server: &mut Server, client: &str, n: usize, concurrency: u64) -> Measured {
    let connections_before = server.connections();
    let mut child = Command::new(std::env::current_exe().expect("this executable"))
        .args([
            "worker",
            "--client",
            client,
            "--n",
            &n.to_string(),
            "--concurrency",
            &concurrency.to_string(),
            "--endpoint",
            &server.endpoint,
            "--ca",
            &server.ca_path,
        ])
        .stdout(Stdio::piped())
        // As on Lambda, where it is unset: with it, some errors capture backtraces.
        .env_remove("RUST_BACKTRACE")
        .spawn()
        .expect("start a worker");
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
    Measured {
        post_s: v[0],
        cpu_s: v[1],
        peak_rss_mb: v[2],
        delivered: v[3] as usize,
        connections: server.connections() - connections_before,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn drive(args: &[String]) {
    let concurrency = number(args, "--concurrency", DEFAULT_CONCURRENCY as u64);
    let reps = number(args, "--reps", 3).clamp(1, 20);
    let transport = Transport::from_args(args);
    println!(
        "fan-out: concurrency {concurrency}, {reps} run(s) per case (median; peak RSS: max), endpoint {}",
        transport.describe()
    );
    println!();
    println!(
        "| recipients | latency | client | post phase (s) | CPU (s) | peak RSS (MB) | connections | post / raw | CPU / raw |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for latency in LATENCIES_MS {
        let mut server = start_server(latency, transport);
        for n in RECIPIENTS {
            let mut rows = Vec::new();
            for client in CLIENTS {
                let runs: Vec<Measured> = (0..reps)
                    .map(|_| run_worker(&mut server, client, n, concurrency))
                    .collect();
                for run in &runs {
                    assert_eq!(
                        run.delivered, n,
                        "{client} delivered {} of {n}",
                        run.delivered
                    );
                }
                let post = median(runs.iter().map(|r| r.post_s).collect());
                let cpu = median(runs.iter().map(|r| r.cpu_s).collect());
                let rss = runs.iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max);
                let connections = median(runs.iter().map(|r| r.connections as f64).collect());
                rows.push((client, post, cpu, rss, connections));
            }
            // Ratios to the raw client of the same case (the last row).
            let (_, raw_post, raw_cpu, _, _) = rows[rows.len() - 1];
            for (client, post, cpu, rss, connections) in rows {
                let (post_ratio, cpu_ratio) = if client == "raw" {
                    (String::new(), String::new())
                } else {
                    (
                        format!("{:.2}x", post / raw_post),
                        format!("{:.2}x", cpu / raw_cpu),
                    )
                };
                println!(
                    "| {n} | {latency} ms | {client} | {post:.3} | {cpu:.3} | {rss:.1} | {connections} | {post_ratio} | {cpu_ratio} |"
                );
            }
        }
    }
}

// ---------------------------------------------------------------- endpoint process

fn serve(args: &[String]) {
    let latency = Duration::from_millis(number(args, "--latency-ms", 0));
    let transport = Transport::from_args(args);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let fake = FakeGateway::start(Options {
            latency,
            tls: transport != Transport::Plain,
            record: false,
            http2: transport == Transport::HttpsH2,
            throttle: None,
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
                println!(
                    "connections {} requests {}",
                    stats.connections(),
                    stats.requests()
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
    // The Lambda's runtime (src/bin/bootstrap.rs) is single-threaded; `--runtime multi`
    // compares tokio's multi-threaded one.
    let runtime = match flag(args, "--runtime").as_deref() {
        Some("multi") => tokio::runtime::Runtime::new(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .expect("a runtime");
    let (post_s, cpu_s, delivered) = runtime.block_on(async {
        match client.as_str() {
            "handler" => {
                through_handler(n, concurrency, &endpoint, ca.as_deref(), false, false).await
            }
            "handler-history" => {
                through_handler(n, concurrency, &endpoint, ca.as_deref(), false, true).await
            }
            "handler-sdk" => {
                through_handler(n, concurrency, &endpoint, ca.as_deref(), true, false).await
            }
            "raw" => raw_keep_alive(n, concurrency, &endpoint, ca.as_deref()).await,
            other => panic!("unknown --client {other}"),
        }
    });
    let rss_mb = peak_rss_kb() as f64 / 1024.0;
    println!("{post_s} {cpu_s} {rss_mb} {delivered}");
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

async fn through_handler(
    n: usize,
    concurrency: usize,
    endpoint: &str,
    ca: Option<&[u8]>,
    sdk_client: bool,
    history: bool,
) -> (f64, f64, usize) {
    let store = MemoryStore::new();
    for i in 0..n {
        store
            .put(&Connection::new(
                format!("conn{i:08}AAAA="),
                mb_tests::a_minute_ago(),
            ))
            .await
            .expect("memory store");
    }
    let sdk = mb_tests::sdk_config(None, ca).await;
    let gateway = if sdk_client {
        AnyGateway::Sdk(Box::new(SdkGateway::new(&sdk)))
    } else {
        AnyGateway::Direct(DirectGateway::with_options(
            &sdk,
            DirectOptions {
                max_connections: concurrency,
                extra_root_pem: ca.map(<[u8]>::to_vec),
                ..DirectOptions::default()
            },
        ))
    };
    let handler = Handler::new(
        store,
        gateway,
        Settings {
            concurrency,
            management_endpoint: Some(endpoint.to_owned()),
            // The recipients are in the default room: history on for it, or off.
            default_room_history: history,
            ..Settings::default()
        },
    );
    let event = mb_tests::event(
        "$default",
        "conn00000000AAAA=",
        Some(r#"{"type":"move","x":12,"y":-3}"#),
    );
    let cpu = cpu_seconds();
    let started = Instant::now();
    let invocation = handler
        .websocket(event, Instant::now() + Duration::from_secs(900))
        .await;
    let post_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu;
    (post_s, cpu_s, invocation.report.delivered)
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
