//! What `mb` does with a stack in each of CloudFormation's 23 statuses (pure).
//!
//! The table is docs/deploy.md's "Every stack status": never act on a stack that
//! is in progress, wait for it; a failed first create (ROLLBACK_COMPLETE) can only be
//! deleted and created again; a rollback that failed is continued; DELETE_FAILED needs a
//! person. `deploy`, `destroy` and `info` all decide from here, so one status never means
//! two things in two commands.

use aws_sdk_cloudformation::types::StackStatus;

/// What `mb deploy` does next with a stack it found in some status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No stack (or only a deleted one): CreateStack.
    Create,
    /// REVIEW_IN_PROGRESS: a stack created by a change set that was never executed. It
    /// exists but has no resources; create it with a CREATE change set.
    CreateWithChangeSet,
    /// Ready: update it with a change set. `last_failed` when the previous update was
    /// rolled back (UPDATE_ROLLBACK_COMPLETE), which the user should hear about.
    Update { last_failed: bool },
    /// In progress: follow it until it settles, then decide again.
    Wait,
    /// A failed first create (ROLLBACK_COMPLETE, ROLLBACK_FAILED, CREATE_FAILED): nothing
    /// in it works and it cannot be updated; delete it, then create it again.
    Recreate,
    /// UPDATE_FAILED (rollback was disabled): roll it back (RollbackStack), then update.
    RollBack,
    /// UPDATE_ROLLBACK_FAILED: continue the rollback (ContinueUpdateRollback), then update.
    ContinueRollback,
    /// A person has to act first; the text says what and how.
    Blocked(&'static str),
}

const DELETE_FAILED_HELP: &str = "the last delete of this stack failed (DELETE_FAILED): some \
     resources are still there. `mb info` shows the stack; fix what blocked the delete (the \
     events say which resource and why) and run `mb destroy` again, then deploy";
const IMPORT_ROLLBACK_FAILED_HELP: &str = "a resource import into this stack failed and its \
     rollback failed too (IMPORT_ROLLBACK_FAILED); mb does not import resources. Fix or \
     delete the stack in the CloudFormation console, then deploy again";

/// What `mb deploy` does with a stack in `status` (`None`: there is no stack).
pub fn deploy_action(status: Option<&StackStatus>) -> Action {
    use StackStatus as S;
    let Some(status) = status else {
        return Action::Create;
    };
    match status {
        S::DeleteComplete => Action::Create,
        S::ReviewInProgress => Action::CreateWithChangeSet,
        S::CreateComplete | S::UpdateComplete | S::ImportComplete | S::ImportRollbackComplete => {
            Action::Update { last_failed: false }
        }
        S::UpdateRollbackComplete => Action::Update { last_failed: true },
        S::RollbackComplete | S::RollbackFailed | S::CreateFailed => Action::Recreate,
        S::UpdateFailed => Action::RollBack,
        S::UpdateRollbackFailed => Action::ContinueRollback,
        S::DeleteFailed => Action::Blocked(DELETE_FAILED_HELP),
        S::ImportRollbackFailed => Action::Blocked(IMPORT_ROLLBACK_FAILED_HELP),
        other if is_in_progress(other) => Action::Wait,
        // A status this SDK does not know yet: it ends in _IN_PROGRESS (handled above), or
        // it is something new that mb must not guess about.
        _ => Action::Blocked(
            "the stack is in a status this version of mb does not know; check it in the \
             CloudFormation console",
        ),
    }
}

/// What `mb destroy` does with a stack in `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestroyAction {
    /// Nothing to delete.
    Absent,
    /// An operation is running: follow it, then decide again.
    Wait,
    /// A delete is already running: follow it.
    Follow,
    /// DeleteStack (DELETE_FAILED included: that is a retry).
    Delete,
}

pub fn destroy_action(status: Option<&StackStatus>) -> DestroyAction {
    match status {
        None | Some(StackStatus::DeleteComplete) => DestroyAction::Absent,
        Some(StackStatus::DeleteInProgress) => DestroyAction::Follow,
        // REVIEW_IN_PROGRESS never ends by itself: it is deletable.
        Some(StackStatus::ReviewInProgress) => DestroyAction::Delete,
        Some(s) if is_in_progress(s) => DestroyAction::Wait,
        Some(_) => DestroyAction::Delete,
    }
}

