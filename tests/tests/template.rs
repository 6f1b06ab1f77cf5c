//! `mb template` as a user runs it: the rendered template passes cfn-lint with no error
//! and no warning, and has the properties a reviewer of its security and cost would check
//! (the reserved concurrency among them).

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// `mb template <args>`'s standard output, for names derived in us-east-1.
fn rendered(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["template"];
    all.extend_from_slice(args);
    let output = mb_tests::mb::run_with_env(
        &all,
        &[("AWS_REGION", "us-east-1")],
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "mb {all:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn template(args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_slice(&rendered(&all)).expect("mb template --format json prints JSON")
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// Every IAM policy statement in the template (inline role policies and policy resources).
fn statements(template: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    let mut documents = Vec::new();
    for (_, role) in resources_of_type(template, "AWS::IAM::Role") {
        documents.push(&role["Properties"]["AssumeRolePolicyDocument"]);
        for policy in role["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            documents.push(&policy["PolicyDocument"]);
        }
    }
    for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for (_, policy) in resources_of_type(template, kind) {
            documents.push(&policy["Properties"]["PolicyDocument"]);
        }
    }
    for document in documents {
        found.extend(document["Statement"].as_array().expect("Statement list"));
    }
    found
}

fn actions(statement: &Value) -> Vec<&str> {
    match &statement["Action"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        other => panic!("Action is {other}"),
    }
}

#[test]
fn cfn_lint_reports_nothing() {
    let Some(cfn_lint) = mb_tests::required_tool(mb_tests::venv_bin().join("cfn-lint"), "cfn-lint")
    else {
        return;
    };
    for format in ["yaml", "json"] {
        let text = rendered(&["--service", "broadcaster", "--format", format]);
        let path =
            std::env::temp_dir().join(format!("mb-template-{}.{format}", std::process::id()));
        std::fs::write(&path, &text).expect("write the template");
        let lint = Command::new(&cfn_lint)
            .arg("--format")
            .arg("parseable")
            .arg(&path)
            .output()
            .expect("run cfn-lint");
        let _ = std::fs::remove_file(&path);
        let report = String::from_utf8_lossy(&lint.stdout);
        assert!(
            lint.status.success() && report.trim().is_empty(),
            "cfn-lint ({format}) exited {:?}:\n{report}{}",
            lint.status.code(),
            String::from_utf8_lossy(&lint.stderr)
        );
    }
}

#[test]
fn no_policy_grants_a_wildcard_action() {
    let template = template(&["--service", "broadcaster"]);
    let statements = statements(&template);
    assert!(statements.len() >= 4, "{statements:?}");
    for statement in statements {
        for action in actions(statement) {
            assert!(
                !action.contains('*'),
                "wildcard action {action} in {statement}"
            );
        }
        assert!(statement.get("NotAction").is_none(), "{statement}");
    }
}

#[test]
fn the_function_may_do_exactly_what_the_handler_does() {
    let template = template(&["--service", "broadcaster"]);
    let mut granted: Vec<&str> = statements(&template)
        .into_iter()
        .filter(|s| s["Effect"] == "Allow" && s.get("Principal").is_none())
        .flat_map(actions)
        .collect();
    granted.sort();
    assert_eq!(
        granted,
        [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "execute-api:ManageConnections",
            "lambda:InvokeFunction",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ]
    );
}

#[test]
fn the_function_may_invoke_only_itself_and_posts_to_its_own_api() {
    let template = template(&["--service", "broadcaster"]);
    let invoke = statements(&template)
        .into_iter()
        .find(|s| actions(s).contains(&"lambda:InvokeFunction") && s.get("Principal").is_none())
        .expect("a lambda:InvokeFunction statement");
    let resource = &invoke["Resource"]["Fn::Sub"];
    assert_eq!(
        resource[0],
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}"
    );
    let function = &template["Resources"]["Function"]["Properties"];
    assert_eq!(resource[1]["FunctionName"], function["FunctionName"]);
    assert_eq!(function["FunctionName"], "mb-broadcaster-dev-broadcast");

    // The Management API endpoint is set, not derived from a (maybe custom) domain.
    let variables = &function["Environment"]["Variables"];
    let endpoint = &variables["MB_MANAGEMENT_ENDPOINT"]["Fn::Sub"];
    assert_eq!(
        endpoint[0],
        "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}"
    );
    assert_eq!(endpoint[1]["StageName"], "dev");
    assert_eq!(
        variables["MB_CONNECT_GRACE_SECONDS"],
        serde_json::json!({"Ref": "ConnectGraceSeconds"})
    );
}

