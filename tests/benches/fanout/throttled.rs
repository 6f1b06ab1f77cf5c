//! 100,000 recipients against the account's throttle: an endpoint that answers 429
//! `LimitExceededException` above 10,000 posts/s with a 5,000 burst (a token bucket, as
//! API Gateway's account-level throttle is), at 20, 50 and 100 ms. Each run has an
//! endpoint of its own, so its bucket starts full and its counts are the run's.
//!
//! Reported: the achieved posts per second (recipients reached over the post phase)
//! against the throttle's rate, requests per recipient (retries of 429s included), the
//! 429s, the invocations the broadcast took (the handler hands the rest on through the
//! Invoke API stand-in when its deadline comes) and the connections it opened; every
//! recipient must have been reached exactly once.

use super::{
    CpuShare, Run, Throttle, Transport, median_of, memory_label, run_worker, start_server,
};

const RECIPIENTS: usize = 100_000;
const LATENCIES_MS: [u64; 3] = [20, 50, 100];
/// The account's default: 10,000 requests/s steady, a 5,000 burst.
const THROTTLE: Throttle = Some((10_000, 5_000));

pub fn table(concurrency: u64, reps: u64, transport: Transport, shares: &[Option<CpuShare>]) {
    let (rate, burst) = THROTTLE.expect("a throttle");
    println!();
    println!(
        "{RECIPIENTS} recipients, endpoint throttled at {rate}/s with a {burst} burst (429 above it):"
    );
    println!();
    println!(
        "| latency | memory | post phase (s) | posts/s | of the throttle | requests / recipient | 429s | invocations | connections | CPU (s) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for latency in LATENCIES_MS {
        for share in shares {
            let runs = (0..reps)
                .map(|_| {
                    let mut server = start_server(latency, transport, THROTTLE);
                    let measured = run_worker(
                        &mut server,
                        &Run {
                            client: "handler",
                            n: RECIPIENTS,
                            concurrency,
                            share: share.as_ref(),
                            invoke: true,
                        },
                    );
                    assert_eq!(
                        (measured.seen.reached, measured.seen.most_copies),
                        (RECIPIENTS, 1),
                        "every recipient reached exactly once: {measured:?}"
                    );
                    assert_eq!(measured.delivered, RECIPIENTS, "{measured:?}");
                    measured
                })
                .collect();
            let m = median_of(runs);
            let posts_per_s = RECIPIENTS as f64 / m.post_s;
            println!(
                "| {latency} ms | {} | {:.2} | {posts_per_s:.0} | {:.0}% | {:.3} | {} | {} | {} | {:.2} |",
                memory_label(share.as_ref()),
                m.post_s,
                100.0 * posts_per_s / rate as f64,
                m.seen.requests as f64 / RECIPIENTS as f64,
                m.seen.throttled,
                m.invocations,
                m.connections,
                m.cpu_s,
            );
        }
    }
}
