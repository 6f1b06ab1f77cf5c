//! What a grant is: who makes the call ([`Caller`]), on what ([`Resource`], with the ARNs
//! it names for one service), the action ([`Permission`]) and the condition it carries.

use serde_json::{Value, json};

use crate::naming::Names;

/// Who makes the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `mb` itself, in these SDK operations (`"S3 HeadBucket"`).
    Mb(&'static [&'static str]),
    /// CloudFormation, with the caller's credentials, for a resource of this type.
    CloudFormation(&'static str),
}

/// What an action is granted on, for one service's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// No resource: STS GetCallerIdentity, which needs no grant.
    Account,
    /// The artifact bucket.
    Bucket,
    /// This service and stage's artifacts, `<service>/<stage>/*` in the bucket.
    Artifacts,
    /// The stack `mb-<service>-<stage>`.
    Stack,
    /// The API Gateway WebSocket API (its id is only known once created).
    Apis,
    /// The function's IAM role.
    Role,
    /// The Lambda function.
    Function,
    /// The Lambda function and its `$LATEST` version: the event invoke config is set on
    /// a qualifier, and a grant on the unqualified ARN alone may not match a call that
    /// names one.
    FunctionLatest,
    /// The connection table (`-rooms`).
    Table,
    /// The connection table of a stack deployed before channels (`-connections`), which
    /// CloudFormation deletes when such a stack is updated.
    PreviousTable,
    /// The function's log group.
    LogGroup,
    /// Every log group of the account and region: `logs:DescribeLogGroups` is a list
    /// action that cannot be scoped to one group.
    LogGroups,
    /// No resource: `lambda:GetAccountSettings` reads the account's limits and supports
    /// no resource-level permissions, so IAM grants it only on `*`.
    LambdaAccount,
    /// The HS256 token secret (`--auth jwt` without `--jwks-url`); Secrets Manager
    /// appends `-` and six random characters to its name in the ARN.
    Secret,
    /// No resource: `secretsmanager:GetRandomPassword`, which generates the secret's
    /// value, supports no resource-level permissions, so IAM grants it only on `*`.
    SecretsAccount,
    /// The SQS queue `-lost`, the on-failure destination of the function's asynchronous
    /// invocations.
    LostQueue,
}

/// One IAM action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub action: &'static str,
    pub resource: Resource,
    pub caller: Caller,
    /// Which commands need it.
    pub commands: &'static str,
}

/// Where a policy applies: the names of one service, the account, the bucket.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub names: &'a Names,
    pub account: &'a str,
    pub bucket: &'a str,
}

/// The role's service: `iam:PassRole` is granted only for passing it to Lambda.
pub const PASSED_TO: &str = "lambda.amazonaws.com";

/// The publish endpoint's auth type: `lambda:InvokeFunctionUrl` is granted only for
/// IAM-authenticated function URLs (`lambda:FunctionUrlAuthType`).
pub const FUNCTION_URL_AUTH: &str = "AWS_IAM";

/// The condition key that limits `lambda:InvokeFunction` to calls through a function
/// URL (`true` there): the publisher's grant reaches the function only as `mb publish`
/// does.
pub const INVOKED_VIA_URL: &str = "lambda:InvokedViaFunctionUrl";

/// The resource types of the template, as CloudFormation's handlers are listed.
pub(super) const API: &str = "AWS::ApiGatewayV2::*";
pub(super) const ROLE: &str = "AWS::IAM::Role";
pub(super) const FUNCTION: &str = "AWS::Lambda::Function";
pub(super) const LAMBDA_PERMISSION: &str = "AWS::Lambda::Permission";
pub(super) const FUNCTION_URL: &str = "AWS::Lambda::Url";
pub(super) const TABLE: &str = "AWS::DynamoDB::Table";
pub(super) const LOG_GROUP: &str = "AWS::Logs::LogGroup";
pub(super) const SECRET: &str = "AWS::SecretsManager::Secret";
pub(super) const EVENT_INVOKE_CONFIG: &str = "AWS::Lambda::EventInvokeConfig";
pub(super) const QUEUE: &str = "AWS::SQS::Queue";

