//! A change set ([`ChangeSet`]): what it would do, and its status as CloudFormation
//! reports it while computing it (CREATE_PENDING, CREATE_IN_PROGRESS while a test holds
//! it) and once computed (CREATE_COMPLETE or FAILED, AVAILABLE to execute or not).

use super::changes::Change;
use super::template::Template;

/// A change set, until it is executed or deleted (or its stack is).
#[derive(Debug, Clone)]
pub(super) struct ChangeSet {
    pub(super) name: String,
    pub(super) id: String,
    pub(super) stack_id: String,
    pub(super) stack_name: String,
    pub(super) create: bool,
    pub(super) description: Option<String>,
    pub(super) created: i64,
    pub(super) template: Template,
    /// CREATE_PENDING until described, then `outcome`.
    pub(super) pending: bool,
    /// Requests about this change set (DescribeChangeSet, DeleteChangeSet) still to answer
    /// as CREATE_IN_PROGRESS: the fake has no clock, each such request stands for time
    /// passing while CloudFormation computes it.
    pub(super) held: usize,
    /// (status, reason, changes) once computed.
    pub(super) outcome: (&'static str, Option<String>, Vec<Change>),
}

impl ChangeSet {
    /// The Status DescribeChangeSet and ListChangeSets report.
    pub(super) fn status(&self) -> &'static str {
        if self.held > 0 {
            "CREATE_IN_PROGRESS"
        } else if self.pending {
            "CREATE_PENDING"
        } else {
            self.outcome.0
        }
    }

    /// AVAILABLE (it can be executed) once computed without failing, else UNAVAILABLE.
    pub(super) fn execution_status(&self) -> &'static str {
        if self.status() == "CREATE_COMPLETE" {
            "AVAILABLE"
        } else {
            "UNAVAILABLE"
        }
    }

    /// The StatusReason, once computed.
    pub(super) fn reason(&self) -> Option<&str> {
        if self.pending || self.held > 0 {
            None
        } else {
            self.outcome.1.as_deref()
        }
    }
}
