//! The fake as a test holds it ([`FakeCloudFormation`]): it starts the loopback server,
//! shows what the fake saw (calls, status, resources, change sets, what the stage
//! serves) and scripts what moto cannot (a failing operation, change sets CloudFormation
//! is still computing, denied actions). [`answer`] reads each request and routes it to
//! its action in `stack_actions.rs` or `change_set_actions.rs`.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::change_set_actions::{
    create_change_set, delete_change_set, describe_change_set, execute_change_set, list_change_sets,
};
use super::fault::Fault;
use super::query::Params;
use super::served::Served;
use super::stack_actions::{
    continue_update_rollback, create_stack, delete_stack, describe_stack_events, describe_stacks,
    get_template, rollback_stack, update_stack,
};
use super::stack_setup::StackSetup;
use super::state::{ARN_PREFIX, Call, EPOCH, State};
use super::xml::{error, error_with_id, ok};
use crate::loopback::{self, Server, lock};

/// The API version every request names (`Version=2010-05-15`).
const VERSION: &str = "2010-05-15";

/// A running fake; it stops when dropped.
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

    /// The live stack's resources (logical id, type), in creation order.
    pub fn resources(&self) -> Vec<(String, String)> {
        self.lock()
            .stack
            .as_ref()
            .map(|s| s.resources.clone())
            .unwrap_or_default()
    }

    /// Every request received, in order.
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
        Served::of(self.lock().stack.as_ref()?)
    }
    /// Answers 403 AccessDenied to every request of this action (e.g. `DescribeStacks`).
    pub fn deny(&self, action: &str) {
        self.lock().denied.insert(action.to_owned());
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// Answers one request: records it (with its stack's status), refuses what is not a
/// POST, a denied action or another API version, and routes the rest to its action.
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

/// The AccessDenied CloudFormation answers a denied `action`, naming its stack.
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

#[cfg(test)]
mod tests {
    use super::FakeCloudFormation;
    use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::fake_cloudformation::stack_setup::StackSetup;
    use crate::fake_cloudformation::test_client::{NAME, client};
    use crate::fake_cloudformation::xml::NAMESPACE;

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
