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

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use crate::loopback::{self, Server, lock};

const NAMESPACE: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";
const VERSION: &str = "2010-05-15";
const ARN_PREFIX: &str = "arn:aws:cloudformation:us-east-1:123456789012";
/// The fake's clock starts here (2026-11-22T10:00:00Z) and ticks one second per event.
const EPOCH: i64 = 1_795_341_600;
/// DescribeStackEvents pages are this small so that clients must paginate.
const EVENTS_PER_PAGE: usize = 3;
const STACK_TYPE: &str = "AWS::CloudFormation::Stack";
const USER_INITIATED: &str = "User Initiated";
const NO_CHANGES: &str = "The submitted information didn't contain changes. Submit different \
                          information to create a change set.";
const REQUIRES_IAM: &str = "Requires capabilities : [CAPABILITY_NAMED_IAM]";

/// An event, as a test describes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// What a stage serves ([`FakeCloudFormation::served`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The logical id of the deployment the stage points at.
    pub deployment: String,
    /// When that deployment was created (the fake's clock); `None` if the fake never
    /// created it.
    pub created: Option<i64>,
    /// The API's routes, integrations, authorizers (and the API itself) changed after the
    /// deployment was created: the live endpoint does not serve them. Any entry is a
    /// failure in this model, whatever CloudFormation said.
    pub stale: Vec<String>,
}

/// The stack the fake starts with.
#[derive(Debug, Clone)]
pub struct StackSetup {
    pub name: String,
    /// e.g. `UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS`.
    pub status: String,
    /// Statuses applied one per DescribeStacks call, after two polls that change nothing;
    /// each adds a stack event.
    pub then: Vec<String>,
    /// What GetTemplate answers.
    pub template_body: String,
    pub parameters: Vec<(String, String)>,
    /// Also the outputs a stack created again under this name gets.
    pub outputs: Vec<(String, String)>,
    /// (logical id, type) of the stack's resources, in creation order, for the events of
    /// an operation; also what a stack created again under this name creates.
    pub resources: Vec<(String, String)>,
    /// Events from before the test, oldest first.
    pub history: Vec<EventSpec>,
}

