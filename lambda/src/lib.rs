//! `mb`'s broadcast function: every message any client sends reaches every connected
//! client. One handler serves an API Gateway WebSocket API's `$connect`, `$disconnect`
//! and `$default` routes, on AWS (`src/bin/bootstrap.rs`) and in `mb dev` alike.
//!
//! A message flows: [`handler`] → [`message::shape`] → [`store`] scan → [`fanout`] →
//! [`gateway`] post per recipient → outcomes → store delete for the gone.

pub mod aws;
pub mod config;
pub mod fanout;
pub mod gateway;
pub mod handler;
pub mod logs;
pub mod message;
pub mod store;

pub use config::{Config, Settings};
pub use handler::Handler;