use Resource as R;

impl Permission {
    /// The service prefix of the action (`lambda` of `lambda:CreateFunction`).
    pub fn service(&self) -> &'static str {
        self.action.split(':').next().unwrap_or(self.action)
    }

    /// Whether IAM can deny it at all: STS GetCallerIdentity always works.
    pub fn needs_grant(&self) -> bool {
        self.action != "sts:GetCallerIdentity"
    }

    /// The condition a grant of this action carries, if any.
    pub fn condition(&self) -> Option<Value> {
        match self.action {
            "iam:PassRole" => Some(json!({ "StringEquals": { "iam:PassedToService": PASSED_TO } })),
            "lambda:InvokeFunctionUrl" => Some(json!({
                "StringEquals": { "lambda:FunctionUrlAuthType": FUNCTION_URL_AUTH }
            })),
            "lambda:InvokeFunction" => Some(json!({
                "Bool": { INVOKED_VIA_URL: "true" }
            })),
            _ => None,
        }
    }
}

/// The AWS partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

impl Resource {
    /// The ARN patterns a grant names.
    pub fn arns(self, scope: &Scope<'_>) -> Vec<String> {
        let names = scope.names;
        let p = partition(names.region.as_str());
        let region = names.region.as_str();
        let account = scope.account;
        match self {
            R::Account => vec!["*".to_owned()],
            R::Bucket => vec![format!("arn:{p}:s3:::{}", scope.bucket)],
            R::Artifacts => vec![format!(
                "arn:{p}:s3:::{}/{}*",
                scope.bucket,
                names.artifact_prefix()
            )],
            R::Stack => vec![format!(
                "arn:{p}:cloudformation:{region}:{account}:stack/{}/*",
                names.stack
            )],
            R::Apis => vec![
                format!("arn:{p}:apigateway:{region}::/apis"),
                format!("arn:{p}:apigateway:{region}::/apis/*"),
                format!("arn:{p}:apigateway:{region}::/tags/*"),
            ],
            R::Role => vec![format!("arn:{p}:iam::{account}:role/{}", names.role)],
            R::Function => vec![format!(
                "arn:{p}:lambda:{region}:{account}:function:{}",
                names.function
            )],
            R::FunctionLatest => {
                let function = format!(
                    "arn:{p}:lambda:{region}:{account}:function:{}",
                    names.function
                );
                vec![format!("{function}:$LATEST"), function]
            }
            R::Table => vec![format!(
                "arn:{p}:dynamodb:{region}:{account}:table/{}",
                names.table
            )],
            R::PreviousTable => vec![format!(
                "arn:{p}:dynamodb:{region}:{account}:table/{}",
                names.previous_table()
            )],
            R::LogGroup => vec![
                format!(
                    "arn:{p}:logs:{region}:{account}:log-group:{}",
                    names.log_group
                ),
                format!(
                    "arn:{p}:logs:{region}:{account}:log-group:{}:*",
                    names.log_group
                ),
            ],
            R::LogGroups => vec![format!("arn:{p}:logs:{region}:{account}:log-group:*")],
            R::LambdaAccount | R::SecretsAccount => vec!["*".to_owned()],
            // `??????`: the six characters Secrets Manager appends, and no more, so that
            // the grant does not reach a longer name that starts with this one.
            R::Secret => vec![format!(
                "arn:{p}:secretsmanager:{region}:{account}:secret:{}-??????",
                names.secret
            )],
            R::LostQueue => vec![format!(
                "arn:{p}:sqs:{region}:{account}:{}",
                names.lost_queue
            )],
        }
    }

