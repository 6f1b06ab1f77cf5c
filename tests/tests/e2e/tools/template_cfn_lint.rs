//! `mb template` as a user runs it: the rendered template passes cfn-lint with no error
//! and no warning, and has the properties a reviewer of its security and cost would check
//! (the reserved concurrency among them).

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use mb_tests::mb::template as rendered;

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
        for statement in document["Statement"].as_array().expect("Statement list") {
            // A conditional statement: `Fn::If: [Condition, statement, AWS::NoValue]`.
            match statement["Fn::If"].as_array() {
                Some(branches) => found.extend(
                    branches
                        .iter()
                        .skip(1)
                        .filter(|b| b.get("Effect").is_some()),
                ),
                None => found.push(statement),
            }
        }
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
        assert_lints_clean(&cfn_lint, &text, format, &[], format);
    }
}

/// cfn-lint (parseable output) on `text`, written as a `.{extension}` file, with `args`
/// before the file: no finding and a zero exit, else the report (`what` names the run).
fn assert_lints_clean(
    cfn_lint: &std::path::Path,
    text: &[u8],
    extension: &str,
    args: &[&str],
    what: &str,
) {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!(
        "mb-template-{}-{run}.{extension}",
        std::process::id()
    ));
    std::fs::write(&path, text).expect("write the template");
    let lint = Command::new(cfn_lint)
        .arg("--format")
        .arg("parseable")
        .args(args)
        .arg(&path)
        .output()
        .expect("run cfn-lint");
    let _ = std::fs::remove_file(&path);
    let report = String::from_utf8_lossy(&lint.stdout);
    assert!(
        lint.status.success() && report.trim().is_empty(),
        "cfn-lint ({what}) exited {:?}:\n{report}{}",
        lint.status.code(),
        String::from_utf8_lossy(&lint.stderr)
    );
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
            // With HS256 tokens only: the token secret, at cold start.
            "secretsmanager:GetSecretValue",
            // Lambda records a lost continuation in the stack's queue with this role.
            "sqs:SendMessage",
        ]
    );
}

/// A continuation Lambda gives up on (every attempt failed, or too old) is recorded in the
/// stack's own queue, which only this function's role may send to, and `mb info` finds
/// it through the stack's outputs.
#[test]
fn a_lost_continuation_is_recorded_in_the_stacks_queue() {
    let template = template(&["--service", "broadcaster"]);
    let queues = resources_of_type(&template, "AWS::SQS::Queue");
    assert_eq!(queues.len(), 1, "{queues:?}");
    let (queue_id, queue) = queues[0];
    assert_eq!(queue["Properties"]["QueueName"], "mb-broadcaster-dev-lost");
    assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], true);
    assert_eq!(queue["DeletionPolicy"], "Delete");
    let queue_arn = serde_json::json!({ "Fn::GetAtt": [queue_id, "Arn"] });

    let configs = resources_of_type(&template, "AWS::Lambda::EventInvokeConfig");
    assert_eq!(configs.len(), 1, "{configs:?}");
    let config = &configs[0].1["Properties"];
    assert_eq!(
        config["FunctionName"],
        serde_json::json!({ "Ref": "Function" })
    );
    // The function is invoked unqualified, which is $LATEST.
    assert_eq!(config["Qualifier"], "$LATEST");
    assert_eq!(
        config["DestinationConfig"]["OnFailure"]["Destination"],
        queue_arn
    );
    let retries = config["MaximumRetryAttempts"].as_u64().expect("retries");
    assert!((0..=2).contains(&retries), "{retries}");

    let send: Vec<&Value> = statements(&template)
        .into_iter()
        .filter(|s| actions(s).contains(&"sqs:SendMessage"))
        .collect();
    assert_eq!(send.len(), 1, "{send:?}");
    assert_eq!(actions(send[0]), ["sqs:SendMessage"]);
    assert_eq!(send[0]["Resource"], queue_arn);

    assert_eq!(
        template["Outputs"]["LostContinuations"]["Value"],
        serde_json::json!({ "Ref": queue_id })
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
    assert_eq!(permissions.len(), 2, "the routes' and the authorizer's");
    for (_, permission) in permissions {
        let source = sub_text(&permission["Properties"]["SourceArn"]);
        assert!(source.contains(":${Api}/"), "{source}");
        assert_eq!(
            permission["Properties"]["Principal"],
            "apigateway.amazonaws.com"
        );
    }

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

/// `mb template --format json` linted by cfn-lint with these parameter values.
fn lint_with(cfn_lint: &std::path::Path, parameters: &[&str]) {
    let text = rendered(&["--service", "broadcaster", "--format", "json"]);
    let mut args = vec![
        "--parameters",
        "ArtifactBucket=mb-artifacts-123456789012-us-east-1",
        "ArtifactKey=broadcaster/dev/0123.zip",
    ];
    args.extend_from_slice(parameters);
    args.push("--");
    assert_lints_clean(
        cfn_lint,
        &text,
        "json",
        &args,
        &format!("with {parameters:?}"),
    );
}

#[test]
fn cfn_lint_reports_nothing_with_tokens_either_way() {
    let Some(cfn_lint) = mb_tests::required_tool(mb_tests::venv_bin().join("cfn-lint"), "cfn-lint")
    else {
        return;
    };
    lint_with(&cfn_lint, &["Auth=jwt"]);
    lint_with(
        &cfn_lint,
        &[
            "Auth=jwt",
            "JwksUrl=https://idp.example/.well-known/jwks.json",
            "JwtIssuer=https://idp.example/",
            "JwtAudience=app",
            "AllowedOrigins=https://app.example,https://b.example",
            "MaxMessagesPerSecond=10",
            "HistorySeconds=86400",
            "DefaultRoomHistory=true",
        ],
    );
    lint_with(&cfn_lint, &["Auth=none"]);
}

/// The template's conditions evaluated for these parameter values (the rest take their
/// defaults): `Fn::Equals`, `Fn::And`, `Fn::Not`, `Condition` and `Ref`.
fn conditions(
    template: &Value,
    given: &[(&str, &str)],
) -> std::collections::BTreeMap<String, bool> {
    fn value(template: &Value, given: &[(&str, &str)], v: &Value) -> String {
        match v.get("Ref").and_then(Value::as_str) {
            Some(name) => given
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_else(|| match &template["Parameters"][name]["Default"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            None => match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        }
    }
    fn eval(template: &Value, given: &[(&str, &str)], c: &Value) -> bool {
        if let Some(name) = c.get("Condition").and_then(Value::as_str) {
            return eval(template, given, &template["Conditions"][name]);
        }
        if let Some([a, b]) = c
            .get("Fn::Equals")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            return value(template, given, a) == value(template, given, b);
        }
        if let Some(all) = c.get("Fn::And").and_then(Value::as_array) {
            return all.iter().all(|c| eval(template, given, c));
        }
        if let Some([one]) = c
            .get("Fn::Not")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            return !eval(template, given, one);
        }
        panic!("a condition this test cannot evaluate: {c}");
    }
    template["Conditions"]
        .as_object()
        .expect("Conditions")
        .iter()
        .map(|(name, c)| (name.clone(), eval(template, given, c)))
        .collect()
}

/// The logical ids of the resources a deploy with these values creates.
fn created(template: &Value, given: &[(&str, &str)]) -> Vec<String> {
    let conditions = conditions(template, given);
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| {
            r["Condition"]
                .as_str()
                .is_none_or(|c| conditions.get(c).copied().unwrap_or(false))
        })
        .map(|(id, _)| id.clone())
        .collect()
}

