//! `mb`'s broadcast function: a message a client sends reaches every client in its rooms
//! (the default room, or the channels it joined). One handler serves an API Gateway
//! WebSocket API's `$connect`, `$disconnect` and `$default` routes, and the server-side
//! publish of a function URL ([`publish`]), on AWS (`src/bin/bootstrap.rs`) and in
//! `mb dev` alike.
//!
//! A message flows: [`handler`] ([`control`] messages, [`channel`] rules) →
//! [`message::shape`] → [`store`] reads of the rooms' live members →
//! [`fanout`] ([`pacing`], [`deadline`]) → [`gateway`] post per recipient → outcomes
//! ([`connect_window`]) → store delete for the gone; what the deadline leaves is handed
//! to another invocation ([`continuation`]).

pub mod auth;
pub mod authorizer;
pub mod aws;
pub mod channel;
pub mod config;
pub mod connect_window;
pub mod continuation;
pub mod control;
pub mod deadline;
pub mod fanout;
pub mod gateway;
pub mod handler;
pub mod invoke_api;
pub mod keys;
pub mod logs;
pub mod message;
pub mod origin;
pub mod pacing;
pub mod publish;
pub mod rate;
pub mod store;

pub use config::{Config, Settings};
pub use handler::Handler;