/// The `Fn::Sub` string of `value`, or its plain string.
fn sub_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(o) => match &o.get("Fn::Sub") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a[0].as_str().unwrap_or_default().to_owned(),
            _ => value.to_string(),
        },
        other => other.to_string(),
    }
}

#[test]
fn connections_and_invocations_are_scoped_to_this_api() {
    let template = template(&["--service", "broadcaster"]);
    let manage = statements(&template)
        .into_iter()
        .find(|s| actions(s).contains(&"execute-api:ManageConnections"))
        .expect("a ManageConnections statement");
    let resource = sub_text(&manage["Resource"]);
    assert!(resource.contains("${Api}/"), "{resource}");
    assert!(resource.ends_with("/POST/@connections/*"), "{resource}");
    assert!(
        resource.contains("${AWS::AccountId}") && resource.contains("${AWS::Region}"),
        "{resource}"
    );

    let permissions = resources_of_type(&template, "AWS::Lambda::Permission");
    assert_eq!(permissions.len(), 1);
    let source = sub_text(&permissions[0].1["Properties"]["SourceArn"]);
    assert!(source.contains(":${Api}/"), "{source}");
    assert_eq!(
        permissions[0].1["Properties"]["Principal"],
        "apigateway.amazonaws.com"
    );

    // The table statement names this table (no index, no other table), and no
    // statement lets the function Scan.
    let table = statements(&template)
        .into_iter()
        .find(|s| actions(s).contains(&"dynamodb:Query"))
        .expect("a DynamoDB statement");
    assert_eq!(
        table["Resource"],
        serde_json::json!({"Fn::GetAtt": ["Rooms", "Arn"]})
    );
    assert!(
        statements(&template)
            .into_iter()
            .all(|s| !actions(s).contains(&"dynamodb:Scan")),
        "the function never scans"
    );
}

#[test]
fn the_table_expires_rows_and_logs_expire_too() {
    let template = template(&["--service", "broadcaster"]);
    let table = &template["Resources"]["Rooms"]["Properties"];
    assert_eq!(table["TableName"], "mb-broadcaster-dev-rooms");
    // A room's members are one Query: partition key the room, sort key the connection.
    assert_eq!(
        table["KeySchema"],
        serde_json::json!([
            {"AttributeName": "room", "KeyType": "HASH"},
            {"AttributeName": "connectionId", "KeyType": "RANGE"}
        ])
    );
    assert_eq!(
        table["AttributeDefinitions"],
        serde_json::json!([
            {"AttributeName": "room", "AttributeType": "S"},
            {"AttributeName": "connectionId", "AttributeType": "S"}
        ])
    );
    // The output keeps the key `mb info` reads.
    assert_eq!(
        template["Outputs"]["Table"]["Value"],
        serde_json::json!({"Ref": "Rooms"})
    );
    assert!(template["Resources"].get("Table").is_none());
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    // The attribute the handler writes.
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        mb_lambda::store::dynamodb::EXPIRES_AT
    );
    // Encrypted with the free AWS-owned key: no SSESpecification, which would select the
    // AWS-managed KMS key (KMS charges and permissions).
    assert!(table.get("SSESpecification").is_none(), "{table:#}");

    let logs = &template["Resources"]["LogGroup"]["Properties"];
    assert_eq!(
        logs["LogGroupName"],
        "/aws/lambda/mb-broadcaster-dev-broadcast"
    );
    let retention = &logs["RetentionInDays"];
    let days = match retention.get("Ref") {
        Some(Value::String(parameter)) => template["Parameters"][parameter]["Default"].clone(),
        _ => retention.clone(),
    };
    assert!(
        days.as_u64().is_some_and(|d| d > 0),
        "retention {retention} -> {days}"
    );
}

