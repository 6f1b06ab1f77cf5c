//! The change set actions: CreateChangeSet (what it would change, or why it fails),
//! DescribeChangeSet (computed once described, unless a test holds it), ExecuteChangeSet
//! (a create or an update of its stack, consuming the stack's change sets),
//! DeleteChangeSet and ListChangeSets.

use super::change_set::ChangeSet;
use super::changes::{Change, changes};
use super::evaluation::to_create;
use super::fault::{Fault, validation};
use super::query::{Params, required};
use super::stack::{not_updatable, updatable};
use super::stack_actions::start_update;
use super::state::{ARN_PREFIX, State, USER_INITIATED};
use super::steps::create_steps;
use super::template::{REQUIRES_IAM, Template, has_iam_capability, template_of};
use super::xml::{element, list, optional, pair_list, time};

/// Why an UPDATE change set that changes nothing fails.
const NO_CHANGES: &str = "The submitted information didn't contain changes. Submit different \
                          information to create a change set.";

pub(super) fn create_change_set(state: &mut State, params: &Params) -> Result<String, Fault> {
    let name = required(params, "StackName")?.clone();
    let change_set_name = required(params, "ChangeSetName")?.clone();
    let create = match params.get("ChangeSetType").map(String::as_str) {
        None | Some("UPDATE") => false,
        Some("CREATE") => true,
        Some(other) => {
            return Err(validation(format!(
                "ChangeSetType {other} is not supported by the fake"
            )));
        }
    };
    let live = state.live(&name).cloned();
    let template = template_of(params, live.as_ref().map(|s| &s.template))?;
    let stack = match (create, live) {
        (true, Some(stack)) if stack.status != "REVIEW_IN_PROGRESS" => {
            return Err(validation(format!(
                "Stack [{name}] already exists and cannot be created again with the changeSet \
                 [{change_set_name}]."
            )));
        }
        (true, Some(stack)) => stack,
        (true, None) => {
            state.new_stack(&name, Template::default());
            state.set_status("REVIEW_IN_PROGRESS", Some(USER_INITIATED.to_owned()));
            state.live_or_missing(&name)?.clone()
        }
        (false, None) => return Err(validation(format!("Stack [{name}] does not exist"))),
        (false, Some(stack)) if !updatable(&stack.status) => {
            return Err(not_updatable(&stack));
        }
        (false, Some(stack)) => stack,
    };
    if state
        .change_sets
        .iter()
        .any(|c| c.stack_id == stack.id && c.name == change_set_name)
    {
        return Err(Fault(
            400,
            "AlreadyExistsException",
            format!("ChangeSet {change_set_name} already exists"),
        ));
    }
    let outcome = if !has_iam_capability(&template.capabilities) {
        (
            "FAILED",
            Some(format!(
                "InsufficientCapabilities: {REQUIRES_IAM}. Specify the capabilities to create \
                 a change set."
            )),
            Vec::new(),
        )
    } else if create {
        let changes = state
            .profile(&name)
            .resources
            .into_iter()
            .map(|(id, kind)| Change {
                action: "Add",
                logical_id: id,
                resource_type: kind,
                replacement: None,
            })
            .collect();
        ("CREATE_COMPLETE", None, changes)
    } else if template.same_as(&stack.template) {
        ("FAILED", Some(NO_CHANGES.to_owned()), Vec::new())
    } else {
        ("CREATE_COMPLETE", None, changes(&stack.template, &template))
    };
    let id = format!("{ARN_PREFIX}:changeSet/{change_set_name}/{}", state.uuid());
    let created = state.clock;
    let held = state.hold;
    state.change_sets.push(ChangeSet {
        name: change_set_name,
        id: id.clone(),
        stack_id: stack.id.clone(),
        stack_name: stack.name.clone(),
        create,
        description: params.get("Description").cloned(),
        created,
        template,
        pending: true,
        held,
        outcome,
    });
    Ok(format!(
        "{}{}",
        element("Id", &id),
        element("StackId", &stack.id)
    ))
}

/// The change set a request names: by id, or by name (of its stack, when named).
fn find_change_set<'a>(state: &'a mut State, params: &Params) -> Result<&'a mut ChangeSet, Fault> {
    let name = required(params, "ChangeSetName")?;
    let stack = params.get("StackName");
    state
        .change_sets
        .iter_mut()
        .find(|c| {
            c.id == *name
                || (c.name == *name && stack.is_none_or(|s| *s == c.stack_name || *s == c.stack_id))
        })
        .ok_or_else(|| {
            Fault(
                400,
                "ChangeSetNotFound",
                format!("ChangeSet [{name}] does not exist"),
            )
        })
}

