//! Access: who may connect and how much they may send.
//!
//! - [`tokens`]: verifying and minting the tokens of `--auth jwt`;
//! - [`keys`]: where the verifying keys come from (the stack's secret, a key set), loaded
//!   lazily and refreshed;
//! - [`authorizer`]: the `$connect` REQUEST authorizer's event and answer;
//! - [`origin`]: the browser origins a handshake may come from;
//! - [`rate`]: the per-connection message limit.

pub mod authorizer;
pub mod keys;
pub mod origin;
pub mod rate;
pub mod tokens;
