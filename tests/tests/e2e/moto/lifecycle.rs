//! The stack lifecycle against moto, through the built `mb` binary, as a user runs it:
//! a first deploy (build, artifact bucket, upload, CreateStack, the URL printed), a second
//! deploy with nothing changed, a changed handler, `mb info --json`, `mb destroy`; and
//! every AWS operation those runs called is granted by `mb doctor --policy`.
//!
//! moto is faithful for S3, CloudFormation create/update/delete and outputs, and
//! DynamoDB; its API Gateway resources are skipped, so the URL output keeps its
//! `${Api}` placeholder here. Stack states moto never reaches are tested against the
//! wire fake in `wire_fakes/cloudformation_stack_states.rs`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use futures_util::StreamExt;
use mb_tests::moto::Moto;
use mb_tests::recorder::Recorder;
use mb_tests::{assert_ok, mb, text};
use sha2::{Digest, Sha256};

/// A deploy may compile the function from cold.
const DEPLOY_LIMIT: Duration = Duration::from_secs(1200);
const LIMIT: Duration = Duration::from_secs(120);
const BUCKET: &str = "mb-artifacts-123456789012-us-east-1";

struct Clients {
    s3: aws_sdk_s3::Client,
    cf: aws_sdk_cloudformation::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    lambda: aws_sdk_lambda::Client,
    sqs: aws_sdk_sqs::Client,
}

async fn clients(moto: &Moto) -> Clients {
    let config = moto.sdk_config().await;
    Clients {
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        ),
        cf: aws_sdk_cloudformation::Client::new(&config),
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        lambda: aws_sdk_lambda::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
    }
}

