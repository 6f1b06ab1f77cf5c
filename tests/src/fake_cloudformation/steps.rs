//! How an operation unfolds: its progress as [`Step`]s (a status change and/or one event,
//! and what takes effect with it), which the state applies one per DescribeStacks. Here
//! are the steps of a create, an update (from its [`changes`]) and a delete, as
//! CloudFormation orders them, and how each fails on the resource a test names
//! ([`Failure`]) and rolls back where CloudFormation would.

use super::changes::{Change, changes};
use super::stack_setup::{EventSpec, spec};
use super::template::Template;

/// What takes effect with a stack status.
#[derive(Debug, Clone)]
pub(super) enum Effect {
    None,
    /// The new template, parameters, capabilities and tags.
    Template(Template),
    /// The outputs of a created stack.
    Outputs(Vec<(String, String)>),
    /// The stack is gone (found by id only).
    Deleted,
}

#[derive(Debug, Clone)]
pub(super) enum Step {
    /// A poll that sees no progress.
    Idle,
    /// One resource event; CREATE_COMPLETE adds the resource, DELETE_COMPLETE removes it.
    Resource(EventSpec),
    /// One resource event that changes no resource (the old physical resource of a
    /// replacement deleted).
    Event(EventSpec),
    /// The stack's own status (with its reason and event) and what takes effect with it.
    Root {
        status: String,
        reason: Option<String>,
        effect: Effect,
    },
}

impl Step {
    pub(super) fn root(status: &str, reason: Option<&str>) -> Step {
        Step::Root {
            status: status.to_owned(),
            reason: reason.map(str::to_owned),
            effect: Effect::None,
        }
    }

    fn root_with(status: &str, effect: Effect) -> Step {
        Step::Root {
            status: status.to_owned(),
            reason: None,
            effect,
        }
    }

    fn resource(logical_id: &str, resource_type: &str, status: &str) -> Step {
        Step::Resource(spec(logical_id, resource_type, status, None))
    }

    fn failed(logical_id: &str, resource_type: &str, status: &str, reason: &str) -> Step {
        Step::Resource(spec(logical_id, resource_type, status, Some(reason)))
    }
}

/// The failure a test queued for the next operation ([`fail_next_operation`]): the
/// resource that fails, its type, and CloudFormation's reason.
///
/// [`fail_next_operation`]: super::server::FakeCloudFormation::fail_next_operation
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub(super) logical_id: String,
    pub(super) resource_type: String,
    pub(super) reason: String,
}

/// The steps of a create: `to_create` one by one, then CREATE_COMPLETE with `outputs`;
/// or, with a failure (on a resource to create, else on one added last), rolls back what
/// was created and ends in ROLLBACK_COMPLETE.
pub(super) fn create_steps(
    mut to_create: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
    fail: Option<Failure>,
) -> Vec<Step> {
    let fail = fail.map(|f| {
        if !to_create.iter().any(|(id, _)| *id == f.logical_id) {
            to_create.push((f.logical_id.clone(), f.resource_type));
        }
        (f.logical_id, f.reason)
    });
    let mut steps = Vec::new();
    let mut created: Vec<(String, String)> = Vec::new();
    for (id, kind) in to_create {
        steps.push(Step::resource(&id, &kind, "CREATE_IN_PROGRESS"));
        if let Some((_, reason)) = fail.as_ref().filter(|(f, _)| *f == id) {
            steps.push(Step::failed(&id, &kind, "CREATE_FAILED", reason));
            let message = format!(
                "The following resource(s) failed to create: [{id}]. Rollback requested by \
                 user."
            );
            steps.push(Step::root("ROLLBACK_IN_PROGRESS", Some(&message)));
            for (done, kind) in created.iter().rev() {
                steps.push(Step::resource(done, kind, "DELETE_IN_PROGRESS"));
                steps.push(Step::resource(done, kind, "DELETE_COMPLETE"));
            }
            steps.push(Step::root("ROLLBACK_COMPLETE", None));
            return steps;
        }
        steps.push(Step::resource(&id, &kind, "CREATE_COMPLETE"));
        created.push((id, kind));
    }
    steps.push(Step::root_with("CREATE_COMPLETE", Effect::Outputs(outputs)));
    steps
}