impl StackSetup {
    /// A stack named `name` (`mb-<service>-<stage>`) in `status`, with the outputs and
    /// resources of an mb service, template `{}`, no parameters and no history.
    pub fn new(name: &str, status: &str) -> StackSetup {
        let stage = name.rsplit('-').next().unwrap_or(name);
        StackSetup {
            name: name.to_owned(),
            status: status.to_owned(),
            then: Vec::new(),
            template_body: "{}".to_owned(),
            parameters: Vec::new(),
            outputs: vec![
                (
                    "WebSocketUrl".into(),
                    format!("wss://abc123.execute-api.us-east-1.amazonaws.com/{stage}"),
                ),
                ("ApiId".into(), "abc123".into()),
                ("Stage".into(), stage.to_owned()),
                ("Table".into(), format!("{name}-rooms")),
                ("Function".into(), format!("{name}-broadcast")),
                ("LogGroup".into(), format!("/aws/lambda/{name}-broadcast")),
                (
                    "PublishUrl".into(),
                    "https://abc123publish.lambda-url.us-east-1.on.aws/".into(),
                ),
            ],
            resources: vec![
                ("FunctionRole".into(), "AWS::IAM::Role".into()),
                ("Rooms".into(), "AWS::DynamoDB::Table".into()),
                ("Api".into(), "AWS::ApiGatewayV2::Api".into()),
                ("Function".into(), "AWS::Lambda::Function".into()),
                ("PublishUrl".into(), "AWS::Lambda::Url".into()),
            ],
            history: Vec::new(),
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub action: String,
    pub params: BTreeMap<String, String>,
    /// The status of the stack the request is about when it arrived (`None`: no stack).
    pub status_before: Option<String>,
}

/// A template with what was sent along with it.
#[derive(Debug, Clone, Default)]
struct Template {
    body: String,
    parameters: Vec<(String, String)>,
    capabilities: Vec<String>,
    tags: Vec<(String, String)>,
}

impl Template {
    /// Same body and parameters (in any order): nothing to change.
    fn same_as(&self, other: &Template) -> bool {
        self.body == other.body && sorted(&self.parameters) == sorted(&other.parameters)
    }
}

#[derive(Debug, Clone)]
struct Stack {
    name: String,
    id: String,
    status: String,
    reason: Option<String>,
    created: i64,
    updated: Option<i64>,
    deleted: Option<i64>,
    template: Template,
    outputs: Vec<(String, String)>,
    /// Resources that exist now, in creation order.
    resources: Vec<(String, String)>,
    /// When each resource that exists was last created or updated (the fake's clock):
    /// what tells a deployment older than a route it snapshots.
    changed: BTreeMap<String, i64>,
    change_set_id: Option<String>,
}

#[derive(Debug, Clone)]
struct Event {
    id: String,
    stack_id: String,
    stack_name: String,
    physical_id: String,
    spec: EventSpec,
    time: i64,
}

/// What takes effect with a stack status.
#[derive(Debug, Clone)]
enum Effect {
    None,
    /// The new template, parameters, capabilities and tags.
    Template(Template),
    /// The outputs of a created stack.
    Outputs(Vec<(String, String)>),
    /// The stack is gone (found by id only).
    Deleted,
}

#[derive(Debug, Clone)]
enum Step {
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
    fn root(status: &str, reason: Option<&str>) -> Step {
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

fn spec(logical_id: &str, resource_type: &str, status: &str, reason: Option<&str>) -> EventSpec {
    EventSpec {
        logical_id: logical_id.to_owned(),
        resource_type: resource_type.to_owned(),
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
    }
}

#[derive(Debug, Clone)]
struct Change {
    action: &'static str,
    logical_id: String,
    resource_type: String,
    replacement: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct ChangeSet {
    name: String,
    id: String,
    stack_id: String,
    stack_name: String,
    create: bool,
    description: Option<String>,
    created: i64,
    template: Template,
    /// CREATE_PENDING until described, then `outcome`.
    pending: bool,
    /// Requests about this change set (DescribeChangeSet, DeleteChangeSet) still to answer
    /// as CREATE_IN_PROGRESS: the fake has no clock, each such request stands for time
    /// passing while CloudFormation computes it.
    held: usize,
    /// (status, reason, changes) once computed.
    outcome: (&'static str, Option<String>, Vec<Change>),
}

impl ChangeSet {
    fn status(&self) -> &'static str {
        if self.held > 0 {
            "CREATE_IN_PROGRESS"
        } else if self.pending {
            "CREATE_PENDING"
        } else {
            self.outcome.0
        }
    }

    fn execution_status(&self) -> &'static str {
        if self.status() == "CREATE_COMPLETE" {
            "AVAILABLE"
        } else {
            "UNAVAILABLE"
        }
    }

    fn reason(&self) -> Option<&str> {
        if self.pending || self.held > 0 {
            None
        } else {
            self.outcome.1.as_deref()
        }
    }
}

/// What a new stack of a name gets: the setup's outputs and resources for its name,
/// [`StackSetup::new`]'s for any other.
#[derive(Debug, Clone)]
struct Profile {
    name: String,
    outputs: Vec<(String, String)>,
    resources: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct State {
    stack: Option<Stack>,
    deleted: Vec<Stack>,
    /// Every stack's events, oldest first.
    events: Vec<Event>,
    steps: VecDeque<Step>,
    change_sets: Vec<ChangeSet>,
    calls: Vec<Call>,
    fail_next: Option<(String, String)>,
    /// What each new change set's `held` starts at.
    hold: usize,
    denied: HashSet<String>,
    profile: Option<Profile>,
    clock: i64,
    counter: u64,
}

/// A CloudFormation error answer: HTTP status, code, message.
#[derive(Debug)]
struct Fault(u16, &'static str, String);

fn validation(message: String) -> Fault {
    Fault(400, "ValidationError", message)
}

type Params = BTreeMap<String, String>;

pub struct FakeCloudFormation {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    _server: Server,
}

impl FakeCloudFormation {
    /// Starts with no stack (`None`) or the given one.
    pub async fn start(stack: Option<StackSetup>) -> FakeCloudFormation {
        let mut state = State {
            clock: EPOCH,
            ..State::default()
        };
        if let Some(setup) = stack {
            state.set_up(setup);
        }
        let state = Arc::new(Mutex::new(state));
        let shared = Arc::clone(&state);
        let server = loopback::serve(move |request| {
            let state = Arc::clone(&shared);
            async move { answer(&state, request).await }
        })
        .await;
        FakeCloudFormation {
            endpoint: server.endpoint.clone(),
            state,
            _server: server,
        }
    }

    /// Every request received, in order.
    /// The live stack's resources (logical id, type), in creation order.
    pub fn resources(&self) -> Vec<(String, String)> {
        self.lock()
            .stack
            .as_ref()
            .map(|s| s.resources.clone())
            .unwrap_or_default()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The stack's current status (`None` when there is none or it was deleted).
    pub fn status(&self) -> Option<String> {
        self.lock().stack.as_ref().map(|s| s.status.clone())
    }

    /// Makes the next ExecuteChangeSet / CreateStack / UpdateStack / DeleteStack fail on
    /// this resource with this reason (and roll back, where CloudFormation would).
    pub fn fail_next_operation(&self, logical_id: &str, reason: &str) {
        self.lock().fail_next = Some((logical_id.to_owned(), reason.to_owned()));
    }

    /// Keeps every change set created from now on CREATE_IN_PROGRESS for its next
    /// `requests` DescribeChangeSet and DeleteChangeSet requests; while it is, a
    /// DeleteChangeSet is refused with InvalidChangeSetStatus, as CloudFormation refuses to
    /// delete a change set it is still computing.
    pub fn hold_change_sets(&self, requests: usize) {
        self.lock().hold = requests;
    }

    /// The names of the change sets that exist, in creation order.
    pub fn change_sets(&self) -> Vec<String> {
        self.lock()
            .change_sets
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// What the API's stage serves, in the fake's model of API Gateway: a stage serves
    /// the snapshot its deployment took of the API's routes, integrations and
    /// authorizers when it was created; `None` without a stage in the live template.
    pub fn served(&self) -> Option<Served> {
        let state = self.lock();
        let stack = state.stack.as_ref()?;
        let template: serde_json::Value = serde_json::from_str(&stack.template.body).ok()?;
        let resources = resolved(&template, &stack.template.parameters);
        let (_, stage) = resources
            .iter()
            .find(|(_, r)| r["Type"] == "AWS::ApiGatewayV2::Stage")?;
        let deployment = stage
            .pointer("/Properties/DeploymentId/Ref")?
            .as_str()?
            .to_owned();
        let created = stack.changed.get(&deployment).copied();
        let stale = stack
            .resources
            .iter()
            .filter(|(_, kind)| {
                kind.starts_with("AWS::ApiGatewayV2::")
                    && kind != "AWS::ApiGatewayV2::Stage"
                    && kind != "AWS::ApiGatewayV2::Deployment"
            })
            .filter_map(|(id, _)| {
                let changed = *stack.changed.get(id)?;
                created.is_none_or(|c| changed > c).then(|| id.clone())
            })
            .collect();
        Some(Served {
            deployment,
            created,
            stale,
        })
    }

    /// Answers 403 AccessDenied to every request of this action (e.g. `DescribeStacks`).
    pub fn deny(&self, action: &str) {
        self.lock().denied.insert(action.to_owned());
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl State {
    fn set_up(&mut self, setup: StackSetup) {
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
    fn uuid(&mut self) -> String {
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

    fn profile(&self, name: &str) -> Profile {
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
    fn live(&self, name_or_id: &str) -> Option<&Stack> {
        self.stack
            .as_ref()
            .filter(|s| s.name == name_or_id || s.id == name_or_id)
    }

    /// By name the live stack; by id also a deleted one.
    fn find(&self, name_or_id: &str) -> Option<&Stack> {
        self.live(name_or_id)
            .or_else(|| self.deleted.iter().rev().find(|s| s.id == name_or_id))
    }

    fn live_or_missing(&self, name_or_id: &str) -> Result<&Stack, Fault> {
        self.live(name_or_id)
            .ok_or_else(|| validation(format!("Stack with id {name_or_id} does not exist")))
    }

    /// The status of the stack a request is about, before it is answered.
    fn status_for(&self, params: &Params) -> Option<String> {
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

    fn set_status(&mut self, status: &str, reason: Option<String>) {
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
    fn advance(&mut self) {
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
    fn begin(&mut self, status: &str, steps: Vec<Step>) {
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

    /// Creates `to_create` one by one, then CREATE_COMPLETE with `outputs`; or, with a
    /// failure queued, rolls back what was created and ends in ROLLBACK_COMPLETE.
    fn create_steps(
        &mut self,
        mut to_create: Vec<(String, String)>,
        outputs: Vec<(String, String)>,
    ) -> Vec<Step> {
        let fail = self.fail_next.take();
        if let Some((failing, _)) = &fail
            && !to_create.iter().any(|(id, _)| id == failing)
        {
            let kind = self.kind_of(failing, "AWS::CloudFormation::CustomResource");
            to_create.push((failing.clone(), kind));
        }
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

    /// Updates `Function`, then cleans up and takes `template` in; or, with a failure
    /// queued, fails on that resource, rolls it back and keeps the old template.
    fn update_steps(&mut self, template: Template) -> Vec<Step> {
        let Some((id, reason)) = self.fail_next.take() else {
            let old = self
                .stack
                .as_ref()
                .map(|s| s.template.clone())
                .unwrap_or_default();
            return success_steps(&changes(&old, &template), template);
        };
        let kind = self.kind_of(&id, "AWS::CloudFormation::CustomResource");
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

    /// Deletes the resources newest first, then DELETE_COMPLETE (the stack is gone); or,
    /// with a failure queued, stops at that resource with DELETE_FAILED.
    fn delete_steps(&mut self, resources: Vec<(String, String)>) -> Vec<Step> {
        let fail = self.fail_next.take();
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

    fn new_stack(&mut self, name: &str, template: Template) -> String {
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

/// The resource changes an update from `old` to `new` makes. When both bodies are JSON
/// templates with `Resources` (what `mb deploy` sends), they are compared as
/// CloudFormation does: a logical id only in `new` is an `Add`, only in `old` a `Remove`,
/// in both with other properties a `Modify`, a replacement when a changed property is one
/// whose update requires replacement ([`replaces`]). Otherwise (a test's `{}` body, or
/// only parameters changed) the change is the function's code: `Modify Function`.
fn changes(old: &Template, new: &Template) -> Vec<Change> {
    type Resources = serde_json::Map<String, serde_json::Value>;
    // (as written, as resolved with the template's parameters)
    let resources = |template: &Template| -> Option<(Resources, Resources)> {
        let value: serde_json::Value = serde_json::from_str(&template.body).ok()?;
        Some((
            present(&value, &template.parameters),
            resolved(&value, &template.parameters),
        ))
    };
    let function = || Change {
        action: "Modify",
        logical_id: "Function".into(),
        resource_type: "AWS::Lambda::Function".into(),
        replacement: Some("False"),
    };
    let (Some((before, before_resolved)), Some((after, after_resolved))) =
        (resources(old), resources(new))
    else {
        return vec![function()];
    };
    let kind = |r: &serde_json::Value| r["Type"].as_str().unwrap_or_default().to_owned();
    let empty = serde_json::Map::new();
    let props = |r: Option<&serde_json::Value>| {
        r.and_then(|r| r.get("Properties"))
            .and_then(|p| p.as_object())
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let mut found = Vec::new();
    for id in dependency_order(&after) {
        let resource = &after[&id];
        let id = &id;
        match before.get(id) {
            None => found.push(Change {
                action: "Add",
                logical_id: id.clone(),
                resource_type: kind(resource),
                replacement: None,
            }),
            // Modified when its text changed, or when a parameter changed what it
            // resolves to (an `Fn::If` on a condition, a `Ref` to a parameter).
            Some(previous)
                if previous != resource || before_resolved.get(id) != after_resolved.get(id) =>
            {
                let mut changed: Vec<String> = Vec::new();
                for (was, now) in [
                    (props(Some(previous)), props(Some(resource))),
                    (
                        props(before_resolved.get(id)),
                        props(after_resolved.get(id)),
                    ),
                ] {
                    changed.extend(
                        was.keys()
                            .chain(now.keys())
                            .filter(|k| was.get(*k) != now.get(*k))
                            .cloned(),
                    );
                }
                let replaced = kind(previous) != kind(resource)
                    || changed.iter().any(|k| replaces(&kind(resource), k));
                found.push(Change {
                    action: "Modify",
                    logical_id: id.clone(),
                    resource_type: kind(resource),
                    replacement: Some(if replaced { "True" } else { "False" }),
                });
            }
            Some(_) => {}
        }
    }
    for (id, resource) in &before {
        if !after.contains_key(id) {
            found.push(Change {
                action: "Remove",
                logical_id: id.clone(),
                resource_type: kind(resource),
                replacement: None,
            });
        }
    }
    if found.is_empty() {
        found.push(function());
    }
    found
}

/// The logical ids of `resources` in the order CloudFormation creates and updates them:
/// each after every resource it references (`Ref`, `Fn::GetAtt`, `${X}` in `Fn::Sub`,
/// `DependsOn`), else in template order.
fn dependency_order(resources: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    fn refs(value: &serde_json::Value, out: &mut HashSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("Ref", serde_json::Value::String(id)) => {
                            out.insert(id.clone());
                        }
                        ("Fn::GetAtt", serde_json::Value::Array(parts)) => {
                            if let Some(id) = parts.first().and_then(|p| p.as_str()) {
                                out.insert(id.to_owned());
                            }
                        }
                        ("DependsOn", serde_json::Value::String(id)) => {
                            out.insert(id.clone());
                        }
                        _ => {}
                    }
                    if key == "DependsOn"
                        && let serde_json::Value::Array(ids) = inner
                    {
                        out.extend(ids.iter().filter_map(|i| i.as_str().map(str::to_owned)));
                    }
                    refs(inner, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
            serde_json::Value::String(text) => {
                for part in text.split("${").skip(1) {
                    if let Some(name) = part.split('}').next() {
                        out.insert(name.split('.').next().unwrap_or(name).to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    let needs: Vec<(String, HashSet<String>)> = resources
        .iter()
        .map(|(id, resource)| {
            let mut out = HashSet::new();
            refs(resource, &mut out);
            out.retain(|r| r != id && resources.contains_key(r));
            (id.clone(), out)
        })
        .collect();
    let mut done: Vec<String> = Vec::new();
    while done.len() < needs.len() {
        let next = needs
            .iter()
            .find(|(id, deps)| !done.contains(id) && deps.iter().all(|d| done.contains(d)))
            // A cycle (CloudFormation would refuse the template): template order.
            .or_else(|| needs.iter().find(|(id, _)| !done.contains(id)));
        match next {
            Some((id, _)) => done.push(id.clone()),
            None => break,
        }
    }
    done
}

/// Whether changing `property` of a resource of `kind` requires replacement ("Update
/// requires: Replacement" in each type's reference), for the types of mb's template.
fn replaces(kind: &str, property: &str) -> bool {
    let properties: &[&str] = match kind {
        "AWS::DynamoDB::Table" => &["TableName", "KeySchema"],
        "AWS::Lambda::Function" => &["FunctionName"],
        "AWS::Lambda::Permission" => &[
            "Action",
            "FunctionName",
            "Principal",
            "SourceAccount",
            "SourceArn",
        ],
        "AWS::Lambda::Url" => &["Qualifier"],
        "AWS::IAM::Role" => &["RoleName", "Path"],
        "AWS::Logs::LogGroup" => &["LogGroupName"],
        "AWS::ApiGatewayV2::Api" => &["ProtocolType"],
        "AWS::ApiGatewayV2::Stage" => &["ApiId", "StageName"],
        "AWS::ApiGatewayV2::Route"
        | "AWS::ApiGatewayV2::Integration"
        | "AWS::ApiGatewayV2::Deployment" => &["ApiId"],
        _ => &[],
    };
    properties.contains(&property)
}

/// A resource's physical id: the name the outputs of a stack of this name give it (mb's
/// outputs name its function, table and API), else a made-up one.
fn physical_id(profile: &Profile, logical_id: &str) -> String {
    let output = match logical_id {
        "Api" => "ApiId",
        "Rooms" => "Table",
        other => other,
    };
    profile
        .outputs
        .iter()
        .find(|(k, _)| k == output)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| format!("{}-{logical_id}", profile.name))
}

/// `List.member.N` (N from 1) as a list.
fn members(params: &Params, list: &str) -> Vec<String> {
    (1..)
        .map_while(|n| params.get(&format!("{list}.member.{n}")).cloned())
        .collect()
}

/// `List.member.N.Key` / `.Value` pairs (N from 1).
fn pairs(params: &Params, list: &str, key: &str, value: &str) -> Vec<(String, String)> {
    (1..)
        .map_while(|n| {
            let k = params.get(&format!("{list}.member.{n}.{key}"))?;
            let v = params
                .get(&format!("{list}.member.{n}.{value}"))
                .cloned()
                .unwrap_or_default();
            Some((k.clone(), v))
        })
        .collect()
}

/// A template evaluated with parameter values (defaults where none is given), as
/// CloudFormation evaluates `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`,
/// `Fn::If` and a `Ref` to a parameter. A condition this cannot evaluate counts as true.
struct Evaluation<'a> {
    template: &'a serde_json::Value,
    parameters: &'a [(String, String)],
}

impl Evaluation<'_> {
    fn parameter(&self, name: &str) -> Option<String> {
        use serde_json::Value;
        self.template.pointer(&format!("/Parameters/{name}"))?;
        self.parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                match self
                    .template
                    .pointer(&format!("/Parameters/{name}/Default"))?
                {
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                }
            })
    }

    fn value_of(&self, v: &serde_json::Value) -> Option<String> {
        use serde_json::Value;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => self.parameter(o.get("Ref")?.as_str()?),
            _ => None,
        }
    }

    fn condition(&self, name: &str) -> bool {
        self.template
            .pointer(&format!("/Conditions/{name}"))
            .and_then(|c| self.truth(c, 0))
            .unwrap_or(true)
    }

    fn truth(&self, expr: &serde_json::Value, depth: usize) -> Option<bool> {
        if depth > 20 {
            return None;
        }
        let object = expr.as_object()?;
        let (function, args) = object.iter().next()?;
        let all = |args: &serde_json::Value| -> Option<Vec<bool>> {
            args.as_array()?
                .iter()
                .map(|a| self.truth(a, depth + 1))
                .collect()
        };
        match function.as_str() {
            "Fn::Equals" => {
                let pair = args.as_array()?;
                Some(self.value_of(pair.first()?)? == self.value_of(pair.get(1)?)?)
            }
            "Fn::Not" => Some(!*all(args)?.first()?),
            "Fn::And" => Some(all(args)?.iter().all(|b| *b)),
            "Fn::Or" => Some(all(args)?.iter().any(|b| *b)),
            "Condition" => self.truth(
                self.template
                    .pointer(&format!("/Conditions/{}", args.as_str()?))?,
                depth + 1,
            ),
            _ => None,
        }
    }

    /// `value` with every `Fn::If` replaced by its chosen branch and every `Ref` to a
    /// parameter by the parameter's value; `None` where it is `AWS::NoValue` (the
    /// property is left out).
    fn resolve(&self, value: &serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                if map.len() == 1 {
                    if let Some(Value::String(name)) = map.get("Ref") {
                        if name == "AWS::NoValue" {
                            return None;
                        }
                        if let Some(v) = self.parameter(name) {
                            return Some(Value::String(v));
                        }
                    }
                    if let Some(Value::Array(branches)) = map.get("Fn::If")
                        && let [Value::String(condition), yes, no] = branches.as_slice()
                    {
                        let chosen = if self.condition(condition) { yes } else { no };
                        return self.resolve(chosen);
                    }
                }
                Some(Value::Object(
                    map.iter()
                        .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
                        .collect(),
                ))
            }
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            other => Some(other.clone()),
        }
    }
}

/// The resources a template creates with `parameters`: those whose `Condition` holds.
fn present(
    template: &serde_json::Value,
    parameters: &[(String, String)],
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let evaluation = Evaluation {
        template,
        parameters,
    };
    template
        .get("Resources")
        .and_then(Value::as_object)
        .map(|resources| {
            resources
                .iter()
                .filter(
                    |(_, resource)| match resource.get("Condition").and_then(Value::as_str) {
                        None => true,
                        Some(name) => evaluation.condition(name),
                    },
                )
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// [`present`]'s resources as CloudFormation sees them with `parameters`: each
/// `Fn::If` decided, each parameter `Ref` replaced by its value.
fn resolved(
    template: &serde_json::Value,
    parameters: &[(String, String)],
) -> serde_json::Map<String, serde_json::Value> {
    let evaluation = Evaluation {
        template,
        parameters,
    };
    present(template, parameters)
        .into_iter()
        .filter_map(|(id, resource)| Some((id, evaluation.resolve(&resource)?)))
        .collect()
}

/// The resources a create of `template` makes, in dependency order; `None` when its body
/// is not a JSON template with `Resources` (a test's `{}`).
fn to_create(template: &Template) -> Option<Vec<(String, String)>> {
    let value: serde_json::Value = serde_json::from_str(&template.body).ok()?;
    value.get("Resources")?;
    let resources = present(&value, &template.parameters);
    Some(
        dependency_order(&resources)
            .into_iter()
            .map(|id| {
                let kind = resources[&id]["Type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (id, kind)
            })
            .collect(),
    )
}

/// The template a create or update sends, with `UsePreviousTemplate` and
/// `UsePreviousValue` taken from `previous`.
fn template_of(params: &Params, previous: Option<&Template>) -> Result<Template, Fault> {
    let flag = |name: &str| params.get(name).is_some_and(|v| v == "true");
    let body = match (params.get("TemplateBody"), params.get("TemplateURL")) {
        (Some(body), _) => body.clone(),
        (None, Some(url)) => url.clone(),
        (None, None) => match previous {
            Some(previous) if flag("UsePreviousTemplate") => previous.body.clone(),
            _ => {
                return Err(validation(
                    "Either Template URL or Template Body must be specified.".into(),
                ));
            }
        },
    };
    let mut parameters = Vec::new();
    for n in 1.. {
        let Some(key) = params.get(&format!("Parameters.member.{n}.ParameterKey")) else {
            break;
        };
        let previous_value = flag(&format!("Parameters.member.{n}.UsePreviousValue"))
            .then(|| {
                previous
                    .and_then(|p| p.parameters.iter().find(|(k, _)| k == key))
                    .map(|(_, v)| v.clone())
            })
            .flatten();
        let value = match previous_value {
            Some(value) => value,
            None => params
                .get(&format!("Parameters.member.{n}.ParameterValue"))
                .cloned()
                .unwrap_or_default(),
        };
        parameters.push((key.clone(), value));
    }
    Ok(Template {
        body,
        parameters,
        capabilities: members(params, "Capabilities"),
        tags: pairs(params, "Tags", "Key", "Value"),
    })
}

fn sorted(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    pairs
}

fn has_iam_capability(capabilities: &[String]) -> bool {
    capabilities
        .iter()
        .any(|c| c == "CAPABILITY_NAMED_IAM" || c == "CAPABILITY_IAM")
}

fn updatable(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE"
            | "UPDATE_COMPLETE"
            | "UPDATE_ROLLBACK_COMPLETE"
            | "IMPORT_COMPLETE"
            | "IMPORT_ROLLBACK_COMPLETE"
    )
}

fn not_updatable(stack: &Stack) -> Fault {
    validation(format!(
        "Stack:{} is in {} state and can not be updated.",
        stack.id, stack.status
    ))
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a String, Fault> {
    params.get(name).ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
             Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

fn time(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

/// `<name>text</name>`, escaped.
fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// `<name>text</name>`, or nothing for `None`.
fn optional(name: &str, text: Option<&str>) -> String {
    text.map(|t| element(name, t)).unwrap_or_default()
}

/// A list of scalars: `<name><member>a</member>...</name>`.
fn list(name: &str, items: &[String]) -> String {
    let members: String = items.iter().map(|i| element("member", i)).collect();
    format!("<{name}>{members}</{name}>")
}

/// A list of key/value structures.
fn pair_list(name: &str, key: &str, value: &str, items: &[(String, String)]) -> String {
    let members: String = items
        .iter()
        .map(|(k, v)| format!("<member>{}{}</member>", element(key, k), element(value, v)))
        .collect();
    format!("<{name}>{members}</{name}>")
}

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

async fn answer(state: &Mutex<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let is_post = request.method() == http::Method::POST;
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return error(&Fault(
                400,
                "MalformedQueryString",
                "unreadable body".into(),
            ));
        }
    };
    let params: Params = form_urlencoded::parse(&body).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let mut state = lock(state);
    let status_before = state.status_for(&params);
    state.calls.push(Call {
        action: action.clone(),
        params: params.clone(),
        status_before,
    });
    if !is_post {
        return error(&Fault(
            400,
            "InvalidAction",
            "Only POST requests are faked".into(),
        ));
    }
    if state.denied.contains(&action) {
        return error(&denied(&state, &action, &params));
    }
    let version = params.get("Version").map(String::as_str).unwrap_or("");
    if version != VERSION {
        return error(&Fault(
            400,
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
        ));
    }
    let result = match action.as_str() {
        "DescribeStacks" => describe_stacks(&mut state, &params),
        "DescribeStackEvents" => describe_stack_events(&state, &params),
        "GetTemplate" => get_template(&state, &params),
        "CreateStack" => create_stack(&mut state, &params),
        "UpdateStack" => update_stack(&mut state, &params),
        "CreateChangeSet" => create_change_set(&mut state, &params),
        "DescribeChangeSet" => describe_change_set(&mut state, &params),
        "ExecuteChangeSet" => execute_change_set(&mut state, &params),
        "DeleteChangeSet" => delete_change_set(&mut state, &params),
        "ListChangeSets" => list_change_sets(&state, &params),
        "DeleteStack" => delete_stack(&mut state, &params),
        "ContinueUpdateRollback" => continue_update_rollback(&mut state, &params),
        "RollbackStack" => rollback_stack(&mut state, &params),
        _ => Err(Fault(
            400,
            "InvalidAction",
            format!("Could not find operation {action} for version {VERSION}"),
        )),
    };
    let request_id = state.uuid();
    match result {
        // DeleteStack's answer has no result element.
        Ok(_) if action == "DeleteStack" => ok(&action, None, &request_id),
        Ok(inner) => ok(&action, Some(&inner), &request_id),
        Err(fault) => error_with_id(&fault, &request_id),
    }
}

fn denied(state: &State, action: &str, params: &Params) -> Fault {
    let name = match params.get("StackName") {
        Some(name) if name.starts_with("arn:") => name
            .split_once(":stack/")
            .and_then(|(_, rest)| rest.split('/').next())
            .unwrap_or("*")
            .to_owned(),
        Some(name) => name.clone(),
        None => state
            .stack
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "*".into()),
    };
    Fault(
        403,
        "AccessDenied",
        format!(
            "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: \
             cloudformation:{action} on resource: {ARN_PREFIX}:stack/{name}/* because no \
             identity-based policy allows the cloudformation:{action} action"
        ),
    )
}

fn ok(action: &str, result: Option<&str>, request_id: &str) -> Response<Full<Bytes>> {
    let result = result
        .map(|r| format!("<{action}Result>{r}</{action}Result>"))
        .unwrap_or_default();
    let body = format!(
        "<{action}Response xmlns=\"{NAMESPACE}\">{result}<ResponseMetadata>\
         <RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    xml(StatusCode::OK, body, request_id)
}

fn error(fault: &Fault) -> Response<Full<Bytes>> {
    error_with_id(fault, "00000000-0000-4000-8000-000000000000")
}

fn error_with_id(fault: &Fault, request_id: &str) -> Response<Full<Bytes>> {
    let Fault(status, code, message) = fault;
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(message)
    );
    xml(
        StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
        request_id,
    )
}

pub(crate) fn xml(status: StatusCode, body: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static("text/xml"));
    if let Ok(id) = http::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

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

fn describe_stacks(state: &mut State, params: &Params) -> Result<String, Fault> {
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

fn describe_stack_events(state: &State, params: &Params) -> Result<String, Fault> {
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

fn get_template(state: &State, params: &Params) -> Result<String, Fault> {
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

fn create_stack(state: &mut State, params: &Params) -> Result<String, Fault> {
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
    let steps = state.create_steps(resources.unwrap_or(profile.resources), profile.outputs);
    state.begin("CREATE_IN_PROGRESS", steps);
    Ok(element("StackId", &id))
}

fn update_stack(state: &mut State, params: &Params) -> Result<String, Fault> {
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

fn start_update(state: &mut State, template: Template) {
    let now = state.clock + 1;
    if let Some(stack) = &mut state.stack {
        stack.updated = Some(now);
    }
    let steps = state.update_steps(template);
    state.begin("UPDATE_IN_PROGRESS", steps);
}

fn create_change_set(state: &mut State, params: &Params) -> Result<String, Fault> {
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

fn describe_change_set(state: &mut State, params: &Params) -> Result<String, Fault> {
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

fn execute_change_set(state: &mut State, params: &Params) -> Result<String, Fault> {
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
        let steps = state.create_steps(resources.unwrap_or(profile.resources), profile.outputs);
        state.begin("CREATE_IN_PROGRESS", steps);
    } else {
        start_update(state, change_set.template);
    }
    Ok(String::new())
}

fn delete_change_set(state: &mut State, params: &Params) -> Result<String, Fault> {
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

fn list_change_sets(state: &State, params: &Params) -> Result<String, Fault> {
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

fn delete_stack(state: &mut State, params: &Params) -> Result<String, Fault> {
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
    let steps = state.delete_steps(stack.resources);
    state.begin("DELETE_IN_PROGRESS", steps);
    Ok(String::new())
}

fn continue_update_rollback(state: &mut State, params: &Params) -> Result<String, Fault> {
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

fn rollback_stack(state: &mut State, params: &Params) -> Result<String, Fault> {
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
    use super::*;
    use aws_sdk_cloudformation::Client;
    use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
    use aws_sdk_cloudformation::types::{
        Capability, ChangeAction, ChangeSetStatus, ChangeSetType, ExecutionStatus, Parameter,
        Replacement, StackEvent, StackStatus,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const NAME: &str = "mb-a-dev";

    async fn client(fake: &FakeCloudFormation) -> Client {
        Client::new(&crate::sdk_config(Some(&fake.endpoint), None).await)
    }

    async fn status_of(client: &Client, name_or_id: &str) -> StackStatus {
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
    async fn settle(client: &Client, name_or_id: &str) -> (StackStatus, usize) {
        for polls in 1..=50 {
            let status = status_of(client, name_or_id).await;
            if !status.as_str().ends_with("_IN_PROGRESS") {
                return (status, polls);
            }
        }
        panic!("{name_or_id} did not settle in 50 polls");
    }

    /// Every event through the SDK's paginator, oldest first.
    async fn events(client: &Client, name_or_id: &str) -> Vec<StackEvent> {
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

    fn summary(events: &[StackEvent]) -> Vec<(String, String)> {
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

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    async fn template(client: &Client, name_or_id: &str) -> String {
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
    async fn change_set(
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

    #[tokio::test]
    async fn denied_actions_answer_403_access_denied() {
        let fake = FakeCloudFormation::start(Some(StackSetup::new(NAME, "UPDATE_COMPLETE"))).await;
        let client = client(&fake).await;
        fake.deny("DescribeStacks");
        let denied = client
            .describe_stacks()
            .stack_name(NAME)
            .send()
            .await
            .expect_err("denied");
        assert_eq!(denied.code(), Some("AccessDenied"));
        assert_eq!(
            denied.message(),
            Some(
                "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: \
                 cloudformation:DescribeStacks on resource: \
                 arn:aws:cloudformation:us-east-1:123456789012:stack/mb-a-dev/* because no \
                 identity-based policy allows the cloudformation:DescribeStacks action"
            )
        );
        let SdkError::ServiceError(service) = &denied else {
            panic!("a service error: {denied:?}");
        };
        assert_eq!(service.raw().status().as_u16(), 403);
        assert!(
            client
                .describe_stack_events()
                .stack_name(NAME)
                .send()
                .await
                .is_ok(),
            "other actions still answer"
        );
        assert_eq!(fake.calls()[0].action, "DescribeStacks");
    }

    /// One raw HTTP/1.1 request; the answer as text.
    async fn raw(endpoint: &str, method: &str, body: &str) -> String {
        let address = endpoint.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect to the fake");
        let request = format!(
            "{method} / HTTP/1.1\r\nHost: {address}\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\
             \r\n{body}",
            body.len()
        );
        tcp.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.expect("read");
        answer
    }

    #[tokio::test]
    async fn unknown_or_malformed_requests_get_a_400() {
        let fake = FakeCloudFormation::start(None).await;
        let unknown = raw(
            &fake.endpoint,
            "POST",
            "Action=ListStacks&Version=2010-05-15",
        )
        .await;
        assert!(unknown.starts_with("HTTP/1.1 400"), "{unknown}");
        assert!(unknown.contains("<Code>InvalidAction</Code>"), "{unknown}");
        assert!(unknown.contains(NAMESPACE), "{unknown}");
        let garbage = raw(&fake.endpoint, "POST", "%%%&&==\u{7f}").await;
        assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
        let no_name = raw(
            &fake.endpoint,
            "POST",
            "Action=DescribeStackEvents&Version=2010-05-15",
        )
        .await;
        assert!(no_name.starts_with("HTTP/1.1 400"), "{no_name}");
        assert!(
            no_name.contains("<Code>ValidationError</Code>"),
            "{no_name}"
        );
        let get = raw(&fake.endpoint, "GET", "").await;
        assert!(get.starts_with("HTTP/1.1 400"), "{get}");
        let ok = raw(
            &fake.endpoint,
            "POST",
            "Action=DeleteStack&Version=2010-05-15&StackName=nothing",
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("<DeleteStackResponse"), "{ok}");
        assert_eq!(fake.calls().len(), 5);
    }
}
