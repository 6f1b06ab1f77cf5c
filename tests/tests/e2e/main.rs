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
//! - `tools/`: the test command's pinned tools: cfn-lint, checkov, cargo-zigbuild.
//!
//! Run one rig or one file with a filter: `cargo test -p mb-tests --test e2e moto::`,
//! `cargo test -p mb-tests --test e2e tools::package_zigbuild`.

mod cli;
mod dev_server;
mod moto;
mod tools;
mod wire_fakes;

/// Held by every test that cross-compiles the Lambda function for x86-64 with
/// cargo-zigbuild (`tools::package_zigbuild`, `moto::lifecycle`). They share one target
/// directory and so one build, and the package test removes the linked binary to prove
/// a rebuild gives the same bytes: without the lock a deploy could find it missing.
pub static X86_64_BUILD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
