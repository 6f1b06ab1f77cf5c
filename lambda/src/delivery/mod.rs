//! Delivery: how one message reaches a room's members.
//!
//! - [`fanout`]: the posts of one broadcast, their outcomes and the report;
//! - [`pacing`]: how fast posts start, and retrying throttled ones without a storm;
//! - [`in_flight`]: how many posts are in flight, following the endpoint's latency;
//! - [`deadline`]: how long an invocation may post before it hands on;
//! - [`connect_window`]: why a 410 right after `$connect` keeps the row;
//! - [`continuation`]: the rest of a broadcast handed to another invocation;
//! - [`dedupe`]: what a dedupe claim and a publish's answer make of an event.

pub mod connect_window;
pub mod continuation;
pub mod deadline;
pub mod dedupe;
pub mod fanout;
pub mod in_flight;
pub mod pacing;
pub mod recovery;
