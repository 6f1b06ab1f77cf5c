//! The artifact bucket, the upload and the preflight of `mb deploy`, against moto through
//! the built `mb` with a small `--artifact` zip (no build), every call through the
//! recorder (`mb_tests::recorder`):
//!
//! - a default bucket whose public access block and encryption were removed is locked
//!   down again by the next deploy, which says so;
//! - an object with other content under the package's key is replaced (the bytes are
//!   checked), whether it has no SHA-256 checksum or another one; an identical one is
//!   not uploaded again;
//! - a log group, role or table of the stack's names that exists beforehand stops the
//!   first deploy before any stack call, naming it, and `mb doctor` fails its `preflight`
//!   check with the same; so does the token secret's name while a deleted secret keeps it
//!   (its recovery window, after `mb destroy` of a stack deployed with `--auth jwt`); a
//!   `--bucket` in another region stops it naming both regions.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use mb_tests::deploying::Deploying;
use mb_tests::{assert_ok, text};
use serde_json::Value;
use sha2::{Digest, Sha256};

const BUCKET: &str = "mb-artifacts-123456789012-us-east-1";
const LOG_GROUP: &str = "/aws/lambda/mb-chat-dev-broadcast";
const ROLE: &str = "mb-chat-dev-us-east-1";
const TABLE: &str = "mb-chat-dev-rooms";
const SECRET: &str = "mb-chat-dev-token-key";

/// moto behind the recorder (`mb_tests::deploying`), with the test's S3 client.
struct World {
    base: Deploying,
    s3: aws_sdk_s3::Client,
}

impl std::ops::Deref for World {
    type Target = Deploying;

    fn deref(&self) -> &Deploying {
        &self.base
    }
}

impl World {
    async fn start() -> Option<World> {
        let base = Deploying::start("chat").await?;
        let s3 = base.s3();
        Some(World { base, s3 })
    }

    async fn deploy(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["--yes"];
        args.extend_from_slice(extra);
        self.base.deploy(&args).await
    }

    /// The package's key: content-addressed by the zip's sha256.
    fn key(&self) -> String {
        let zip = std::fs::read(&self.artifact).expect("the zip");
        let hex: String = Sha256::digest(&zip)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("chat/dev/{hex}.zip")
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        mb_tests::s3_object(&self.s3, BUCKET, key).await
    }

