//! What the fake keeps of a stack: the stack itself ([`Stack`]: status, template,
//! outputs, the resources that exist and when each last changed), its events ([`Event`]),
//! what a new stack of a name gets ([`Profile`]) and the physical ids its resources have;
//! and which statuses allow an update ([`updatable`]).

use std::collections::BTreeMap;

use super::fault::{Fault, validation};
use super::stack_setup::EventSpec;
use super::template::Template;

/// A stack, live or deleted.
#[derive(Debug, Clone)]
pub(super) struct Stack {
    pub(super) name: String,
    pub(super) id: String,
    pub(super) status: String,
    pub(super) reason: Option<String>,
    pub(super) created: i64,
    pub(super) updated: Option<i64>,
    pub(super) deleted: Option<i64>,
    pub(super) template: Template,
    pub(super) outputs: Vec<(String, String)>,
    /// Resources that exist now, in creation order.
    pub(super) resources: Vec<(String, String)>,
    /// When each resource that exists was last created or updated (the fake's clock):
    /// what tells a deployment older than a route it snapshots.
    pub(super) changed: BTreeMap<String, i64>,
    pub(super) change_set_id: Option<String>,
}

/// One stack event.
#[derive(Debug, Clone)]
pub(super) struct Event {
    pub(super) id: String,
    pub(super) stack_id: String,
    pub(super) stack_name: String,
    pub(super) physical_id: String,
    pub(super) spec: EventSpec,
    pub(super) time: i64,
}

/// What a new stack of a name gets: the setup's outputs and resources for its name,
/// [`StackSetup::new`](super::stack_setup::StackSetup::new)'s for any other.
#[derive(Debug, Clone)]
pub(super) struct Profile {
    pub(super) name: String,
    pub(super) outputs: Vec<(String, String)>,
    pub(super) resources: Vec<(String, String)>,
}

/// A resource's physical id: the name the outputs of a stack of this name give it (mb's
/// outputs name its function, table and API), else a made-up one.
pub(super) fn physical_id(profile: &Profile, logical_id: &str) -> String {
    let output = match logical_id {
        "Api" => "ApiId",
        "Rooms" => "Table",
        other => other,
    };
    profile
        .outputs
        .iter()
        .find(|(k, _)| k == output)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| format!("{}-{logical_id}", profile.name))
}

/// Whether a stack in `status` can be updated (UpdateStack, an UPDATE change set).
pub(super) fn updatable(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE"
            | "UPDATE_COMPLETE"
            | "UPDATE_ROLLBACK_COMPLETE"
            | "IMPORT_COMPLETE"
            | "IMPORT_ROLLBACK_COMPLETE"
    )
}

/// The ValidationError for updating `stack` in a status that does not allow it.
pub(super) fn not_updatable(stack: &Stack) -> Fault {
    validation(format!(
        "Stack:{} is in {} state and can not be updated.",
        stack.id, stack.status
    ))
}
