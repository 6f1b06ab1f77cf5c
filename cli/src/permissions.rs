//! Every IAM action `mb deploy`, `mb info`, `mb logs`, `mb publish`, `mb token`, `mb console` and `mb destroy` need, on which
//! resource, and why: the one list that `mb doctor` simulates, `mb doctor --policy` prints
//! as a policy, and docs/deploy.md shows (a test keeps the document equal to [`markdown`]).
//!
//! `mb` uses no CloudFormation service role, so CloudFormation creates the template's
//! resources with the caller's credentials: the list holds the calls `mb` makes itself
//! and the calls CloudFormation makes for each resource type (the resource providers'
//! handler permissions). Resources are scoped to one service's names, but for the three
//! actions IAM cannot scope (`sts:GetCallerIdentity`, `lambda:GetAccountSettings`,
//! `secretsmanager:GetRandomPassword`), which are granted on `*`; no action is `*`.
//! Everything here is pure.
//!
//! The CloudFormation part is held against the resource providers' own lists: a test
//! reads `tests/fixtures/handler-permissions.json` (the `handlers` sections of
//! CloudFormation's published resource schemas) and requires, for every resource type the
//! rendered template uses, each create, read, update, delete and list action to be either
//! in [`PERMISSIONS`] for that type or in `NOT_GRANTED` with its reason; an exclusion that
//! no schema lists fails too.

use std::collections::BTreeMap;

use serde::Serialize;
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

const DEPLOY: &str = "deploy";
const DESTROY: &str = "destroy";
const DEPLOY_DESTROY: &str = "deploy, destroy";
const ALL: &str = "deploy, info, destroy";
const PUBLISH: &str = "publish";

/// The role's service: `iam:PassRole` is granted only for passing it to Lambda.
pub const PASSED_TO: &str = "lambda.amazonaws.com";

/// The publish endpoint's auth type: `lambda:InvokeFunctionUrl` is granted only for
/// IAM-authenticated function URLs (`lambda:FunctionUrlAuthType`).
pub const FUNCTION_URL_AUTH: &str = "AWS_IAM";

/// The condition key that limits `lambda:InvokeFunction` to calls through a function
/// URL (`true` there): the publisher's grant reaches the function only as `mb publish`
/// does.
pub const INVOKED_VIA_URL: &str = "lambda:InvokedViaFunctionUrl";

const fn mb(
    action: &'static str,
    resource: Resource,
    calls: &'static [&'static str],
    commands: &'static str,
) -> Permission {
    Permission {
        action,
        resource,
        caller: Caller::Mb(calls),
        commands,
    }
}

const fn cfn(action: &'static str, resource: Resource, resource_type: &'static str) -> Permission {
    Permission {
        action,
        resource,
        caller: Caller::CloudFormation(resource_type),
        commands: DEPLOY_DESTROY,
    }
}

use Resource as R;

const API: &str = "AWS::ApiGatewayV2::*";
const ROLE: &str = "AWS::IAM::Role";
const FUNCTION: &str = "AWS::Lambda::Function";
const LAMBDA_PERMISSION: &str = "AWS::Lambda::Permission";
const FUNCTION_URL: &str = "AWS::Lambda::Url";
const TABLE: &str = "AWS::DynamoDB::Table";
const LOG_GROUP: &str = "AWS::Logs::LogGroup";
const SECRET: &str = "AWS::SecretsManager::Secret";
const EVENT_INVOKE_CONFIG: &str = "AWS::Lambda::EventInvokeConfig";
const QUEUE: &str = "AWS::SQS::Queue";