    fn count(&self, operation: &str) -> usize {
        self.recorder
            .operations()
            .iter()
            .filter(|o| *o == operation)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_down_removed_since_is_put_back_and_only_the_same_package_skips_the_upload() {
    let Some(world) = World::start().await else {
        return;
    };
    let first = world.deploy(&[]).await;
    assert_ok("the first deploy", &first);
    assert!(
        text(&first.stderr).contains(&format!("created the artifact bucket {BUCKET}")),
        "{}",
        text(&first.stderr)
    );
    let zip = std::fs::read(&world.artifact).expect("the zip");
    let key = world.key();
    assert_eq!(world.object(&key).await, zip);

    // Someone removes the public access block and the default encryption.
    world
        .s3
        .delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .expect("delete the public access block");
    world
        .s3
        .delete_bucket_encryption()
        .bucket(BUCKET)
        .send()
        .await
        .expect("delete the encryption");
    assert!(
        world
            .s3
            .get_public_access_block()
            .bucket(BUCKET)
            .send()
            .await
            .is_err(),
        "the block is gone"
    );

    // The next deploy puts both back and says so; the package is there: no upload.
    let puts = world.count("S3 PutObject");
    let again = world.deploy(&[]).await;
    assert_ok("the second deploy", &again);
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains(&format!(
            "the artifact bucket {BUCKET} had no public access block; blocked public access \
             again"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the artifact bucket {BUCKET} had no default encryption; turned on SSE-S3 again"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("is already uploaded"), "{stderr}");
    assert_eq!(world.count("S3 PutObject"), puts, "uploaded again");
    mb_tests::assert_locked_down(&world.s3, BUCKET).await;

    // A locked-down bucket is left alone and nothing is said about it.
    let quiet = world.deploy(&[]).await;
    assert_ok("the third deploy", &quiet);
    assert!(
        !text(&quiet.stderr).contains("again"),
        "{}",
        text(&quiet.stderr)
    );

    // Other content under the package's key, without a SHA-256 checksum (the SDK's
    // default CRC32 only) and then with its own SHA-256 checksum: replaced each time.
    for checksum in [None, Some(ChecksumAlgorithm::Sha256)] {
        world
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .set_checksum_algorithm(checksum.clone())
            .body(ByteStream::from_static(b"placed by the test"))
            .send()
            .await
            .expect("put other content");
        let replaced = world.deploy(&[]).await;
        assert_ok("the deploy over other content", &replaced);
        let stderr = text(&replaced.stderr);
        assert!(
            stderr.contains("in place of an object with other content"),
            "{checksum:?}: {stderr}"
        );
        assert_eq!(world.object(&key).await, zip, "{checksum:?}");
    }
    // And the package mb uploaded is recognised again.
    let puts = world.count("S3 PutObject");
    let same = world.deploy(&[]).await;
    assert_ok("the deploy of the same package", &same);
    assert!(text(&same.stderr).contains("is already uploaded"));
    assert_eq!(world.count("S3 PutObject"), puts);
}

/// The calls that change something in AWS, of the recorded ones.
fn changing(operations: &[String]) -> Vec<&String> {
    operations
        .iter()
        .filter(|o| {
            let read = ["Describe", "Get", "Head", "List", "Simulate"]
                .iter()
                .any(|verb| {
                    o.split(' ')
                        .next_back()
                        .is_some_and(|op| op.starts_with(verb))
                });
            !read
        })
        .collect()
}

/// `mb doctor --json`'s `preflight` check, of a report that fails.
async fn doctor_preflight(world: &World, extra: &[&str]) -> Value {
    let (code, check) = doctor_check(world, extra).await;
    assert_eq!(code, Some(1), "{check:#}");
    check
}

/// `mb doctor --json`'s exit status and its `preflight` check.
async fn doctor_check(world: &World, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["--arch", "x86_64", "--json"];
    args.extend_from_slice(extra);
    let out = world.mb("doctor", &args).await;
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stderr)));
    let check = report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == "preflight"))
        .cloned()
        .unwrap_or_else(|| panic!("no preflight check: {report:#}"));
    (out.status.code(), check)
}

