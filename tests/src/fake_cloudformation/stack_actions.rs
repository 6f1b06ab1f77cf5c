//! The stack actions: DescribeStacks (which applies the next step first),
//! DescribeStackEvents (newest first, three to a page), GetTemplate, CreateStack,
//! UpdateStack, DeleteStack, ContinueUpdateRollback and RollbackStack, each checking the
//! stack's status as CloudFormation does, and a stack as DescribeStacks writes it.

use super::evaluation::to_create;
use super::fault::{Fault, validation};
use super::query::{Params, required};
use super::stack::{Event, Stack, not_updatable, updatable};
use super::state::State;
use super::steps::{Step, create_steps, delete_steps, update_steps};
use super::template::{REQUIRES_IAM, Template, has_iam_capability, template_of};
use super::xml::{element, list, optional, pair_list, time};

/// DescribeStackEvents pages are this small so that clients must paginate.
const EVENTS_PER_PAGE: usize = 3;

/// The Description of the outputs of mb's template.
fn output_description(key: &str) -> Option<&'static str> {
    Some(match key {
        "WebSocketUrl" => "URL clients connect to.",
        "ApiId" => "WebSocket API id.",
        "Stage" => "API Gateway stage name.",
        "Table" => "DynamoDB connection table name.",
        "Function" => "Lambda function name.",
        "LogGroup" => "CloudWatch Logs group of the function.",
        "PublishUrl" => "HTTPS endpoint a backend publishes to (POST, SigV4-signed; `mb publish`).",
        _ => return None,
    })
}

/// A stack as DescribeStacks lists it.
fn stack_xml(stack: &Stack) -> String {
    let outputs: String = stack
        .outputs
        .iter()
        .map(|(k, v)| {
            format!(
                "<member>{}{}{}</member>",
                element("OutputKey", k),
                element("OutputValue", v),
                optional("Description", output_description(k)),
            )
        })
        .collect();
    [
        element("StackId", &stack.id),
        element("StackName", &stack.name),
        optional("ChangeSetId", stack.change_set_id.as_deref()),
        element("Description", "mb WebSocket broadcast backend"),
        pair_list(
            "Parameters",
            "ParameterKey",
            "ParameterValue",
            &stack.template.parameters,
        ),
        element("CreationTime", &time(stack.created)),
        optional("DeletionTime", stack.deleted.map(time).as_deref()),
        optional("LastUpdatedTime", stack.updated.map(time).as_deref()),
        element("StackStatus", &stack.status),
        optional("StackStatusReason", stack.reason.as_deref()),
        element("DisableRollback", "false"),
        list("NotificationARNs", &[]),
        list("Capabilities", &stack.template.capabilities),
        format!("<Outputs>{outputs}</Outputs>"),
        pair_list("Tags", "Key", "Value", &stack.template.tags),
        element("EnableTerminationProtection", "false"),
        "<DriftInformation><StackDriftStatus>NOT_CHECKED</StackDriftStatus></DriftInformation>"
            .to_owned(),
    ]
    .concat()
}

pub(super) fn describe_stacks(state: &mut State, params: &Params) -> Result<String, Fault> {
    state.advance();
    let stacks: Vec<&Stack> = match params.get("StackName") {
        Some(name) => vec![
            state
                .find(name)
                .ok_or_else(|| validation(format!("Stack with id {name} does not exist")))?,
        ],
        None => state.stack.iter().collect(),
    };
    let members: String = stacks
        .into_iter()
        .map(|s| format!("<member>{}</member>", stack_xml(s)))
        .collect();
    Ok(format!("<Stacks>{members}</Stacks>"))
}

