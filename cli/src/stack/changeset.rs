//! A change set: what an update (or a create from REVIEW_IN_PROGRESS) would do, shown
//! before it is done.
//!
//! A change set with nothing to change ends FAILED with "The submitted information didn't
//! contain changes." That is success for a deploy (aws-facts.md): mb says "no changes"
//! and deletes the empty change set, so none pile up on the stack.

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType};

use crate::aws::failure;
use crate::error::Failure;
use crate::stack::{CAPABILITY, Request};

/// How long CloudFormation may take to compute a change set before mb gives up on it.
const LIMIT: Duration = Duration::from_secs(10 * 60);

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
pub enum Prepared {
    /// Ready to execute.
    Ready { id: String, changes: Vec<Change> },
    /// Nothing would change: the empty change set to delete, if one was made.
    Empty { id: Option<String> },
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

/// Creates a change set named `name` and waits until CloudFormation has computed it.
pub async fn prepare(
    client: &Client,
    stack: &str,
    name: &str,
    kind: ChangeSetType,
    request: &Request,
    pause: Duration,
) -> Result<Prepared, Failure> {
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
        // CloudFormation makes a FAILED change set when nothing would change (below); an
        // emulator such as moto refuses the call itself, as UpdateStack would.
        Err(err)
            if err.code() == Some("ValidationError")
                && err.message().is_some_and(is_empty_reason) =>
        {
            return Ok(Prepared::Empty { id: None });
        }
        Err(err) => return Err(failure(&err, "CloudFormation CreateChangeSet")),
    };
    let id = created
        .id()
        .map(str::to_owned)
        .ok_or_else(|| Failure::new("CloudFormation CreateChangeSet answered without an id"))?;
    let started = Instant::now();
    loop {
        let mut pages = client
            .describe_change_set()
            .change_set_name(&id)
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
        match status {
            Some(ChangeSetStatus::CreateComplete) => return Ok(Prepared::Ready { id, changes }),
            Some(ChangeSetStatus::Failed) if is_empty_reason(&reason) => {
                return Ok(Prepared::Empty { id: Some(id) });
            }
            Some(ChangeSetStatus::Failed) => {
                // Best effort: a failed change set is of no use to anyone.
                let _ = delete(client, &id).await;
                return Err(Failure::new(format!(
                    "CloudFormation could not prepare the change: {reason}"
                )));
            }
            _ => {}
        }
        if started.elapsed() > LIMIT {
            return Err(Failure::new(format!(
                "CloudFormation took over {} minutes to prepare the change set {id}; try again \
                 later",
                LIMIT.as_secs() / 60
            )));
        }
        tokio::time::sleep(pause).await;
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

pub async fn delete(client: &Client, id: &str) -> Result<(), Failure> {
    client
        .delete_change_set()
        .change_set_name(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failure(&e, "CloudFormation DeleteChangeSet"))
}

/// A change set name unique per deploy: `mb-<unix seconds>`.
pub fn name(now_secs: u64) -> String {
    format!("mb-{now_secs}")
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

    #[test]
    fn names_are_valid_change_set_names() {
        // ^[a-zA-Z][-a-zA-Z0-9]*$, at most 128 characters.
        let name = name(1_795_000_000);
        assert_eq!(name, "mb-1795000000");
        assert!(name.starts_with(|c: char| c.is_ascii_alphabetic()));
    }
}
