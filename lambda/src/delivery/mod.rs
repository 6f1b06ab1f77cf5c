//! Delivery: how one message reaches a room's members.
//!
//! - [`fanout`]: the posts of one broadcast, their outcomes and the report;
//! - [`pacing`]: retrying throttled posts without a storm;
//! - [`deadline`]: how long an invocation may post before it hands on;
//! - [`connect_window`]: why a 410 right after `$connect` keeps the row;
//! - [`continuation`]: the rest of a broadcast handed to another invocation.

pub mod connect_window;
pub mod continuation;
pub mod deadline;
pub mod fanout;
pub mod pacing;
pub mod recovery;
