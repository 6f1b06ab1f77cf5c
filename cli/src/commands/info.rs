//! `mb info`: what is deployed for a service, and whether it is healthy.
//!
//! 1. Check the names; load the AWS configuration.
//! 2. Describe the stack: its status, what that means (and what to do if it is stuck),
//!    when it last changed, its outputs.
//! 3. Count the connections stored in its table, and the continuations Lambda gave up on
//!    (the depth of the stack's `LostContinuations` queue).
//! 4. Print it all, or one JSON object with `--json`.

use aws_sdk_dynamodb::types::Select;
use clap::Args;
use serde_json::json;

use crate::aws::{AwsArgs, explain};
use crate::commands::service::{self, ServiceArgs};
use crate::error::Failure;
use crate::naming::Names;
use crate::settings;
use crate::stack::{self, Stack, status};
use crate::ui::Ui;

#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: &InfoArgs, ui: &Ui) -> Result<(), Failure> {
    let (names, aws, stack) = service::deployed(&args.service, &args.aws, ui).await?;
    let table = stack.output("Table").unwrap_or(&names.table).to_owned();
    let connections = match count_connections(&aws.dynamodb(), &table).await {
        Ok(count) => Some(count),
        Err(why) => {
            ui.line(&format!("warning: cannot count the connections: {why}"));
            None
        }
    };
    // A stack deployed before the queue existed has no such output: nothing to show.
    let lost = match stack.output(LOST_OUTPUT) {
        None => None,
        Some(url) => match lost_continuations(&aws.sqs(), url).await {
            Ok(count) => Some(count),
            Err(why) => {
                ui.line(&format!(
                    "warning: cannot count the lost continuations: {why}"
                ));
                None
            }
        },
    };
    let counts = Counts { connections, lost };
    let text = if args.json {
        serde_json::to_string_pretty(&as_json(&names, &stack, counts))
            .map_err(|e| Failure::new(format!("cannot print JSON: {e}")))?
            + "\n"
    } else {
        as_text(&names, &stack, counts)
    };
    crate::ui::print(&text)
}

/// The live connections in `table` (a Scan that counts, page by page): only each
/// connection's own item (room `~<connectionId>`), not its memberships, and without the
/// items whose `expiresAt` has passed: TTL deletes them lazily, often days later, and the
/// broadcast skips them too.
async fn count_connections(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<u64, String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use mb_lambda::store::dynamodb::{CONNECTION_PREFIX, EXPIRES_AT, ROOM};
    let now_s = mb_lambda::clock::now_ms() / 1000;
    let mut pages = client
        .scan()
        .table_name(table)
        .select(Select::Count)
        .filter_expression("begins_with(#r, :tilde) AND (attribute_not_exists(#e) OR #e > :now)")
        .expression_attribute_names("#r", ROOM)
        .expression_attribute_names("#e", EXPIRES_AT)
        .expression_attribute_values(":tilde", AttributeValue::S(CONNECTION_PREFIX.to_owned()))
        .expression_attribute_values(":now", AttributeValue::N(now_s.to_string()))
        .into_paginator()
        .send();
    let mut total = 0u64;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| explain(&e, "DynamoDB Scan"))?;
        total += u64::try_from(page.count()).unwrap_or_default();
    }
    Ok(total)
}

/// The stack output that holds the lost-continuation queue's URL.
const LOST_OUTPUT: &str = "LostContinuations";

/// What `mb info` counted; `None` where it could not.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Live connections in the table.
    pub connections: Option<u64>,
    /// Records in the lost-continuation queue: each a continuation Lambda gave up on,
    /// whose remaining recipients missed its message.
    pub lost: Option<u64>,
}

