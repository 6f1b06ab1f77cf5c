//! A loopback stand-in of AWS CloudFormation speaking its wire protocol (the AWS query
//! protocol: form-encoded `Action=...&Version=2010-05-15` POSTs, XML answers and XML
//! errors in CloudFormation's namespace), so that the real `aws-sdk-cloudformation`
//! client parses its answers and maps its errors exactly as it does CloudFormation's.
//!
//! It exists for what moto does not do: stack operations that take time (IN_PROGRESS
//! states), per-resource events, failures and rollbacks, the cleanup states, and refusals
//! to act on a stack that is busy. It owns one live stack (plus the deleted ones, found by
//! id only), its events, its change sets and every request received, each with the status
//! its stack had when the request arrived.
//!
//! An operation sets its IN_PROGRESS status at once and queues the rest of its progress as
//! steps (a status change and/or one event); **each DescribeStacks call applies at most one
//! step before answering**, so a client polling sees the operation unfold over several
//! polls. DescribeStackEvents never advances; it lists newest first, three to a page, so
//! clients must paginate. Time is a fixed clock (2026-11-22T10:00:00Z) ticking one second
//! per event, so events sort strictly. Malformed requests get a 400, never a panic.
//!
//! Which file holds what:
//! - `server.rs`: [`FakeCloudFormation`], the test's handle (start, observe, script), and
//!   the routing of each request to its action;
//! - `stack_actions.rs`: DescribeStacks, DescribeStackEvents, GetTemplate, CreateStack,
//!   UpdateStack, DeleteStack, ContinueUpdateRollback, RollbackStack;
//! - `change_set_actions.rs`: CreateChangeSet, DescribeChangeSet, ExecuteChangeSet,
//!   DeleteChangeSet, ListChangeSets;
//! - `query.rs`: a request's form parameters; `xml.rs`: the XML answers and errors;
//!   `fault.rs`: the error a request earns;
//! - `state.rs`: the fake's state (stacks, events, change sets, [`Call`]s, ids, clock),
//!   which applies one step at a time; `stack.rs`: a stack, its events, its physical ids;
//!   `change_set.rs`: a change set and its status;
//! - `steps.rs`: how a create, an update and a delete unfold, fail and roll back;
//! - `template.rs`: a template as a request sends it; `evaluation.rs`: conditions,
//!   `Fn::If`, parameter `Ref`s, what a template creates and in what order;
//!   `changes.rs`: what an update changes and what it replaces;
//! - `served.rs`: what an API Gateway stage serves ([`Served`]);
//! - `stack_setup.rs`: the stack a test starts with ([`StackSetup`], [`EventSpec`]);
//! - `test_client.rs`: the SDK helpers of the unit tests (beside the code they test).

mod change_set;
mod change_set_actions;
mod changes;
mod evaluation;
mod fault;
mod query;
mod served;
mod server;
mod stack;
mod stack_actions;
mod stack_setup;
mod state;
mod steps;
mod template;
#[cfg(test)]
mod test_client;
mod xml;

pub use served::Served;
pub use server::FakeCloudFormation;
pub use stack_setup::{EventSpec, StackSetup};
pub use state::Call;
pub(crate) use xml::{escape, xml};
