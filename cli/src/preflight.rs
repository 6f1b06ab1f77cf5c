//! The preflight: what would make a deploy fail late, found before it creates anything.
//!
//! - A `--bucket` in another region than the stack: Lambda reads its code only from a
//!   bucket in its own region, so CloudFormation would fail on the function, late and
//!   unclearly. GetBucketLocation says where the bucket is.
//! - On a create (no stack yet, or one in REVIEW_IN_PROGRESS or ROLLBACK_COMPLETE, which
//!   has no resources), a name the stack would create that something outside the stack
//!   already has: the IAM role (role names are account-wide), the DynamoDB table, the
//!   log group (`/aws/lambda/<function>`, often left behind by an earlier run), and the
//!   token secret's name, which a deleted secret keeps for its recovery window (7 to 30
//!   days, after `mb destroy` of a stack deployed with `--auth jwt`), and the
//!   lost-continuation queue (SQS queue names are per account and region). The create would
//!   fail on it and roll back. A stack that exists owns its resources, so then nothing
//!   is looked up. API Gateway API names need not be unique: no check. SQS also keeps a
//!   deleted queue's name for 60 seconds, which no call reveals: a deploy right after
//!   `mb destroy` fails on the queue with SQS's own reason, and the next one succeeds.
//!
//!   The secret is created only with `--auth jwt` and no `--jwks-url`, so only such a
//!   deploy looks its name up (`creates_secret`); `mb doctor` looks as if it were one.
//!
//! `mb deploy` refuses with each problem and its fix (exit 1) before any CloudFormation
//! call that changes anything; `mb doctor` reports the same as its `preflight` check.
//! The lookups are I/O at the edge; what they mean is decided by pure functions here.

use aws_sdk_cloudformation::types::StackStatus;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_types::date_time::Format;

use crate::aws::{Aws, failure};
use crate::error::Failure;
use crate::naming::Names;
use crate::stack::Stack;

/// Pages of log groups with the function's log group name as prefix read before giving
/// up: a bound, far above the few names that share such a long prefix.
const MAX_LOG_GROUP_PAGES: usize = 20;

/// A resource the stack would create whose name is already in use outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    Role(String),
    Table(String),
    LogGroup(String),
    /// The lost-continuation queue: its name and URL.
    Queue {
        name: String,
        url: String,
    },
    /// The token secret's name, with the `DeletedDate` Secrets Manager gives a secret
    /// scheduled for deletion, or `None` for one in use.
    Secret {
        name: String,
        deleted: Option<String>,
    },
}

/// What the lookups found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The stack's region.
    pub region: String,
    /// `--bucket` and the region it is in, when it was given and exists.
    pub bucket: Option<(String, String)>,
    /// Whether the names were looked up (only when the deploy would create the stack).
    pub names_checked: bool,
    pub taken: Vec<Taken>,
}

/// Whether a deploy would create the stack, so that every name it creates must be free
/// (pure): no stack (or a deleted one), or a stack that exists without resources.
/// ROLLBACK_FAILED and CREATE_FAILED may still hold resources of their own, which the
/// recreate deletes first, so their names are not checked.
pub fn creates(status: Option<&StackStatus>) -> bool {
    matches!(
        status,
        None | Some(
            StackStatus::DeleteComplete
                | StackStatus::ReviewInProgress
                | StackStatus::RollbackComplete
        )
    )
}

/// The region of a bucket from GetBucketLocation's `LocationConstraint` (pure): none (or
/// empty) means us-east-1, and the legacy `EU` means eu-west-1.
pub fn bucket_region(constraint: Option<&str>) -> String {
    match constraint {
        None | Some("") => "us-east-1".to_owned(),
        Some("EU") => "eu-west-1".to_owned(),
        Some(region) => region.to_owned(),
    }
}

