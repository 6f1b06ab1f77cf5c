//! `mb destroy`: remove a deployed service and stop paying for it.
//!
//! 1. Check the names; load the AWS configuration; ask STS for the account.
//! 2. Find the stack and this service's artifacts. Nothing there: say so, exit 0.
//! 3. Confirm: type the service name on a terminal, or pass `--yes`.
//! 4. Delete the stack (after any operation in progress settles) and follow it by id to
//!    DELETE_COMPLETE; on DELETE_FAILED, name each resource that failed and why.
//! 5. Delete this service's artifacts, every version (unless `--keep-artifacts`). The
//!    bucket stays: the default one's name (`mb-artifacts-<account>-<region>`) is
//!    predictable, so deleting it would let another account take it, and a bucket given
//!    with `--bucket` is the user's.

use aws_sdk_cloudformation::Client;
use clap::Args;

use crate::artifacts::Bucket;
use crate::aws::AwsArgs;
use crate::commands::service::{self, ServiceArgs};
use crate::error::Failure;
use crate::naming::{self, Names};
use crate::stack::events::{self, Event, Follower};
use crate::stack::status::{self, DestroyAction, Operation};
use crate::stack::{self, Stack};
use crate::ui::Ui;

#[derive(Debug, Clone, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Do not ask (needed without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Leave the uploaded deployment packages in the artifact bucket
    #[arg(long)]
    pub keep_artifacts: bool,
    /// The artifact bucket, if the stack is gone and `mb deploy` was given --bucket
    #[arg(long, value_name = "BUCKET")]
    pub bucket: Option<String>,
}

/// Rounds of "wait for the operation in progress, then delete" before giving up.
const MAX_STEPS: usize = 4;

pub async fn run(args: &DestroyArgs, ui: &Ui) -> Result<(), Failure> {
    // 1. Names, configuration, account.
    if let Some(bucket) = &args.bucket {
        naming::check_bucket(bucket)?;
    }
    let (names, aws) = service::connect(&args.service, &args.aws, ui).await?;
    let identity = aws.identity().await?;
    let cf = aws.cloudformation();
    let s3 = aws.s3();

    // 2. What is there.
    let current = stack::describe(&cf, &names.stack).await?;
    let present =
        status::destroy_action(current.as_ref().map(|s| &s.status)) != DestroyAction::Absent;
    let default_bucket = naming::artifact_bucket(&identity.account, &names.region)?;
    // The stack knows which bucket its package came from (`--bucket` at deploy time).
    let bucket = Bucket {
        name: current
            .as_ref()
            .and_then(|s| s.parameter("ArtifactBucket"))
            .map(str::to_owned)
            .or_else(|| args.bucket.clone())
            .unwrap_or_else(|| default_bucket.clone()),
        owner: identity.account.clone(),
        require_tls: !aws.s3_without_tls(),
    };
    let prefix = names.artifact_prefix();
    let artifacts = if args.keep_artifacts {
        Vec::new()
    } else {
        bucket.versions(&s3, &prefix).await?
    };
    if !present {
        ui.line(&format!(
            "no stack {} in {}{}",
            names.stack,
            names.region,
            if artifacts.is_empty() {
                ": nothing to delete".to_owned()
            } else {
                format!("; {} artifact version(s) of it are left", artifacts.len())
            }
        ));
        if artifacts.is_empty() {
            return Ok(());
        }
    }

    // 3. Confirmation.
    confirm(args, ui, &names, present, artifacts.len(), &bucket.name)?;

    // 4. The stack.
    if let Some(current) = current.filter(|_| present) {
        delete_stack(&cf, ui, &names, current).await?;
    }

    // 5. The artifacts.
    if !artifacts.is_empty() {
        bucket.delete(&s3, &artifacts).await?;
        ui.line(&format!(
            "deleted {} artifact version(s) under s3://{}/{prefix}",
            artifacts.len(),
            bucket.name
        ));
    }
    if bucket.name == default_bucket {
        ui.line(&format!(
            "kept the artifact bucket {}: its name is predictable, and once deleted another \
             account could create it and refuse mb's next deploy (docs/deploy.md)",
            bucket.name
        ));
    }
    Ok(())
}

