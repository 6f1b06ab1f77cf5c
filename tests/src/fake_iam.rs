//! A loopback stand-in of AWS IAM and STS speaking their wire protocol (the AWS query
//! protocol: form-encoded POSTs, XML answers and XML errors in each service's namespace),
//! so that the real `aws-sdk-iam` and `aws-sdk-sts` clients parse its answers and map its
//! errors as they do AWS's.
//!
//! It exists because moto answers `iam:SimulatePrincipalPolicy` with HTTP 500. It knows
//! one caller (STS GetCallerIdentity), roles by name with their paths (GetRole), and a
//! principal's decisions: every action allowed unless denied (implicitly or explicitly).
//! SimulatePrincipalPolicy refuses an STS ARN as AWS does ("Invalid Entity Arn"), answers
//! in pages of [`PAGE`] results so that clients must follow the marker, and can be made to
//! answer AccessDenied. Every request is recorded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use crate::fake_cloudformation::{escape, xml};
use crate::loopback::{self, Server, lock};

const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const ACCOUNT: &str = "123456789012";
/// Simulation results per page.
pub const PAGE: usize = 4;

/// One request: its action and form parameters.
pub type Params = BTreeMap<String, String>;

#[derive(Default)]
struct State {
    caller: String,
    /// Role name → path.
    roles: HashMap<String, String>,
    implicit: HashSet<String>,
    explicit: HashSet<String>,
    simulation_denied: bool,
    requests: Vec<Params>,
}