/// Each problem, one sentence naming it and its fix (pure).
pub fn problems(found: &Found) -> Vec<String> {
    let region = &found.region;
    let mut out = Vec::new();
    if let Some((bucket, bucket_region)) = &found.bucket
        && bucket_region != region
    {
        out.push(format!(
            "the artifact bucket {bucket} is in {bucket_region}, but the stack is in \
                 {region}, and Lambda reads code only from a bucket in its own region: pass \
                 --bucket with a bucket in {region}, or leave --bucket out to use mb's \
                 default bucket there"
        ));
    }
    for taken in &found.taken {
        out.push(match taken {
            Taken::Role(role) => format!(
                "the IAM role {role} already exists outside the stack (role names are \
                 account-wide): delete it (`aws iam delete-role --role-name {role}`, after \
                 removing its policies) or deploy with another --stage"
            ),
            Taken::Table(table) => format!(
                "the DynamoDB table {table} already exists in {region} outside the stack: \
                 delete it (`aws dynamodb delete-table --table-name {table} --region \
                 {region}`) or deploy with another --stage"
            ),
            Taken::LogGroup(group) => format!(
                "the log group {group} already exists in {region} outside the stack (an \
                 earlier run of the function leaves it behind): delete it (`aws logs \
                 delete-log-group --log-group-name {group} --region {region}`) or deploy \
                 with another --stage"
            ),
            Taken::Queue { name, url } => format!(
                "the SQS queue {name} already exists in {region} outside the stack: delete it \
                 (`aws sqs delete-queue --queue-url {url} --region {region}`) and wait 60 \
                 seconds, as SQS keeps a deleted queue's name that long, or deploy with \
                 another --stage"
            ),
            Taken::Secret { name, deleted } => {
                let state = match deleted {
                    Some(date) => format!(
                        "is scheduled for deletion (DeletedDate {date}; an earlier stack's \
                         token key: Secrets Manager keeps a deleted secret's name for its \
                         recovery window)"
                    ),
                    None => "already exists outside the stack".to_owned(),
                };
                format!(
                    "the Secrets Manager secret {name} in {region} {state}, and a deploy with \
                     --auth jwt and no --jwks-url creates a secret of that name: delete it \
                     for good (`aws secretsmanager delete-secret --secret-id {name} \
                     --force-delete-without-recovery --region {region}`; `aws secretsmanager \
                     restore-secret --secret-id {name}` first if you still need its value) or \
                     deploy with another --stage"
                )
            }
        });
    }
    out
}

/// `mb deploy`'s refusal of `problems`, if there are any (pure).
pub fn refusal(stack: &str, problems: &[String]) -> Option<Failure> {
    match problems {
        [] => None,
        [one] => Some(Failure::new(format!(
            "cannot deploy {stack}; nothing was created: {one}"
        ))),
        many => Some(Failure::new(format!(
            "cannot deploy {stack}; nothing was created. {} problems:\n{}",
            many.len(),
            many.iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))),
    }
}

/// Looks everything up for the stack as the caller described it (`None`: there is
/// none): `given_bucket`'s region, and (on a create) each name. Calls only Get/List
/// operations.
pub async fn look(
    aws: &Aws,
    names: &Names,
    account: &str,
    given_bucket: Option<&str>,
    stack: Option<&Stack>,
    creates_secret: bool,
) -> Result<Found, Failure> {
    let bucket = match given_bucket {
        Some(bucket) => location(aws, bucket, account)
            .await?
            .map(|region| (bucket.to_owned(), region)),
        None => None,
    };
    let names_checked = creates(stack.map(|s| &s.status));
    let mut taken = Vec::new();
    if names_checked {
        let (role, table, group, queue, secret) = tokio::join!(
            role_exists(aws, &names.role),
            table_exists(aws, &names.table),
            log_group_exists(aws, &names.log_group),
            queue_url(aws, &names.lost_queue),
            async {
                if creates_secret {
                    secret_state(aws, &names.secret).await
                } else {
                    Ok(None)
                }
            },
        );
        if role? {
            taken.push(Taken::Role(names.role.clone()));
        }
        if table? {
            taken.push(Taken::Table(names.table.clone()));
        }
        if group? {
            taken.push(Taken::LogGroup(names.log_group.clone()));
        }
        if let Some(url) = queue? {
            taken.push(Taken::Queue {
                name: names.lost_queue.clone(),
                url,
            });
        }
        if let Some(deleted) = secret? {
            taken.push(Taken::Secret {
                name: names.secret.clone(),
                deleted,
            });
        }
    }
    Ok(Found {
        region: names.region.to_string(),
        bucket,
        names_checked,
        taken,
    })
}

