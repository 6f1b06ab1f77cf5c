//! Cold-start init time of the built `bootstrap`: from spawning the process to its first
//! request for an invocation on a loopback stand-in of the Lambda Runtime API (what Lambda
//! bills and reports as "Init Duration", minus the sandbox's own start).
//!
//! ```text
//! ./target/debug/mb build --arch x86_64          # or any bootstrap you want to measure
//! cargo bench -p mb-tests --bench init -- [--binary PATH] [--runs N]
//! ```
//! Default binary: `target/x86_64-unknown-linux-gnu/lambda-release/bootstrap` (what `mb build
//! --arch x86_64` leaves); a relative `--binary` is taken from the workspace's top folder.
//! Prints each run and the median, min and max. Every run is
//! bounded (10 s) and the number of runs is capped at 1,000.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mb_tests::runtime_api::RuntimeApi;

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut binary =
        mb_tests::workspace_root().join("target/x86_64-unknown-linux-gnu/lambda-release/bootstrap");
    let mut runs = 15usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo runs benchmarks in tests/: a relative path is taken from the
            // workspace's top folder, where the commands above are typed.
            "--binary" => {
                binary = mb_tests::workspace_root().join(args.next().expect("--binary PATH"))
            }
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let runs = runs.clamp(1, 1000);
    assert!(
        binary.exists(),
        "{} is missing: run `mb build --arch x86_64` first",
        binary.display()
    );
    println!(
        "binary: {} ({} bytes)",
        binary.display(),
        std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0)
    );
    let mut times = Vec::with_capacity(runs);
    for run in 1..=runs {
        let runtime = RuntimeApi::start().await;
        let mut command = runtime.command(&binary);
        command
            .env("MB_TABLE_NAME", "mb-bench-connections")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let spawned = Instant::now();
        let mut child = command.spawn().expect("start bootstrap");
        let deadline = spawned + LIMIT;
        let init = loop {
            if let Some(polled) = runtime.first_poll() {
                break polled - spawned;
            }
            assert!(
                Instant::now() < deadline,
                "run {run}: no request for an invocation within {LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        let _ = child.kill();
        let _ = child.wait();
        println!("run {run:>3}: {:.2} ms", init.as_secs_f64() * 1e3);
        times.push(init);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "init (spawn -> first /invocation/next), {runs} runs: median {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
}