/// The steps of an update from `old`: its [`changes`], then the cleanup, then `template`
/// taken in; or, with a failure, fails on that resource, rolls it back and keeps the old
/// template.
pub(super) fn update_steps(old: &Template, template: Template, fail: Option<Failure>) -> Vec<Step> {
    let Some(Failure {
        logical_id: id,
        resource_type: kind,
        reason,
    }) = fail
    else {
        return success_steps(&changes(old, &template), template);
    };
    let message = format!("The following resource(s) failed to update: [{id}].");
    vec![
        Step::resource(&id, &kind, "UPDATE_IN_PROGRESS"),
        Step::failed(&id, &kind, "UPDATE_FAILED", &reason),
        Step::root("UPDATE_ROLLBACK_IN_PROGRESS", Some(&message)),
        Step::resource(&id, &kind, "UPDATE_IN_PROGRESS"),
        Step::resource(&id, &kind, "UPDATE_COMPLETE"),
        Step::root("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None),
        Step::root("UPDATE_ROLLBACK_COMPLETE", None),
    ]
}

/// The steps of a delete: the resources newest first, then DELETE_COMPLETE (the stack is
/// gone); or, with a failure, stops at that resource with DELETE_FAILED.
pub(super) fn delete_steps(resources: Vec<(String, String)>, fail: Option<Failure>) -> Vec<Step> {
    let fail = fail.map(|f| (f.logical_id, f.reason));
    let mut steps = Vec::new();
    for (id, kind) in resources.into_iter().rev() {
        steps.push(Step::resource(&id, &kind, "DELETE_IN_PROGRESS"));
        if let Some((_, reason)) = fail.as_ref().filter(|(f, _)| *f == id) {
            steps.push(Step::failed(&id, &kind, "DELETE_FAILED", reason));
            let message = format!("The following resource(s) failed to delete: [{id}]. ");
            steps.push(Step::root("DELETE_FAILED", Some(&message)));
            return steps;
        }
        steps.push(Step::resource(&id, &kind, "DELETE_COMPLETE"));
    }
    steps.push(Step::root_with("DELETE_COMPLETE", Effect::Deleted));
    steps
}

/// The steps of an update that succeeds, as CloudFormation orders them: resources added
/// and modified (a replacement creates the new physical resource here), then the cleanup
/// phase, where removed resources and the old physical resources of replacements are
/// deleted, then UPDATE_COMPLETE with the new template.
fn success_steps(changes: &[Change], template: Template) -> Vec<Step> {
    let mut steps = Vec::new();
    for change in changes {
        let (id, kind) = (&change.logical_id, &change.resource_type);
        match change.action {
            "Add" => {
                steps.push(Step::resource(id, kind, "CREATE_IN_PROGRESS"));
                steps.push(Step::resource(id, kind, "CREATE_COMPLETE"));
            }
            "Modify" => {
                steps.push(Step::resource(id, kind, "UPDATE_IN_PROGRESS"));
                steps.push(Step::resource(id, kind, "UPDATE_COMPLETE"));
            }
            _ => {}
        }
    }
    steps.push(Step::root("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None));
    for change in changes {
        let (id, kind) = (&change.logical_id, &change.resource_type);
        if change.action == "Remove" || change.replacement == Some("True") {
            steps.push(Step::resource(id, kind, "DELETE_IN_PROGRESS"));
            if change.action == "Remove" {
                steps.push(Step::resource(id, kind, "DELETE_COMPLETE"));
            } else {
                // The old physical resource of a replacement: the logical id stays.
                steps.push(Step::Event(spec(id, kind, "DELETE_COMPLETE", None)));
            }
        }
    }
    steps.push(Step::root_with(
        "UPDATE_COMPLETE",
        Effect::Template(template),
    ));
    steps
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, StackStatus};

    use crate::fake_cloudformation::server::FakeCloudFormation;
    use crate::fake_cloudformation::stack_setup::StackSetup;
    use crate::fake_cloudformation::test_client::{
        NAME, change_set, client, events, pairs, settle, summary, template,
    };

    #[tokio::test]
    async fn a_failing_update_rolls_back_with_the_reason_on_the_resource() {
        let fake = FakeCloudFormation::start(Some(StackSetup::new(NAME, "UPDATE_COMPLETE"))).await;
        let client = client(&fake).await;
        fake.fail_next_operation("Function", "Memory size 99999 is too big");
        let (id, out) = change_set(&client, "mb-3", ChangeSetType::Update, r#"{"b":2}"#, &[]).await;
        assert_eq!(out.status(), Some(&ChangeSetStatus::CreateComplete));
        client
            .execute_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("ExecuteChangeSet");
        let (status, polls) = settle(&client, NAME).await;
        assert_eq!(status, StackStatus::UpdateRollbackComplete);
        assert_eq!(polls, 7);
        assert_eq!(
            template(&client, NAME).await,
            "{}",
            "the old template is kept"
        );
        let all = events(&client, NAME).await;
        assert_eq!(
            summary(&all),
            pairs(&[
                (NAME, "UPDATE_IN_PROGRESS"),
                ("Function", "UPDATE_IN_PROGRESS"),
                ("Function", "UPDATE_FAILED"),
                (NAME, "UPDATE_ROLLBACK_IN_PROGRESS"),
                ("Function", "UPDATE_IN_PROGRESS"),
                ("Function", "UPDATE_COMPLETE"),
                (NAME, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
                (NAME, "UPDATE_ROLLBACK_COMPLETE"),
            ])
        );
        assert_eq!(all[2].resource_type(), Some("AWS::Lambda::Function"));
        assert_eq!(
            all[2].resource_status_reason(),
            Some("Memory size 99999 is too big")
        );
        assert_eq!(
            all[3].resource_status_reason(),
            Some("The following resource(s) failed to update: [Function].")
        );

        // The failure was for one operation only.
        let (id, _) = change_set(&client, "mb-4", ChangeSetType::Update, r#"{"b":3}"#, &[]).await;
        client
            .execute_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("ExecuteChangeSet");
        assert_eq!(settle(&client, NAME).await.0, StackStatus::UpdateComplete);
    }

    #[tokio::test]
    async fn failing_creates_and_deletes_say_which_resource() {
        let fake = FakeCloudFormation::start(None).await;
        let client = client(&fake).await;
        fake.fail_next_operation("Api", "Api quota reached");
        client
            .create_stack()
            .stack_name(NAME)
            .template_body("{}")
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("CreateStack");
        assert_eq!(settle(&client, NAME).await.0, StackStatus::RollbackComplete);
        let all = events(&client, NAME).await;
        let tail: Vec<(String, String)> = summary(&all).split_off(5);
        assert_eq!(
            tail,
            pairs(&[
                ("Api", "CREATE_IN_PROGRESS"),
                ("Api", "CREATE_FAILED"),
                (NAME, "ROLLBACK_IN_PROGRESS"),
                ("Rooms", "DELETE_IN_PROGRESS"),
                ("Rooms", "DELETE_COMPLETE"),
                ("FunctionRole", "DELETE_IN_PROGRESS"),
                ("FunctionRole", "DELETE_COMPLETE"),
                (NAME, "ROLLBACK_COMPLETE"),
            ])
        );
        assert_eq!(all[6].resource_status_reason(), Some("Api quota reached"));
        assert_eq!(
            all[7].resource_status_reason(),
            Some("The following resource(s) failed to create: [Api]. Rollback requested by user.")
        );

        // A rolled-back create has nothing left to delete but the stack; make a stack with
        // resources to fail deleting one.
        let fake = FakeCloudFormation::start(Some(StackSetup::new(NAME, "UPDATE_COMPLETE"))).await;
        let client = self::client(&fake).await;
        fake.fail_next_operation("Rooms", "Table is in use by a backup");
        client
            .delete_stack()
            .stack_name(NAME)
            .send()
            .await
            .expect("DeleteStack");
        let (status, _) = settle(&client, NAME).await;
        assert_eq!(status, StackStatus::DeleteFailed);
        let out = client
            .describe_stacks()
            .stack_name(NAME)
            .send()
            .await
            .expect("describe");
        assert_eq!(
            out.stacks()[0].stack_status_reason(),
            Some("The following resource(s) failed to delete: [Rooms]. ")
        );
        let all = events(&client, NAME).await;
        let failed = all
            .iter()
            .find(|e| e.resource_status().map(|s| s.as_str()) == Some("DELETE_FAILED"))
            .expect("a failed resource");
        assert_eq!(failed.logical_resource_id(), Some("Rooms"));
        assert_eq!(failed.resource_type(), Some("AWS::DynamoDB::Table"));
        assert_eq!(
            failed.resource_status_reason(),
            Some("Table is in use by a backup")
        );
        // Retried, only what is left is deleted.
        client
            .delete_stack()
            .stack_name(NAME)
            .send()
            .await
            .expect("DeleteStack again");
        let id = all[0].stack_id().unwrap_or_default().to_owned();
        assert_eq!(settle(&client, &id).await.0, StackStatus::DeleteComplete);
        let retried: Vec<(String, String)> = summary(&events(&client, &id).await)
            .into_iter()
            .skip(all.len())
            .collect();
        assert_eq!(
            retried,
            pairs(&[
                (NAME, "DELETE_IN_PROGRESS"),
                ("Rooms", "DELETE_IN_PROGRESS"),
                ("Rooms", "DELETE_COMPLETE"),
                ("FunctionRole", "DELETE_IN_PROGRESS"),
                ("FunctionRole", "DELETE_COMPLETE"),
                (NAME, "DELETE_COMPLETE"),
            ])
        );
    }
}