/// `--yes`, or the service name typed on a terminal; otherwise a usage error.
fn confirm(
    args: &DestroyArgs,
    ui: &Ui,
    names: &Names,
    stack: bool,
    artifacts: usize,
    bucket: &str,
) -> Result<(), Failure> {
    if args.yes {
        return Ok(());
    }
    let mut what = Vec::new();
    if stack {
        what.push(format!(
            "the stack {} (API, function, table, logs)",
            names.stack
        ));
    }
    if artifacts > 0 {
        what.push(format!("{artifacts} artifact version(s) in {bucket}"));
    }
    let what = what.join(" and ");
    let service = names.service.as_str().to_owned();
    let answer = ui.ask(
        &format!("This deletes {what}. Type the service name `{service}` to confirm"),
        |typed| {
            if typed.trim() == service {
                Ok(())
            } else {
                Err(format!("type `{service}` exactly, or press Ctrl-C"))
            }
        },
    );
    let interrupted =
        |_| Failure::interrupted("interrupted at the confirmation; nothing was deleted");
    match answer.map_err(interrupted)? {
        Some(_) => Ok(()),
        None if ui.can_ask() => Err(Failure::new("destroy cancelled; nothing was deleted")),
        None => Err(Failure::usage(format!(
            "destroying deletes {what}; pass --yes to confirm (there is no terminal to ask on)"
        ))),
    }
}

/// Deletes the stack once nothing else runs on it, following it to the end.
async fn delete_stack(
    cf: &Client,
    ui: &Ui,
    names: &Names,
    mut current: Stack,
) -> Result<(), Failure> {
    for _ in 0..MAX_STEPS {
        let mut follower = Follower::after_existing(cf, &current.id).await?;
        match status::destroy_action(Some(&current.status)) {
            DestroyAction::Absent => return Ok(()),
            DestroyAction::Wait => {
                ui.line(&format!(
                    "the stack is {}: {}; waiting for it before deleting",
                    current.status.as_str(),
                    status::meaning(&current.status)
                ));
                events::follow(cf, ui, &mut follower, Operation::Other).await?;
            }
            action @ (DestroyAction::Follow | DestroyAction::Delete) => {
                if action == DestroyAction::Delete {
                    stack::delete(cf, &current.id).await?;
                    ui.line(&format!("deleting the stack {}", names.stack));
                }
                let settled = events::follow(cf, ui, &mut follower, Operation::Delete).await?;
                if status::succeeded(Operation::Delete, &settled.status) {
                    ui.line(&format!("deleted the stack {}", names.stack));
                    return Ok(());
                }
                return Err(delete_failed(&names.stack, follower.printed()));
            }
        }
        // By id: the stack we waited for, even if it was deleted meanwhile.
        current = match stack::describe(cf, &current.id).await? {
            Some(stack) => stack,
            None => return Ok(()),
        };
    }
    Err(Failure::new(format!(
        "the stack {} kept changing; run `mb destroy` again once `mb info` shows it settled",
        names.stack
    )))
}

/// DELETE_FAILED, with each resource that could not be deleted and why (pure).
pub fn delete_failed(stack: &str, events: &[Event]) -> Failure {
    let failed: Vec<String> = events
        .iter()
        .filter(|e| !e.root && e.status == "DELETE_FAILED")
        .map(|e| {
            format!(
                "  {} ({}): {}",
                e.logical_id,
                e.resource_type,
                e.reason.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    let list = if failed.is_empty() {
        String::new()
    } else {
        format!(":\n{}\n", failed.join("\n"))
    };
    Failure::new(format!(
        "the stack {stack} could not be deleted (DELETE_FAILED){list}Fix what blocks these \
         resources and run `mb destroy` again; the artifacts were kept"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_failed_lists_each_failed_resource_with_its_reason() {
        let event =
            |id: &str, logical: &str, root: bool, status: &str, reason: Option<&str>| Event {
                id: id.into(),
                time: None,
                logical_id: logical.into(),
                resource_type: if root {
                    "AWS::CloudFormation::Stack".into()
                } else {
                    "AWS::DynamoDB::Table".into()
                },
                status: status.into(),
                reason: reason.map(Into::into),
                root,
            };
        let events = vec![
            event(
                "1",
                "mb-a-dev",
                true,
                "DELETE_IN_PROGRESS",
                Some("User Initiated"),
            ),
            event(
                "2",
                "Table",
                false,
                "DELETE_FAILED",
                Some("Table is being used"),
            ),
            event(
                "3",
                "mb-a-dev",
                true,
                "DELETE_FAILED",
                Some("The following resource(s) failed to delete: [Table]."),
            ),
        ];
        let text = delete_failed("mb-a-dev", &events).to_string();
        assert!(
            text.contains("  Table (AWS::DynamoDB::Table): Table is being used\n"),
            "{text}"
        );
        assert!(!text.contains("[Table]"));
        assert!(text.contains("run `mb destroy` again"));
    }
}
