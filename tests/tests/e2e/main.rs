//! Every end-to-end test of the workspace in one test binary, so the AWS SDK is compiled
//! into and linked with one executable, not one per file. Each folder is a rig, the
//! thing the tests run against; each file in it is what they test:
//!
//! - `cli/`: the built `mb` with no AWS at all;
//! - `dev_server/`: the built `mb dev` on a loopback port, with real WebSocket clients
//!   (and, for the console, Debian's chromium);
//! - `moto/`: the built `mb` or the real SDK clients against moto (`MB_MOTO_SERVER`);
//! - `wire_fakes/`: loopback stand-ins speaking AWS's wire protocols where moto falls
//!   short (CloudFormation's stack states, the Management API, Lambda's Invoke and
//!   Runtime APIs, IAM's simulation), moto besides where STS or S3 are needed;
//! - `build/`: `mb build` cross-compiling the function with the pinned cargo-zigbuild;
//! - `tools/`: the test command's pinned template linters: cfn-lint, checkov.
//!
//! Run one rig or one file with a filter: `cargo test -p mb-tests --test e2e moto::`,
//! `cargo test -p mb-tests --test e2e build::package_zigbuild`.

mod build;
mod cli;
mod dev_server;
mod moto;
mod tools;
mod wire_fakes;

/// Held by every test that runs cargo-zigbuild (`build::package_zigbuild`,
/// `moto::lifecycle`: the function for arm64, the default, and the x86-64 stand-in). The
/// function's tests share one target directory and so one build, and `mb build` rewrites
/// the zip in place: without the lock a deploy could read it half written. And two
/// cargo-zigbuild processes starting at once race to write its cache of zig wrappers.
pub static FUNCTION_BUILD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