#[test]
fn auth_none_has_no_authorizer_and_no_secret() {
    let template = template(&["--service", "broadcaster"]);
    assert_eq!(template["Parameters"]["Auth"]["Default"], "none");
    let open = created(&template, &[]);
    for id in ["Authorizer", "AuthorizerPermission", "AuthSecret"] {
        assert!(!open.contains(&id.to_owned()), "{id} in {open:?}");
    }
    let hs256 = created(&template, &[("Auth", "jwt")]);
    for id in ["Authorizer", "AuthorizerPermission", "AuthSecret"] {
        assert!(
            hs256.contains(&id.to_owned()),
            "{id} missing from {hs256:?}"
        );
    }
    let jwks = created(
        &template,
        &[("Auth", "jwt"), ("JwksUrl", "https://idp.example/keys")],
    );
    assert!(jwks.contains(&"Authorizer".to_owned()));
    assert!(
        !jwks.contains(&"AuthSecret".to_owned()),
        "no secret with a key set"
    );
    // The secret's output exists exactly when the secret does.
    assert_eq!(template["Outputs"]["AuthSecret"]["Condition"], "Hs256");
    // $connect: CUSTOM with the authorizer under jwt, NONE (and no authorizer) otherwise.
    let connect = &template["Resources"]["ConnectRoute"]["Properties"];
    assert_eq!(
        connect["AuthorizationType"],
        serde_json::json!({"Fn::If": ["Jwt", "CUSTOM", "NONE"]})
    );
    assert_eq!(
        connect["AuthorizerId"],
        serde_json::json!({"Fn::If": ["Jwt", {"Ref": "Authorizer"}, {"Ref": "AWS::NoValue"}]})
    );
    for route in ["DisconnectRoute", "DefaultRoute"] {
        let properties = &template["Resources"][route]["Properties"];
        assert!(properties.get("AuthorizerId").is_none(), "{route}");
    }
}

#[test]
fn the_authorizer_reads_the_token_from_the_query_and_invokes_the_function() {
    let template = template(&["--service", "broadcaster"]);
    let authorizer = &template["Resources"]["Authorizer"];
    assert_eq!(authorizer["Type"], "AWS::ApiGatewayV2::Authorizer");
    assert_eq!(authorizer["Condition"], "Jwt");
    let properties = &authorizer["Properties"];
    assert_eq!(properties["AuthorizerType"], "REQUEST");
    assert_eq!(
        properties["IdentitySource"],
        serde_json::json!(["route.request.querystring.token"])
    );
    assert_eq!(
        sub_text(&properties["AuthorizerUri"]),
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Function.Arn}/invocations"
    );
    // WebSocket authorizers have no result cache; the property is HTTP-API only.
    assert!(properties.get("AuthorizerResultTtlInSeconds").is_none());
}

