//! A loopback stand-in of AWS CloudFormation speaking its wire protocol (the AWS query
//! protocol: form-encoded `Action=...` POSTs, XML answers and XML errors), so that the
//! real `aws-sdk-cloudformation` client parses and maps what it says exactly as it does
//! CloudFormation's.
//!
//! It exists for what moto does not do: stack operations that take time (IN_PROGRESS
//! states), per-resource events, failures and rollbacks, the cleanup states, and refusals
//! to act on a stack that is busy. Each operation queues its progress as steps (a status
//! change and/or an event), and **each DescribeStacks call applies one step**, so a client
//! polling sees the operation unfold over several polls. Requests are recorded with the
//! status the stack had when they arrived.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const NAMESPACE: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";
const ARN_PREFIX: &str = "arn:aws:cloudformation:us-east-1:123456789012";
/// The fake's clock starts here (2026-11-22T10:00:00Z) and ticks one second per event,
/// so events sort strictly.
const EPOCH: i64 = 1_795_341_600;
/// DescribeStackEvents pages are this small so that clients must paginate.
const EVENTS_PER_PAGE: usize = 3;
const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

/// An event, as a test describes one.
#[derive(Debug, Clone)]
pub struct EventSpec {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// The stack the fake starts with.
#[derive(Debug, Clone)]
pub struct StackSetup {
    pub name: String,
    pub status: String,
    /// Statuses applied one per DescribeStacks call, after two polls that change nothing;
    /// each adds a stack event.
    pub then: Vec<String>,
    pub template_body: String,
    pub parameters: Vec<(String, String)>,
    pub outputs: Vec<(String, String)>,
    /// (logical id, type) of the stack's resources, for the events of an operation.
    pub resources: Vec<(String, String)>,
    /// Events from before the test, oldest first.
    pub history: Vec<EventSpec>,
}

impl StackSetup {
    /// A stack named `name` in `status`, with the outputs and resources of an mb service.
    pub fn new(name: &str, status: &str) -> StackSetup {
        StackSetup {
            name: name.to_owned(),
            status: status.to_owned(),
            then: Vec::new(),
            template_body: "{}".to_owned(),
            parameters: Vec::new(),
            outputs: vec![
                (
                    "WebSocketUrl".into(),
                    "wss://abc123.execute-api.us-east-1.amazonaws.com/dev".into(),
                ),
                ("ApiId".into(), "abc123".into()),
                ("Stage".into(), "dev".into()),
                ("Table".into(), format!("{name}-connections")),
                ("Function".into(), format!("{name}-broadcast")),
                ("LogGroup".into(), format!("/aws/lambda/{name}-broadcast")),
            ],
            resources: vec![
                ("Table".into(), "AWS::DynamoDB::Table".into()),
                ("FunctionRole".into(), "AWS::IAM::Role".into()),
                ("Function".into(), "AWS::Lambda::Function".into()),
                ("Api".into(), "AWS::ApiGatewayV2::Api".into()),
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
    /// The stack's status when the request arrived (`None`: no stack).
    pub status_before: Option<String>,
}

#[derive(Debug, Clone)]
struct Stack {
    name: String,
    id: String,
    status: String,
    reason: Option<String>,
    created: i64,
    updated: Option<i64>,
    template_body: String,
    parameters: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
    capabilities: Vec<String>,
}

#[derive(Debug, Clone)]
struct Event {
    id: String,
    stack_id: String,
    stack_name: String,
    spec: EventSpec,
    time: i64,
}

/// What a step does besides its status and event.
#[derive(Debug, Clone)]
enum Effect {
    None,
    /// The new template and parameters take effect.
    Commit {
        template_body: String,
        parameters: Vec<(String, String)>,
    },
    /// The stack is gone (found by id only).
    Deleted,
}

#[derive(Debug, Clone)]
struct Step {
    status: Option<String>,
    reason: Option<String>,
    event: Option<EventSpec>,
    effect: Effect,
}

#[derive(Debug, Clone)]
struct ChangeSet {
    name: String,
    id: String,
    stack_id: String,
    stack_name: String,
    create: bool,
    status: String,
    reason: Option<String>,
    template_body: String,
    parameters: Vec<(String, String)>,
    capabilities: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    stack: Option<Stack>,
    deleted: Vec<Stack>,
    events: Vec<Event>,
    steps: VecDeque<Step>,
    change_sets: Vec<ChangeSet>,
    calls: Vec<Call>,
    fail_next: Option<(String, String)>,
    denied: HashSet<String>,
    outputs: Vec<(String, String)>,
    resources: Vec<(String, String)>,
    clock: i64,
    counter: u64,
}

/// A CloudFormation error: HTTP status, code, message.
struct Error(u16, &'static str, String);

fn validation(message: String) -> Error {
    Error(400, "ValidationError", message)
}

pub struct FakeCloudFormation {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl FakeCloudFormation {
    /// Starts with no stack (`None`) or the given one.
    pub async fn start(stack: Option<StackSetup>) -> FakeCloudFormation {
        let mut state = State {
            clock: EPOCH,
            outputs: StackSetup::new("mb-service-dev", "CREATE_COMPLETE").outputs,
            resources: StackSetup::new("mb-service-dev", "CREATE_COMPLETE").resources,
            ..State::default()
        };
        if let Some(setup) = stack {
            let id = state.new_id(&format!("stack/{}", setup.name));
            let stack = Stack {
                name: setup.name.clone(),
                id,
                status: setup.status.clone(),
                reason: None,
                created: EPOCH - 3600,
                updated: None,
                template_body: setup.template_body,
                parameters: setup.parameters,
                outputs: setup.outputs.clone(),
                capabilities: vec!["CAPABILITY_NAMED_IAM".into()],
            };
            state.stack = Some(stack);
            state.outputs = setup.outputs;
            state.resources = setup.resources;
            for event in setup.history {
                state.record(event);
            }
            if !setup.then.is_empty() {
                state.steps.push_back(Step::idle());
                state.steps.push_back(Step::idle());
                for status in setup.then {
                    let root = state.root_event(&status, None);
                    state.steps.push_back(Step::root(root));
                }
            }
        }
        let state = Arc::new(Mutex::new(state));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let endpoint = format!(
            "http://{}",
            listener.local_addr().expect("the fake's address")
        );
        let shared = Arc::clone(&state);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state, request).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeCloudFormation {
            endpoint,
            state,
            server,
        }
    }

    /// Every request received, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The stack's current status (`None` when there is none or it was deleted).
    pub fn status(&self) -> Option<String> {
        self.lock().stack.as_ref().map(|s| s.status.clone())
    }

    /// Makes the next create, update or delete fail on this resource with this reason.
    pub fn fail_next_operation(&self, logical_id: &str, reason: &str) {
        self.lock().fail_next = Some((logical_id.to_owned(), reason.to_owned()));
    }

    /// Answers 403 AccessDenied to every request of this action.
    pub fn deny(&self, action: &str) {
        self.lock().denied.insert(action.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeCloudFormation {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Step {
    fn idle() -> Step {
        Step {
            status: None,
            reason: None,
            event: None,
            effect: Effect::None,
        }
    }

    fn event(event: EventSpec) -> Step {
        Step {
            event: Some(event),
            ..Step::idle()
        }
    }

    /// The stack's own status change, with its event.
    fn root(event: EventSpec) -> Step {
        Step {
            status: Some(event.status.clone()),
            reason: event.reason.clone(),
            event: Some(event),
            effect: Effect::None,
        }
    }

    fn with(mut self, effect: Effect) -> Step {
        self.effect = effect;
        self
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

impl State {
    fn new_id(&mut self, kind: &str) -> String {
        self.counter += 1;
        format!(
            "{ARN_PREFIX}:{kind}/00000000-0000-4000-8000-{:012}",
            self.counter
        )
    }

    fn root_event(&self, status: &str, reason: Option<&str>) -> EventSpec {
        let name = self.stack.as_ref().map(|s| s.name.as_str()).unwrap_or("");
        spec(name, STACK_TYPE, status, reason)
    }

    fn record(&mut self, spec: EventSpec) {
        let Some(stack) = &self.stack else { return };
        self.clock += 1;
        self.counter += 1;
        let event = Event {
            id: format!("{}-{:06}", spec.logical_id, self.counter),
            stack_id: stack.id.clone(),
            stack_name: stack.name.clone(),
            spec,
            time: self.clock,
        };
        self.events.push(event);
    }

    /// Applies the next step, if any (one per DescribeStacks).
    fn advance(&mut self) {
        let Some(step) = self.steps.pop_front() else {
            return;
        };
        if let Some(event) = step.event {
            self.record(event);
        }
        let clock = self.clock;
        if let Some(stack) = &mut self.stack {
            if let Some(status) = step.status {
                stack.status = status;
                stack.reason = step.reason;
            }
            if let Effect::Commit {
                template_body,
                parameters,
            } = step.effect.clone()
            {
                stack.template_body = template_body;
                stack.parameters = parameters;
                stack.updated = Some(clock);
            }
        }
        if let Effect::Deleted = step.effect
            && let Some(stack) = self.stack.take()
        {
            self.deleted.push(stack);
        }
    }

    /// The stack a `StackName` parameter means: by name the live one, by id also a
    /// deleted one.
    fn find(&self, name_or_id: &str) -> Option<&Stack> {
        if let Some(stack) = self
            .stack
            .as_ref()
            .filter(|s| s.name == name_or_id || s.id == name_or_id)
        {
            return Some(stack);
        }
        self.deleted.iter().rev().find(|s| s.id == name_or_id)
    }

    fn live(&self, name_or_id: &str) -> Result<&Stack, Error> {
        self.stack
            .as_ref()
            .filter(|s| s.name == name_or_id || s.id == name_or_id)
            .ok_or_else(|| validation(format!("Stack with id {name_or_id} does not exist")))
    }

    fn start(&mut self, status: &str, steps: Vec<Step>) {
        let root = self.root_event(status, Some("User Initiated"));
        self.record(root);
        if let Some(stack) = &mut self.stack {
            stack.status = status.to_owned();
            stack.reason = Some("User Initiated".to_owned());
        }
        self.steps = steps.into();
    }

    fn create_steps(
        &mut self,
        template_body: String,
        parameters: Vec<(String, String)>,
    ) -> Vec<Step> {
        let fail = self.fail_next.take();
        let mut steps = Vec::new();
        let mut created: Vec<(String, String)> = Vec::new();
        for (id, kind) in self.resources.clone() {
            steps.push(Step::event(spec(&id, &kind, "CREATE_IN_PROGRESS", None)));
            if let Some((failing, reason)) = fail.as_ref().filter(|(f, _)| *f == id) {
                steps.push(Step::event(spec(&id, &kind, "CREATE_FAILED", Some(reason))));
                let message = format!(
                    "The following resource(s) failed to create: [{failing}]. Rollback requested by user."
                );
                steps.push(Step::root(
                    self.root_event("ROLLBACK_IN_PROGRESS", Some(&message)),
                ));
                for (done, kind) in created.iter().rev() {
                    steps.push(Step::event(spec(done, kind, "DELETE_IN_PROGRESS", None)));
                    steps.push(Step::event(spec(done, kind, "DELETE_COMPLETE", None)));
                }
                steps.push(Step::root(self.root_event("ROLLBACK_COMPLETE", None)));
                return steps;
            }
            steps.push(Step::event(spec(&id, &kind, "CREATE_COMPLETE", None)));
            created.push((id, kind));
        }
        steps.push(
            Step::root(self.root_event("CREATE_COMPLETE", None)).with(Effect::Commit {
                template_body,
                parameters,
            }),
        );
        steps
    }

    fn update_steps(
        &mut self,
        template_body: String,
        parameters: Vec<(String, String)>,
    ) -> Vec<Step> {
        match self.fail_next.take() {
            None => vec![
                Step::event(spec(
                    "Function",
                    "AWS::Lambda::Function",
                    "UPDATE_IN_PROGRESS",
                    None,
                )),
                Step::event(spec(
                    "Function",
                    "AWS::Lambda::Function",
                    "UPDATE_COMPLETE",
                    None,
                )),
                Step::root(self.root_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None)),
                Step::root(self.root_event("UPDATE_COMPLETE", None)).with(Effect::Commit {
                    template_body,
                    parameters,
                }),
            ],
            Some((id, reason)) => {
                let kind = self.kind_of(&id);
                let message = format!("The following resource(s) failed to update: [{id}].");
                vec![
                    Step::event(spec(&id, &kind, "UPDATE_IN_PROGRESS", None)),
                    Step::event(spec(&id, &kind, "UPDATE_FAILED", Some(&reason))),
                    Step::root(self.root_event("UPDATE_ROLLBACK_IN_PROGRESS", Some(&message))),
                    Step::event(spec(&id, &kind, "UPDATE_IN_PROGRESS", None)),
                    Step::event(spec(&id, &kind, "UPDATE_COMPLETE", None)),
                    Step::root(
                        self.root_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None),
                    ),
                    Step::root(self.root_event("UPDATE_ROLLBACK_COMPLETE", None)),
                ]
            }
        }
    }

    fn delete_steps(&mut self) -> Vec<Step> {
        let fail = self.fail_next.take();
        let mut steps = Vec::new();
        for (id, kind) in self.resources.clone().into_iter().rev() {
            steps.push(Step::event(spec(&id, &kind, "DELETE_IN_PROGRESS", None)));
            if let Some((_, reason)) = fail.as_ref().filter(|(f, _)| *f == id) {
                steps.push(Step::event(spec(&id, &kind, "DELETE_FAILED", Some(reason))));
                let message = format!("The following resource(s) failed to delete: [{id}]. ");
                steps.push(Step::root(self.root_event("DELETE_FAILED", Some(&message))));
                return steps;
            }
            steps.push(Step::event(spec(&id, &kind, "DELETE_COMPLETE", None)));
        }
        steps.push(Step::root(self.root_event("DELETE_COMPLETE", None)).with(Effect::Deleted));
        steps
    }

    fn kind_of(&self, logical_id: &str) -> String {
        self.resources
            .iter()
            .find(|(id, _)| id == logical_id)
            .map(|(_, kind)| kind.clone())
            .unwrap_or_else(|| "AWS::CloudFormation::CustomResource".to_owned())
    }
}

/// `Parameters.member.N.ParameterKey/Value` (or `Capabilities.member.N`) as a list.
fn members(params: &BTreeMap<String, String>, list: &str, field: Option<&str>) -> Vec<String> {
    (1..)
        .map(|n| match field {
            Some(field) => params.get(&format!("{list}.member.{n}.{field}")),
            None => params.get(&format!("{list}.member.{n}")),
        })
        .take_while(Option::is_some)
        .flatten()
        .cloned()
        .collect()
}

fn parameters(params: &BTreeMap<String, String>) -> Vec<(String, String)> {
    members(params, "Parameters", Some("ParameterKey"))
        .into_iter()
        .zip(members(params, "Parameters", Some("ParameterValue")))
        .collect()
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
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

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn time(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

/// `<name>text</name>`, escaped; nothing for `None`.
fn element(name: &str, text: Option<&str>) -> String {
    match text {
        Some(text) => format!("<{name}>{}</{name}>", escape(text)),
        None => String::new(),
    }
}

async fn answer(state: &Mutex<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return error(&Error(400, "MalformedInput", "unreadable body".into())),
    };
    let params: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let status_before = params
        .get("StackName")
        .and_then(|name| state.find(name))
        .or(state.stack.as_ref())
        .map(|s| s.status.clone())
        .filter(|_| state.stack.is_some());
    state.calls.push(Call {
        action: action.clone(),
        params: params.clone(),
        status_before,
    });
    if state.denied.contains(&action) {
        let resource = params.get("StackName").cloned().unwrap_or_default();
        return error(&Error(
            403,
            "AccessDenied",
            format!(
                "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: \
                 cloudformation:{action} on resource: {ARN_PREFIX}:stack/{resource}/* because \
                 no identity-based policy allows the cloudformation:{action} action"
            ),
        ));
    }
    let result = match action.as_str() {
        "DescribeStacks" => describe_stacks(&mut state, &params),
        "DescribeStackEvents" => describe_stack_events(&state, &params),
        "GetTemplate" => get_template(&state, &params),
        "CreateStack" => create_stack(&mut state, &params),
        "CreateChangeSet" => create_change_set(&mut state, &params),
        "DescribeChangeSet" => describe_change_set(&mut state, &params),
        "ExecuteChangeSet" => execute_change_set(&mut state, &params),
        "DeleteChangeSet" => delete_change_set(&mut state, &params),
        "ListChangeSets" => list_change_sets(&state, &params),
        "DeleteStack" => delete_stack(&mut state, &params),
        "ContinueUpdateRollback" => continue_update_rollback(&mut state, &params),
        "RollbackStack" => rollback_stack(&mut state, &params),
        other => Err(Error(
            400,
            "InvalidAction",
            format!("{other} is not supported"),
        )),
    };
    match result {
        Ok(inner) => ok(&action, &inner),
        Err(err) => error(&err),
    }
}

fn ok(action: &str, result: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>fake-request</RequestId></ResponseMetadata>\
         </{action}Response>"
    );
    xml(StatusCode::OK, body)
}

fn error(err: &Error) -> Response<Full<Bytes>> {
    let Error(status, code, message) = err;
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>",
        escape(message)
    );
    xml(
        StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
}

fn xml(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", http::HeaderValue::from_static("text/xml"));
    response
}

fn stack_xml(stack: &Stack) -> String {
    let parameters: String = stack
        .parameters
        .iter()
        .map(|(k, v)| {
            format!(
                "<member>{}{}</member>",
                element("ParameterKey", Some(k)),
                element("ParameterValue", Some(v))
            )
        })
        .collect();
    let outputs: String = stack
        .outputs
        .iter()
        .map(|(k, v)| {
            format!(
                "<member>{}{}</member>",
                element("OutputKey", Some(k)),
                element("OutputValue", Some(v))
            )
        })
        .collect();
    let capabilities: String = stack
        .capabilities
        .iter()
        .map(|c| element("member", Some(c)))
        .collect();
    format!(
        "<member>{}{}{}{}{}{}<DisableRollback>false</DisableRollback>\
         <Parameters>{parameters}</Parameters><Outputs>{outputs}</Outputs>\
         <Capabilities>{capabilities}</Capabilities></member>",
        element("StackId", Some(&stack.id)),
        element("StackName", Some(&stack.name)),
        element("CreationTime", Some(&time(stack.created))),
        element("LastUpdatedTime", stack.updated.map(time).as_deref()),
        element("StackStatus", Some(&stack.status)),
        element("StackStatusReason", stack.reason.as_deref()),
    )
}

fn stack_name(params: &BTreeMap<String, String>) -> Result<String, Error> {
    params
        .get("StackName")
        .cloned()
        .ok_or_else(|| validation("StackName is required".into()))
}

fn describe_stacks(state: &mut State, params: &BTreeMap<String, String>) -> Result<String, Error> {
    state.advance();
    let name = stack_name(params)?;
    let stack = state
        .find(&name)
        .ok_or_else(|| validation(format!("Stack with id {name} does not exist")))?;
    Ok(format!("<Stacks>{}</Stacks>", stack_xml(stack)))
}

fn describe_stack_events(
    state: &State,
    params: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let name = stack_name(params)?;
    let stack = state
        .find(&name)
        .ok_or_else(|| validation(format!("Stack [{name}] does not exist")))?;
    let newest_first: Vec<&Event> = state
        .events
        .iter()
        .rev()
        .filter(|e| e.stack_id == stack.id)
        .collect();
    let start: usize = params
        .get("NextToken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: String = newest_first
        .iter()
        .skip(start)
        .take(EVENTS_PER_PAGE)
        .map(|e| {
            format!(
                "<member>{}{}{}{}{}{}{}{}{}</member>",
                element("StackId", Some(&e.stack_id)),
                element("EventId", Some(&e.id)),
                element("StackName", Some(&e.stack_name)),
                element("LogicalResourceId", Some(&e.spec.logical_id)),
                element("PhysicalResourceId", Some(&e.spec.logical_id)),
                element("ResourceType", Some(&e.spec.resource_type)),
                element("Timestamp", Some(&time(e.time))),
                element("ResourceStatus", Some(&e.spec.status)),
                element("ResourceStatusReason", e.spec.reason.as_deref()),
            )
        })
        .collect();
    let next = start + EVENTS_PER_PAGE;
    let token = if next < newest_first.len() {
        element("NextToken", Some(&next.to_string()))
    } else {
        String::new()
    };
    Ok(format!("<StackEvents>{page}</StackEvents>{token}"))
}

fn get_template(state: &State, params: &BTreeMap<String, String>) -> Result<String, Error> {
    let stack = state.live(&stack_name(params)?)?;
    Ok(element("TemplateBody", Some(&stack.template_body)))
}

fn create_stack(state: &mut State, params: &BTreeMap<String, String>) -> Result<String, Error> {
    let name = stack_name(params)?;
    if state.stack.is_some() {
        return Err(Error(
            400,
            "AlreadyExistsException",
            format!("Stack [{name}] already exists"),
        ));
    }
    let capabilities = members(params, "Capabilities", None);
    if !has_iam_capability(&capabilities) {
        return Err(Error(
            400,
            "InsufficientCapabilitiesException",
            "Requires capabilities : [CAPABILITY_NAMED_IAM]".into(),
        ));
    }
    let id = state.new_id(&format!("stack/{name}"));
    state.stack = Some(Stack {
        name,
        id: id.clone(),
        status: "CREATE_IN_PROGRESS".into(),
        reason: None,
        created: state.clock,
        updated: None,
        template_body: String::new(),
        parameters: Vec::new(),
        outputs: state.outputs.clone(),
        capabilities,
    });
    let template = params.get("TemplateBody").cloned().unwrap_or_default();
    let steps = state.create_steps(template, parameters(params));
    state.start("CREATE_IN_PROGRESS", steps);
    Ok(element("StackId", Some(&id)))
}

fn create_change_set(
    state: &mut State,
    params: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let name = stack_name(params)?;
    let change_set = params
        .get("ChangeSetName")
        .cloned()
        .ok_or_else(|| validation("ChangeSetName is required".into()))?;
    let create = params.get("ChangeSetType").map(String::as_str) == Some("CREATE");
    if create {
        match &state.stack {
            Some(stack) if stack.status != "REVIEW_IN_PROGRESS" => {
                return Err(validation(format!(
                    "Stack [{name}] already exists and cannot be created again with the \
                     changeSet [{change_set}]."
                )));
            }
            Some(_) => {}
            None => {
                let id = state.new_id(&format!("stack/{name}"));
                state.stack = Some(Stack {
                    name: name.clone(),
                    id,
                    status: "REVIEW_IN_PROGRESS".into(),
                    reason: None,
                    created: state.clock,
                    updated: None,
                    template_body: String::new(),
                    parameters: Vec::new(),
                    outputs: Vec::new(),
                    capabilities: Vec::new(),
                });
            }
        }
    }
    let stack = state.live(&name)?.clone();
    if !create && !updatable(&stack.status) {
        return Err(validation(format!(
            "Stack:{} is in {} state and can not be updated.",
            stack.id, stack.status
        )));
    }
    let id = state.new_id(&format!("changeSet/{change_set}"));
    state.change_sets.push(ChangeSet {
        name: change_set,
        id: id.clone(),
        stack_id: stack.id.clone(),
        stack_name: stack.name,
        create,
        status: "CREATE_PENDING".into(),
        reason: None,
        template_body: params.get("TemplateBody").cloned().unwrap_or_default(),
        parameters: parameters(params),
        capabilities: members(params, "Capabilities", None),
    });
    Ok(format!(
        "{}{}",
        element("Id", Some(&id)),
        element("StackId", Some(&stack.id))
    ))
}

fn find_change_set<'a>(
    state: &'a mut State,
    params: &BTreeMap<String, String>,
) -> Result<&'a mut ChangeSet, Error> {
    let name = params.get("ChangeSetName").cloned().unwrap_or_default();
    let stack = params.get("StackName").cloned();
    state
        .change_sets
        .iter_mut()
        .find(|c| {
            c.id == name
                || (c.name == name
                    && stack
                        .as_ref()
                        .is_some_and(|s| *s == c.stack_name || *s == c.stack_id))
        })
        .ok_or_else(|| {
            Error(
                400,
                "ChangeSetNotFound",
                format!("ChangeSet [{name}] does not exist"),
            )
        })
}

fn describe_change_set(
    state: &mut State,
    params: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let current = state
        .stack
        .as_ref()
        .map(|s| (sorted(s.parameters.clone()), s.template_body.clone()));
    let resources = state.resources.clone();
    let change_set = find_change_set(state, params)?;
    if change_set.status == "CREATE_PENDING" {
        if !has_iam_capability(&change_set.capabilities) {
            change_set.status = "FAILED".into();
            change_set.reason = Some("Requires capabilities : [CAPABILITY_NAMED_IAM]".into());
        } else if !change_set.create
            && current.as_ref()
                == Some(&(
                    sorted(change_set.parameters.clone()),
                    change_set.template_body.clone(),
                ))
        {
            change_set.status = "FAILED".into();
            change_set.reason = Some(
                "The submitted information didn't contain changes. Submit different \
                 information to create a change set."
                    .into(),
            );
        } else {
            change_set.status = "CREATE_COMPLETE".into();
        }
    }
    let execution = if change_set.status == "CREATE_COMPLETE" {
        "AVAILABLE"
    } else {
        "UNAVAILABLE"
    };
    let changes: String = if change_set.status != "CREATE_COMPLETE" {
        String::new()
    } else if change_set.create {
        resources
            .iter()
            .map(|(id, kind)| change_xml("Add", id, kind, None))
            .collect()
    } else {
        change_xml("Modify", "Function", "AWS::Lambda::Function", Some("False"))
    };
    Ok(format!(
        "{}{}{}{}{}{}{}<Changes>{changes}</Changes>",
        element("ChangeSetName", Some(&change_set.name)),
        element("ChangeSetId", Some(&change_set.id)),
        element("StackId", Some(&change_set.stack_id)),
        element("StackName", Some(&change_set.stack_name)),
        element("Status", Some(&change_set.status)),
        element("StatusReason", change_set.reason.as_deref()),
        element("ExecutionStatus", Some(execution)),
    ))
}

fn change_xml(action: &str, id: &str, kind: &str, replacement: Option<&str>) -> String {
    format!(
        "<member><Type>Resource</Type><ResourceChange>{}{}{}{}{}</ResourceChange></member>",
        element("Action", Some(action)),
        element("LogicalResourceId", Some(id)),
        element("PhysicalResourceId", Some(id)),
        element("ResourceType", Some(kind)),
        element("Replacement", replacement),
    )
}

fn execute_change_set(
    state: &mut State,
    params: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let change_set = find_change_set(state, params)?.clone();
    if change_set.status != "CREATE_COMPLETE" {
        return Err(Error(
            400,
            "InvalidChangeSetStatus",
            format!(
                "ChangeSet [{}] cannot be executed in its current status of [{}]",
                change_set.id, change_set.status
            ),
        ));
    }
    state.change_sets.retain(|c| c.id != change_set.id);
    let stack = state.live(&change_set.stack_id)?.clone();
    if change_set.create {
        let steps = state.create_steps(change_set.template_body, change_set.parameters);
        state.start("CREATE_IN_PROGRESS", steps);
    } else {
        if !updatable(&stack.status) {
            return Err(validation(format!(
                "Stack:{} is in {} state and can not be updated.",
                stack.id, stack.status
            )));
        }
        let steps = state.update_steps(change_set.template_body, change_set.parameters);
        state.start("UPDATE_IN_PROGRESS", steps);
    }
    Ok(String::new())
}

fn delete_change_set(
    state: &mut State,
    params: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let id = find_change_set(state, params)?.id.clone();
    state.change_sets.retain(|c| c.id != id);
    Ok(String::new())
}

fn list_change_sets(state: &State, params: &BTreeMap<String, String>) -> Result<String, Error> {
    let stack = state.live(&stack_name(params)?)?;
    let summaries: String = state
        .change_sets
        .iter()
        .filter(|c| c.stack_id == stack.id)
        .map(|c| {
            format!(
                "<member>{}{}{}</member>",
                element("ChangeSetName", Some(&c.name)),
                element("ChangeSetId", Some(&c.id)),
                element("Status", Some(&c.status))
            )
        })
        .collect();
    Ok(format!("<Summaries>{summaries}</Summaries>"))
}

fn delete_stack(state: &mut State, params: &BTreeMap<String, String>) -> Result<String, Error> {
    let name = stack_name(params)?;
    let Ok(stack) = state.live(&name).cloned() else {
        return Ok(String::new());
    };
    if stack.status == "DELETE_IN_PROGRESS" {
        return Ok(String::new());
    }
    if stack.status.ends_with("_IN_PROGRESS") && stack.status != "REVIEW_IN_PROGRESS" {
        return Err(validation(format!(
            "Stack [{}] cannot be deleted while in status {}",
            stack.name, stack.status
        )));
    }
    let steps = state.delete_steps();
    state.start("DELETE_IN_PROGRESS", steps);
    Ok(String::new())
}

fn continue_update_rollback(
    state: &mut State,
    params: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let stack = state.live(&stack_name(params)?)?.clone();
    if stack.status != "UPDATE_ROLLBACK_FAILED" {
        return Err(validation(format!(
            "Stack {} is in {} state and can not continue update rollback.",
            stack.id, stack.status
        )));
    }
    let steps = vec![
        Step::root(state.root_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None)),
        Step::root(state.root_event("UPDATE_ROLLBACK_COMPLETE", None)),
    ];
    state.start("UPDATE_ROLLBACK_IN_PROGRESS", steps);
    Ok(String::new())
}

fn rollback_stack(state: &mut State, params: &BTreeMap<String, String>) -> Result<String, Error> {
    let stack = state.live(&stack_name(params)?)?.clone();
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
    let steps = vec![Step::root(state.root_event(end, None))];
    state.start(during, steps);
    Ok(element("StackId", Some(&stack.id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::Client;
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, StackStatus};

    async fn client(fake: &FakeCloudFormation) -> Client {
        Client::new(&crate::sdk_config(Some(&fake.endpoint), None).await)
    }

    /// Polls DescribeStacks until the stack settles (at most 50 polls).
    async fn settle(client: &Client, name: &str) -> StackStatus {
        for _ in 0..50 {
            let out = client
                .describe_stacks()
                .stack_name(name)
                .send()
                .await
                .expect("describe");
            let status = out.stacks()[0].stack_status().cloned().expect("a status");
            if !status.as_str().ends_with("_IN_PROGRESS") {
                return status;
            }
        }
        panic!("{name} did not settle in 50 polls");
    }

    async fn events(client: &Client, name: &str) -> Vec<(String, String, String)> {
        let mut all = Vec::new();
        let mut items = client
            .describe_stack_events()
            .stack_name(name)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = items.next().await {
            let e = item.expect("an event");
            all.push((
                e.event_id().unwrap_or_default().to_owned(),
                e.logical_resource_id().unwrap_or_default().to_owned(),
                e.resource_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            ));
        }
        all.reverse();
        all
    }

    #[tokio::test]
    async fn the_sdk_reads_a_missing_stack_a_create_and_its_paginated_events() {
        let fake = FakeCloudFormation::start(None).await;
        let client = client(&fake).await;
        let err = client
            .describe_stacks()
            .stack_name("mb-a-dev")
            .send()
            .await
            .expect_err("no stack");
        assert_eq!(err.code(), Some("ValidationError"));
        assert_eq!(err.message(), Some("Stack with id mb-a-dev does not exist"));

        let id = client
            .create_stack()
            .stack_name("mb-a-dev")
            .template_body("{}")
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("create")
            .stack_id()
            .expect("an id")
            .to_owned();
        assert_eq!(
            settle(&client, "mb-a-dev").await,
            StackStatus::CreateComplete
        );
        let out = client
            .describe_stacks()
            .stack_name(&id)
            .send()
            .await
            .expect("by id");
        let url = out.stacks()[0]
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some("WebSocketUrl"))
            .and_then(|o| o.output_value());
        assert_eq!(
            url,
            Some("wss://abc123.execute-api.us-east-1.amazonaws.com/dev")
        );
        let all = events(&client, "mb-a-dev").await;
        assert_eq!(all.len(), 10, "{all:?}");
        assert_eq!(all[0].2, "CREATE_IN_PROGRESS");
        assert_eq!(
            all[9],
            (
                all[9].0.clone(),
                "mb-a-dev".into(),
                "CREATE_COMPLETE".into()
            )
        );
        let ids: HashSet<&String> = all.iter().map(|e| &e.0).collect();
        assert_eq!(ids.len(), all.len(), "event ids are unique");
    }

    #[tokio::test]
    async fn an_unchanged_change_set_fails_and_a_busy_stack_refuses_one() {
        let mut setup = StackSetup::new("mb-a-dev", "UPDATE_IN_PROGRESS");
        setup.template_body = "{\"a\":1}".into();
        setup.then = vec!["UPDATE_COMPLETE".into()];
        let fake = FakeCloudFormation::start(Some(setup)).await;
        let client = client(&fake).await;
        let busy = client
            .create_change_set()
            .stack_name("mb-a-dev")
            .change_set_name("mb-1")
            .template_body("{\"a\":1}")
            .send()
            .await
            .expect_err("in progress");
        assert_eq!(busy.code(), Some("ValidationError"));
        assert!(
            busy.message()
                .unwrap_or_default()
                .contains("UPDATE_IN_PROGRESS state")
        );
        assert_eq!(
            settle(&client, "mb-a-dev").await,
            StackStatus::UpdateComplete
        );

        let id = client
            .create_change_set()
            .stack_name("mb-a-dev")
            .change_set_name("mb-2")
            .change_set_type(ChangeSetType::Update)
            .template_body("{\"a\":1}")
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("change set")
            .id()
            .expect("an id")
            .to_owned();
        let described = client
            .describe_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("describe");
        assert_eq!(described.status(), Some(&ChangeSetStatus::Failed));
        assert!(
            described
                .status_reason()
                .unwrap_or_default()
                .contains("didn't contain changes")
        );
    }

    #[tokio::test]
    async fn a_failing_update_rolls_back_and_a_denied_call_is_access_denied() {
        let fake =
            FakeCloudFormation::start(Some(StackSetup::new("mb-a-dev", "UPDATE_COMPLETE"))).await;
        let client = client(&fake).await;
        fake.fail_next_operation("Function", "too big");
        let id = client
            .create_change_set()
            .stack_name("mb-a-dev")
            .change_set_name("mb-3")
            .template_body("{\"b\":2}")
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("change set")
            .id()
            .expect("an id")
            .to_owned();
        let described = client
            .describe_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("ok");
        assert_eq!(described.changes().len(), 1);
        client
            .execute_change_set()
            .change_set_name(&id)
            .send()
            .await
            .expect("execute");
        assert_eq!(
            settle(&client, "mb-a-dev").await,
            StackStatus::UpdateRollbackComplete
        );
        let failed = events(&client, "mb-a-dev")
            .await
            .into_iter()
            .filter(|e| e.2 == "UPDATE_FAILED")
            .count();
        assert_eq!(failed, 1);

        fake.deny("DescribeStacks");
        let denied = client
            .describe_stacks()
            .stack_name("mb-a-dev")
            .send()
            .await
            .expect_err("denied");
        assert_eq!(denied.code(), Some("AccessDenied"));
    }

    #[tokio::test]
    async fn a_deleted_stack_is_found_by_id_only() {
        let fake =
            FakeCloudFormation::start(Some(StackSetup::new("mb-a-dev", "ROLLBACK_COMPLETE"))).await;
        let client = client(&fake).await;
        let id = client
            .describe_stacks()
            .stack_name("mb-a-dev")
            .send()
            .await
            .expect("describe")
            .stacks()[0]
            .stack_id()
            .expect("id")
            .to_owned();
        client
            .delete_stack()
            .stack_name(&id)
            .send()
            .await
            .expect("delete");
        assert_eq!(settle(&client, &id).await, StackStatus::DeleteComplete);
        let gone = client.describe_stacks().stack_name("mb-a-dev").send().await;
        assert!(gone.is_err());
        assert_eq!(fake.status(), None);
    }
}
