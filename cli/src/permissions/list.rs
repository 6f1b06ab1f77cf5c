//! The list: every action `mb` and CloudFormation's resource handlers need, on which
//! resource, in the order a deploy needs them.

use super::grant::{
    API, Caller, EVENT_INVOKE_CONFIG, FUNCTION, FUNCTION_URL, LAMBDA_PERMISSION, LOG_GROUP,
    Permission, QUEUE, ROLE, Resource, SECRET, TABLE,
};

const DEPLOY: &str = "deploy";
const DESTROY: &str = "destroy";
const DEPLOY_DESTROY: &str = "deploy, destroy";
const ALL: &str = "deploy, info, destroy";
const PUBLISH: &str = "publish";

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
