//! The one place a resource handler's action may be left out of the list, each with its
//! reason (read by the test that holds the list against the handlers' published
//! permissions, and shown in docs/deploy.md).

use super::grant::*;

/// Actions a resource provider's handlers list that the policy leaves out, and why: the
/// one place a handler permission may be excluded (the test that holds [`PERMISSIONS`]
/// against `tests/fixtures/handler-permissions.json` reads it, and docs/deploy.md shows
/// it). Each is for a property the template does not set, or a list handler.
pub struct NotGranted {
    pub resource_type: &'static str,
    pub actions: &'static [&'static str],
    pub why: &'static str,
}

/// Why no list handler's action is granted.
const LISTS: &str = "the list handler's: CloudFormation lists a type's resources only for \
                     resource scans and imports, never in a stack's create, update or delete";

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
