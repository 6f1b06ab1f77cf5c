//! A change set: what an update (or a create from REVIEW_IN_PROGRESS) would do, shown
//! before it is done.
//!
//! A change set with nothing to change ends FAILED with "The submitted information didn't
//! contain changes." That is success for a deploy (docs/deploy.md): mb says "no changes".
//! Every change set mb creates and does not execute is deleted (`stack::cleanup` sees to it
//! on every exit path), so none pile up on the stack. CloudFormation refuses to delete one
//! it is still computing (InvalidChangeSetStatus), so [`delete`] retries until it can, for
//! a bounded time.

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use crate::aws::failure;
use crate::error::Failure;
use crate::stack::{CAPABILITY, Request};

/// How long CloudFormation may take to compute a change set before mb gives up on it.
const LIMIT: Duration = Duration::from_secs(10 * 60);
/// How long [`delete`] waits for CloudFormation to finish computing a change set before
/// it gives up deleting it.
const DELETE_LIMIT: Duration = Duration::from_secs(60);
/// Random bytes in a change set's name, after its time.
pub const RANDOM_BYTES: usize = 6;

/// One resource change, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// "True", "False" or "Conditional", for a Modify.
    pub replacement: Option<String>,
}

/// A computed change set.
#[derive(Debug)]
pub enum Computed {
    /// Ready to execute.
    Ready(Vec<Change>),
    /// Nothing would change.
    Empty,
}

/// What a change set's status, described after `elapsed`, means for mb (pure).
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    Empty,
    /// FAILED for another reason than "nothing to change".
    Failed,
    /// Still being computed: ask again.
    Wait,
    /// Still being computed after [`LIMIT`].
    TooLong,
}

pub fn verdict(status: Option<&ChangeSetStatus>, reason: &str, elapsed: Duration) -> Verdict {
    match status {
        Some(ChangeSetStatus::CreateComplete) => Verdict::Ready,
        Some(ChangeSetStatus::Failed) if is_empty_reason(reason) => Verdict::Empty,
        Some(ChangeSetStatus::Failed) => Verdict::Failed,
        _ if elapsed > LIMIT => Verdict::TooLong,
        _ => Verdict::Wait,
    }
}

/// Whether a FAILED change set's reason means "nothing to change" (pure).
pub fn is_empty_reason(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// The changes as an aligned table (pure).
pub fn table(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "  (CloudFormation lists no resource changes; parameters or outputs change)\n"
            .to_owned();
    }
    let rows: Vec<[String; 4]> = changes
        .iter()
        .map(|c| {
            [
                c.action.clone(),
                c.logical_id.clone(),
                c.resource_type.clone(),
                match c.replacement.as_deref() {
                    Some("True") => "replaced".to_owned(),
                    Some("Conditional") => "may be replaced".to_owned(),
                    _ => String::new(),
                },
            ]
        })
        .collect();
    // The replacement column only when some change has one (never for a create).
    let replacement = rows.iter().any(|r| !r[3].is_empty());
    let header = [
        "Action".to_owned(),
        "Resource".to_owned(),
        "Type".to_owned(),
        if replacement { "Replacement" } else { "" }.to_owned(),
    ];
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str("  ");
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Creates a change set named `name`; returns its id (an ARN), or `None` when the call
/// was refused because nothing would change.
pub async fn create(
    client: &Client,
    stack: &str,
    name: &str,
    kind: ChangeSetType,
    request: &Request,
) -> Result<Option<String>, Failure> {
    let created = client
        .create_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .change_set_type(kind)
        .template_body(&request.template_body)
        .set_parameters(Some(request.sdk_parameters()))
        .capabilities(CAPABILITY)
        .set_tags(Some(request.sdk_tags()))
        .description("mb deploy")
        .send()
        .await;
    let created = match created {
        Ok(created) => created,
        // CloudFormation makes a FAILED change set when nothing would change (see
        // `Computed::Empty`); an emulator such as moto refuses the call itself, as
        // UpdateStack would. No change set was made then.
        Err(err)
            if err.code() == Some("ValidationError")
                && err.message().is_some_and(is_empty_reason) =>
        {
            return Ok(None);
        }
        Err(err) => return Err(failure(&err, "CloudFormation CreateChangeSet")),
    };
    created
        .id()
        .map(|id| Some(id.to_owned()))
        .ok_or_else(|| Failure::new("CloudFormation CreateChangeSet answered without an id"))
}

/// Waits until CloudFormation has computed the change set `id`. A change set that failed,
/// took too long or could not be described is an error (and still there: the caller
/// deletes it).
pub async fn wait(client: &Client, id: &str, pause: Duration) -> Result<Computed, Failure> {
    let started = Instant::now();
    loop {
        let mut pages = client
            .describe_change_set()
            .change_set_name(id)
            .into_paginator()
            .send();
        let mut status = None;
        let mut reason = String::new();
        let mut changes = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failure(&e, "CloudFormation DescribeChangeSet"))?;
            status = page.status().cloned();
            reason = page.status_reason().unwrap_or_default().to_owned();
            changes.extend(page.changes().iter().filter_map(|c| {
                let r = c.resource_change()?;
                Some(Change {
                    action: r
                        .action()
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    replacement: r.replacement().map(|x| x.as_str().to_owned()),
                })
            }));
        }
        match verdict(status.as_ref(), &reason, started.elapsed()) {
            Verdict::Ready => return Ok(Computed::Ready(changes)),
            Verdict::Empty => return Ok(Computed::Empty),
            Verdict::Failed => {
                return Err(Failure::new(format!(
                    "CloudFormation could not prepare the change: {reason}"
                )));
            }
            Verdict::TooLong => {
                return Err(Failure::new(format!(
                    "CloudFormation took over {} minutes to prepare the change set {id}; try \
                     again later",
                    LIMIT.as_secs() / 60
                )));
            }
            Verdict::Wait => tokio::time::sleep(pause).await,
        }
    }
}

