//! What a test gives the fake: the stack it starts with ([`StackSetup`]: name, status,
//! the statuses it then moves through, template, outputs, resources, history) and events
//! as a test describes them ([`EventSpec`]).

/// An event, as a test describes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// An [`EventSpec`] from borrowed parts.
pub(super) fn spec(
    logical_id: &str,
    resource_type: &str,
    status: &str,
    reason: Option<&str>,
) -> EventSpec {
    EventSpec {
        logical_id: logical_id.to_owned(),
        resource_type: resource_type.to_owned(),
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
    }
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
