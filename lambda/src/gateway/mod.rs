//! The delivery client: posts a message to one connection through the API Gateway
//! Management API (`POST {endpoint}/@connections/{id}`).
//!
//! [`DirectGateway`] is what the function ships with: each post signed with `aws-sigv4`
//! and sent over `hyper` on a pool that never opens more connections than posts in
//! flight. It costs a fraction of the SDK client's CPU per post (docs/benchmarks.md). The
//! real `aws-sdk-apigatewaymanagement` client implements the same [`Gateway`] trait in the
//! tests (`tests/src/sdk_gateway.rs`), as the reference the direct one is held to (same
//! signature, same failures).
//!
//! This module only performs calls and reports what happened as a [`PostFailure`]; what a
//! failure means for the connection (gone or not) is decided in [`crate::delivery::fanout`].

mod credentials;
mod direct;
mod pool;
mod post;

pub use credentials::CredentialCache;
pub use direct::{
    DirectGateway, DirectOptions, DirectPoster, SIGNING_NAME, failure_of, signed_post,
};
pub use pool::Target;
pub use post::{Gateway, PostFailure, Poster, management_endpoint};