/// The region of `bucket`; `None` when it does not exist (the deploy creates it, in the
/// stack's region).
async fn location(aws: &Aws, bucket: &str, account: &str) -> Result<Option<String>, Failure> {
    let answer = aws
        .s3()
        .get_bucket_location()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .send()
        .await;
    match answer {
        Ok(out) => Ok(Some(bucket_region(
            out.location_constraint().map(|c| c.as_str()),
        ))),
        Err(err) if err.code() == Some("NoSuchBucket") => Ok(None),
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 403) =>
        {
            Err(Failure::new(format!(
                "cannot find the region of the S3 bucket `{bucket}`: it belongs to another \
                 account than {account}, or these credentials may not call \
                 s3:GetBucketLocation on it; pass --bucket with a bucket of your own"
            )))
        }
        Err(err) => Err(failure(&err, "S3 GetBucketLocation")),
    }
}

async fn role_exists(aws: &Aws, role: &str) -> Result<bool, Failure> {
    match aws.iam().get_role().role_name(role).send().await {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(false)
        }
        Err(err) => Err(failure(&err, "IAM GetRole")),
    }
}

async fn table_exists(aws: &Aws, table: &str) -> Result<bool, Failure> {
    match aws
        .dynamodb()
        .describe_table()
        .table_name(table)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(err) => Err(failure(&err, "DynamoDB DescribeTable")),
    }
}

/// The URL of the queue of that name, if one exists (SQS GetQueueUrl).
async fn queue_url(aws: &Aws, name: &str) -> Result<Option<String>, Failure> {
    match aws.sqs().get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(Some(out.queue_url().unwrap_or(name).to_owned())),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(err) => Err(failure(&err, "SQS GetQueueUrl")),
    }
}

/// Whether a secret has the name: `None` when none does, `Some(None)` when one in use
/// does, `Some(Some(date))` when one scheduled for deletion does (DescribeSecret answers
/// for such a secret, with its `DeletedDate`).
///
/// A denial counts as no secret: a grant scoped to the secret's ARN (`NAME-??????`, the
/// six characters Secrets Manager appends) can only match a secret that exists, so
/// Secrets Manager may answer a least-privilege caller AccessDeniedException rather than
/// ResourceNotFoundException for a free name, while a secret of that name, scheduled for
/// deletion or not, matches the grant. `mb doctor` says whether the grant is there.
async fn secret_state(aws: &Aws, name: &str) -> Result<Option<Option<String>>, Failure> {
    match aws
        .secretsmanager()
        .describe_secret()
        .secret_id(name)
        .send()
        .await
    {
        Ok(secret) => Ok(Some(secret.deleted_date().map(|date| {
            date.fmt(Format::DateTime)
                .unwrap_or_else(|_| date.secs().to_string())
        }))),
        Err(err)
            if err.as_service_error().is_some_and(|e| {
                e.is_resource_not_found_exception() || e.code() == Some("AccessDeniedException")
            }) =>
        {
            Ok(None)
        }
        Err(err) => Err(failure(&err, "Secrets Manager DescribeSecret")),
    }
}