    /// One concrete resource the patterns match, for a simulation: an object key, a stack
    /// id, an API id as they will be once created.
    pub fn example(self, scope: &Scope<'_>) -> String {
        let first = self.arns(scope).into_iter().next().unwrap_or_default();
        match self {
            R::Artifacts => format!("{}0123abcd.zip", first.trim_end_matches('*')),
            R::Stack => format!(
                "{}00000000-0000-0000-0000-000000000000",
                first.trim_end_matches('*')
            ),
            R::Apis => format!("{first}/a1b2c3d4e5"),
            R::LogGroups => format!("{}{}", first.trim_end_matches('*'), scope.names.log_group),
            R::Secret => format!("{}AbCdEf", first.trim_end_matches('?')),
            _ => first,
        }
    }

    /// The statement id of a grant on it.
    pub(super) fn sid(self) -> &'static str {
        match self {
            R::Account => "CallerIdentity",
            R::Bucket => "ArtifactBucket",
            R::Artifacts => "ArtifactObjects",
            R::Stack => "Stack",
            R::Apis => "WebSocketApi",
            R::Role => "FunctionRole",
            R::Function => "Function",
            R::FunctionLatest => "FunctionInvokeConfig",
            R::Table => "ConnectionTable",
            R::PreviousTable => "PreviousConnectionTable",
            R::LogGroup => "FunctionLogGroup",
            R::LogGroups => "DescribeLogGroups",
            R::LambdaAccount => "LambdaAccountSettings",
            R::Secret => "TokenSecret",
            R::SecretsAccount => "RandomPassword",
            R::LostQueue => "LostQueue",
        }
    }

    /// The resource column of the documentation (only the test that keeps docs/deploy.md
    /// equal to the list renders it), with `<s>`, `<t>`, `<region>` and
    /// `<account>` for the service, stage, region and account.
    #[cfg(test)]
    pub(super) fn documented(self) -> &'static str {
        match self {
            R::Account => "—",
            R::Bucket => "`arn:aws:s3:::mb-artifacts-<account>-<region>` (or `--bucket`)",
            R::Artifacts => "`arn:aws:s3:::<bucket>/<s>/<t>/*`",
            R::Stack => "`arn:aws:cloudformation:<region>:<account>:stack/mb-<s>-<t>/*`",
            R::Apis => {
                "`arn:aws:apigateway:<region>::/apis`, `/apis/*`, `/tags/*` (the API's id is \
                 only known once it exists)"
            }
            R::Role => "`arn:aws:iam::<account>:role/mb-<s>-<t>-<region>`",
            R::Function => "`arn:aws:lambda:<region>:<account>:function:mb-<s>-<t>-broadcast`",
            R::FunctionLatest => {
                "`arn:aws:lambda:<region>:<account>:function:mb-<s>-<t>-broadcast:$LATEST` and \
                 the unqualified ARN (the configuration names the `$LATEST` qualifier)"
            }
            R::Table => "`arn:aws:dynamodb:<region>:<account>:table/mb-<s>-<t>-rooms`",
            R::PreviousTable => {
                "`arn:aws:dynamodb:<region>:<account>:table/mb-<s>-<t>-connections` (the \
                 table before channels, deleted by the update)"
            }
            R::LogGroup => {
                "`arn:aws:logs:<region>:<account>:log-group:/aws/lambda/mb-<s>-<t>-broadcast` \
                 (and `:*`)"
            }
            R::LogGroups => "`arn:aws:logs:<region>:<account>:log-group:*` (a list action)",
            R::LambdaAccount | R::SecretsAccount => {
                "`*` (the action has no resource-level permissions)"
            }
            R::Secret => {
                "`arn:aws:secretsmanager:<region>:<account>:secret:mb-<s>-<t>-token-key-??????` \
                 (with `--auth jwt` and no `--jwks-url`)"
            }
            R::LostQueue => "`arn:aws:sqs:<region>:<account>:mb-<s>-<t>-lost`",
        }
    }
}
