//! The wire formats, all pure: what a client's frame means and what it is sent back.
//!
//! - [`message`]: a sent message shaped into the copies its rooms get (`_now`, `_me`,
//!   `_channel`), the seed's format byte for byte in the default room;
//! - [`control`]: the control actions (`subscribe`, `unsubscribe`, `ping`, `publish`);
//! - [`channel`]: channel names and the channels a connect query names;
//! - [`publish`]: the publish URL's request and answer;
//! - [`bus`]: an SQS message (an envelope, an SNS notification, an EventBridge event)
//!   read into a publish and its dedupe key;
//! - [`error`]: the one error object every refusal is sent as.

pub mod bus;
pub mod channel;
pub mod control;
pub mod error;
pub mod message;
pub mod position;
pub mod publish;
