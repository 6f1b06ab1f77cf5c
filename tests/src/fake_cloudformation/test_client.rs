//! What the fake's tests share: an SDK client on a fake, a stack's status, polling until
//! it settles, its events through the paginator (and their summary), its template, and a
//! change set created and described until computed.

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, StackEvent, StackStatus,
};

use super::server::FakeCloudFormation;
use super::state::ARN_PREFIX;

/// The stack the tests deploy.
pub(super) const NAME: &str = "mb-a-dev";

pub(super) async fn client(fake: &FakeCloudFormation) -> Client {
    Client::new(&crate::sdk_config(Some(&fake.endpoint), None).await)
}

pub(super) async fn status_of(client: &Client, name_or_id: &str) -> StackStatus {
    let out = client
        .describe_stacks()
        .stack_name(name_or_id)
        .send()
        .await
        .expect("describe the stack");
    out.stacks()
        .first()
        .and_then(|s| s.stack_status())
        .cloned()
        .expect("a stack with a status")
}

/// Polls DescribeStacks until the stack settles (at most 50 polls); returns its
/// status and how many polls it took.
pub(super) async fn settle(client: &Client, name_or_id: &str) -> (StackStatus, usize) {
    for polls in 1..=50 {
        let status = status_of(client, name_or_id).await;
        if !status.as_str().ends_with("_IN_PROGRESS") {
            return (status, polls);
        }
    }
    panic!("{name_or_id} did not settle in 50 polls");
}

/// Every event through the SDK's paginator, oldest first.
pub(super) async fn events(client: &Client, name_or_id: &str) -> Vec<StackEvent> {
    let mut all = Vec::new();
    let mut items = client
        .describe_stack_events()
        .stack_name(name_or_id)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = items.next().await {
        all.push(item.expect("an event"));
    }
    all.reverse();
    all
}

pub(super) fn summary(events: &[StackEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.logical_resource_id().unwrap_or_default().to_owned(),
                e.resource_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

pub(super) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

pub(super) async fn template(client: &Client, name_or_id: &str) -> String {
    client
        .get_template()
        .stack_name(name_or_id)
        .send()
        .await
        .expect("GetTemplate")
        .template_body()
        .unwrap_or_default()
        .to_owned()
}

/// Creates a change set and describes it until CloudFormation has computed it.
pub(super) async fn change_set(
    client: &Client,
    name: &str,
    kind: ChangeSetType,
    body: &str,
    parameters: &[(&str, &str)],
) -> (
    String,
    aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput,
) {
    let id = client
        .create_change_set()
        .stack_name(NAME)
        .change_set_name(name)
        .change_set_type(kind)
        .template_body(body)
        .set_parameters(Some(
            parameters
                .iter()
                .map(|(k, v)| {
                    Parameter::builder()
                        .parameter_key(*k)
                        .parameter_value(*v)
                        .build()
                })
                .collect(),
        ))
        .capabilities(Capability::CapabilityNamedIam)
        .description("mb deploy")
        .send()
        .await
        .expect("CreateChangeSet")
        .id()
        .expect("a change set id")
        .to_owned();
    assert!(
        id.starts_with(&format!("{ARN_PREFIX}:changeSet/{name}/")),
        "{id}"
    );
    for _ in 0..50 {
        let out = client
            .describe_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("DescribeChangeSet");
        if out.status() != Some(&ChangeSetStatus::CreatePending) {
            return (id, out);
        }
    }
    panic!("the change set {id} stayed CREATE_PENDING");
}