pub struct FakeIam {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_IAM` and `AWS_ENDPOINT_URL_STS`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    _server: Server,
}

impl FakeIam {
    /// Starts with `caller_arn` as the caller STS reports, everything allowed.
    pub async fn start(caller_arn: &str) -> FakeIam {
        let state = Arc::new(Mutex::new(State {
            caller: caller_arn.to_owned(),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let server = loopback::serve(move |request| {
            let state = Arc::clone(&shared);
            async move { answer(&state, request).await }
        })
        .await;
        FakeIam {
            endpoint: server.endpoint.clone(),
            state,
            _server: server,
        }
    }

    /// A role GetRole finds, with its path (`/` or `/aws-reserved/.../`).
    pub fn add_role(&self, name: &str, path: &str) {
        self.lock().roles.insert(name.to_owned(), path.to_owned());
    }

    /// These actions simulate as `implicitDeny` (no statement allows them).
    pub fn deny(&self, actions: &[&str]) {
        self.lock()
            .implicit
            .extend(actions.iter().map(|a| (*a).to_owned()));
    }

    /// These actions simulate as `explicitDeny` (a Deny statement matches).
    pub fn deny_explicitly(&self, actions: &[&str]) {
        self.lock()
            .explicit
            .extend(actions.iter().map(|a| (*a).to_owned()));
    }

    /// SimulatePrincipalPolicy answers 403 AccessDenied: the caller may not simulate.
    pub fn forbid_simulation(&self) {
        self.lock().simulation_denied = true;
    }

    /// Every request of `action`, in order.
    pub fn requests(&self, action: &str) -> Vec<Params> {
        self.lock()
            .requests
            .iter()
            .filter(|p| p.get("Action").map(String::as_str) == Some(action))
            .cloned()
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// The `.member.N` values of a list parameter, in order.
pub fn members(params: &Params, name: &str) -> Vec<String> {
    (1..)
        .map_while(|n| params.get(&format!("{name}.member.{n}")).cloned())
        .collect()
}

async fn answer(state: &Mutex<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Ok(body) = request.into_body().collect().await else {
        return fault(
            400,
            "Sender",
            "MalformedQueryString",
            "unreadable body",
            IAM_NAMESPACE,
        );
    };
    let params: Params = form_urlencoded::parse(&body.to_bytes())
        .into_owned()
        .collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let mut state = lock(state);
    state.requests.push(params.clone());
    match action.as_str() {
        "GetCallerIdentity" => caller_identity(&state),
        "GetRole" => get_role(&state, &params),
        "SimulatePrincipalPolicy" => simulate(&state, &params),
        other => fault(
            400,
            "Sender",
            "InvalidAction",
            &format!("Could not find operation {other}"),
            IAM_NAMESPACE,
        ),
    }
}

fn caller_identity(state: &State) -> Response<Full<Bytes>> {
    xml(
        StatusCode::OK,
        format!(
            "<GetCallerIdentityResponse xmlns=\"{STS_NAMESPACE}\"><GetCallerIdentityResult>\
             <Arn>{}</Arn><UserId>AIDAFAKEFAKEFAKE</UserId><Account>{ACCOUNT}</Account>\
             </GetCallerIdentityResult><ResponseMetadata><RequestId>sts-1</RequestId>\
             </ResponseMetadata></GetCallerIdentityResponse>",
            escape(&state.caller)
        ),
        "sts-1",
    )
}

fn get_role(state: &State, params: &Params) -> Response<Full<Bytes>> {
    let name = params.get("RoleName").cloned().unwrap_or_default();
    let Some(path) = state.roles.get(&name) else {
        return fault(
            404,
            "Sender",
            "NoSuchEntity",
            &format!("The role with name {name} cannot be found."),
            IAM_NAMESPACE,
        );
    };
    xml(
        StatusCode::OK,
        format!(
            "<GetRoleResponse xmlns=\"{IAM_NAMESPACE}\"><GetRoleResult><Role>\
             <Path>{path}</Path><RoleName>{name}</RoleName><RoleId>AROAFAKEFAKEFAKE</RoleId>\
             <Arn>arn:aws:iam::{ACCOUNT}:role{path}{name}</Arn>\
             <CreateDate>2026-01-01T00:00:00Z</CreateDate>\
             <AssumeRolePolicyDocument>%7B%7D</AssumeRolePolicyDocument>\
             </Role></GetRoleResult><ResponseMetadata><RequestId>iam-role</RequestId>\
             </ResponseMetadata></GetRoleResponse>",
            path = escape(path),
            name = escape(&name)
        ),
        "iam-role",
    )
}

fn simulate(state: &State, params: &Params) -> Response<Full<Bytes>> {
    if state.simulation_denied {
        return fault(
            403,
            "Sender",
            "AccessDenied",
            &format!(
                "User: {} is not authorized to perform: iam:SimulatePrincipalPolicy on \
                 resource: {}",
                state.caller,
                params.get("PolicySourceArn").cloned().unwrap_or_default()
            ),
            IAM_NAMESPACE,
        );
    }
    let source = params.get("PolicySourceArn").cloned().unwrap_or_default();
    if !source.starts_with("arn:aws:iam::") {
        return fault(
            400,
            "Sender",
            "InvalidInput",
            &format!("Invalid Entity Arn: {source} does not clearly define entity type and name."),
            IAM_NAMESPACE,
        );
    }
    let actions = members(params, "ActionNames");
    let resource = members(params, "ResourceArns")
        .into_iter()
        .next()
        .unwrap_or_else(|| "*".to_owned());
    let start: usize = params
        .get("Marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let end = (start + PAGE).min(actions.len());
    let results: String = actions
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|action| {
            let decision = if state.explicit.contains(action) {
                "explicitDeny"
            } else if state.implicit.contains(action) {
                "implicitDeny"
            } else {
                "allowed"
            };
            format!(
                "<member><EvalActionName>{}</EvalActionName>\
                 <EvalResourceName>{}</EvalResourceName>\
                 <EvalDecision>{decision}</EvalDecision><MatchedStatements/>\
                 <MissingContextValues/></member>",
                escape(action),
                escape(&resource)
            )
        })
        .collect();
    let truncated = end < actions.len();
    let marker = if truncated {
        format!("<Marker>{end}</Marker>")
    } else {
        String::new()
    };
    xml(
        StatusCode::OK,
        format!(
            "<SimulatePrincipalPolicyResponse xmlns=\"{IAM_NAMESPACE}\">\
             <SimulatePrincipalPolicyResult><IsTruncated>{truncated}</IsTruncated>{marker}\
             <EvaluationResults>{results}</EvaluationResults></SimulatePrincipalPolicyResult>\
             <ResponseMetadata><RequestId>iam-sim</RequestId></ResponseMetadata>\
             </SimulatePrincipalPolicyResponse>"
        ),
        "iam-sim",
    )
}

fn fault(
    status: u16,
    kind: &str,
    code: &str,
    message: &str,
    namespace: &str,
) -> Response<Full<Bytes>> {
    xml(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        format!(
            "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{kind}</Type><Code>{code}</Code>\
             <Message>{}</Message></Error><RequestId>iam-error</RequestId></ErrorResponse>",
            escape(message)
        ),
        "iam-error",
    )
}