pub async fn execute(client: &Client, id: &str) -> Result<(), Failure> {
    client
        .execute_change_set()
        .change_set_name(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failure(&e, "CloudFormation ExecuteChangeSet"))
}

/// What to do after DeleteChangeSet answered with the error `code`, having tried for
/// `waited` (pure).
#[derive(Debug, PartialEq, Eq)]
pub enum AfterRefusal {
    /// The change set does not exist (any more): what deleting it was for.
    Gone,
    /// Still being computed: try again after a pause.
    Retry,
    /// Report the error.
    Fail,
}

pub fn after_refusal(code: Option<&str>, waited: Duration) -> AfterRefusal {
    match code {
        Some("ChangeSetNotFound" | "ChangeSetNotFoundException") => AfterRefusal::Gone,
        Some("InvalidChangeSetStatus" | "InvalidChangeSetStatusException")
            if waited < DELETE_LIMIT =>
        {
            AfterRefusal::Retry
        }
        _ => AfterRefusal::Fail,
    }
}

/// Deletes the change set `id`, waiting (every `pause`, at most [`DELETE_LIMIT`]) while
/// CloudFormation is still computing it. One already gone counts as deleted.
pub async fn delete(client: &Client, id: &str, pause: Duration) -> Result<(), Failure> {
    let started = Instant::now();
    loop {
        let err = match client.delete_change_set().change_set_name(id).send().await {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let code = err.as_service_error().and_then(|e| e.code());
        match after_refusal(code, started.elapsed()) {
            AfterRefusal::Gone => return Ok(()),
            AfterRefusal::Retry => tokio::time::sleep(pause).await,
            AfterRefusal::Fail => return Err(failure(&err, "CloudFormation DeleteChangeSet")),
        }
    }
}

/// A change set name unique per deploy (pure): `mb-`, the UTC time to the second, and
/// `random` in hex, e.g. `mb-20261122T100000Z-0a1b2c3d4e5f`. Valid as CloudFormation
/// wants it (`^[a-zA-Z][-a-zA-Z0-9]*$`, at most 128 characters); the time sorts and tells
/// when, the random part keeps two deploys in the same second apart.
pub fn name(now_secs: i64, random: [u8; RANDOM_BYTES]) -> String {
    let time = DateTime::from_secs(now_secs)
        .fmt(Format::DateTime)
        .map(|t| t.chars().filter(char::is_ascii_alphanumeric).collect())
        .unwrap_or_else(|_| now_secs.unsigned_abs().to_string());
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("mb-{time}-{random}")
}

/// Random bytes for [`name`], from the operating system.
pub fn random() -> Result<[u8; RANDOM_BYTES], Failure> {
    let mut bytes = [0; RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| {
        Failure::new(format!(
            "cannot get random bytes from the operating system for the change set's name: {e}"
        ))
    })?;
    Ok(bytes)
}

/// The name part of a change set's id (`arn:...:changeSet/<name>/<uuid>`), or the id
/// itself when it has none (pure).
pub fn name_of(id: &str) -> &str {
    id.split_once(":changeSet/")
        .and_then(|(_, rest)| rest.split('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_wordings_of_nothing_to_change_are_recognised() {
        assert!(is_empty_reason(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(is_empty_reason("No updates are to be performed."));
        assert!(!is_empty_reason("Template format error: unknown resource"));
    }

    #[test]
    fn the_table_aligns_columns_and_names_replacements() {
        let changes = vec![
            Change {
                action: "Modify".into(),
                logical_id: "Function".into(),
                resource_type: "AWS::Lambda::Function".into(),
                replacement: Some("False".into()),
            },
            Change {
                action: "Modify".into(),
                logical_id: "Table".into(),
                resource_type: "AWS::DynamoDB::Table".into(),
                replacement: Some("True".into()),
            },
            Change {
                action: "Add".into(),
                logical_id: "DeploymentAbc".into(),
                resource_type: "AWS::ApiGatewayV2::Deployment".into(),
                replacement: None,
            },
        ];
        assert_eq!(
            table(&changes),
            "  Action  Resource       Type                           Replacement\n  \
             Modify  Function       AWS::Lambda::Function\n  \
             Modify  Table          AWS::DynamoDB::Table           replaced\n  \
             Add     DeploymentAbc  AWS::ApiGatewayV2::Deployment\n"
        );
    }

    /// CloudFormation's rule for a change set name (pure check).
    fn valid(name: &str) -> bool {
        name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c == '-' || c.is_ascii_alphanumeric())
    }

    #[test]
    fn names_are_valid_and_carry_the_time_and_the_random_bytes() {
        let name = name(1_795_341_600, [0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f]);
        assert_eq!(name, "mb-20261122T100000Z-0a1b2c3d4e5f");
        assert!(valid(&name), "{name}");
        // The extremes of the clock still give valid names.
        for secs in [0, -1, i64::MAX, i64::MIN] {
            let name = super::name(secs, [0xff; RANDOM_BYTES]);
            assert!(valid(&name), "{name}");
        }
    }

    #[test]
    fn two_names_in_the_same_second_differ_by_their_random_part() {
        let a = name(1_795_341_600, [1, 2, 3, 4, 5, 6]);
        let b = name(1_795_341_600, [1, 2, 3, 4, 5, 7]);
        assert_ne!(a, b);
        assert_eq!(a[..a.len() - 2], b[..b.len() - 2]);
    }

    #[test]
    fn the_name_is_read_back_from_the_id() {
        assert_eq!(
            name_of(
                "arn:aws:cloudformation:us-east-1:123456789012:changeSet/mb-20261122T100000Z-0a1b2c3d4e5f/0f1e"
            ),
            "mb-20261122T100000Z-0a1b2c3d4e5f"
        );
        assert_eq!(name_of("mb-x"), "mb-x");
    }

    #[test]
    fn the_status_decides_whether_to_wait() {
        let min = Duration::from_secs(60);
        let failed = Some(&ChangeSetStatus::Failed);
        assert_eq!(
            verdict(Some(&ChangeSetStatus::CreateComplete), "", min),
            Verdict::Ready
        );
        assert_eq!(
            verdict(failed, "No updates are to be performed.", min),
            Verdict::Empty
        );
        assert_eq!(verdict(failed, "Template error", min), Verdict::Failed);
        assert_eq!(
            verdict(Some(&ChangeSetStatus::CreateInProgress), "", min),
            Verdict::Wait
        );
        assert_eq!(verdict(None, "", min), Verdict::Wait);
        assert_eq!(
            verdict(Some(&ChangeSetStatus::CreatePending), "", LIMIT + min),
            Verdict::TooLong
        );
        // A verdict that came in late still counts.
        assert_eq!(
            verdict(Some(&ChangeSetStatus::CreateComplete), "", LIMIT + min),
            Verdict::Ready
        );
    }

    #[test]
    fn a_delete_is_retried_only_while_the_change_set_is_being_computed() {
        let soon = Duration::from_secs(1);
        assert_eq!(
            after_refusal(Some("InvalidChangeSetStatus"), soon),
            AfterRefusal::Retry
        );
        assert_eq!(
            after_refusal(Some("InvalidChangeSetStatus"), DELETE_LIMIT),
            AfterRefusal::Fail
        );
        assert_eq!(
            after_refusal(Some("ChangeSetNotFound"), soon),
            AfterRefusal::Gone
        );
        assert_eq!(
            after_refusal(Some("AccessDenied"), soon),
            AfterRefusal::Fail
        );
        assert_eq!(after_refusal(None, soon), AfterRefusal::Fail);
    }
}