pub(super) fn describe_stack_events(state: &State, params: &Params) -> Result<String, Fault> {
    let name = required(params, "StackName")?;
    let stack = state
        .find(name)
        .ok_or_else(|| validation(format!("Stack [{name}] does not exist")))?;
    let events: Vec<&Event> = state
        .events
        .iter()
        .filter(|e| e.stack_id == stack.id)
        .collect();
    // The token is the position (oldest first) where the next page ends, so events that
    // arrive between pages do not shift the pages.
    let end = match params.get("NextToken") {
        None => events.len(),
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|end| *end <= events.len())
            .ok_or_else(|| validation(format!("Invalid NextToken: {token}")))?,
    };
    let start = end.saturating_sub(EVENTS_PER_PAGE);
    let page: String = events[start..end]
        .iter()
        .rev()
        .map(|e| {
            [
                "<member>".to_owned(),
                element("StackId", &e.stack_id),
                element("EventId", &e.id),
                element("StackName", &e.stack_name),
                element("LogicalResourceId", &e.spec.logical_id),
                element("PhysicalResourceId", &e.physical_id),
                element("ResourceType", &e.spec.resource_type),
                element("Timestamp", &time(e.time)),
                element("ResourceStatus", &e.spec.status),
                optional("ResourceStatusReason", e.spec.reason.as_deref()),
                "</member>".to_owned(),
            ]
            .concat()
        })
        .collect();
    let token = if start > 0 {
        element("NextToken", &start.to_string())
    } else {
        String::new()
    };
    Ok(format!("<StackEvents>{page}</StackEvents>{token}"))
}

pub(super) fn get_template(state: &State, params: &Params) -> Result<String, Fault> {
    let name = required(params, "StackName")?;
    let stack = state
        .find(name)
        .ok_or_else(|| validation(format!("Stack with id {name} does not exist")))?;
    Ok(format!(
        "{}{}",
        element("TemplateBody", &stack.template.body),
        list("StagesAvailable", &["Original".into(), "Processed".into()])
    ))
}

pub(super) fn create_stack(state: &mut State, params: &Params) -> Result<String, Fault> {
    let name = required(params, "StackName")?.clone();
    if state.stack.is_some() {
        let existing = state.stack.as_ref().map(|s| s.name.as_str());
        if existing == Some(name.as_str()) {
            return Err(Fault(
                400,
                "AlreadyExistsException",
                format!("Stack [{name}] already exists"),
            ));
        }
        return Err(validation(format!(
            "The fake holds one live stack; [{name}] would be a second"
        )));
    }
    let template = template_of(params, None)?;
    if !has_iam_capability(&template.capabilities) {
        return Err(Fault(
            400,
            "InsufficientCapabilitiesException",
            REQUIRES_IAM.into(),
        ));
    }
    let resources = to_create(&template);
    let id = state.new_stack(&name, template);
    let profile = state.profile(&name);
    let steps = create_steps(
        resources.unwrap_or(profile.resources),
        profile.outputs,
        state.take_failure(),
    );
    state.begin("CREATE_IN_PROGRESS", steps);
    Ok(element("StackId", &id))
}

pub(super) fn update_stack(state: &mut State, params: &Params) -> Result<String, Fault> {
    let name = required(params, "StackName")?;
    let stack = state.live_or_missing(name)?.clone();
    if !updatable(&stack.status) {
        return Err(not_updatable(&stack));
    }
    let template = template_of(params, Some(&stack.template))?;
    if !has_iam_capability(&template.capabilities) {
        return Err(Fault(
            400,
            "InsufficientCapabilitiesException",
            REQUIRES_IAM.into(),
        ));
    }
    if template.same_as(&stack.template) {
        return Err(validation("No updates are to be performed.".into()));
    }
    start_update(state, template);
    Ok(element("StackId", &stack.id))
}

/// Starts an update to `template` (UpdateStack, or an UPDATE change set executed).
pub(super) fn start_update(state: &mut State, template: Template) {
    let now = state.clock + 1;
    if let Some(stack) = &mut state.stack {
        stack.updated = Some(now);
    }
    let old = state
        .stack
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let steps = update_steps(&old, template, state.take_failure());
    state.begin("UPDATE_IN_PROGRESS", steps);
}

pub(super) fn delete_stack(state: &mut State, params: &Params) -> Result<String, Fault> {
    let name = required(params, "StackName")?;
    // Deleting what is not there succeeds, as on AWS.
    let Some(stack) = state.live(name).cloned() else {
        return Ok(String::new());
    };
    if stack.status == "DELETE_IN_PROGRESS" {
        return Ok(String::new());
    }
    if stack.status.ends_with("_IN_PROGRESS") && stack.status != "REVIEW_IN_PROGRESS" {
        return Err(validation(format!(
            "Stack [{}] cannot be deleted while in status {}",
            stack.id, stack.status
        )));
    }
    let steps = delete_steps(stack.resources, state.take_failure());
    state.begin("DELETE_IN_PROGRESS", steps);
    Ok(String::new())
}