/// True while CloudFormation is working on the stack: mb never acts on it then.
pub fn is_in_progress(status: &StackStatus) -> bool {
    status.as_str().ends_with("_IN_PROGRESS")
}

/// True when the stack has settled: its status does not end in `_IN_PROGRESS`. REVIEW_IN_PROGRESS settles nowhere by itself, so it counts as settled.
pub fn is_settled(status: &StackStatus) -> bool {
    !is_in_progress(status) || *status == StackStatus::ReviewInProgress
}

/// An operation mb started and follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    /// RollbackStack or ContinueUpdateRollback.
    Rollback,
    /// Someone else's operation mb only waits for.
    Other,
}

/// Whether `operation` ended well when the stack settled in `status`.
pub fn succeeded(operation: Operation, status: &StackStatus) -> bool {
    use StackStatus as S;
    match operation {
        Operation::Create => *status == S::CreateComplete,
        Operation::Update => *status == S::UpdateComplete,
        Operation::Delete => *status == S::DeleteComplete,
        Operation::Rollback => matches!(status, S::UpdateRollbackComplete | S::RollbackComplete),
        Operation::Other => true,
    }
}

/// What a status means to a user, and what to do about it if anything (`mb info`).
pub fn meaning(status: &StackStatus) -> &'static str {
    use StackStatus as S;
    match status {
        S::CreateComplete => "created; ready",
        S::UpdateComplete => "the last deploy succeeded; ready",
        S::ImportComplete | S::ImportRollbackComplete => "ready (after a resource import)",
        S::UpdateRollbackComplete => {
            "the last deploy failed and was rolled back; the previous version is running. \
             `mb deploy` again once the cause is fixed"
        }
        S::CreateInProgress => "being created; `mb deploy` waits for it",
        S::UpdateInProgress => "being updated; `mb deploy` waits for it",
        S::UpdateCompleteCleanupInProgress => {
            "the update succeeded; CloudFormation is removing replaced resources"
        }
        S::UpdateRollbackInProgress => "an update failed and is being rolled back",
        S::UpdateRollbackCompleteCleanupInProgress => {
            "an update failed and was rolled back; CloudFormation is cleaning up, then it will \
             be UPDATE_ROLLBACK_COMPLETE. `mb deploy` waits for it"
        }
        S::RollbackInProgress => "the first create failed and is being rolled back",
        S::DeleteInProgress => "being deleted",
        S::ImportInProgress | S::ImportRollbackInProgress => {
            "a resource import is in progress; `mb deploy` waits for it"
        }
        S::ReviewInProgress => {
            "created by a change set that was never executed; it has no resources. \
             `mb deploy` creates it"
        }
        S::RollbackComplete | S::RollbackFailed | S::CreateFailed => {
            "the first create failed; the stack cannot be updated. `mb deploy` deletes it \
             and creates it again (it asks first, or pass --yes)"
        }
        S::UpdateFailed => {
            "an update failed without rolling back; `mb deploy` rolls it back, then deploys"
        }
        S::UpdateRollbackFailed => {
            "an update failed and so did its rollback; `mb deploy` continues the rollback \
             (it asks first, or pass --yes), or fix the resource named in the events"
        }
        S::DeleteFailed => DELETE_FAILED_HELP,
        S::ImportRollbackFailed => IMPORT_ROLLBACK_FAILED_HELP,
        S::DeleteComplete => "deleted",
        _ => "a status this version of mb does not know",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StackStatus as S;

    /// One test per status (the issue asks for 23): what deploy does, and what destroy
    /// does, with a stack in that status.
    macro_rules! status_tests {
        ($($name:ident: $status:expr => $deploy:expr, $destroy:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    let status = $status;
                    assert_eq!(deploy_action(Some(&status)), $deploy, "deploy, {status:?}");
                    assert_eq!(destroy_action(Some(&status)), $destroy, "destroy, {status:?}");
                    assert!(!meaning(&status).contains("does not know"));
                }
            )*

            /// Every status the SDK lists has its test above: a new SDK status fails here.
            #[test]
            fn every_status_has_a_test() {
                let tested: Vec<&str> = vec![$($status.as_str()),*];
                let mut known: Vec<&str> = StackStatus::values().to_vec();
                known.sort_unstable();
                let mut sorted = tested.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, known);
                assert_eq!(tested.len(), 23);
            }
        };
    }

    const DELETE_FAILED: Action = Action::Blocked(DELETE_FAILED_HELP);
    const IMPORT_FAILED: Action = Action::Blocked(IMPORT_ROLLBACK_FAILED_HELP);
    const READY: Action = Action::Update { last_failed: false };

    status_tests! {
        create_complete: S::CreateComplete => READY, DestroyAction::Delete;
        create_failed: S::CreateFailed => Action::Recreate, DestroyAction::Delete;
        create_in_progress: S::CreateInProgress => Action::Wait, DestroyAction::Wait;
        delete_complete: S::DeleteComplete => Action::Create, DestroyAction::Absent;
        delete_failed: S::DeleteFailed => DELETE_FAILED, DestroyAction::Delete;
        delete_in_progress: S::DeleteInProgress => Action::Wait, DestroyAction::Follow;
        import_complete: S::ImportComplete => READY, DestroyAction::Delete;
        import_in_progress: S::ImportInProgress => Action::Wait, DestroyAction::Wait;
        import_rollback_complete: S::ImportRollbackComplete => READY, DestroyAction::Delete;
        import_rollback_failed: S::ImportRollbackFailed => IMPORT_FAILED, DestroyAction::Delete;
        import_rollback_in_progress: S::ImportRollbackInProgress => Action::Wait, DestroyAction::Wait;
        review_in_progress: S::ReviewInProgress => Action::CreateWithChangeSet, DestroyAction::Delete;
        rollback_complete: S::RollbackComplete => Action::Recreate, DestroyAction::Delete;
        rollback_failed: S::RollbackFailed => Action::Recreate, DestroyAction::Delete;
        rollback_in_progress: S::RollbackInProgress => Action::Wait, DestroyAction::Wait;
        update_complete: S::UpdateComplete => READY, DestroyAction::Delete;
        update_complete_cleanup_in_progress: S::UpdateCompleteCleanupInProgress => Action::Wait, DestroyAction::Wait;
        update_failed: S::UpdateFailed => Action::RollBack, DestroyAction::Delete;
        update_in_progress: S::UpdateInProgress => Action::Wait, DestroyAction::Wait;
        update_rollback_complete: S::UpdateRollbackComplete => Action::Update { last_failed: true }, DestroyAction::Delete;
        update_rollback_complete_cleanup_in_progress: S::UpdateRollbackCompleteCleanupInProgress => Action::Wait, DestroyAction::Wait;
        update_rollback_failed: S::UpdateRollbackFailed => Action::ContinueRollback, DestroyAction::Delete;
        update_rollback_in_progress: S::UpdateRollbackInProgress => Action::Wait, DestroyAction::Wait;
    }

    #[test]
    fn no_stack_is_created_and_needs_no_destroy() {
        assert_eq!(deploy_action(None), Action::Create);
        assert_eq!(destroy_action(None), DestroyAction::Absent);
    }

    #[test]
    fn an_unknown_status_is_never_acted_on() {
        let new = StackStatus::from("SOMETHING_NEW");
        assert!(matches!(deploy_action(Some(&new)), Action::Blocked(_)));
        let new_progress = StackStatus::from("SOMETHING_IN_PROGRESS");
        assert_eq!(deploy_action(Some(&new_progress)), Action::Wait);
    }

    #[test]
    fn settled_and_success_per_operation() {
        assert!(!is_settled(&S::UpdateRollbackCompleteCleanupInProgress));
        assert!(!is_settled(&S::UpdateCompleteCleanupInProgress));
        assert!(is_settled(&S::UpdateRollbackComplete));
        assert!(is_settled(&S::ReviewInProgress));
        assert!(succeeded(Operation::Update, &S::UpdateComplete));
        assert!(!succeeded(Operation::Update, &S::UpdateRollbackComplete));
        assert!(!succeeded(Operation::Create, &S::RollbackComplete));
        assert!(succeeded(Operation::Create, &S::CreateComplete));
        assert!(!succeeded(Operation::Delete, &S::DeleteFailed));
        assert!(succeeded(Operation::Rollback, &S::UpdateRollbackComplete));
    }
}
