//! What only `mb dev` and the tests use, never `bootstrap`: the rules of Lambda's Invoke
//! API that `mb dev` serves for continuations ([`invoke_api`]), and the SDK configuration
//! for loopback endpoints ([`loopback`]).

pub mod invoke_api;
pub mod loopback;