pub(super) fn continue_update_rollback(
    state: &mut State,
    params: &Params,
) -> Result<String, Fault> {
    let stack = state
        .live_or_missing(required(params, "StackName")?)?
        .clone();
    if stack.status != "UPDATE_ROLLBACK_FAILED" {
        return Err(validation(format!(
            "Stack {} is in {} state and can not continue update rollback.",
            stack.id, stack.status
        )));
    }
    let steps = vec![
        Step::root("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None),
        Step::root("UPDATE_ROLLBACK_COMPLETE", None),
    ];
    state.begin("UPDATE_ROLLBACK_IN_PROGRESS", steps);
    Ok(String::new())
}

pub(super) fn rollback_stack(state: &mut State, params: &Params) -> Result<String, Fault> {
    let stack = state
        .live_or_missing(required(params, "StackName")?)?
        .clone();
    let (during, end) = match stack.status.as_str() {
        "CREATE_FAILED" => ("ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"),
        "UPDATE_FAILED" => ("UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"),
        other => {
            return Err(validation(format!(
                "Stack {} is in {other} state and can not be rolled back.",
                stack.id
            )));
        }
    };
    state.begin(during, vec![Step::root(end, None)]);
    Ok(element("StackId", &stack.id))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};

    use crate::fake_cloudformation::server::FakeCloudFormation;
    use crate::fake_cloudformation::stack_setup::StackSetup;
    use crate::fake_cloudformation::state::{ARN_PREFIX, EPOCH, STACK_TYPE};
    use crate::fake_cloudformation::test_client::{
        NAME, client, events, pairs, settle, status_of, summary, template,
    };

    #[tokio::test]
    async fn a_missing_stack_is_a_validation_error_and_a_create_unfolds_over_polls() {
        let fake = FakeCloudFormation::start(None).await;
        let client = client(&fake).await;
        let err = client
            .describe_stacks()
            .stack_name(NAME)
            .send()
            .await
            .expect_err("no stack yet");
        assert_eq!(err.code(), Some("ValidationError"));
        assert_eq!(err.message(), Some("Stack with id mb-a-dev does not exist"));

        let body = r#"{"Description": "<&> 'quoted' \"double\""}"#;
        let refused = client
            .create_stack()
            .stack_name(NAME)
            .template_body(body)
            .send()
            .await
            .expect_err("no capabilities");
        assert!(
            refused
                .as_service_error()
                .is_some_and(|e| e.is_insufficient_capabilities_exception()),
            "{refused:?}"
        );
        assert_eq!(
            refused.message(),
            Some("Requires capabilities : [CAPABILITY_NAMED_IAM]")
        );

        let id = client
            .create_stack()
            .stack_name(NAME)
            .template_body(body)
            .parameters(
                Parameter::builder()
                    .parameter_key("Stage")
                    .parameter_value("dev")
                    .build(),
            )
            .capabilities(Capability::CapabilityNamedIam)
            .tags(
                aws_sdk_cloudformation::types::Tag::builder()
                    .key("mb:service")
                    .value("a")
                    .build(),
            )
            .send()
            .await
            .expect("CreateStack")
            .stack_id()
            .expect("a stack id")
            .to_owned();
        assert!(
            id.starts_with(&format!("{ARN_PREFIX}:stack/{NAME}/")),
            "{id}"
        );
        assert_eq!(fake.status().as_deref(), Some("CREATE_IN_PROGRESS"));
        let (status, polls) = settle(&client, NAME).await;
        assert_eq!(status, StackStatus::CreateComplete);
        assert_eq!(
            polls, 11,
            "one step per poll: 5 resources x 2 events, then the stack"
        );

        let out = client
            .describe_stacks()
            .stack_name(&id)
            .send()
            .await
            .expect("describe by id");
        let stack = &out.stacks()[0];
        assert_eq!(stack.stack_name(), Some(NAME));
        assert_eq!(stack.stack_id(), Some(id.as_str()));
        assert_eq!(stack.disable_rollback(), Some(false));
        assert!(stack.creation_time().is_some());
        assert_eq!(stack.capabilities(), [Capability::CapabilityNamedIam]);
        assert_eq!(stack.tags()[0].key(), Some("mb:service"));
        assert_eq!(stack.parameters()[0].parameter_value(), Some("dev"));
        let url = stack
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some("WebSocketUrl"))
            .expect("a WebSocketUrl output");
        assert_eq!(
            url.output_value(),
            Some("wss://abc123.execute-api.us-east-1.amazonaws.com/dev")
        );
        assert_eq!(url.description(), Some("URL clients connect to."));
        assert_eq!(template(&client, NAME).await, body, "escaped and read back");

        let again = client
            .create_stack()
            .stack_name(NAME)
            .template_body("{}")
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect_err("exists");
        assert!(
            again
                .as_service_error()
                .is_some_and(|e| e.is_already_exists_exception())
        );
        assert_eq!(again.message(), Some("Stack [mb-a-dev] already exists"));
    }

    #[tokio::test]
    async fn events_come_newest_first_three_to_a_page() {
        let fake = FakeCloudFormation::start(None).await;
        let client = client(&fake).await;
        client
            .create_stack()
            .stack_name(NAME)
            .template_body("{}")
            .capabilities(Capability::CapabilityIam)
            .send()
            .await
            .expect("CreateStack");
        settle(&client, NAME).await;

        let first = client
            .describe_stack_events()
            .stack_name(NAME)
            .send()
            .await
            .expect("one page");
        assert_eq!(first.stack_events().len(), 3);
        assert!(first.next_token().is_some(), "more pages");

        let all = events(&client, NAME).await;
        assert_eq!(all.len(), 12, "{:?}", summary(&all));
        let ids: HashSet<&str> = all.iter().filter_map(|e| e.event_id()).collect();
        assert_eq!(ids.len(), all.len(), "event ids are unique");
        for pair in all.windows(2) {
            let (a, b) = (pair[0].timestamp(), pair[1].timestamp());
            assert!(a < b, "oldest to newest, strictly: {a:?} then {b:?}");
        }
        assert_eq!(
            all[0].timestamp().map(|t| t.secs()),
            Some(EPOCH + 1),
            "the fake's clock"
        );
        let root = &all[0];
        assert_eq!(root.logical_resource_id(), Some(NAME));
        assert_eq!(root.resource_type(), Some(STACK_TYPE));
        assert_eq!(
            root.resource_status(),
            Some(&aws_sdk_cloudformation::types::ResourceStatus::CreateInProgress)
        );
        assert_eq!(root.resource_status_reason(), Some("User Initiated"));
        assert_eq!(root.physical_resource_id(), root.stack_id());
        assert_eq!(
            summary(&all[1..]),
            pairs(&[
                ("FunctionRole", "CREATE_IN_PROGRESS"),
                ("FunctionRole", "CREATE_COMPLETE"),
                ("Rooms", "CREATE_IN_PROGRESS"),
                ("Rooms", "CREATE_COMPLETE"),
                ("Api", "CREATE_IN_PROGRESS"),
                ("Api", "CREATE_COMPLETE"),
                ("Function", "CREATE_IN_PROGRESS"),
                ("Function", "CREATE_COMPLETE"),
                ("PublishUrl", "CREATE_IN_PROGRESS"),
                ("PublishUrl", "CREATE_COMPLETE"),
                (NAME, "CREATE_COMPLETE"),
            ])
        );
        assert_eq!(all[4].physical_resource_id(), Some("mb-a-dev-rooms"));

        let bad = client
            .describe_stack_events()
            .stack_name(NAME)
            .next_token("x")
            .send()
            .await
            .expect_err("a bad token");
        assert_eq!(bad.code(), Some("ValidationError"));
    }

    #[tokio::test]
    async fn a_busy_stack_refuses_changes_and_deletes() {
        let fake =
            FakeCloudFormation::start(Some(StackSetup::new(NAME, "UPDATE_IN_PROGRESS"))).await;
        let client = client(&fake).await;
        let busy = client
            .create_change_set()
            .stack_name(NAME)
            .change_set_name("mb-1")
            .template_body("{}")
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect_err("in progress");
        assert_eq!(busy.code(), Some("ValidationError"));
        let message = busy.message().unwrap_or_default();
        assert!(
            message.starts_with(&format!("Stack:{ARN_PREFIX}:stack/{NAME}/"))
                && message.ends_with(" is in UPDATE_IN_PROGRESS state and can not be updated."),
            "{message}"
        );
        let delete = client
            .delete_stack()
            .stack_name(NAME)
            .send()
            .await
            .expect_err("in progress");
        assert_eq!(delete.code(), Some("ValidationError"));
        let rollback = client
            .continue_update_rollback()
            .stack_name(NAME)
            .send()
            .await
            .expect_err("not UPDATE_ROLLBACK_FAILED");
        assert_eq!(rollback.code(), Some("ValidationError"));
        let update = client
            .update_stack()
            .stack_name(NAME)
            .template_body("{}")
            .send()
            .await
            .expect_err("in progress");
        assert_eq!(update.code(), Some("ValidationError"));
        // Nothing moves it on: the stack stays busy however often it is polled.
        for _ in 0..5 {
            assert_eq!(
                status_of(&client, NAME).await,
                StackStatus::UpdateInProgress
            );
        }
        let calls = fake.calls();
        assert!(
            calls
                .iter()
                .all(|c| c.status_before.as_deref() == Some("UPDATE_IN_PROGRESS"))
        );
    }

    #[tokio::test]
    async fn a_deleted_stack_is_found_by_id_only_and_a_new_one_gets_a_new_id() {
        let fake =
            FakeCloudFormation::start(Some(StackSetup::new(NAME, "ROLLBACK_COMPLETE"))).await;
        let client = client(&fake).await;
        let described = client
            .describe_stacks()
            .stack_name(NAME)
            .send()
            .await
            .expect("describe");
        let old = described.stacks()[0].stack_id().expect("an id").to_owned();
        assert!(described.stacks()[0].outputs().is_empty(), "never created");
        client
            .delete_stack()
            .stack_name(&old)
            .send()
            .await
            .expect("DeleteStack");
        assert_eq!(fake.status().as_deref(), Some("DELETE_IN_PROGRESS"));
        let (status, polls) = settle(&client, &old).await;
        assert_eq!(status, StackStatus::DeleteComplete);
        assert_eq!(polls, 11);
        assert_eq!(fake.status(), None);
        let by_id = client
            .describe_stacks()
            .stack_name(&old)
            .send()
            .await
            .expect("by id");
        assert!(by_id.stacks()[0].deletion_time().is_some());
        let by_name = client
            .describe_stacks()
            .stack_name(NAME)
            .send()
            .await
            .expect_err("gone by name");
        assert_eq!(
            by_name.message(),
            Some("Stack with id mb-a-dev does not exist")
        );
        let all = events(&client, &old).await;
        assert_eq!(
            summary(&all[..3]),
            pairs(&[
                (NAME, "DELETE_IN_PROGRESS"),
                ("PublishUrl", "DELETE_IN_PROGRESS"),
                ("PublishUrl", "DELETE_COMPLETE"),
            ]),
            "newest-created first"
        );
        assert!(
            client
                .describe_stack_events()
                .stack_name(NAME)
                .send()
                .await
                .is_err(),
            "a deleted stack's events are found by id only"
        );
        client
            .delete_stack()
            .stack_name(NAME)
            .send()
            .await
            .expect("deleting nothing succeeds");

        let new = client
            .create_stack()
            .stack_name(NAME)
            .template_body("{}")
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("CreateStack")
            .stack_id()
            .expect("an id")
            .to_owned();
        assert_ne!(new, old);
        assert_eq!(settle(&client, NAME).await.0, StackStatus::CreateComplete);
        assert_eq!(status_of(&client, &old).await, StackStatus::DeleteComplete);
        let create = fake
            .calls()
            .into_iter()
            .find(|c| c.action == "CreateStack")
            .expect("a CreateStack call");
        assert_eq!(create.status_before, None);
    }
}
