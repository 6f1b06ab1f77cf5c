//! `mb doctor`'s findings: each check's outcome (pass, fail, unknown), what it found and
//! how to fix it, and the exit code they add up to.
//!
//! The checks are decided by pure functions ([`checks`], [`simulate::verdict`]) from what
//! the command gathered; [`report`] prints them. "Unknown" is for what could not be
//! checked (no permission to simulate, an emulator without IAM): it warns and never fails
//! a run, because a deploy may well work.

pub mod checks;
pub mod principal;
pub mod report;
pub mod simulate;

use serde_json::{Map, Value};

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// A stable id for scripts: `credentials`, `identity`, `permissions`, `toolchain`,
    /// `names`, `stack`, `bucket`, `preflight`, `concurrency`.
    pub id: &'static str,
    pub status: Status,
    /// One sentence: what was found.
    pub summary: String,
    /// More lines: the derived names, the denied actions by service, ...
    pub details: Vec<String>,
    /// What to do about a failure or an unknown.
    pub fix: Option<String>,
    /// Blocks printed as they are (JSON policy statements), after the fix.
    pub blocks: Vec<String>,
    /// Machine-readable extras for `--json`.
    pub data: Map<String, Value>,
}

impl Check {
    pub fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Check {
        Check {
            id,
            status,
            summary: summary.into(),
            details: Vec::new(),
            fix: None,
            blocks: Vec::new(),
            data: Map::new(),
        }
    }

    pub fn pass(id: &'static str, summary: impl Into<String>) -> Check {
        Check::new(id, Status::Pass, summary)
    }

    pub fn fail(id: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(id, Status::Fail, summary).with_fix(fix)
    }

    pub fn unknown(id: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(id, Status::Unknown, summary).with_fix(fix)
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    pub fn with_details(mut self, details: Vec<String>) -> Check {
        self.details = details;
        self
    }

    pub fn with(mut self, key: &str, value: Value) -> Check {
        self.data.insert(key.to_owned(), value);
        self
    }
}

/// What the checks add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed.
    Ready,
    /// Nothing failed, but some checks could not be made.
    Unverified(usize),
    /// This many checks failed.
    Failed(usize),
}

/// Any failure fails; unknowns alone only warn (pure).
pub fn outcome(checks: &[Check]) -> Outcome {
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let unknown = checks
        .iter()
        .filter(|c| c.status == Status::Unknown)
        .count();
    match (failed, unknown) {
        (0, 0) => Outcome::Ready,
        (0, unknown) => Outcome::Unverified(unknown),
        (failed, _) => Outcome::Failed(failed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_fails_and_unknowns_alone_only_warn() {
        let pass = Check::pass("names", "ok");
        let unknown = Check::unknown("permissions", "?", "grant it");
        let fail = Check::fail("bucket", "taken", "pass --bucket");
        assert_eq!(outcome(std::slice::from_ref(&pass)), Outcome::Ready);
        assert_eq!(
            outcome(&[pass.clone(), unknown.clone()]),
            Outcome::Unverified(1)
        );
        assert_eq!(outcome(&[pass, unknown, fail]), Outcome::Failed(1));
    }
}
