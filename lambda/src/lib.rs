//! `mb`'s broadcast function: a message a client sends reaches every client in its rooms
//! (the default room, or the channels it joined). One function serves an API Gateway
//! WebSocket API's `$connect` (and its authorizer), `$disconnect` and `$default` routes,
//! the publish URL and its own continuations, on AWS (`src/bin/bootstrap.rs`) and in
//! `mb dev` alike.
//!
//! Where things live:
//!
//! | folder or file | what it holds |
//! |---|---|
//! | [`event`] | the one door: every kind of event the function receives, recognised once |
//! | [`handler`] | the [`Handler`], and one file per way in: `connect`, `disconnect`, `message`, `control`, `publish`, `authorize`, `resume` (a continuation); `broadcast` is the delivery they share |
//! | [`wire`] | pure wire formats: message shaping, control messages, channel names and the connect query, the publish request, the one error object |
//! | [`delivery`] | fan-out, pacing, posts in flight, the deadline, the connect window, continuations |
//! | [`access`] | tokens, their keys, the authorizer's rules, allowed origins, the message rate |
//! | [`store`] | connections and rooms: DynamoDB, and in memory for `mb dev` and tests |
//! | [`gateway`] | posting to connections: the Management API client |
//! | [`config`] | the function's settings, from its environment |
//! | [`clock`], [`logs`], [`aws`] | now; the log filter; the HTTPS client and timeouts |
//! | [`local`] | only for `mb dev` and tests: the Invoke API's rules, loopback SDK config |
//!
//! A message flows: [`event::Event::recognize`] → `handler::message` ([`wire::control`],
//! [`wire::message::shape`]) → [`store`] reads of the rooms' live members →
//! `handler::broadcast` → [`delivery::fanout`] → [`gateway`] post per recipient →
//! store delete for the gone; what the deadline leaves goes on in
//! [`delivery::continuation`].

pub mod access;
pub mod aws;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod event;
pub mod gateway;
pub mod handler;
#[cfg(any(test, feature = "local"))]
pub mod local;
pub mod logs;
pub mod store;
pub mod wire;

pub use config::{Config, Settings};

/// Property-test cases for a property whose case costs about `divisor` times a cheap
/// one's: `PROPTEST_CASES` (proptest's default, 256, if unset) divided, at least 16. The
/// test command sets 10,000; docs/benchmarks.md ("Property tests") runs a million.
#[cfg(test)]
pub(crate) fn costly_cases(divisor: u32) -> proptest::prelude::ProptestConfig {
    let all = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(256);
    proptest::prelude::ProptestConfig::with_cases((all / divisor).max(16))
}
pub use handler::Handler;