#[tokio::test(flavor = "multi_thread")]
async fn names_taken_outside_the_stack_stop_the_first_deploy_before_any_stack_call() {
    let Some(world) = World::start().await else {
        return;
    };
    let logs = aws_sdk_cloudwatchlogs::Client::new(&world.config);
    logs.create_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await
        .expect("a log group left behind");
    // Another group sharing the prefix is no conflict.
    logs.create_log_group()
        .log_group_name(format!("{LOG_GROUP}-old"))
        .send()
        .await
        .expect("a log group with the same prefix");

    let refused = world.deploy(&[]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains(&format!(
            "the log group {LOG_GROUP} already exists in us-east-1"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "aws logs delete-log-group --log-group-name {LOG_GROUP}"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains(ROLE) && !stderr.contains(TABLE),
        "{stderr}"
    );
    let operations = world.recorder.operations();
    assert!(
        operations
            .iter()
            .filter(|o| o.starts_with("CloudFormation"))
            .all(|o| o == "CloudFormation DescribeStacks"),
        "{operations:?}"
    );
    assert_eq!(changing(&operations), Vec::<&String>::new());
    assert!(
        operations.contains(&"CloudWatch Logs DescribeLogGroups".to_owned()),
        "{operations:?}"
    );

    let check = doctor_preflight(&world, &[]).await;
    assert_eq!(check["status"], "fail", "{check:#}");
    assert!(
        check["summary"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("the log group {LOG_GROUP} already exists")),
        "{check:#}"
    );

    // The role and the table instead: both named, the log group no more.
    logs.delete_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await
        .expect("delete the log group");
    aws_sdk_iam::Client::new(&world.config)
        .create_role()
        .role_name(ROLE)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .expect("a role of the same name");
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    aws_sdk_dynamodb::Client::new(&world.config)
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("connectionId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("connectionId")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("a table of the same name");
    // SQS queue names are per account and region too.
    let queue = aws_sdk_sqs::Client::new(&world.config)
        .create_queue()
        .queue_name("mb-chat-dev-lost")
        .send()
        .await
        .expect("a queue of the same name");
    // The URL names the endpoint mb called (here the recorder before moto).
    let queue = queue.queue_url().unwrap_or_default();
    let queue = &queue[queue.find("/123456789012/").unwrap_or_default()..];
    let refused = world.deploy(&[]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(
        stderr.contains(
            "the SQS queue mb-chat-dev-lost already exists in us-east-1 outside the stack: \
             delete it (`aws sqs delete-queue --queue-url "
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{queue} --region us-east-1`) and wait 60 seconds")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("the IAM role {ROLE} already exists")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("the DynamoDB table {TABLE} already exists")),
        "{stderr}"
    );
    assert!(!stderr.contains(LOG_GROUP), "{stderr}");
    assert_eq!(
        changing(&world.recorder.operations()),
        Vec::<&String>::new()
    );
    let check = doctor_preflight(&world, &[]).await;
    assert_eq!(check["status"], "fail", "{check:#}");
    assert_eq!(
        check["details"].as_array().map(Vec::len),
        Some(3),
        "{check:#}"
    );
}

/// After `mb destroy` of a stack deployed with `--auth jwt`, Secrets Manager keeps the
/// token secret's name for its recovery window, and CloudFormation's create of the next
/// stack would fail on it and roll back.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_secret_scheduled_for_deletion_stops_the_first_deploy_naming_the_fix() {
    let Some(world) = World::start().await else {
        return;
    };
    let secrets = aws_sdk_secretsmanager::Client::new(&world.config);
    secrets
        .create_secret()
        .name(SECRET)
        .secret_string("an earlier stack's key")
        .send()
        .await
        .expect("the token secret of an earlier stack");
    secrets
        .delete_secret()
        .secret_id(SECRET)
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("deleted, with a recovery window");

    let refused = world.deploy(&["--auth", "jwt"]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains(&format!(
            "the Secrets Manager secret {SECRET} in us-east-1 is scheduled for deletion (DeletedDate "
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "aws secretsmanager delete-secret --secret-id {SECRET} \
             --force-delete-without-recovery --region us-east-1"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "aws secretsmanager restore-secret --secret-id {SECRET}"
        )),
        "{stderr}"
    );
    let operations = world.recorder.operations();
    assert!(
        operations.contains(&"Secrets Manager DescribeSecret".to_owned()),
        "{operations:?}"
    );
    assert!(
        operations
            .iter()
            .filter(|o| o.starts_with("CloudFormation"))
            .all(|o| o == "CloudFormation DescribeStacks"),
        "{operations:?}"
    );
    assert_eq!(changing(&operations), Vec::<&String>::new());

    let check = doctor_preflight(&world, &[]).await;
    assert_eq!(check["status"], "fail", "{check:#}");
    assert!(
        check["summary"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!(
                "the Secrets Manager secret {SECRET} in us-east-1 is scheduled for deletion"
            )),
        "{check:#}"
    );

    // Deleted for good, as the message says: the name is free and the deploy goes on.
    secrets
        .delete_secret()
        .secret_id(SECRET)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("deleted without recovery");
    let (_, check) = doctor_check(&world, &[]).await;
    assert_eq!(check["status"], "pass", "{check:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_in_another_region_stops_the_deploy_naming_both_regions() {
    let Some(world) = World::start().await else {
        return;
    };
    let elsewhere = world
        .config
        .to_builder()
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&elsewhere)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("chat-code-eu")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("a bucket in eu-west-1");

    let refused = world.deploy(&["--bucket", "chat-code-eu"]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains(
            "the artifact bucket chat-code-eu is in eu-west-1, but the stack is in us-east-1"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("--bucket with a bucket in us-east-1"),
        "{stderr}"
    );
    let operations = world.recorder.operations();
    assert!(
        operations.contains(&"S3 GetBucketLocation".to_owned()),
        "{operations:?}"
    );
    assert_eq!(changing(&operations), Vec::<&String>::new());

    let check = doctor_preflight(&world, &["--bucket", "chat-code-eu"]).await;
    assert_eq!(check["status"], "fail", "{check:#}");
    assert!(
        check["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("eu-west-1"),
        "{check:#}"
    );
}
