//! Change sets `mb` created and has not executed, deleted however the command ends.
//!
//! A deploy remembers a change set as soon as CloudFormation has given its id, and forgets
//! it right before ExecuteChangeSet or once it has deleted it. Ctrl-C drops the deploy
//! wherever it is (`until_ctrl_c` in main.rs), so the deploy cannot clean up after itself
//! then: `until_ctrl_c` calls [`delete_remembered`] after every command, which deletes
//! what is still remembered, within a time limit, and says so.

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_cloudformation::Client;

use crate::error::Failure;
use crate::stack::{changeset, events};
use crate::ui::Ui;

/// How long deleting what a stopped command left may take in all. Each delete also has
/// its own limit; this one bounds the sum.
const LIMIT: Duration = Duration::from_secs(90);

/// Change sets to delete: the client that created each, and its id.
static REMEMBERED: Mutex<Vec<(Client, String)>> = Mutex::new(Vec::new());

/// Deletes the change set `id` when the command ends, unless it is forgotten first.
pub fn remember(client: &Client, id: &str) {
    if let Ok(mut remembered) = REMEMBERED.lock() {
        remembered.push((client.clone(), id.to_owned()));
    }
}

/// No longer deletes the change set `id` (it is being executed, or was deleted).
pub fn forget(id: &str) {
    if let Ok(mut remembered) = REMEMBERED.lock() {
        remembered.retain(|(_, remembered)| remembered != id);
    }
}

fn remembered() -> Vec<(Client, String)> {
    REMEMBERED.lock().map(|r| r.clone()).unwrap_or_default()
}

/// Deletes the change set `id`, forgets it and says on stderr how that went.
pub async fn discard(client: &Client, ui: &Ui, id: &str) {
    let deleted = changeset::delete(client, id, events::interval()).await;
    forget(id);
    ui.line(&report(id, deleted.as_ref().err()));
}

/// Deletes every change set still remembered (after a Ctrl-C, or a step that returned
/// early), within [`LIMIT`]; what is left is named with how to delete it.
pub async fn delete_remembered(ui: &Ui) {
    let all = async {
        for (client, id) in remembered() {
            discard(&client, ui, &id).await;
        }
    };
    if tokio::time::timeout(LIMIT, all).await.is_err() {
        for (_, id) in remembered() {
            ui.line(&report(
                &id,
                Some(&Failure::new(format!(
                    "no answer within {} s",
                    LIMIT.as_secs()
                ))),
            ));
        }
    }
}

/// What mb says after deleting a change set it did not execute, or failing to (pure).
pub fn report(id: &str, failure: Option<&Failure>) -> String {
    match failure {
        None => format!(
            "deleted the change set {}, which was not executed",
            changeset::name_of(id)
        ),
        Some(failure) => format!(
            "warning: could not delete the change set {id}, which was not executed \
             ({failure}); delete it with `aws cloudformation delete-change-set \
             --change-set-name {id}`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/mb-20261122T100000Z-0a1b2c3d4e5f/0f1e";

    #[test]
    fn the_report_names_the_change_set_and_on_failure_its_id_and_the_fix() {
        assert_eq!(
            report(ID, None),
            "deleted the change set mb-20261122T100000Z-0a1b2c3d4e5f, which was not executed"
        );
        let text = report(ID, Some(&Failure::new("AccessDenied")));
        assert!(text.starts_with("warning: could not delete the change set arn:"));
        assert!(text.contains("(AccessDenied)"), "{text}");
        assert!(
            text.ends_with(&format!("--change-set-name {ID}`")),
            "{text}"
        );
    }
}