/// Every key (latest versions) under `prefix`.
async fn keys(s3: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let out = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .send()
        .await
        .expect("list objects");
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

async fn object(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    mb_tests::s3_object(s3, BUCKET, key).await
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put object");
}

async fn stack(
    cf: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Option<aws_sdk_cloudformation::types::Stack> {
    match cf.describe_stacks().stack_name(name).send().await {
        Ok(out) => out.stacks().first().cloned(),
        Err(err) => {
            let text = format!("{err:?}");
            assert!(text.contains("does not exist"), "describe {name}: {text}");
            None
        }
    }
}

fn parameter(stack: &aws_sdk_cloudformation::types::Stack, key: &str) -> String {
    mb_tests::stack_parameter(stack, key)
}

async fn event_count(cf: &aws_sdk_cloudformation::Client, name: &str) -> usize {
    cf.describe_stack_events()
        .stack_name(name)
        .send()
        .await
        .expect("events")
        .stack_events()
        .len()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The zip with its `bootstrap` changed (bytes appended, which keeps it a valid ELF): a
/// new version of the handler.
fn changed_handler(zip: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("the uploaded zip");
    let mut binary = Vec::new();
    archive
        .by_name("bootstrap")
        .expect("bootstrap in the zip")
        .read_to_end(&mut binary)
        .expect("read bootstrap");
    binary.extend_from_slice(b"a changed handler");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    out.start_file("bootstrap", options).expect("zip entry");
    out.write_all(&binary).expect("zip write");
    out.finish().expect("zip finish").into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_redeploy_update_info_and_destroy() {
    let Some(moto) = Moto::start() else { return };
    if mb_tests::required_tool(
        mb_tests::venv_bin().join("cargo-zigbuild"),
        "cargo-zigbuild",
    )
    .is_none()
        || !mb_tests::arm64_target_installed()
    {
        return;
    }
    // The package test's build (arm64, the default) is this deploy's: one build, never
    // removed under it.
    let _build = crate::FUNCTION_BUILD.lock().await;
    let aws = clients(&moto).await;
    // mb's calls go through a recorder, which names each AWS operation (step 7).
    let recorder = Recorder::start(moto.endpoint.trim_start_matches("http://")).await;
    let path = mb_tests::path_with_venv();
    let path = path.to_string_lossy().into_owned();
    let mut vars = mb::loopback_aws_env();
    vars.push(("PATH", &path));
    let target = [
        "--service",
        "chat",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &recorder.endpoint,
    ];
    let with = |command: &str, extra: &[&str]| -> Vec<String> {
        std::iter::once(command)
            .chain(target)
            .chain(extra.iter().copied())
            .map(str::to_owned)
            .collect()
    };
    let run = |args: Vec<String>, limit: Duration| {
        let vars = vars.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            mb::run_async(&args, &vars, limit).await
        }
    };

    // 1. The first deploy builds, makes the bucket, uploads and creates the stack.
    let first = run(with("deploy", &[]), DEPLOY_LIMIT).await;
    assert_ok("the first deploy", &first);
    let stdout = text(&first.stdout);
    let url = stdout.lines().next().unwrap_or_default();
    assert!(
        url.starts_with("wss://") && url.contains(".execute-api.us-east-1."),
        "the URL comes first: {stdout}"
    );
    assert!(stdout.contains(&format!("wscat -c {url}")), "{stdout}");
    let uploaded = keys(&aws.s3, "chat/dev/").await;
    assert_eq!(uploaded.len(), 1, "{uploaded:?}");
    let key = uploaded[0].clone();
    let zip = object(&aws.s3, &key).await;
    assert_eq!(
        key,
        format!("chat/dev/{}.zip", sha256_hex(&zip)),
        "content-addressed"
    );
    mb_tests::assert_locked_down(&aws.s3, BUCKET).await;
    let created = stack(&aws.cf, "mb-chat-dev").await.expect("the stack");
    assert_eq!(
        created.stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(parameter(&created, "ArtifactKey"), key);
    assert_eq!(parameter(&created, "Architecture"), "arm64");

    // 2. Nothing changed but the object under the key, which the test replaced: the
    //    package is uploaded again (its checksum differs), but the stack is not updated,
    //    no change set is left behind, exit 0.
    put(&aws.s3, &key, b"placed by the test").await;
    let events_before = event_count(&aws.cf, "mb-chat-dev").await;
    let again = run(with("deploy", &[]), DEPLOY_LIMIT).await;
    assert_ok("the unchanged deploy", &again);
    let stderr = text(&again.stderr);
    assert!(stderr.contains("no changes"), "{stderr}");
    assert!(
        object(&aws.s3, &key).await == zip,
        "the object with other content under the package's key was kept"
    );
    assert_eq!(event_count(&aws.cf, "mb-chat-dev").await, events_before);
    let change_sets = aws
        .cf
        .list_change_sets()
        .stack_name("mb-chat-dev")
        .send()
        .await
        .expect("change sets");
    assert!(change_sets.summaries().is_empty(), "{change_sets:?}");
    assert!(
        text(&again.stdout).starts_with(url),
        "outputs printed again"
    );

    // 3. A changed handler: a new key, and the stack updated to it. Versioning is on from
    //    here, so destroy has versions to remove.
    aws.s3
        .put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let dir = std::env::temp_dir().join(format!("mb-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let changed = dir.join("changed.zip");
    std::fs::write(&changed, changed_handler(&zip)).expect("write the changed zip");
    let changed_path = changed.to_string_lossy().into_owned();
    let update = run(with("deploy", &["--artifact", &changed_path]), DEPLOY_LIMIT).await;
    assert_ok("the changed deploy", &update);
    let stderr = text(&update.stderr);
    assert!(stderr.contains("uploaded s3://"), "{stderr}");
    let mut uploaded = keys(&aws.s3, "chat/dev/").await;
    uploaded.sort();
    assert_eq!(uploaded.len(), 2, "{uploaded:?}");
    let new_key = uploaded
        .iter()
        .find(|k| **k != key)
        .expect("a new key")
        .clone();
    let updated = stack(&aws.cf, "mb-chat-dev").await.expect("the stack");
    assert_eq!(
        updated.stack_status().map(|s| s.as_str()),
        Some("UPDATE_COMPLETE")
    );
    assert_eq!(parameter(&updated, "ArtifactKey"), new_key);
    assert!(
        stderr.contains("UPDATE_COMPLETE"),
        "events followed: {stderr}"
    );

    // 4. mb info --json: outputs and the live connections. The table holds one item per
    // connection (room `~<id>`) and one per membership (room `#` or a channel): only
    // connections count, and not one whose `expiresAt` has passed (TTL deletes lazily).
    let now_s = mb_lambda::clock::now_ms() / 1000;
    let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
    let n = |v: i64| aws_sdk_dynamodb::types::AttributeValue::N(v.to_string());
    let mut items = Vec::new();
    for (id, expires_at) in [("c1", now_s + 600), ("c2", now_s + 600), ("c3", now_s - 1)] {
        items.push((format!("~{id}"), id, expires_at));
        items.push(("#".to_owned(), id, expires_at));
    }
    items.push(("lobby".to_owned(), "c1", now_s + 600));
    for (room, id, expires_at) in items {
        aws.dynamodb
            .put_item()
            .table_name("mb-chat-dev-rooms")
            .item("room", s(&room))
            .item("connectionId", s(id))
            .item(mb_lambda::store::dynamodb::EXPIRES_AT, n(expires_at))
            .send()
            .await
            .expect("put an item");
    }
    // A continuation Lambda gave up on is recorded in the stack's queue (Lambda's
    // on-failure destination, as the stack configured it), and `mb info` counts it.
    let invoke_config = aws
        .lambda
        .get_function_event_invoke_config()
        .function_name("mb-chat-dev-broadcast")
        .send()
        .await
        .expect("the function's event invoke config");
    let lost_queue = invoke_config
        .destination_config()
        .and_then(|d| d.on_failure())
        .and_then(|f| f.destination())
        .unwrap_or_default()
        .to_owned();
    assert!(
        lost_queue.ends_with(":mb-chat-dev-lost"),
        "{invoke_config:?}"
    );
    assert_eq!(invoke_config.maximum_retry_attempts(), Some(2));
    let queue_url = aws
        .sqs
        .get_queue_url()
        .queue_name("mb-chat-dev-lost")
        .send()
        .await
        .expect("the lost-continuation queue")
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    aws.sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body(r#"{"version":"1.0","requestContext":{"condition":"RetriesExhausted"}}"#)
        .send()
        .await
        .expect("record a lost continuation");
    let info = run(with("info", &["--json"]), LIMIT).await;
    assert_ok("info", &info);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("one JSON object");
    assert_eq!(info["status"], "UPDATE_COMPLETE");
    // moto's Ref names the queue's AWS URL, its GetQueueUrl the emulator's.
    let output = info["outputs"]["LostContinuations"]
        .as_str()
        .unwrap_or_default();
    assert!(
        output.starts_with("https://sqs.us-east-1.amazonaws.com/")
            && output.ends_with("/mb-chat-dev-lost"),
        "{info:#}"
    );
    assert_eq!(info["lostContinuations"], 1);
    assert_eq!(info["connections"], 2);
    assert_eq!(info["url"], url);
    assert_eq!(info["outputs"]["WebSocketUrl"], url);
    assert_eq!(info["outputs"]["Table"], "mb-chat-dev-rooms");
    // moto's function URL (tests/moto/mb_moto_server.py), shown as the publish URL.
    let publish = info["publishUrl"].as_str().unwrap_or_default();
    assert!(
        publish.starts_with("https://") && publish.contains(".lambda-url.us-east-1.on.aws"),
        "{info:#}"
    );
    assert_eq!(info["outputs"]["PublishUrl"], publish);
    assert_eq!(info["outputs"]["Function"], "mb-chat-dev-broadcast");

    // 5. Destroy: refused without --yes where nobody can be asked; with it, the stack and
    //    every version of this service's artifacts go, another service's stay.
    put(&aws.s3, "other/dev/keep.zip", b"another service").await;
    let refused = run(with("destroy", &[]), LIMIT).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("--yes"));
    assert!(
        stack(&aws.cf, "mb-chat-dev").await.is_some(),
        "nothing deleted"
    );

    let destroyed = run(with("destroy", &["--yes"]), LIMIT).await;
    assert_ok("destroy", &destroyed);
    assert!(text(&destroyed.stderr).contains("DELETE_COMPLETE"));
    assert!(stack(&aws.cf, "mb-chat-dev").await.is_none());
    let versions = aws
        .s3
        .list_object_versions()
        .bucket(BUCKET)
        .send()
        .await
        .expect("versions");
    let left: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.key())
        .chain(versions.delete_markers().iter().filter_map(|m| m.key()))
        .collect();
    assert_eq!(left, ["other/dev/keep.zip"]);

    // 6. Destroying what is gone is fine.
    let twice = run(with("destroy", &["--yes"]), LIMIT).await;
    assert_ok("the second destroy", &twice);
    assert!(text(&twice.stderr).contains("nothing to delete"));
    let info = run(with("info", &[]), LIMIT).await;
    assert_eq!(info.status.code(), Some(1));
    assert!(text(&info.stderr).contains("no stack mb-chat-dev in us-east-1"));
    let _ = std::fs::remove_dir_all(&dir);

    // 7. Every operation mb called above is granted by `mb doctor --policy`.
    let called: BTreeSet<String> = recorder.operations().into_iter().collect();
    let policy = run(with("doctor", &["--policy"]), LIMIT).await;
    assert_ok("doctor --policy", &policy);
    let policy: serde_json::Value = serde_json::from_slice(&policy.stdout).expect("JSON");
    let granted: BTreeSet<&str> = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .flat_map(|s| s["Action"].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str())
        .collect();
    for operation in &called {
        let actions = actions_of(operation).unwrap_or_else(|| {
            panic!(
                "mb now calls {operation}: add the IAM action it needs to \
                 cli/src/permissions.rs and to actions_of() here"
            )
        });
        for action in actions {
            assert!(
                granted.contains(action),
                "{operation} needs {action}, which `mb doctor --policy` does not grant"
            );
        }
    }
    // The run covered the calls of a deploy, an update, info and destroy.
    for operation in [
        "S3 PutObject",
        "CloudFormation CreateStack",
        "CloudFormation ExecuteChangeSet",
        "DynamoDB Scan",
        "CloudFormation DeleteStack",
        "S3 DeleteObjects",
    ] {
        assert!(
            called.contains(operation),
            "{operation} was not called: {called:?}"
        );
    }
}

/// The IAM actions an AWS operation needs (the Service Authorization Reference), for the
/// operations `mb` calls.
fn actions_of(operation: &str) -> Option<&'static [&'static str]> {
    Some(match operation {
        "STS GetCallerIdentity" => &["sts:GetCallerIdentity"],
        "S3 HeadBucket" => &["s3:ListBucket"],
        "S3 CreateBucket" => &["s3:CreateBucket", "s3:PutBucketOwnershipControls"],
        "S3 PutPublicAccessBlock" => &["s3:PutBucketPublicAccessBlock"],
        "S3 PutBucketEncryption" => &["s3:PutEncryptionConfiguration"],
        "S3 PutBucketPolicy" => &["s3:PutBucketPolicy"],
        "S3 GetPublicAccessBlock" => &["s3:GetBucketPublicAccessBlock"],
        "S3 GetBucketEncryption" => &["s3:GetEncryptionConfiguration"],
        "S3 GetBucketPolicy" => &["s3:GetBucketPolicy"],
        "S3 GetBucketLocation" => &["s3:GetBucketLocation"],
        "S3 HeadObject" => &["s3:GetObject"],
        "S3 PutObject" => &["s3:PutObject"],
        "S3 ListObjectVersions" => &["s3:ListBucketVersions"],
        "S3 DeleteObjects" => &["s3:DeleteObject", "s3:DeleteObjectVersion"],
        "CloudFormation DescribeStacks" => &["cloudformation:DescribeStacks"],
        "CloudFormation DescribeStackEvents" => &["cloudformation:DescribeStackEvents"],
        "CloudFormation CreateStack" => &["cloudformation:CreateStack"],
        "CloudFormation CreateChangeSet" => &["cloudformation:CreateChangeSet"],
        "CloudFormation DescribeChangeSet" => &["cloudformation:DescribeChangeSet"],
        "CloudFormation ExecuteChangeSet" => &["cloudformation:ExecuteChangeSet"],
        "CloudFormation DeleteChangeSet" => &["cloudformation:DeleteChangeSet"],
        "CloudFormation DeleteStack" => &["cloudformation:DeleteStack"],
        "CloudFormation RollbackStack" => &["cloudformation:RollbackStack"],
        "CloudFormation ContinueUpdateRollback" => &["cloudformation:ContinueUpdateRollback"],
        "DynamoDB Scan" => &["dynamodb:Scan"],
        "CloudWatch Logs FilterLogEvents" => &["logs:FilterLogEvents"],
        "IAM GetRole" => &["iam:GetRole"],
        "DynamoDB DescribeTable" => &["dynamodb:DescribeTable"],
        "CloudWatch Logs DescribeLogGroups" => &["logs:DescribeLogGroups"],
        "Secrets Manager DescribeSecret" => &["secretsmanager:DescribeSecret"],
        "Lambda GetAccountSettings" => &["lambda:GetAccountSettings"],
        "Secrets Manager GetSecretValue" => &["secretsmanager:GetSecretValue"],
        "Lambda InvokeFunctionUrl" => &["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
        "SQS GetQueueAttributes" => &["sqs:GetQueueAttributes"],
        "SQS GetQueueUrl" => &["sqs:GetQueueUrl"],
        _ => return None,
    })
}

/// Over 1,000 artifacts (S3's page and batch size) are all deleted; the default bucket
/// stays (its predictable name would be free for anyone), with another service's objects.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_removes_more_than_a_thousand_artifacts_and_keeps_the_default_bucket() {
    let Some(moto) = Moto::start() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
    let puts = futures_util::stream::iter(0..1005)
        .map(|i| {
            let s3 = aws.s3.clone();
            async move { put(&s3, &format!("big/dev/{i:04}.zip"), b"x").await }
        })
        .buffer_unordered(16);
    puts.collect::<Vec<()>>().await;
    put(&aws.s3, "other/dev/keep.zip", b"another service").await;
    assert_eq!(
        aws.s3
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .expect("list")
            .key_count(),
        Some(1000),
        "a first page holds 1,000"
    );

    let vars = mb::loopback_aws_env();
    let out = mb::run_async(
        &[
            "destroy",
            "--service",
            "big",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &moto.endpoint,
            "--yes",
        ],
        &vars,
        LIMIT,
    )
    .await;
    assert_ok("destroy", &out);
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .contains("no stack mb-big-dev in us-east-1; 1005 artifact version(s) of it are left"),
        "{stderr}"
    );
    assert!(
        stderr.contains("deleted 1005 artifact version(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("kept the artifact bucket {BUCKET}")),
        "{stderr}"
    );
    aws.s3
        .head_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("the default bucket is kept");
    let left = aws
        .s3
        .list_object_versions()
        .bucket(BUCKET)
        .send()
        .await
        .expect("versions");
    let left: Vec<&str> = left.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(left, ["other/dev/keep.zip"]);
}