#[test]
fn the_authorizers_permission_names_this_apis_authorizers() {
    let template = template(&["--service", "broadcaster"]);
    let permission = &template["Resources"]["AuthorizerPermission"];
    assert_eq!(permission["Type"], "AWS::Lambda::Permission");
    assert_eq!(permission["Condition"], "Jwt");
    let properties = &permission["Properties"];
    assert_eq!(properties["Principal"], "apigateway.amazonaws.com");
    assert_eq!(properties["Action"], "lambda:InvokeFunction");
    assert_eq!(
        properties["FunctionName"],
        serde_json::json!({"Fn::GetAtt": ["Function", "Arn"]})
    );
    assert_eq!(
        sub_text(&properties["SourceArn"]),
        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/authorizers/${Authorizer}"
    );
}

#[test]
fn the_secret_is_generated_and_only_the_function_may_read_it() {
    let template = template(&["--service", "broadcaster"]);
    let secret = &template["Resources"]["AuthSecret"];
    assert_eq!(secret["Type"], "AWS::SecretsManager::Secret");
    assert_eq!(secret["Condition"], "Hs256");
    assert_eq!(secret["DeletionPolicy"], "Delete");
    let properties = &secret["Properties"];
    assert_eq!(properties["Name"], "mb-broadcaster-dev-token-key");
    let generate = &properties["GenerateSecretString"];
    assert!(
        generate["PasswordLength"].as_u64().unwrap_or(0) >= 32,
        "{generate}"
    );
    // No value anywhere: neither on the secret nor in any parameter or output.
    let text = serde_json::to_string(&template).unwrap();
    for value_field in ["\"SecretString\"", "SecretBinary", "SecretStringTemplate"] {
        assert!(!text.contains(value_field), "{value_field} in the template");
    }
    assert_eq!(
        template["Outputs"]["AuthSecret"]["Value"],
        serde_json::json!({"Ref": "AuthSecret"}),
        "the output is the ARN"
    );
    // The role reads this secret, only under HS256, and does nothing else with secrets.
    let secret_statements: Vec<&Value> = statements(&template)
        .into_iter()
        .filter(|s| actions(s).iter().any(|a| a.starts_with("secretsmanager:")))
        .collect();
    assert_eq!(secret_statements.len(), 1, "{secret_statements:?}");
    assert_eq!(
        actions(secret_statements[0]),
        ["secretsmanager:GetSecretValue"]
    );
    assert_eq!(
        secret_statements[0]["Resource"],
        serde_json::json!({"Ref": "AuthSecret"})
    );
    let policy = &template["Resources"]["FunctionRole"]["Properties"]["Policies"][0];
    let conditional = policy["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s.get("Fn::If").is_some())
        .expect("the secret's statement is conditional");
    assert_eq!(conditional["Fn::If"][0], "Hs256");
    assert_eq!(
        conditional["Fn::If"][2],
        serde_json::json!({"Ref": "AWS::NoValue"})
    );
}

#[test]
fn the_function_gets_every_access_setting_by_the_names_it_reads() {
    let template = template(&["--service", "broadcaster"]);
    let variables = &template["Resources"]["Function"]["Properties"]["Environment"]["Variables"];
    for (name, parameter) in [
        ("MB_AUTH", "Auth"),
        ("MB_JWKS_URL", "JwksUrl"),
        ("MB_JWT_ISSUER", "JwtIssuer"),
        ("MB_JWT_AUDIENCE", "JwtAudience"),
        ("MB_ALLOWED_ORIGINS", "AllowedOrigins"),
        ("MB_MAX_MESSAGES_PER_SECOND", "MaxMessagesPerSecond"),
        ("MB_HISTORY_SECONDS", "HistorySeconds"),
        ("MB_DEFAULT_ROOM_HISTORY", "DefaultRoomHistory"),
    ] {
        assert_eq!(
            variables[name],
            serde_json::json!({"Ref": parameter}),
            "{name}"
        );
    }
    assert_eq!(
        variables["MB_AUTH_SECRET_ARN"],
        serde_json::json!({"Fn::If": ["Hs256", {"Ref": "AuthSecret"}, {"Ref": "AWS::NoValue"}]})
    );
    // The names are the function's own (lambda/src/config.rs documents each).
    let config = std::fs::read_to_string(mb_tests::workspace_root().join("lambda/src/config.rs"))
        .expect("read lambda/src/config.rs");
    for name in variables.as_object().unwrap().keys() {
        assert!(
            config.contains(&format!("\"{name}\"")),
            "{name} is not read by the function"
        );
    }
}