/// The records waiting in the lost-continuation queue (SQS GetQueueAttributes): those
/// visible and those a reader has in flight, so that reading one does not hide it.
async fn lost_continuations(client: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| explain(&e, "SQS GetQueueAttributes"))?;
    let attributes = out.attributes();
    let count = |name: &A| {
        attributes
            .and_then(|a| a.get(name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(count(&A::ApproximateNumberOfMessages) + count(&A::ApproximateNumberOfMessagesNotVisible))
}

/// `mb info --json` (pure).
pub fn as_json(names: &Names, stack: &Stack, counts: Counts) -> serde_json::Value {
    let outputs: serde_json::Map<String, serde_json::Value> = stack
        .outputs
        .iter()
        .map(|(k, v, _)| (k.clone(), json!(v)))
        .collect();
    // Numbers as numbers (a value this mb cannot read as one stays the text deployed),
    // lists as arrays, text as text.
    let settings: serde_json::Map<String, serde_json::Value> =
        settings::deployed(&stack.parameters)
            .into_iter()
            .map(|(s, v)| {
                let value = match s.allowed {
                    settings::Allowed::List(_) => json!(
                        v.split(',')
                            .filter(|e| !e.is_empty())
                            .collect::<Vec<&str>>()
                    ),
                    _ if s.allowed.is_number() => {
                        v.parse::<u64>().map_or_else(|_| json!(v), |n| json!(n))
                    }
                    _ => json!(v),
                };
                (s.key.to_owned(), value)
            })
            .collect();
    json!({
        "service": names.service.as_str(),
        "stage": names.stage.as_str(),
        "region": names.region.to_string(),
        "stack": stack.name,
        "stackId": stack.id,
        "status": stack.status.as_str(),
        "statusReason": stack.reason,
        "meaning": status::meaning(&stack.status),
        "lastUpdated": stack
            .updated
            .or(stack.created)
            .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        "url": stack.output("WebSocketUrl"),
        "publishUrl": stack.output("PublishUrl"),
        "outputs": outputs,
        "settings": settings,
        "connections": counts.connections,
        "lostContinuations": counts.lost,
    })
}

/// `mb info` (pure).
pub fn as_text(names: &Names, stack: &Stack, counts: Counts) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("stack", format!("{} ({})", stack.name, names.region)),
        (
            "status",
            format!(
                "{}: {}",
                stack.status.as_str(),
                status::meaning(&stack.status)
            ),
        ),
    ];
    if let Some(reason) = &stack.reason {
        rows.push(("reason", reason.clone()));
    }
    if let Some(time) = stack.updated.or(stack.created) {
        rows.push(("updated", stack::format_time(&time)));
    }
    if let Some(url) = stack.output("WebSocketUrl") {
        rows.push(("url", url.to_owned()));
    }
    if let Some(url) = stack.output("PublishUrl") {
        rows.push(("publish url", url.to_owned()));
    }
    rows.push((
        "connections",
        counts
            .connections
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
    ));
    if let Some(queue) = stack.output(LOST_OUTPUT) {
        rows.push((
            "lost",
            match counts.lost {
                None => "unknown".to_owned(),
                Some(0) => "0 continuations".to_owned(),
                Some(n) => format!(
                    "{n} continuation{} Lambda gave up on: their remaining recipients \
                     missed a message (records in {queue}; docs/deploy.md, \"Lost \
                     continuations\")",
                    if n == 1 { "" } else { "s" }
                ),
            },
        ));
    }
    let mut out = String::new();
    for (key, value) in rows {
        out.push_str(&format!("{key:<12} {value}\n"));
    }
    let deployed = settings::deployed(&stack.parameters);
    if !deployed.is_empty() {
        out.push_str("settings\n");
        let width = deployed.iter().map(|(s, _)| s.key.len()).max().unwrap_or(0);
        for (setting, value) in deployed {
            out.push_str(&format!(
                "  {:width$}  {}\n",
                setting.key,
                setting.show(value)
            ));
        }
    }
    if !stack.outputs.is_empty() {
        out.push_str("outputs\n");
        let width = stack
            .outputs
            .iter()
            .map(|(k, ..)| k.len())
            .max()
            .unwrap_or(0);
        for (key, value, _) in &stack.outputs {
            out.push_str(&format!("  {key:width$}  {value}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::StackStatus;

    fn names() -> Names {
        crate::naming::example("eu-west-1")
    }

    fn connected(n: u64) -> Counts {
        Counts {
            connections: Some(n),
            lost: None,
        }
    }

    /// The count shows only for a stack that has the queue, and says what a record means.
    #[test]
    fn lost_continuations_are_counted_where_the_stack_has_the_queue() {
        let old = as_text(&names(), &stuck(), connected(0));
        assert!(!old.contains("\nlost "), "{old}");
        let mut stack = stuck();
        let queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/mb-chat-dev-lost";
        stack.outputs.push((LOST_OUTPUT.into(), queue.into(), None));
        let counts = |lost| Counts {
            connections: Some(0),
            lost,
        };
        let none = as_text(&names(), &stack, counts(Some(0)));
        assert!(none.contains("\nlost         0 continuations\n"), "{none}");
        let two = as_text(&names(), &stack, counts(Some(2)));
        assert!(
            two.contains(&format!(
                "\nlost         2 continuations Lambda gave up on: their remaining recipients \
                 missed a message (records in {queue};"
            )),
            "{two}"
        );
        let unknown = as_text(&names(), &stack, counts(None));
        assert!(unknown.contains("\nlost         unknown\n"), "{unknown}");
        assert_eq!(
            as_json(&names(), &stack, counts(Some(2)))["lostContinuations"],
            2
        );
        assert!(as_json(&names(), &stuck(), connected(0))["lostContinuations"].is_null());
    }

    fn stuck() -> Stack {
        let mut stack = Stack::gone("arn:stack/mb-chat-dev/1", "mb-chat-dev");
        stack.status = StackStatus::UpdateRollbackFailed;
        stack.reason = Some("Function: rollback failed".into());
        stack.updated = Some(aws_smithy_types::DateTime::from_secs(1_795_000_000));
        stack.outputs = vec![
            (
                "WebSocketUrl".into(),
                "wss://a.execute-api.eu-west-1.amazonaws.com/dev".into(),
                None,
            ),
            (
                "PublishUrl".into(),
                "https://p.lambda-url.eu-west-1.on.aws/".into(),
                None,
            ),
        ];
        stack.parameters = vec![
            ("ArtifactKey".into(), "chat/dev/abc.zip".into()),
            ("MemorySize".into(), "512".into()),
            ("LogRetentionInDays".into(), "30".into()),
        ];
        stack
    }

    #[test]
    fn the_deployed_settings_are_shown_with_their_units() {
        let text = as_text(&names(), &stuck(), connected(0));
        assert!(
            text.contains("settings\n  memory         512 MB\n  log-retention  30 days\noutputs\n"),
            "{text}"
        );
        assert!(!text.contains("ArtifactKey"), "{text}");
        let value = as_json(&names(), &stuck(), connected(0));
        assert_eq!(
            value["settings"],
            json!({"memory": 512, "log-retention": 30})
        );
    }

    #[test]
    fn a_stuck_stack_says_what_to_do() {
        let text = as_text(&names(), &stuck(), Counts::default());
        assert!(
            text.starts_with("stack        mb-chat-dev (eu-west-1)\n"),
            "{text}"
        );
        assert!(text.contains("status       UPDATE_ROLLBACK_FAILED: an update failed and so did its rollback; `mb deploy` continues the rollback"), "{text}");
        assert!(
            text.contains("updated      2026-11-18 11:06:40 UTC\n"),
            "{text}"
        );
        assert!(text.contains("connections  unknown\n"), "{text}");
    }

    #[test]
    fn json_is_one_object_with_the_outputs_and_an_iso_time() {
        let value = as_json(&names(), &stuck(), connected(3));
        assert_eq!(value["status"], "UPDATE_ROLLBACK_FAILED");
        assert_eq!(value["lastUpdated"], "2026-11-18T11:06:40Z");
        assert_eq!(
            value["url"],
            "wss://a.execute-api.eu-west-1.amazonaws.com/dev"
        );
        assert_eq!(value["outputs"]["WebSocketUrl"], value["url"]);
        assert_eq!(
            value["publishUrl"],
            "https://p.lambda-url.eu-west-1.on.aws/"
        );
        assert_eq!(value["outputs"]["PublishUrl"], value["publishUrl"]);
        let text = as_text(&names(), &stuck(), connected(3));
        assert!(
            text.contains("\npublish url  https://p.lambda-url.eu-west-1.on.aws/\n"),
            "{text}"
        );
        assert_eq!(value["connections"], 3);
        assert_eq!(value["region"], "eu-west-1");
    }
}
