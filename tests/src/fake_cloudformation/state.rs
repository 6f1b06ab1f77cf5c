//! The fake's state ([`State`]): the live stack and the deleted ones, every stack's
//! events, the steps the current operation has still to take, the change sets, the
//! requests received ([`Call`]) and what a test scripted (a failure, held change sets,
//! denied actions). It applies an operation's steps one at a time ([`State::advance`]);
//! ids and the clock are deterministic.

use std::collections::{BTreeMap, HashSet, VecDeque};

use super::change_set::ChangeSet;
use super::fault::{Fault, validation};
use super::query::Params;
use super::stack::{Event, Profile, Stack, physical_id};
use super::stack_setup::{EventSpec, StackSetup};
use super::steps::{Effect, Failure, Step};
use super::template::Template;

/// The account and region of every ARN the fake makes.
pub(super) const ARN_PREFIX: &str = "arn:aws:cloudformation:us-east-1:123456789012";
/// The fake's clock starts here (2026-11-22T10:00:00Z) and ticks one second per event.
pub(super) const EPOCH: i64 = 1_795_341_600;
/// The resource type of a stack's own events.
pub(super) const STACK_TYPE: &str = "AWS::CloudFormation::Stack";
/// The reason of the event that starts an operation.
pub(super) const USER_INITIATED: &str = "User Initiated";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub action: String,
    pub params: BTreeMap<String, String>,
    /// The status of the stack the request is about when it arrived (`None`: no stack).
    pub status_before: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) stack: Option<Stack>,
    pub(super) deleted: Vec<Stack>,
    /// Every stack's events, oldest first.
    pub(super) events: Vec<Event>,
    pub(super) steps: VecDeque<Step>,
    pub(super) change_sets: Vec<ChangeSet>,
    pub(super) calls: Vec<Call>,
    pub(super) fail_next: Option<(String, String)>,
    /// What each new change set's `held` starts at.
    pub(super) hold: usize,
    pub(super) denied: HashSet<String>,
    pub(super) profile: Option<Profile>,
    pub(super) clock: i64,
    pub(super) counter: u64,
}