/// The list, in the order a deploy needs them. The CloudFormation part is taken from the
/// resource providers' handler permissions (the registry schemas' `handlers`), keeping
/// what this template's properties and every read need and leaving out, in
/// `NOT_GRANTED` with a reason each, what only optional features use (KMS keys, VPCs,
/// code signing, replicas, Kinesis streaming) and the list handlers.
pub const PERMISSIONS: &[Permission] = &[
    mb(
        "sts:GetCallerIdentity",
        R::Account,
        &["STS GetCallerIdentity"],
        ALL,
    ),
    // The artifact bucket and the upload.
    mb("s3:ListBucket", R::Bucket, &["S3 HeadBucket"], DEPLOY),
    mb("s3:CreateBucket", R::Bucket, &["S3 CreateBucket"], DEPLOY),
    mb(
        "s3:PutBucketOwnershipControls",
        R::Bucket,
        &["S3 CreateBucket"],
        DEPLOY,
    ),
    mb(
        "s3:PutBucketPublicAccessBlock",
        R::Bucket,
        &["S3 PutPublicAccessBlock"],
        DEPLOY,
    ),
    mb(
        "s3:PutEncryptionConfiguration",
        R::Bucket,
        &["S3 PutBucketEncryption"],
        DEPLOY,
    ),
    mb(
        "s3:PutBucketPolicy",
        R::Bucket,
        &["S3 PutBucketPolicy"],
        DEPLOY,
    ),
    // Every deploy reads the lock-down back.
    mb(
        "s3:GetBucketPublicAccessBlock",
        R::Bucket,
        &["S3 GetPublicAccessBlock"],
        DEPLOY,
    ),
    mb(
        "s3:GetEncryptionConfiguration",
        R::Bucket,
        &["S3 GetBucketEncryption"],
        DEPLOY,
    ),
    mb(
        "s3:GetBucketPolicy",
        R::Bucket,
        &["S3 GetBucketPolicy"],
        DEPLOY,
    ),
    mb("s3:GetObject", R::Artifacts, &["S3 HeadObject"], DEPLOY),
    mb("s3:PutObject", R::Artifacts, &["S3 PutObject"], DEPLOY),
    // The preflight: the region of `--bucket`, and whether a name the stack would create
    // is taken (on a create).
    mb(
        "s3:GetBucketLocation",
        R::Bucket,
        &["S3 GetBucketLocation"],
        DEPLOY,
    ),
    mb("iam:GetRole", R::Role, &["IAM GetRole"], DEPLOY),
    mb(
        "dynamodb:DescribeTable",
        R::Table,
        &["DynamoDB DescribeTable"],
        DEPLOY,
    ),
    mb(
        "logs:DescribeLogGroups",
        R::LogGroups,
        &["CloudWatch Logs DescribeLogGroups"],
        DEPLOY,
    ),
    mb(
        "sqs:GetQueueUrl",
        R::LostQueue,
        &["SQS GetQueueUrl"],
        DEPLOY,
    ),
    // A token secret of an earlier stack stays reserved while it is scheduled for
    // deletion.
    mb(
        "secretsmanager:DescribeSecret",
        R::Secret,
        &["Secrets Manager DescribeSecret"],
        DEPLOY,
    ),
    // The reservation the account can spare, read before any change.
    mb(
        "lambda:GetAccountSettings",
        R::LambdaAccount,
        &["Lambda GetAccountSettings"],
        DEPLOY,
    ),
    // The stack.
    mb(
        "cloudformation:DescribeStacks",
        R::Stack,
        &["CloudFormation DescribeStacks"],
        "deploy, info, destroy, console",
    ),
    mb(
        "cloudformation:DescribeStackEvents",
        R::Stack,
        &["CloudFormation DescribeStackEvents"],
        DEPLOY_DESTROY,
    ),
    mb(
        "cloudformation:CreateStack",
        R::Stack,
        &["CloudFormation CreateStack"],
        DEPLOY,
    ),
    mb(
        "cloudformation:CreateChangeSet",
        R::Stack,
        &["CloudFormation CreateChangeSet"],
        DEPLOY,
    ),
    mb(
        "cloudformation:DescribeChangeSet",
        R::Stack,
        &["CloudFormation DescribeChangeSet"],
        DEPLOY,
    ),
    mb(
        "cloudformation:ExecuteChangeSet",
        R::Stack,
        &["CloudFormation ExecuteChangeSet"],
        DEPLOY,
    ),
    mb(
        "cloudformation:DeleteChangeSet",
        R::Stack,
        &["CloudFormation DeleteChangeSet"],
        DEPLOY,
    ),
    mb(
        "cloudformation:DeleteStack",
        R::Stack,
        &["CloudFormation DeleteStack"],
        DEPLOY_DESTROY,
    ),
    mb(
        "cloudformation:RollbackStack",
        R::Stack,
        &["CloudFormation RollbackStack"],
        DEPLOY,
    ),
    mb(
        "cloudformation:ContinueUpdateRollback",
        R::Stack,
        &["CloudFormation ContinueUpdateRollback"],
        DEPLOY,
    ),
    // `mb info`'s connection count, and the continuations Lambda gave up on.
    mb("dynamodb:Scan", R::Table, &["DynamoDB Scan"], "info"),
    mb(
        "sqs:GetQueueAttributes",
        R::LostQueue,
        &["SQS GetQueueAttributes"],
        "info",
    ),
    // `mb publish`: a SigV4-signed POST to the function URL. Since October 2025 a caller
    // of a function URL needs both actions on the function; InvokeFunction only through
    // the URL (`lambda:InvokedViaFunctionUrl`), so a publisher cannot invoke the function
    // directly with an event it makes up (a `$connect`, a continuation).
    mb(
        "lambda:InvokeFunctionUrl",
        R::Function,
        &["Lambda InvokeFunctionUrl"],
        PUBLISH,
    ),
    mb(
        "lambda:InvokeFunction",
        R::Function,
        &["Lambda InvokeFunctionUrl"],
        PUBLISH,
    ),
    // `mb logs`: the function's log events (the log-group resource; both ARN forms are
    // granted, as IAM matches some Logs actions against `log-group:NAME:*`).
    mb(
        "logs:FilterLogEvents",
        R::LogGroup,
        &["CloudWatchLogs FilterLogEvents"],
        "logs",
    ),
    // `mb token --service`: the deployed token secret.
    mb(
        "secretsmanager:GetSecretValue",
        R::Secret,
        &["Secrets Manager GetSecretValue"],
        "token",
    ),
    // `mb destroy`'s artifact cleanup.
    mb(
        "s3:ListBucketVersions",
        R::Bucket,
        &["S3 ListObjectVersions"],
        DESTROY,
    ),
    mb(
        "s3:DeleteObject",
        R::Artifacts,
        &["S3 DeleteObjects"],
        DESTROY,
    ),
    mb(
        "s3:DeleteObjectVersion",
        R::Artifacts,
        &["S3 DeleteObjects"],
        DESTROY,
    ),
    // What CloudFormation calls for the template's resources.
    cfn("apigateway:GET", R::Apis, API),
    cfn("apigateway:POST", R::Apis, API),
    cfn("apigateway:PATCH", R::Apis, API),
    cfn("apigateway:PUT", R::Apis, API),
    cfn("apigateway:DELETE", R::Apis, API),
    cfn("iam:CreateRole", R::Role, ROLE),
    cfn("iam:GetRole", R::Role, ROLE),
    cfn("iam:DeleteRole", R::Role, ROLE),
    cfn("iam:UpdateRole", R::Role, ROLE),
    cfn("iam:UpdateRoleDescription", R::Role, ROLE),
    cfn("iam:UpdateAssumeRolePolicy", R::Role, ROLE),
    cfn("iam:PutRolePolicy", R::Role, ROLE),
    cfn("iam:GetRolePolicy", R::Role, ROLE),
    cfn("iam:DeleteRolePolicy", R::Role, ROLE),
    cfn("iam:ListRolePolicies", R::Role, ROLE),
    cfn("iam:ListAttachedRolePolicies", R::Role, ROLE),
    cfn("iam:TagRole", R::Role, ROLE),
    cfn("iam:UntagRole", R::Role, ROLE),
    cfn("iam:PassRole", R::Role, FUNCTION),
    // Lambda reads the package with the caller's credentials on create and on every code
    // update.
    cfn("s3:GetObject", R::Artifacts, FUNCTION),
    cfn("lambda:CreateFunction", R::Function, FUNCTION),
    cfn("lambda:GetFunction", R::Function, FUNCTION),
    cfn("lambda:GetFunctionCodeSigningConfig", R::Function, FUNCTION),
    cfn("lambda:GetFunctionRecursionConfig", R::Function, FUNCTION),
    cfn("lambda:GetRuntimeManagementConfig", R::Function, FUNCTION),
    cfn("lambda:UpdateFunctionCode", R::Function, FUNCTION),
    cfn("lambda:UpdateFunctionConfiguration", R::Function, FUNCTION),
    // `ReservedConcurrentExecutions`: set on create and update, removed when it goes to
    // none (the handlers read it back with GetFunction, so no GetFunctionConcurrency).
    cfn("lambda:PutFunctionConcurrency", R::Function, FUNCTION),
    cfn("lambda:DeleteFunctionConcurrency", R::Function, FUNCTION),
    cfn("lambda:DeleteFunction", R::Function, FUNCTION),
    // The stack's tags reach the function: the update handler lists them before any
    // change (enforced since May 2022; without it every code update fails "not authorized
    // to perform: lambda:ListTags").
    cfn("lambda:ListTags", R::Function, FUNCTION),
    cfn("lambda:TagResource", R::Function, FUNCTION),
    cfn("lambda:UntagResource", R::Function, FUNCTION),
    cfn("lambda:AddPermission", R::Function, LAMBDA_PERMISSION),
    cfn("lambda:RemovePermission", R::Function, LAMBDA_PERMISSION),
    cfn("lambda:GetPolicy", R::Function, LAMBDA_PERMISSION),
    // The publish endpoint (its handlers: create, read, update, delete).
    cfn("lambda:CreateFunctionUrlConfig", R::Function, FUNCTION_URL),
    cfn("lambda:GetFunctionUrlConfig", R::Function, FUNCTION_URL),
    cfn("lambda:UpdateFunctionUrlConfig", R::Function, FUNCTION_URL),
    cfn("lambda:DeleteFunctionUrlConfig", R::Function, FUNCTION_URL),
    // Where the function's asynchronous invocations (a broadcast's continuation) go when
    // every attempt failed: the lost queue.
    cfn(
        "lambda:PutFunctionEventInvokeConfig",
        R::FunctionLatest,
        EVENT_INVOKE_CONFIG,
    ),
    cfn(
        "lambda:GetFunctionEventInvokeConfig",
        R::FunctionLatest,
        EVENT_INVOKE_CONFIG,
    ),
    cfn(
        "lambda:UpdateFunctionEventInvokeConfig",
        R::FunctionLatest,
        EVENT_INVOKE_CONFIG,
    ),
    cfn(
        "lambda:DeleteFunctionEventInvokeConfig",
        R::FunctionLatest,
        EVENT_INVOKE_CONFIG,
    ),
    cfn("sqs:CreateQueue", R::LostQueue, QUEUE),
    cfn("sqs:GetQueueUrl", R::LostQueue, QUEUE),
    cfn("sqs:GetQueueAttributes", R::LostQueue, QUEUE),
    cfn("sqs:SetQueueAttributes", R::LostQueue, QUEUE),
    cfn("sqs:ListQueueTags", R::LostQueue, QUEUE),
    cfn("sqs:TagQueue", R::LostQueue, QUEUE),
    cfn("sqs:UntagQueue", R::LostQueue, QUEUE),
    cfn("sqs:DeleteQueue", R::LostQueue, QUEUE),
    cfn("dynamodb:CreateTable", R::Table, TABLE),
    cfn("dynamodb:DescribeTable", R::Table, TABLE),
    cfn("dynamodb:UpdateTable", R::Table, TABLE),
    cfn("dynamodb:DeleteTable", R::Table, TABLE),
    cfn("dynamodb:DescribeTimeToLive", R::Table, TABLE),
    cfn("dynamodb:UpdateTimeToLive", R::Table, TABLE),
    cfn("dynamodb:DescribeContinuousBackups", R::Table, TABLE),
    cfn("dynamodb:DescribeContributorInsights", R::Table, TABLE),
    cfn(
        "dynamodb:DescribeKinesisStreamingDestination",
        R::Table,
        TABLE,
    ),
    cfn("dynamodb:GetResourcePolicy", R::Table, TABLE),
    cfn("dynamodb:ListTagsOfResource", R::Table, TABLE),
    cfn("dynamodb:TagResource", R::Table, TABLE),
    cfn("dynamodb:UntagResource", R::Table, TABLE),
    // Updating a stack deployed before channels deletes its `-connections` table (the
    // delete handler's actions).
    cfn("dynamodb:DescribeTable", R::PreviousTable, TABLE),
    cfn("dynamodb:DeleteTable", R::PreviousTable, TABLE),
    cfn("logs:CreateLogGroup", R::LogGroup, LOG_GROUP),
    cfn("logs:DeleteLogGroup", R::LogGroup, LOG_GROUP),
    cfn("logs:PutRetentionPolicy", R::LogGroup, LOG_GROUP),
    cfn("logs:DeleteRetentionPolicy", R::LogGroup, LOG_GROUP),
    cfn("logs:ListTagsForResource", R::LogGroup, LOG_GROUP),
    cfn("logs:GetDataProtectionPolicy", R::LogGroup, LOG_GROUP),
    cfn("logs:TagResource", R::LogGroup, LOG_GROUP),
    cfn("logs:UntagResource", R::LogGroup, LOG_GROUP),
    cfn("logs:DescribeLogGroups", R::LogGroups, LOG_GROUP),
    // The token secret (`--auth jwt` without `--jwks-url`): its handlers' permissions
    // (create generates the value with GetRandomPassword; read is DescribeSecret and
    // GetSecretValue), without the replication actions, as the secret has no replicas.
    cfn("secretsmanager:CreateSecret", R::Secret, SECRET),
    cfn("secretsmanager:DescribeSecret", R::Secret, SECRET),
    cfn("secretsmanager:GetSecretValue", R::Secret, SECRET),
    cfn("secretsmanager:UpdateSecret", R::Secret, SECRET),
    cfn("secretsmanager:DeleteSecret", R::Secret, SECRET),
    cfn("secretsmanager:TagResource", R::Secret, SECRET),
    cfn("secretsmanager:UntagResource", R::Secret, SECRET),
    cfn(
        "secretsmanager:GetRandomPassword",
        R::SecretsAccount,
        SECRET,
    ),
];