pub(super) fn describe_change_set(state: &mut State, params: &Params) -> Result<String, Fault> {
    let change_set = find_change_set(state, params)?;
    // Computed by the time anyone asks (unless held): CREATE_PENDING only until described.
    if change_set.held == 0 {
        change_set.pending = false;
    }
    let changes: String = change_set
        .outcome
        .2
        .iter()
        .map(|c| {
            let physical = (c.action != "Add").then_some(c.logical_id.as_str());
            format!(
                "<member><Type>Resource</Type><ResourceChange>{}{}{}{}{}</ResourceChange>\
                 </member>",
                element("Action", c.action),
                element("LogicalResourceId", &c.logical_id),
                optional("PhysicalResourceId", physical),
                element("ResourceType", &c.resource_type),
                optional("Replacement", c.replacement),
            )
        })
        .collect();
    let c = &*change_set;
    let answer = [
        element("ChangeSetName", &c.name),
        element("ChangeSetId", &c.id),
        element("StackId", &c.stack_id),
        element("StackName", &c.stack_name),
        optional("Description", c.description.as_deref()),
        pair_list(
            "Parameters",
            "ParameterKey",
            "ParameterValue",
            &c.template.parameters,
        ),
        element("CreationTime", &time(c.created)),
        element("ExecutionStatus", c.execution_status()),
        element("Status", c.status()),
        optional("StatusReason", c.reason()),
        list("NotificationARNs", &[]),
        list("Capabilities", &c.template.capabilities),
        pair_list("Tags", "Key", "Value", &c.template.tags),
        format!("<Changes>{changes}</Changes>"),
        element("IncludeNestedStacks", "false"),
    ]
    .concat();
    change_set.held = change_set.held.saturating_sub(1);
    Ok(answer)
}

pub(super) fn execute_change_set(state: &mut State, params: &Params) -> Result<String, Fault> {
    let change_set = find_change_set(state, params)?.clone();
    if change_set.execution_status() != "AVAILABLE" {
        return Err(Fault(
            400,
            "InvalidChangeSetStatus",
            format!(
                "ChangeSet [{}] cannot be executed in its current status of [{}]",
                change_set.id,
                change_set.status()
            ),
        ));
    }
    let stack = state
        .live(&change_set.stack_id)
        .cloned()
        .ok_or_else(|| validation(format!("Stack [{}] does not exist", change_set.stack_id)))?;
    if change_set.create && stack.status != "REVIEW_IN_PROGRESS" {
        return Err(validation(format!(
            "Stack:{} is in {} state and can not be created.",
            stack.id, stack.status
        )));
    }
    if !change_set.create && !updatable(&stack.status) {
        return Err(not_updatable(&stack));
    }
    // Executing a change set removes the stack's change sets, this one included.
    state.change_sets.retain(|c| c.stack_id != stack.id);
    if let Some(live) = &mut state.stack {
        live.change_set_id = Some(change_set.id.clone());
    }
    if change_set.create {
        let resources = to_create(&change_set.template);
        if let Some(live) = &mut state.stack {
            live.template = change_set.template;
        }
        let profile = state.profile(&stack.name);
        let steps = create_steps(
            resources.unwrap_or(profile.resources),
            profile.outputs,
            state.take_failure(),
        );
        state.begin("CREATE_IN_PROGRESS", steps);
    } else {
        start_update(state, change_set.template);
    }
    Ok(String::new())
}

pub(super) fn delete_change_set(state: &mut State, params: &Params) -> Result<String, Fault> {
    let change_set = find_change_set(state, params)?;
    if change_set.held > 0 {
        change_set.held -= 1;
        return Err(Fault(
            400,
            "InvalidChangeSetStatus",
            format!(
                "ChangeSet [{}] cannot be deleted in its current status of [CREATE_IN_PROGRESS]",
                change_set.id
            ),
        ));
    }
    let id = change_set.id.clone();
    state.change_sets.retain(|c| c.id != id);
    Ok(String::new())
}

pub(super) fn list_change_sets(state: &State, params: &Params) -> Result<String, Fault> {
    let stack = state.live_or_missing(required(params, "StackName")?)?;
    let summaries: String = state
        .change_sets
        .iter()
        .filter(|c| c.stack_id == stack.id)
        .map(|c| {
            [
                "<member>".to_owned(),
                element("StackId", &c.stack_id),
                element("StackName", &c.stack_name),
                element("ChangeSetId", &c.id),
                element("ChangeSetName", &c.name),
                element("ExecutionStatus", c.execution_status()),
                element("Status", c.status()),
                optional("StatusReason", c.reason()),
                element("CreationTime", &time(c.created)),
                optional("Description", c.description.as_deref()),
                "</member>".to_owned(),
            ]
            .concat()
        })
        .collect();
    Ok(format!("<Summaries>{summaries}</Summaries>"))
}