impl State {
    pub(super) fn set_up(&mut self, setup: StackSetup) {
        let id = self.stack_id(&setup.name);
        let never_created = matches!(
            setup.status.as_str(),
            "REVIEW_IN_PROGRESS"
                | "CREATE_IN_PROGRESS"
                | "CREATE_FAILED"
                | "ROLLBACK_IN_PROGRESS"
                | "ROLLBACK_FAILED"
                | "ROLLBACK_COMPLETE"
        );
        let updated = setup.status.starts_with("UPDATE_") || setup.status.starts_with("IMPORT_");
        self.stack = Some(Stack {
            name: setup.name.clone(),
            id,
            status: setup.status.clone(),
            reason: None,
            created: EPOCH - 3600,
            updated: updated.then_some(EPOCH - 1800),
            deleted: None,
            template: Template {
                body: setup.template_body,
                parameters: setup.parameters,
                capabilities: vec!["CAPABILITY_NAMED_IAM".into()],
                tags: Vec::new(),
            },
            outputs: if never_created {
                Vec::new()
            } else {
                setup.outputs.clone()
            },
            resources: setup.resources.clone(),
            changed: BTreeMap::new(),
            change_set_id: None,
        });
        self.profile = Some(Profile {
            name: setup.name,
            outputs: setup.outputs,
            resources: setup.resources,
        });
        for event in setup.history {
            self.record(event);
        }
        if setup.status == "DELETE_COMPLETE" {
            self.bury();
        }
        if !setup.then.is_empty() {
            self.steps.extend([Step::Idle, Step::Idle]);
            self.steps
                .extend(setup.then.iter().map(|status| Step::root(status, None)));
        }
    }

    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    /// A fresh uuid-looking id (deterministic).
    pub(super) fn uuid(&mut self) -> String {
        self.counter += 1;
        let mut seed = self.counter;
        let mut next = || {
            // splitmix64
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let (a, b) = (next(), next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    fn stack_id(&mut self, name: &str) -> String {
        format!("{ARN_PREFIX}:stack/{name}/{}", self.uuid())
    }

    pub(super) fn profile(&self, name: &str) -> Profile {
        match &self.profile {
            Some(profile) if profile.name == name => profile.clone(),
            _ => {
                let setup = StackSetup::new(name, "CREATE_COMPLETE");
                Profile {
                    name: setup.name,
                    outputs: setup.outputs,
                    resources: setup.resources,
                }
            }
        }
    }

    /// The live stack, by name or id.
    pub(super) fn live(&self, name_or_id: &str) -> Option<&Stack> {
        self.stack
            .as_ref()
            .filter(|s| s.name == name_or_id || s.id == name_or_id)
    }

    /// By name the live stack; by id also a deleted one.
    pub(super) fn find(&self, name_or_id: &str) -> Option<&Stack> {
        self.live(name_or_id)
            .or_else(|| self.deleted.iter().rev().find(|s| s.id == name_or_id))
    }

    pub(super) fn live_or_missing(&self, name_or_id: &str) -> Result<&Stack, Fault> {
        self.live(name_or_id)
            .ok_or_else(|| validation(format!("Stack with id {name_or_id} does not exist")))
    }

    /// The status of the stack a request is about, before it is answered.
    pub(super) fn status_for(&self, params: &Params) -> Option<String> {
        let stack = if let Some(name) = params.get("StackName") {
            self.find(name)
        } else if let Some(change_set) = params
            .get("ChangeSetName")
            .and_then(|name| self.change_sets.iter().find(|c| c.id == *name))
        {
            self.find(&change_set.stack_id)
        } else {
            self.stack.as_ref()
        };
        stack.map(|s| s.status.clone())
    }

    fn record(&mut self, spec: EventSpec) {
        let time = self.tick();
        let id = self.uuid();
        let Some(stack) = &self.stack else { return };
        let root = spec.resource_type == STACK_TYPE && spec.logical_id == stack.name;
        let physical_id = if root {
            stack.id.clone()
        } else if spec.status == "CREATE_IN_PROGRESS" {
            String::new()
        } else {
            physical_id(&self.profile(&stack.name), &spec.logical_id)
        };
        self.events.push(Event {
            id,
            stack_id: stack.id.clone(),
            stack_name: stack.name.clone(),
            physical_id,
            spec,
            time,
        });
    }

    pub(super) fn set_status(&mut self, status: &str, reason: Option<String>) {
        let name = match &mut self.stack {
            Some(stack) => {
                stack.status = status.to_owned();
                stack.reason.clone_from(&reason);
                stack.name.clone()
            }
            None => return,
        };
        self.record(EventSpec {
            logical_id: name,
            resource_type: STACK_TYPE.to_owned(),
            status: status.to_owned(),
            reason,
        });
    }

    /// The live stack becomes a deleted one.
    fn bury(&mut self) {
        let time = self.tick();
        if let Some(mut stack) = self.stack.take() {
            stack.deleted = Some(time);
            stack.resources.clear();
            self.change_sets.retain(|c| c.stack_id != stack.id);
            self.deleted.push(stack);
        }
    }

    /// Applies the next step, if any (one per DescribeStacks).
    pub(super) fn advance(&mut self) {
        let Some(step) = self.steps.pop_front() else {
            return;
        };
        match step {
            Step::Idle => {}
            Step::Resource(event) => {
                let (id, status) = (event.logical_id.clone(), event.status.clone());
                if let Some(stack) = &mut self.stack {
                    let resource = (event.logical_id.clone(), event.resource_type.clone());
                    match event.status.as_str() {
                        "CREATE_COMPLETE" if !stack.resources.contains(&resource) => {
                            stack.resources.push(resource);
                        }
                        "DELETE_COMPLETE" => stack.resources.retain(|r| *r != resource),
                        _ => {}
                    }
                }
                self.record(event);
                let time = self.clock;
                if let Some(stack) = &mut self.stack {
                    match status.as_str() {
                        "CREATE_COMPLETE" | "UPDATE_COMPLETE" => {
                            stack.changed.insert(id, time);
                        }
                        "DELETE_COMPLETE" => {
                            stack.changed.remove(&id);
                        }
                        _ => {}
                    }
                }
            }
            Step::Event(event) => self.record(event),
            Step::Root {
                status,
                reason,
                effect,
            } => {
                self.set_status(&status, reason);
                match effect {
                    Effect::None => {}
                    Effect::Template(template) => {
                        if let Some(stack) = &mut self.stack {
                            stack.template = template;
                        }
                    }
                    Effect::Outputs(outputs) => {
                        if let Some(stack) = &mut self.stack {
                            stack.outputs = outputs;
                        }
                    }
                    Effect::Deleted => self.bury(),
                }
            }
        }
    }

    /// Sets the operation's first status (with a "User Initiated" event) at once and
    /// queues the rest.
    pub(super) fn begin(&mut self, status: &str, steps: Vec<Step>) {
        self.set_status(status, Some(USER_INITIATED.to_owned()));
        self.steps = steps.into();
    }

    fn kind_of(&self, logical_id: &str, fallback: &str) -> String {
        self.stack
            .iter()
            .flat_map(|s| s.resources.iter())
            .chain(self.profile.iter().flat_map(|p| p.resources.iter()))
            .find(|(id, _)| id == logical_id)
            .map(|(_, kind)| kind.clone())
            .unwrap_or_else(|| fallback.to_owned())
    }

    /// The failure a test queued for the next operation, taken by it, with its resource's
    /// type (from the stack or the setup; a custom resource if neither has it).
    pub(super) fn take_failure(&mut self) -> Option<Failure> {
        let (logical_id, reason) = self.fail_next.take()?;
        let resource_type = self.kind_of(&logical_id, "AWS::CloudFormation::CustomResource");
        Some(Failure {
            logical_id,
            resource_type,
            reason,
        })
    }

    pub(super) fn new_stack(&mut self, name: &str, template: Template) -> String {
        let id = self.stack_id(name);
        let created = self.clock + 1;
        self.stack = Some(Stack {
            name: name.to_owned(),
            id: id.clone(),
            status: "REVIEW_IN_PROGRESS".into(),
            reason: None,
            created,
            updated: None,
            deleted: None,
            template,
            outputs: Vec::new(),
            resources: Vec::new(),
            changed: BTreeMap::new(),
            change_set_id: None,
        });
        self.steps.clear();
        id
    }
}

#[cfg(test)]
mod tests {
    use super::STACK_TYPE;
    use crate::fake_cloudformation::server::FakeCloudFormation;
    use crate::fake_cloudformation::stack_setup::StackSetup;
    use crate::fake_cloudformation::stack_setup::spec;
    use crate::fake_cloudformation::test_client::{
        NAME, client, events, pairs, status_of, summary,
    };
    use aws_sdk_cloudformation::types::StackStatus;

    #[tokio::test]
    async fn then_statuses_follow_two_polls_and_history_stays_old() {
        let mut setup = StackSetup::new(NAME, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS");
        setup.then = vec!["UPDATE_ROLLBACK_COMPLETE".into()];
        setup.history = vec![
            spec(
                NAME,
                STACK_TYPE,
                "UPDATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
            spec(
                "Function",
                "AWS::Lambda::Function",
                "UPDATE_FAILED",
                Some("old"),
            ),
        ];
        let fake = FakeCloudFormation::start(Some(setup)).await;
        let client = client(&fake).await;
        let busy = StackStatus::UpdateRollbackCompleteCleanupInProgress;
        assert_eq!(status_of(&client, NAME).await, busy);
        assert_eq!(events(&client, NAME).await.len(), 2, "events never advance");
        assert_eq!(status_of(&client, NAME).await, busy);
        assert_eq!(
            status_of(&client, NAME).await,
            StackStatus::UpdateRollbackComplete
        );
        assert_eq!(fake.status().as_deref(), Some("UPDATE_ROLLBACK_COMPLETE"));
        let all = events(&client, NAME).await;
        assert_eq!(
            summary(&all),
            pairs(&[
                (NAME, "UPDATE_IN_PROGRESS"),
                ("Function", "UPDATE_FAILED"),
                (NAME, "UPDATE_ROLLBACK_COMPLETE"),
            ])
        );
        assert_eq!(all[1].resource_status_reason(), Some("old"));
        let calls = fake.calls();
        assert_eq!(calls.len(), 5);
        assert_eq!(calls[0].action, "DescribeStacks");
        assert_eq!(
            calls[0].status_before.as_deref(),
            Some("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        );
        assert_eq!(
            calls[0].params.get("StackName").map(String::as_str),
            Some(NAME)
        );
    }
}