/// DescribeLogGroups by prefix, then an exact match: there is no lookup by name.
async fn log_group_exists(aws: &Aws, group: &str) -> Result<bool, Failure> {
    let logs = aws.logs();
    let mut next: Option<String> = None;
    for _ in 0..MAX_LOG_GROUP_PAGES {
        let page = logs
            .describe_log_groups()
            .log_group_name_prefix(group)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| failure(&e, "CloudWatch Logs DescribeLogGroups"))?;
        if page
            .log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(group))
        {
            return Ok(true);
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(false),
        }
    }
    Err(Failure::new(format!(
        "over {MAX_LOG_GROUP_PAGES} pages of log groups start with {group}; delete the ones \
         left behind (`aws logs describe-log-groups --log-group-name-prefix {group}`)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(bucket: Option<(&str, &str)>, taken: Vec<Taken>) -> Found {
        Found {
            region: "us-east-1".into(),
            bucket: bucket.map(|(b, r)| (b.into(), r.into())),
            names_checked: true,
            taken,
        }
    }

    #[test]
    fn only_a_create_checks_the_names() {
        use StackStatus as S;
        for status in [
            None,
            Some(S::DeleteComplete),
            Some(S::ReviewInProgress),
            Some(S::RollbackComplete),
        ] {
            assert!(creates(status.as_ref()), "{status:?}");
        }
        for status in [
            S::CreateComplete,
            S::UpdateComplete,
            S::UpdateRollbackComplete,
            S::CreateInProgress,
            S::RollbackFailed,
            S::CreateFailed,
            S::DeleteFailed,
        ] {
            assert!(!creates(Some(&status)), "{status:?}");
        }
    }

    #[test]
    fn location_constraints_become_regions() {
        assert_eq!(bucket_region(None), "us-east-1");
        assert_eq!(bucket_region(Some("")), "us-east-1");
        assert_eq!(bucket_region(Some("EU")), "eu-west-1");
        assert_eq!(bucket_region(Some("eu-central-1")), "eu-central-1");
        assert_eq!(bucket_region(Some("cn-north-1")), "cn-north-1");
    }

    #[test]
    fn a_bucket_in_another_region_names_both_and_the_fix() {
        let problems = problems(&found(Some(("mine", "eu-west-1")), vec![]));
        assert_eq!(problems.len(), 1);
        let text = &problems[0];
        assert!(text.contains("mine is in eu-west-1"), "{text}");
        assert!(text.contains("the stack is in us-east-1"), "{text}");
        assert!(
            text.contains("--bucket with a bucket in us-east-1"),
            "{text}"
        );
        assert!(self::problems(&found(Some(("mine", "us-east-1")), vec![])).is_empty());
        assert!(self::problems(&found(None, vec![])).is_empty());
    }

    #[test]
    fn each_taken_name_says_how_to_free_it() {
        let problems = problems(&found(
            None,
            vec![
                Taken::Role("mb-chat-dev-us-east-1".into()),
                Taken::Table("mb-chat-dev-rooms".into()),
                Taken::LogGroup("/aws/lambda/mb-chat-dev-broadcast".into()),
                Taken::Queue {
                    name: "mb-chat-dev-lost".into(),
                    url: "https://sqs.us-east-1.amazonaws.com/123456789012/mb-chat-dev-lost".into(),
                },
            ],
        ));
        assert_eq!(problems.len(), 4);
        assert!(
            problems[3].contains(
                "the SQS queue mb-chat-dev-lost already exists in us-east-1 outside the stack: \
                 delete it (`aws sqs delete-queue --queue-url \
                 https://sqs.us-east-1.amazonaws.com/123456789012/mb-chat-dev-lost --region \
                 us-east-1`) and wait 60 seconds"
            ),
            "{}",
            problems[3]
        );
        let secrets = self::problems(&found(
            None,
            vec![
                Taken::Secret {
                    name: "mb-chat-dev-token-key".into(),
                    deleted: Some("2026-12-10T11:35:52Z".into()),
                },
                Taken::Secret {
                    name: "mb-chat-dev-token-key".into(),
                    deleted: None,
                },
            ],
        ));
        assert!(
            secrets[0].contains("is scheduled for deletion (DeletedDate 2026-12-10T11:35:52Z;"),
            "{}",
            secrets[0]
        );
        assert!(secrets[1].contains("already exists outside the stack"));
        for secret in &secrets {
            assert!(
                secret.contains(
                    "aws secretsmanager delete-secret --secret-id mb-chat-dev-token-key \
                     --force-delete-without-recovery --region us-east-1"
                ),
                "{secret}"
            );
            assert!(secret.contains("--auth jwt and no --jwks-url"), "{secret}");
        }
        assert!(problems[0].contains("aws iam delete-role --role-name mb-chat-dev-us-east-1"));
        assert!(problems[1].contains("--table-name mb-chat-dev-rooms --region us-east-1"));
        assert!(problems[2].contains(
            "aws logs delete-log-group --log-group-name /aws/lambda/mb-chat-dev-broadcast"
        ));
        assert!(problems.iter().all(|p| p.contains("another --stage")));
        let many = refusal("mb-chat-dev", &problems).unwrap().to_string();
        assert!(
            many.starts_with("cannot deploy mb-chat-dev; nothing was created. 4 problems:\n  - ")
        );
        let one = refusal("mb-chat-dev", &problems[2..3]).unwrap().to_string();
        assert!(one.contains("nothing was created: the log group"), "{one}");
        assert!(refusal("mb-chat-dev", &[]).is_none());
    }
}