#[cfg(test)]
mod tests {
    use super::NO_CHANGES;
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    use aws_sdk_cloudformation::types::{
        Capability, ChangeAction, ChangeSetStatus, ChangeSetType, ExecutionStatus, Replacement,
        StackStatus,
    };

    use crate::fake_cloudformation::server::FakeCloudFormation;
    use crate::fake_cloudformation::stack_setup::StackSetup;
    use crate::fake_cloudformation::test_client::{
        NAME, change_set, client, events, pairs, settle, summary, template,
    };

    #[tokio::test]
    async fn a_held_change_set_is_in_progress_and_cannot_be_deleted_until_released() {
        let fake = FakeCloudFormation::start(Some(StackSetup::new(NAME, "UPDATE_COMPLETE"))).await;
        let client = client(&fake).await;
        fake.hold_change_sets(2);
        let id = client
            .create_change_set()
            .stack_name(NAME)
            .change_set_name("mb-held")
            .template_body(r#"{"b":1}"#)
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("CreateChangeSet")
            .id()
            .expect("an id")
            .to_owned();
        let out = client
            .describe_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("DescribeChangeSet");
        assert_eq!(out.status(), Some(&ChangeSetStatus::CreateInProgress));
        let err = client
            .delete_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect_err("a change set being computed is not deleted");
        assert!(
            err.as_service_error()
                .is_some_and(|e| e.is_invalid_change_set_status_exception()),
            "{err:?}"
        );
        assert_eq!(fake.change_sets(), ["mb-held"]);
        // Two requests later it is computed, and deleted.
        client
            .delete_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("DeleteChangeSet once computed");
        assert!(fake.change_sets().is_empty());
    }

    #[tokio::test]
    async fn an_unchanged_change_set_fails_and_a_changed_one_updates() {
        let mut setup = StackSetup::new(NAME, "UPDATE_COMPLETE");
        setup.template_body = r#"{"a":1}"#.into();
        setup.parameters = pairs(&[("Stage", "dev"), ("MemorySize", "256")]);
        let fake = FakeCloudFormation::start(Some(setup)).await;
        let client = client(&fake).await;

        // The same body and parameters, in another order: nothing to change.
        let (id, out) = change_set(
            &client,
            "mb-1",
            ChangeSetType::Update,
            r#"{"a":1}"#,
            &[("MemorySize", "256"), ("Stage", "dev")],
        )
        .await;
        assert_eq!(out.status(), Some(&ChangeSetStatus::Failed));
        assert_eq!(out.execution_status(), Some(&ExecutionStatus::Unavailable));
        assert_eq!(out.status_reason(), Some(NO_CHANGES));
        assert!(out.changes().is_empty());
        client
            .delete_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("DeleteChangeSet of a FAILED one");
        let gone = client
            .describe_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect_err("deleted");
        assert!(
            gone.as_service_error()
                .is_some_and(|e| e.is_change_set_not_found_exception()),
            "{gone:?}"
        );
        assert_eq!(
            gone.message(),
            Some(format!("ChangeSet [{id}] does not exist").as_str())
        );

        // Executing before CloudFormation has computed it is refused.
        let early = client
            .create_change_set()
            .stack_name(NAME)
            .change_set_name("mb-2")
            .template_body(r#"{"a":2}"#)
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("CreateChangeSet");
        let refused = client
            .execute_change_set()
            .change_set_name(early.id().unwrap_or_default())
            .send()
            .await
            .expect_err("still CREATE_PENDING");
        assert!(
            refused
                .as_service_error()
                .is_some_and(|e| e.is_invalid_change_set_status_exception()),
            "{refused:?}"
        );

        let out = client
            .describe_change_set()
            .change_set_name("mb-2")
            .stack_name(NAME)
            .send()
            .await
            .expect("by name and stack");
        assert_eq!(out.status(), Some(&ChangeSetStatus::CreateComplete));
        assert_eq!(out.execution_status(), Some(&ExecutionStatus::Available));
        assert_eq!(out.change_set_name(), Some("mb-2"));
        assert_eq!(out.capabilities(), [Capability::CapabilityNamedIam]);
        let change = out.changes()[0]
            .resource_change()
            .expect("a resource change");
        assert_eq!(change.action(), Some(&ChangeAction::Modify));
        assert_eq!(change.logical_resource_id(), Some("Function"));
        assert_eq!(change.resource_type(), Some("AWS::Lambda::Function"));
        assert_eq!(change.replacement(), Some(&Replacement::False));

        client
            .execute_change_set()
            .change_set_name(out.change_set_id().unwrap_or_default())
            .send()
            .await
            .expect("ExecuteChangeSet");
        assert_eq!(fake.status().as_deref(), Some("UPDATE_IN_PROGRESS"));
        let (status, _) = settle(&client, NAME).await;
        assert_eq!(status, StackStatus::UpdateComplete);
        assert_eq!(template(&client, NAME).await, r#"{"a":2}"#);
        let described = client
            .describe_stacks()
            .stack_name(NAME)
            .send()
            .await
            .expect("describe");
        let stack = &described.stacks()[0];
        assert_eq!(stack.change_set_id(), out.change_set_id());
        assert!(stack.last_updated_time() > stack.creation_time());
        assert!(stack.parameters().is_empty(), "the update sent none");
        let consumed = client
            .describe_change_set()
            .change_set_name(out.change_set_id().unwrap_or_default())
            .send()
            .await;
        assert!(consumed.is_err(), "an executed change set is consumed");
        let tail = events(&client, NAME).await;
        assert_eq!(
            summary(&tail),
            pairs(&[
                (NAME, "UPDATE_IN_PROGRESS"),
                ("Function", "UPDATE_IN_PROGRESS"),
                ("Function", "UPDATE_COMPLETE"),
                (NAME, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
                (NAME, "UPDATE_COMPLETE"),
            ])
        );
        let execute = fake
            .calls()
            .into_iter()
            .rfind(|c| c.action == "ExecuteChangeSet")
            .expect("an ExecuteChangeSet call");
        assert_eq!(execute.status_before.as_deref(), Some("UPDATE_COMPLETE"));
    }

    #[tokio::test]
    async fn a_create_change_set_makes_a_stack_in_review_and_rollbacks_recover() {
        let fake = FakeCloudFormation::start(None).await;
        let client = client(&fake).await;
        let (id, out) = change_set(&client, "mb-1", ChangeSetType::Create, "{}", &[]).await;
        assert_eq!(fake.status().as_deref(), Some("REVIEW_IN_PROGRESS"));
        assert_eq!(out.status(), Some(&ChangeSetStatus::CreateComplete));
        let added: Vec<&str> = out
            .changes()
            .iter()
            .filter_map(|c| c.resource_change())
            .filter(|r| r.action() == Some(&ChangeAction::Add))
            .filter_map(|r| r.logical_resource_id())
            .collect();
        assert_eq!(
            added,
            ["FunctionRole", "Rooms", "Api", "Function", "PublishUrl"]
        );
        client
            .execute_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("ExecuteChangeSet");
        assert_eq!(settle(&client, NAME).await.0, StackStatus::CreateComplete);

        // Without capabilities, a change set fails with the reason.
        let created = client
            .create_change_set()
            .stack_name(NAME)
            .change_set_name("mb-2")
            .template_body(r#"{"c":1}"#)
            .send()
            .await
            .expect("CreateChangeSet");
        let out = client
            .describe_change_set()
            .change_set_name(created.id().unwrap_or_default())
            .send()
            .await
            .expect("DescribeChangeSet");
        assert_eq!(out.status(), Some(&ChangeSetStatus::Failed));
        assert!(
            out.status_reason()
                .unwrap_or_default()
                .contains("Requires capabilities : [CAPABILITY_NAMED_IAM]"),
            "{:?}",
            out.status_reason()
        );

        let fake =
            FakeCloudFormation::start(Some(StackSetup::new(NAME, "UPDATE_ROLLBACK_FAILED"))).await;
        let client = self::client(&fake).await;
        client
            .continue_update_rollback()
            .stack_name(NAME)
            .send()
            .await
            .expect("ContinueUpdateRollback");
        assert_eq!(
            fake.status().as_deref(),
            Some("UPDATE_ROLLBACK_IN_PROGRESS")
        );
        assert_eq!(
            settle(&client, NAME).await,
            (StackStatus::UpdateRollbackComplete, 2)
        );

        let fake = FakeCloudFormation::start(Some(StackSetup::new(NAME, "UPDATE_FAILED"))).await;
        let client = self::client(&fake).await;
        let out = client
            .rollback_stack()
            .stack_name(NAME)
            .send()
            .await
            .expect("RollbackStack");
        assert!(out.stack_id().is_some());
        assert_eq!(
            settle(&client, NAME).await.0,
            StackStatus::UpdateRollbackComplete
        );
        let again = client
            .rollback_stack()
            .stack_name(NAME)
            .send()
            .await
            .expect_err("nothing to roll back");
        assert_eq!(again.code(), Some("ValidationError"));
    }
}