#[test]
fn names_and_the_stage_come_from_the_command_line() {
    let template = template(&[
        "--service",
        "game",
        "--stage",
        "prod",
        "--region",
        "eu-west-1",
    ]);
    let function = &template["Resources"]["Function"]["Properties"];
    assert_eq!(function["FunctionName"], "mb-game-prod-broadcast");
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(
        function["Environment"]["Variables"]["MB_TABLE_NAME"]["Ref"],
        "Rooms"
    );
    assert_eq!(
        template["Resources"]["FunctionRole"]["Properties"]["RoleName"],
        "mb-game-prod-eu-west-1"
    );
    let (_, stage) = resources_of_type(&template, "AWS::ApiGatewayV2::Stage")[0];
    assert_eq!(stage["Properties"]["StageName"], "prod");
    let limits = &stage["Properties"]["DefaultRouteSettings"];
    assert!(
        limits["ThrottlingRateLimit"].get("Ref").is_some(),
        "{limits}"
    );
    assert!(
        limits["ThrottlingBurstLimit"].get("Ref").is_some(),
        "{limits}"
    );
    // The stage deploys the hashed deployment.
    let deployments = resources_of_type(&template, "AWS::ApiGatewayV2::Deployment");
    assert_eq!(deployments.len(), 1);
    assert_eq!(
        stage["Properties"]["DeploymentId"]["Ref"],
        deployments[0].0.as_str()
    );
    assert!(
        template["Outputs"]["WebSocketUrl"]["Value"]
            .to_string()
            .contains("wss://")
    );
}

#[test]
fn service_name_from_the_environment() {
    let output = mb_tests::mb::run_with_env(
        &["template"],
        &[("SERVICE_NAME", "from-env"), ("AWS_REGION", "us-east-1")],
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("mb-from-env-dev-rooms"));
    // No flag, no variable, no terminal: a usage error saying what to pass.
    let output = mb_tests::mb::run_with_env(
        &["template"],
        &[("SERVICE_NAME", "")],
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--service"));
}

/// The reservation is a setting (the parameter `ReservedConcurrency`), and 0 leaves
/// `ReservedConcurrentExecutions` out, since Lambda reads a reservation of 0 as "never
/// run".
#[test]
fn a_reservation_of_zero_leaves_the_property_out() {
    let template = template(&["--service", "broadcaster"]);
    let parameter = &template["Parameters"]["ReservedConcurrency"];
    assert_eq!(parameter["Type"], "Number", "{parameter}");
    assert_eq!(parameter["Default"], 0, "{parameter}");
    assert_eq!(
        template["Conditions"]["Reserved"],
        serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]})
    );
    assert_eq!(
        template["Resources"]["Function"]["Properties"]["ReservedConcurrentExecutions"],
        serde_json::json!({"Fn::If": [
            "Reserved",
            {"Ref": "ReservedConcurrency"},
            {"Ref": "AWS::NoValue"}
        ]})
    );
}

/// The publish endpoint: a function URL on the function that only IAM-signed requests
/// reach, with no resource-based permission opening it to anyone, and its URL an output.
#[test]
fn the_publish_url_requires_iam_and_is_an_output() {
    let template = template(&["--service", "broadcaster"]);
    let urls = resources_of_type(&template, "AWS::Lambda::Url");
    assert_eq!(urls.len(), 1, "{urls:?}");
    let (id, url) = urls[0];
    assert_eq!(id, "PublishUrl");
    assert_eq!(url["Properties"]["AuthType"], "AWS_IAM");
    assert_eq!(
        url["Properties"]["TargetFunctionArn"],
        serde_json::json!({"Fn::GetAtt": ["Function", "Arn"]})
    );
    assert!(url["Properties"].get("Qualifier").is_none(), "{url}");
    // The one resource-based permission is API Gateway's; none names `*` or the URL.
    for (_, permission) in resources_of_type(&template, "AWS::Lambda::Permission") {
        let properties = &permission["Properties"];
        assert_eq!(properties["Principal"], "apigateway.amazonaws.com");
        assert_ne!(properties["Action"], "lambda:InvokeFunctionUrl");
        assert!(properties.get("FunctionUrlAuthType").is_none());
    }
    let output = &template["Outputs"]["PublishUrl"];
    assert_eq!(
        output["Value"],
        serde_json::json!({"Fn::GetAtt": ["PublishUrl", "FunctionUrl"]})
    );
    assert!(
        output["Description"]
            .as_str()
            .is_some_and(|d| d.contains("publish")),
        "{output}"
    );
}