/// Actions a resource provider's handlers list that the policy leaves out, and why: the
/// one place a handler permission may be excluded (the test that holds [`PERMISSIONS`]
/// against `tests/fixtures/handler-permissions.json` reads it, and docs/deploy.md shows
/// it). Each is for a property the template does not set, or a list handler.
#[cfg(test)]
pub struct NotGranted {
    pub resource_type: &'static str,
    pub actions: &'static [&'static str],
    pub why: &'static str,
}

/// Why no list handler's action is granted.
#[cfg(test)]
const LISTS: &str = "the list handler's: CloudFormation lists a type's resources only for \
                     resource scans and imports, never in a stack's create, update or delete";

#[cfg(test)]
const fn not(
    resource_type: &'static str,
    actions: &'static [&'static str],
    why: &'static str,
) -> NotGranted {
    NotGranted {
        resource_type,
        actions,
        why,
    }
}

/// The exclusions, by resource type in the order of the template.
#[cfg(test)]
pub const NOT_GRANTED: &[NotGranted] = &[
    not(
        "AWS::ApiGatewayV2::Api",
        &["s3:getObject"],
        "reads an OpenAPI definition from S3 (`BodyS3Location`), which the template does not use",
    ),
    not(
        "AWS::ApiGatewayV2::Authorizer",
        &["iam:PassRole"],
        "passes `AuthorizerCredentialsArn`, which the template does not set (a Lambda \
         permission lets API Gateway invoke the authorizer)",
    ),
    not(
        LOG_GROUP,
        &["logs:AssociateKmsKey", "logs:DisassociateKmsKey"],
        "for `KmsKeyId`, which the template does not set (CloudWatch Logs' own encryption)",
    ),
    not(
        LOG_GROUP,
        &[
            "logs:PutDataProtectionPolicy",
            "logs:DeleteDataProtectionPolicy",
            "logs:CreateLogDelivery",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "s3:REST.PUT.OBJECT",
            "firehose:TagDeliveryStream",
        ],
        "for `DataProtectionPolicy` and its findings' destinations, which the template does \
         not set (`s3:REST.PUT.OBJECT` is not even an IAM action)",
    ),
    not(
        ROLE,
        &["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
        "for `ManagedPolicyArns`: the role has only an inline policy, and the delete handler \
         detaches only what ListAttachedRolePolicies returns",
    ),
    not(
        ROLE,
        &[
            "iam:PutRolePermissionsBoundary",
            "iam:DeleteRolePermissionsBoundary",
        ],
        "for `PermissionsBoundary`, which the template does not set",
    ),
    not(ROLE, &["iam:ListRoles"], LISTS),
    not(
        FUNCTION,
        &["s3:GetObjectVersion"],
        "for `Code.S3ObjectVersion`: the template names the package by key, a new key per build",
    ),
    not(
        FUNCTION,
        &[
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
            "ec2:DescribeNetworkInterfaces",
        ],
        "for `VpcConfig`: the function runs in no VPC (and these actions could only be \
         granted on `*`)",
    ),
    not(
        FUNCTION,
        &["elasticfilesystem:DescribeMountTargets"],
        "for `FileSystemConfigs`, which the template does not set",
    ),
    not(
        FUNCTION,
        &[
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey",
        ],
        "for `KmsKeyArn`, which the template does not set (Lambda's default key)",
    ),
    not(
        FUNCTION,
        &[
            "lambda:GetCodeSigningConfig",
            "lambda:PutFunctionCodeSigningConfig",
            "lambda:DeleteFunctionCodeSigningConfig",
        ],
        "for `CodeSigningConfigArn`, which the template does not set \
         (GetFunctionCodeSigningConfig, which every read calls, is granted)",
    ),
    not(
        FUNCTION,
        &["lambda:GetLayerVersion"],
        "for `Layers`: the package is self-contained",
    ),
    not(
        FUNCTION,
        &["lambda:PutRuntimeManagementConfig"],
        "for `RuntimeManagementConfig`, which the template does not set (runtime updates are \
         automatic; GetRuntimeManagementConfig is granted)",
    ),
    not(FUNCTION, &["lambda:ListFunctions"], LISTS),
    not(FUNCTION_URL, &["lambda:ListFunctionUrlConfigs"], LISTS),
    not(
        EVENT_INVOKE_CONFIG,
        &["lambda:ListFunctionEventInvokeConfigs"],
        LISTS,
    ),
    not(
        SECRET,
        &[
            "secretsmanager:ReplicateSecretToRegions",
            "secretsmanager:RemoveRegionsFromReplication",
        ],
        "for `ReplicaRegions`: the secret has no replicas",
    ),
    not(SECRET, &["secretsmanager:ListSecrets"], LISTS),
    not(
        TABLE,
        &[
            "dynamodb:ImportTable",
            "dynamodb:DescribeImport",
            "s3:GetObject",
            "s3:GetObjectMetadata",
            "s3:ListBucket",
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:DescribeLogGroups",
            "logs:DescribeLogStreams",
            "logs:PutLogEvents",
            "logs:PutRetentionPolicy",
        ],
        "for `ImportSourceSpecification` (a table filled from S3, logging to CloudWatch \
         Logs): the table starts empty",
    ),
    not(
        TABLE,
        &[
            "dynamodb:EnableKinesisStreamingDestination",
            "dynamodb:DisableKinesisStreamingDestination",
            "dynamodb:UpdateKinesisStreamingDestination",
            "kinesis:DescribeStream",
            "kinesis:PutRecords",
        ],
        "for `KinesisStreamSpecification`, which the template does not set \
         (DescribeKinesisStreamingDestination, which every read calls, is granted)",
    ),
    not(
        TABLE,
        &["dynamodb:UpdateContinuousBackups"],
        "for `PointInTimeRecoverySpecification`, which the template does not set: the rows \
         are open connections, not worth restoring",
    ),
    not(
        TABLE,
        &["dynamodb:UpdateContributorInsights"],
        "for `ContributorInsightsSpecification`, which the template does not set",
    ),
    not(
        TABLE,
        &[
            "dynamodb:PutResourcePolicy",
            "dynamodb:DeleteResourcePolicy",
        ],
        "for `ResourcePolicy`, which the template does not set (GetResourcePolicy is granted)",
    ),
    not(
        TABLE,
        &[
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:Encrypt",
            "kms:ListAliases",
            "kms:RevokeGrant",
        ],
        "for `SSESpecification` with a KMS key: the table uses DynamoDB's AWS-owned key",
    ),
    not(
        TABLE,
        &["iam:CreateServiceLinkedRole"],
        "a service-linked role for the features above; on-demand billing and TTL need none",
    ),
    not(TABLE, &["dynamodb:ListTables"], LISTS),
    not(QUEUE, &["sqs:ListQueues"], LISTS),
];

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
    fn sid(self) -> &'static str {
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
    fn documented(self) -> &'static str {
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

/// One statement of an identity policy, its fields in the order people write them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub sid: String,
    pub effect: &'static str,
    pub action: Vec<&'static str>,
    pub resource: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

/// An identity policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

/// The permissions grouped as policy statements: one per resource (and condition), the
/// actions sorted (pure).
pub fn statements<'a>(
    permissions: impl IntoIterator<Item = &'a Permission>,
    scope: &Scope<'_>,
) -> Vec<Statement> {
    let mut groups: BTreeMap<(Resource, Option<String>), Vec<&'static str>> = BTreeMap::new();
    for permission in permissions {
        let condition = permission.condition().map(|c| c.to_string());
        let actions = groups.entry((permission.resource, condition)).or_default();
        if !actions.contains(&permission.action) {
            actions.push(permission.action);
        }
    }
    groups
        .into_iter()
        .map(|((resource, condition), mut actions)| {
            actions.sort_unstable();
            let condition = condition.and_then(|c| serde_json::from_str(&c).ok());
            let sid = match &condition {
                None => resource.sid().to_owned(),
                Some(_) if actions.contains(&"iam:PassRole") => format!("Pass{}", resource.sid()),
                Some(_) if actions.contains(&"lambda:InvokeFunction") => {
                    format!("{}ViaUrl", resource.sid())
                }
                Some(_) => format!("{}Url", resource.sid()),
            };
            Statement {
                sid,
                effect: "Allow",
                action: actions,
                resource: resource.arns(scope),
                condition,
            }
        })
        .collect()
}

