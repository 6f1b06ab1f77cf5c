//! Loopback stand-ins that speak AWS's wire protocols, for the behaviour moto does not
//! have: CloudFormation's stack states (`mb_tests::fake_cloudformation`), the Management
//! API (`mb_tests::fake_gateway`), Lambda's Invoke and Runtime APIs, and AWS's errors.
//! moto serves STS and S3 beside them where a test needs those.

mod aws_errors;
mod bootstrap_runtime_api;
mod cloudformation_stack_states;
mod delivery;
mod fanout_faults;
mod post_client;
mod publish;
mod reserved_concurrency;