/// The least-privilege identity policy for deploying, inspecting and destroying one
/// service (pure).
pub fn policy(scope: &Scope<'_>) -> Policy {
    Policy {
        version: "2012-10-17",
        statement: statements(PERMISSIONS, scope),
    }
}

/// A scope in account 123456789012 with the default bucket of eu-west-1, for unit tests.
#[cfg(test)]
pub fn scope(names: &Names) -> Scope<'_> {
    Scope {
        names,
        account: "123456789012",
        bucket: "mb-artifacts-123456789012-eu-west-1",
    }
}

/// The permission tables of docs/deploy.md (pure), which a test compares with the
/// document (and rewrites with `MB_UPDATE_DOCS=1`).
#[cfg(test)]
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "What `mb` calls itself:\n\n| Action | Needed by | For | Resource |\n|---|---|---|---|\n",
    );
    for p in PERMISSIONS {
        if let Caller::Mb(calls) = p.caller {
            let mut resource = p.resource.documented().to_owned();
            if p.action == "lambda:InvokeFunctionUrl" {
                resource.push_str(&format!(
                    ", only through an `{FUNCTION_URL_AUTH}` function URL"
                ));
            }
            if p.action == "lambda:InvokeFunction" {
                resource.push_str(&format!(
                    ", only through the function URL (`{INVOKED_VIA_URL}`)"
                ));
            }
            out.push_str(&format!(
                "| `{}` | {} | {} | {resource} |\n",
                p.action,
                p.commands,
                calls.join(", "),
            ));
        }
    }
    out.push_str(
        "\nWhat CloudFormation calls with your credentials, for the template's resources \
         (deploy and destroy):\n\n| Resource type | Actions | Resource |\n|---|---|---|\n",
    );
    let mut rows: Vec<(&str, Resource, Vec<&str>)> = Vec::new();
    for p in PERMISSIONS {
        if let Caller::CloudFormation(resource_type) = p.caller {
            match rows
                .iter_mut()
                .find(|(t, r, _)| *t == resource_type && *r == p.resource)
            {
                Some((_, _, actions)) => actions.push(p.action),
                None => rows.push((resource_type, p.resource, vec![p.action])),
            }
        }
    }
    for (resource_type, resource, actions) in rows {
        let actions: Vec<String> = actions.iter().map(|a| format!("`{a}`")).collect();
        let mut resource = resource.documented().to_owned();
        if actions.iter().any(|a| a == "`iam:PassRole`") {
            resource.push_str(&format!(", only to `{PASSED_TO}`"));
        }
        out.push_str(&format!(
            "| {resource_type} | {} | {resource} |\n",
            actions.join(", ")
        ));
    }
    out.push_str(
        "\nWhat the resource providers' handler permissions list that the policy leaves \
         out, and why (CloudFormation's resource schemas, \
         `tests/fixtures/handler-permissions.json`):\n\n| Resource type | Actions | Why not \
         |\n|---|---|---|\n",
    );
    for excluded in NOT_GRANTED {
        let actions: Vec<String> = excluded.actions.iter().map(|a| format!("`{a}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            excluded.resource_type,
            actions.join(", "),
            excluded.why
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::naming::example as names;

    /// An action may be listed twice on one resource only for two callers: mb's own call
    /// and CloudFormation's are simulated with different contexts (`aws:CalledVia`).
    #[test]
    fn no_action_is_a_wildcard_and_none_is_listed_twice_for_one_resource() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PERMISSIONS {
            assert!(!p.action.contains('*'), "{} has a wildcard", p.action);
            let (service, name) = p.action.split_once(':').unwrap();
            assert!(!service.is_empty() && !name.is_empty(), "{}", p.action);
            let by_mb = matches!(p.caller, Caller::Mb(_));
            assert!(
                seen.insert((p.action, p.resource, by_mb)),
                "{} twice",
                p.action
            );
        }
    }

    /// IAM refuses a policy whose statements repeat a Sid; and the publisher's grant of
    /// InvokeFunction reaches the function only through its URL, so a backend allowed to
    /// publish cannot invoke it with an event it made up.
    #[test]
    fn statement_ids_are_unique_and_invoke_is_only_through_the_url() {
        let names = names("eu-west-1");
        let statements = statements(PERMISSIONS, &scope(&names));
        let sids: std::collections::BTreeSet<_> = statements.iter().map(|s| &s.sid).collect();
        assert_eq!(sids.len(), statements.len(), "{statements:#?}");
        let invoke: Vec<_> = statements
            .iter()
            .filter(|s| s.action.contains(&"lambda:InvokeFunction"))
            .collect();
        assert_eq!(invoke.len(), 1, "{invoke:#?}");
        assert_eq!(invoke[0].action, ["lambda:InvokeFunction"]);
        assert_eq!(
            invoke[0].condition,
            Some(json!({ "Bool": { "lambda:InvokedViaFunctionUrl": "true" } }))
        );
    }

    #[test]
    fn the_policy_is_scoped_to_the_service_names() {
        let names = names("eu-west-1");
        let policy = serde_json::to_value(policy(&scope(&names))).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        let mut actions = 0;
        for statement in statements {
            actions += statement["Action"].as_array().unwrap().len();
            for resource in statement["Resource"].as_array().unwrap() {
                let resource = resource.as_str().unwrap();
                if statement["Sid"] == "CallerIdentity" {
                    assert_eq!(resource, "*");
                    assert_eq!(statement["Action"], json!(["sts:GetCallerIdentity"]));
                    continue;
                }
                // The one action without resource-level permissions, alone on `*`.
                if statement["Sid"] == "LambdaAccountSettings" {
                    assert_eq!(resource, "*");
                    assert_eq!(statement["Action"], json!(["lambda:GetAccountSettings"]));
                    continue;
                }
                if statement["Sid"] == "RandomPassword" {
                    assert_eq!(resource, "*");
                    assert_eq!(
                        statement["Action"],
                        json!(["secretsmanager:GetRandomPassword"])
                    );
                    continue;
                }
                assert!(resource.starts_with("arn:aws:"), "{resource}");
                assert!(
                    resource.contains("mb-chat-dev")
                        || resource.contains("chat/dev/")
                        || resource.ends_with("mb-artifacts-123456789012-eu-west-1")
                        || resource.contains(":apigateway:eu-west-1::/")
                        || resource.ends_with(":log-group:*"),
                    "{resource} is not scoped to the service"
                );
            }
        }
        // Every permission is in exactly one statement (an action that both mb and
        // CloudFormation call on one resource, once).
        let distinct: std::collections::BTreeSet<_> =
            PERMISSIONS.iter().map(|p| (p.action, p.resource)).collect();
        assert_eq!(actions, distinct.len());
    }

    #[test]
    fn pass_role_is_only_to_lambda_on_the_function_role() {
        let names = names("eu-west-1");
        let policy = serde_json::to_value(policy(&scope(&names))).unwrap();
        let pass: Vec<&Value> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("iam:PassRole"))
            })
            .collect();
        assert_eq!(pass.len(), 1);
        assert_eq!(pass[0]["Action"], json!(["iam:PassRole"]));
        assert_eq!(
            pass[0]["Resource"],
            json!(["arn:aws:iam::123456789012:role/mb-chat-dev-eu-west-1"])
        );
        assert_eq!(
            pass[0]["Condition"]["StringEquals"]["iam:PassedToService"],
            "lambda.amazonaws.com"
        );
    }

    #[test]
    fn arns_follow_the_partition_of_the_region() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        let names = names("cn-north-1");
        let scope = scope(&names);
        assert_eq!(
            Resource::Function.arns(&scope),
            ["arn:aws-cn:lambda:cn-north-1:123456789012:function:mb-chat-dev-broadcast"]
        );
    }

    #[test]
    fn each_example_matches_its_pattern() {
        let names = names("eu-west-1");
        let scope = scope(&names);
        for p in PERMISSIONS {
            let example = p.resource.example(&scope);
            assert!(
                !example.contains('*')
                    || matches!(
                        p.resource,
                        Resource::Account | Resource::LambdaAccount | Resource::SecretsAccount
                    ),
                "{example}"
            );
            let matched = p
                .resource
                .arns(&scope)
                .iter()
                .any(|pattern| glob(pattern, &example));
            assert!(matched, "{example} is not matched by {:?}", p.resource);
        }
        // The secret's grant reaches its six-character suffix, not a longer name.
        let secret = &Resource::Secret.arns(&scope)[0];
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mb-chat-dev-token-key-";
        assert!(glob(secret, &format!("{arn}a1B2c3")));
        assert!(!glob(secret, &format!("{arn}dev-token-key-a1B2c3")));
    }

    /// IAM's matching of a resource pattern: `*` any run of characters, `?` any one.
    fn glob(pattern: &str, text: &str) -> bool {
        let (pattern, text): (Vec<char>, Vec<char>) =
            (pattern.chars().collect(), text.chars().collect());
        fn at(p: &[char], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some(('*', rest)) => (0..=t.len()).any(|i| at(rest, &t[i..])),
                Some(('?', rest)) => !t.is_empty() && at(rest, &t[1..]),
                Some((c, rest)) => t.first() == Some(c) && at(rest, &t[1..]),
            }
        }
        at(&pattern, &text)
    }

    /// The `handlers` sections of CloudFormation's published resource schemas, as cfn-lint
    /// 1.10.0 ships them (the file names its source and how to regenerate it).
    const HANDLERS: &str = include_str!("../../tests/fixtures/handler-permissions.json");

    /// Whether a grant for `granted` (a type, or a family ending in `*`) is for
    /// `resource_type`.
    fn for_type(granted: &str, resource_type: &str) -> bool {
        match granted.strip_suffix('*') {
            Some(family) => resource_type.starts_with(family),
            None => granted == resource_type,
        }
    }

    /// The handler actions of each resource type in the data: type → (handler, action).
    fn handler_actions() -> BTreeMap<String, Vec<(String, String)>> {
        let data: Value = serde_json::from_str(HANDLERS).expect("the fixture is JSON");
        assert_eq!(
            data["source"]["package"], "cfn-lint",
            "{:#}",
            data["source"]
        );
        let types = data["types"].as_object().expect("a types object");
        types
            .iter()
            .map(|(resource_type, handlers)| {
                let handlers = handlers.as_object().expect("handlers by name");
                let actions = handlers
                    .iter()
                    .flat_map(|(handler, actions)| {
                        actions
                            .as_array()
                            .expect("a list of actions")
                            .iter()
                            .map(move |a| {
                                (handler.clone(), a.as_str().expect("an action").to_owned())
                            })
                    })
                    .collect();
                (resource_type.clone(), actions)
            })
            .collect()
    }

    /// CloudFormation calls a resource type's handlers with the caller's credentials, so a
    /// handler action missing from the list fails a deploy on a real account (the Lambda
    /// update handler's lambda:ListTags did), while `mb doctor`, which simulates this same
    /// list, passes. Every action the providers list for a type of the rendered template
    /// is granted for that type or excluded with a reason; IAM action names are
    /// case-insensitive.
    #[test]
    fn every_handler_permission_of_the_templates_types_is_granted_or_excluded() {
        let handlers = handler_actions();
        let names = names("eu-west-1");
        let template = crate::template::render(&names, &Default::default()).unwrap();
        let used: std::collections::BTreeSet<String> = crate::template::resources(&template)
            .into_iter()
            .map(|(_, resource_type)| resource_type)
            .collect();
        assert!(used.contains(FUNCTION), "{used:?}");
        let mut problems = Vec::new();
        for resource_type in &used {
            let Some(actions) = handlers.get(resource_type) else {
                problems.push(format!(
                    "the template uses {resource_type}, which tests/fixtures/handler-permissions.json \
                     has no entry for: add it to tests/fixtures/handler_permissions.py and \
                     regenerate the file"
                ));
                continue;
            };
            for (handler, action) in actions {
                let granted = PERMISSIONS.iter().any(|p| {
                    matches!(p.caller, Caller::CloudFormation(t) if for_type(t, resource_type))
                        && p.action.eq_ignore_ascii_case(action)
                });
                let excluded = NOT_GRANTED.iter().any(|n| {
                    n.resource_type == resource_type
                        && n.actions.iter().any(|a| a.eq_ignore_ascii_case(action))
                });
                match (granted, excluded) {
                    (false, false) => problems.push(format!(
                        "{resource_type}'s {handler} handler needs {action}, which is neither \
                         in PERMISSIONS for {resource_type} nor in NOT_GRANTED"
                    )),
                    (true, true) => problems.push(format!(
                        "{action} is both granted and excluded for {resource_type}"
                    )),
                    _ => {}
                }
            }
        }
        // No stale excuse: every exclusion names an action its type's handlers list.
        for excluded in NOT_GRANTED {
            for action in excluded.actions {
                let listed = handlers.get(excluded.resource_type).is_some_and(|actions| {
                    actions.iter().any(|(_, a)| a.eq_ignore_ascii_case(action))
                });
                if !listed {
                    problems.push(format!(
                        "NOT_GRANTED excludes {action} for {}, which none of its handlers lists",
                        excluded.resource_type
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// docs/deploy.md shows the list as it is. `MB_UPDATE_DOCS=1 cargo test -p mb
    /// permissions` rewrites the section after a change to the list.
    #[test]
    fn the_documentation_shows_this_list() {
        crate::docs::assert_generated(
            "docs/deploy.md",
            "permissions",
            "cli/src/permissions.rs",
            &markdown(),
        );
    }
}
