//! The function's reserved concurrency (the `reserved-concurrency` setting): what the
//! account can spare, what a deploy reserves when it is not given, and whether a value
//! given fits. It owns this because Lambda refuses a reservation late and bluntly.
//!
//! A reservation is both a floor and a ceiling: the function always has that many
//! concurrent executions, and never more, so one busy service can neither starve the
//! account's other functions nor be starved by them. Lambda refuses any reservation that
//! would leave the account's unreserved concurrency under its minimum: 100, or the whole
//! total on an account whose total is below 100 (new accounts often have 10 or 50, where
//! nothing can be reserved). CloudFormation then fails the function with "Specified
//! ReservedConcurrentExecutions for function decreases account's
//! UnreservedConcurrentExecution below its minimum value of [N]", and a first create rolls
//! back. So `mb deploy` reads the account's concurrency (Lambda GetAccountSettings) before
//! any change, and:
//!
//! - a value given (flag or `mb.toml`) that the account cannot spare is a usage error
//!   (exit 2) naming the account's limit, before anything is uploaded or changed;
//! - with nothing given, a create (or an update of a stack deployed before the setting
//!   existed) reserves [`DEFAULT_RESERVATION`] if the account can spare it, else all it
//!   can spare, else none when that is under [`SMALLEST_DEFAULT`] (so few would throttle
//!   the service's own messages more than they protect anything); an update of a stack
//!   that has the setting keeps its deployed value, as every setting does;
//! - when GetAccountSettings fails (a policy without `lambda:GetAccountSettings`, say),
//!   a value given is passed unchecked and nothing computed is reserved, each with a
//!   warning: the read only protects the deploy, so it never blocks one.
//!
//! What the account can spare for this function is `unreserved + current − minimum`:
//! on an update, the function's current reservation (its deployed parameter) is already
//! taken out of `unreserved`, and is given back when the value changes.
//!
//! The decisions are pure; [`account`] and [`deployed`] read what they need.

use crate::stack::Stack;
use crate::stack::status::{self, Action};

/// The setting's key (flag and `mb.toml`) and its template parameter.
pub const KEY: &str = "reserved-concurrency";
pub const PARAMETER: &str = "ReservedConcurrency";
/// What a deploy reserves when nothing is given and the account can spare it: as many
/// concurrent invocations as the stage accepts messages per second by default (each
/// broadcast ends within about a second at small scale), so the default cap rarely
/// throttles the service itself.
pub const DEFAULT_RESERVATION: u32 = 100;
/// The unreserved concurrency Lambda keeps on an account with at least this much.
pub const MIN_UNRESERVED: u32 = 100;
/// A computed reservation under this reserves nothing instead.
pub const SMALLEST_DEFAULT: u32 = 10;
/// The largest value the setting allows (the account's quota is the real limit).
pub const MAX_RESERVATION: u32 = 100_000;
/// How the default is computed, for `--help` and docs/deploy.md.
pub const DEFAULT_HOW: &str =
    "100 if the account can spare it, else what it can spare (none if under 10)";

/// The account's concurrency in the region (Lambda GetAccountSettings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// `ConcurrentExecutions`: the account's total.
    pub total: u32,
    /// `UnreservedConcurrentExecutions`: what no function has reserved.
    pub unreserved: u32,
}

impl Account {
    /// The unreserved concurrency Lambda keeps: 100, or the whole total below that.
    pub fn minimum(&self) -> u32 {
        self.total.min(MIN_UNRESERVED)
    }

    /// The most this function may reserve, given what it reserves now (`current`).
    pub fn spare(&self, current: u32) -> u32 {
        self.unreserved
            .saturating_add(current)
            .saturating_sub(self.minimum())
    }

    /// `total 1000, 1000 unreserved, Lambda keeps 100 unreserved`.
    fn describe(&self) -> String {
        let keeps = if self.total < MIN_UNRESERVED {
            format!(
                "all {} unreserved (the total is under {MIN_UNRESERVED})",
                self.total
            )
        } else {
            format!("{MIN_UNRESERVED} unreserved")
        };
        format!(
            "the account's total concurrency is {}, {} unreserved, and Lambda keeps {keeps}",
            self.total, self.unreserved
        )
    }
}

/// Where the reservation a deploy makes comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Given by flag or `mb.toml`.
    Given,
    /// The stack's deployed value, kept.
    Kept,
    /// Computed from the account.
    Computed,
}

/// What a deploy does about the reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The function's reservation after the deploy (0: none).
    pub reserved: u32,
    pub source: Source,
    /// The computed default, which a create passes when nothing is given (also when the
    /// deployed value is kept: a stack that must be recreated has none to keep).
    pub computed: u32,
    /// The one line the deploy prints.
    pub said: String,
    /// A warning to print first, when the account could not be read.
    pub warning: Option<String>,
}

/// What the deploy reserves: `given` by the user, `deployed` by the stack as it stands
/// (see [`deployed`]), and the account's concurrency or why it could not be read (pure).
/// `Err` is the usage error for a given value the account cannot spare.
pub fn plan(
    given: Option<u32>,
    deployed: Option<u32>,
    account: &Result<Account, String>,
) -> Result<Plan, String> {
    let (computed, computed_said) = default(account);
    let unread = |what: &str| {
        account.as_ref().err().map(|why| {
            format!(
                "cannot read the account's concurrency ({}); {what}",
                why.trim_end_matches('.')
            )
        })
    };
    let (reserved, source, said, warning) = match (given, deployed) {
        (Some(value), _) => {
            if let Ok(account) = account {
                let spare = account.spare(deployed.unwrap_or(0));
                if value > spare {
                    return Err(refusal(value, spare, account));
                }
            }
            let warning = (value > 0)
                .then(|| {
                    unread(&format!(
                        "reserving {value} as given, unchecked: if the account cannot spare \
                         it, Lambda refuses it and the deploy rolls back"
                    ))
                })
                .flatten();
            (
                value,
                Source::Given,
                format!("{} (as given)", shown(value)),
                warning,
            )
        }
        (None, Some(value)) => (
            value,
            Source::Kept,
            format!(
                "{}, kept from the last deploy (--reserved-concurrency N changes it)",
                shown(value)
            ),
            None,
        ),
        (None, None) => (
            computed,
            Source::Computed,
            computed_said,
            unread(
                "reserving none; pass --reserved-concurrency N to reserve N, or grant \
                 lambda:GetAccountSettings",
            ),
        ),
    };
    Ok(Plan {
        reserved,
        source,
        computed,
        said: format!("reserved concurrency: {said}"),
        warning,
    })
}

/// The computed default and what to say about it (pure).
fn default(account: &Result<Account, String>) -> (u32, String) {
    let Ok(account) = account else {
        return (0, "none (the account's concurrency is unknown)".to_owned());
    };
    let spare = account.spare(0);
    let value = spare.min(DEFAULT_RESERVATION);
    let about = account.describe();
    if value < SMALLEST_DEFAULT {
        let why = if spare == 0 {
            "so it can spare none".to_owned()
        } else {
            format!("so it can spare only {spare}, too few to be worth a cap")
        };
        (0, format!("none ({about}, {why})"))
    } else if value < DEFAULT_RESERVATION {
        (
            value,
            format!("{value}, all the account can spare ({about})"),
        )
    } else {
        (value, format!("{value} ({about})"))
    }
}

/// The usage error for `value`, more than the `spare` the account has (pure).
fn refusal(value: u32, spare: u32, account: &Account) -> String {
    format!(
        "{KEY} {value} is more than the account can spare: {}, so this function can reserve \
         at most {spare}. Lambda would refuse it (\"decreases account's \
         UnreservedConcurrentExecution below its minimum value of [{}]\"). Pass a lower \
         --{KEY} (0 for no reservation), or ask for a higher Lambda concurrent executions \
         quota (Service Quotas); nothing was changed",
        account.describe(),
        account.minimum()
    )
}

/// `100`, or `none` for 0.
fn shown(value: u32) -> String {
    if value == 0 {
        "none".to_owned()
    } else {
        value.to_string()
    }
}

/// The reservation the stack has deployed, if the deploy will update it (pure): a stack
/// with its resources and the parameter. A stack the deploy creates (or recreates) has
/// none to keep or give back.
pub fn deployed(stack: Option<&Stack>) -> Option<u32> {
    let stack = stack?;
    match status::deploy_action(Some(&stack.status)) {
        Action::Update { .. } | Action::Wait | Action::RollBack | Action::ContinueRollback => {}
        Action::Create | Action::CreateWithChangeSet | Action::Recreate | Action::Blocked(_) => {
            return None;
        }
    }
    stack
        .parameters
        .iter()
        .find(|(key, _)| key == PARAMETER)
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// The account's concurrency from GetAccountSettings' answer (pure): `Err` when it lacks
/// the numbers.
pub fn from_answer(total: Option<i32>, unreserved: Option<i32>) -> Result<Account, String> {
    match (total, unreserved) {
        (Some(total), Some(unreserved)) => Ok(Account {
            total: u32::try_from(total).unwrap_or(0),
            unreserved: u32::try_from(unreserved).unwrap_or(0),
        }),
        _ => Err("Lambda GetAccountSettings answered without the account's concurrency".into()),
    }
}

/// Lambda GetAccountSettings: the account's concurrency, or the failure's sentence.
pub async fn account(lambda: &aws_sdk_lambda::Client) -> Result<Account, String> {
    let out = lambda
        .get_account_settings()
        .send()
        .await
        .map_err(|e| crate::aws::explain(&e, "Lambda GetAccountSettings"))?;
    let limit = out.account_limit();
    from_answer(
        limit.map(|l| l.concurrent_executions()),
        limit.and_then(|l| l.unreserved_concurrent_executions()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::StackStatus;

    fn account(total: u32, unreserved: u32) -> Result<Account, String> {
        Ok(Account { total, unreserved })
    }

    #[test]
    fn lambda_keeps_100_unreserved_or_the_whole_of_a_smaller_total() {
        let small = Account {
            total: 10,
            unreserved: 10,
        };
        assert_eq!((small.minimum(), small.spare(0)), (10, 0));
        let fifty = Account {
            total: 50,
            unreserved: 50,
        };
        assert_eq!(fifty.spare(0), 0);
        let normal = Account {
            total: 1000,
            unreserved: 1000,
        };
        assert_eq!((normal.minimum(), normal.spare(0)), (100, 900));
        // Other functions reserve 850: 150 unreserved, 50 to spare; this function's own
        // 100 is given back on an update.
        let busy = Account {
            total: 1000,
            unreserved: 150,
        };
        assert_eq!((busy.spare(0), busy.spare(100)), (50, 150));
        // Never below zero, even if the account reads oddly.
        let odd = Account {
            total: 1000,
            unreserved: 20,
        };
        assert_eq!(odd.spare(0), 0);
    }

    #[test]
    fn on_a_small_account_the_default_reserves_nothing_and_says_why() {
        let plan = plan(None, None, &account(10, 10)).unwrap();
        assert_eq!((plan.reserved, plan.computed), (0, 0));
        assert_eq!(plan.source, Source::Computed);
        assert_eq!(
            plan.said,
            "reserved concurrency: none (the account's total concurrency is 10, 10 \
             unreserved, and Lambda keeps all 10 unreserved (the total is under 100), so it \
             can spare none)"
        );
        assert_eq!(plan.warning, None);
    }

    #[test]
    fn the_default_is_100_else_what_the_account_can_spare_else_none() {
        let plan1000 = plan(None, None, &account(1000, 1000)).unwrap();
        assert_eq!(plan1000.reserved, 100);
        assert!(
            plan1000
                .said
                .starts_with("reserved concurrency: 100 (the account's total"),
            "{}",
            plan1000.said
        );
        let tight = plan(None, None, &account(1000, 150)).unwrap();
        assert_eq!(tight.reserved, 50);
        assert!(
            tight.said.contains("50, all the account can spare"),
            "{}",
            tight.said
        );
        let scarce = plan(None, None, &account(1000, 105)).unwrap();
        assert_eq!(scarce.reserved, 0);
        assert!(scarce.said.contains("only 5, too few"), "{}", scarce.said);
    }

    #[test]
    fn a_given_value_the_account_cannot_spare_is_refused_naming_its_limit() {
        let refused = plan(Some(5), None, &account(10, 10)).unwrap_err();
        assert!(
            refused.starts_with("reserved-concurrency 5 is more than the account can spare"),
            "{refused}"
        );
        assert!(refused.contains("total concurrency is 10"), "{refused}");
        assert!(refused.contains("can reserve at most 0"), "{refused}");
        assert!(refused.contains("minimum value of [10]"), "{refused}");
        assert!(refused.contains("0 for no reservation"), "{refused}");
        assert!(refused.contains("quota"), "{refused}");
        assert!(!refused.contains('\n'));
        // What fits is reserved, 0 always fits, and an update gives its own back.
        let fits = plan(Some(900), None, &account(1000, 1000)).unwrap();
        assert_eq!((fits.reserved, fits.source), (900, Source::Given));
        assert_eq!(fits.said, "reserved concurrency: 900 (as given)");
        assert!(plan(Some(901), None, &account(1000, 1000)).is_err());
        assert_eq!(plan(Some(0), None, &account(10, 10)).unwrap().reserved, 0);
        assert!(plan(Some(150), Some(100), &account(1000, 150)).is_ok());
        assert!(plan(Some(151), Some(100), &account(1000, 150)).is_err());
    }

    #[test]
    fn an_update_keeps_the_deployed_value_unless_given() {
        let kept = plan(None, Some(100), &account(1000, 900)).unwrap();
        assert_eq!((kept.reserved, kept.source), (100, Source::Kept));
        assert_eq!(
            kept.said,
            "reserved concurrency: 100, kept from the last deploy (--reserved-concurrency N \
             changes it)"
        );
        let none = plan(None, Some(0), &account(10, 10)).unwrap();
        assert!(none.said.starts_with("reserved concurrency: none, kept"));
    }

    #[test]
    fn an_unreadable_account_reserves_nothing_computed_and_a_given_value_unchecked() {
        let denied: Result<Account, String> =
            Err("AWS denied Lambda GetAccountSettings: not authorized.".into());
        let default = plan(None, None, &denied).unwrap();
        assert_eq!(default.reserved, 0);
        assert_eq!(
            default.said,
            "reserved concurrency: none (the account's concurrency is unknown)"
        );
        let warning = default.warning.unwrap();
        assert!(
            warning.starts_with(
                "cannot read the account's concurrency (AWS denied Lambda GetAccountSettings: \
                 not authorized); reserving none"
            ),
            "{warning}"
        );
        let given = plan(Some(50), None, &denied).unwrap();
        assert_eq!(given.reserved, 50);
        assert!(
            given
                .warning
                .unwrap()
                .contains("reserving 50 as given, unchecked")
        );
        assert_eq!(plan(Some(0), None, &denied).unwrap().warning, None);
    }

    #[test]
    fn only_a_stack_the_deploy_updates_has_a_reservation_to_keep() {
        let mut stack = Stack::gone("id", "mb-chat-dev");
        stack.parameters = vec![(PARAMETER.into(), "100".into())];
        stack.status = StackStatus::UpdateComplete;
        assert_eq!(deployed(Some(&stack)), Some(100));
        stack.status = StackStatus::RollbackComplete;
        assert_eq!(deployed(Some(&stack)), None);
        stack.status = StackStatus::CreateComplete;
        stack.parameters = vec![("MemorySize".into(), "256".into())];
        assert_eq!(deployed(Some(&stack)), None, "deployed before the setting");
        assert_eq!(deployed(None), None);
    }

    #[test]
    fn an_answer_without_the_numbers_is_an_error() {
        assert_eq!(
            from_answer(Some(10), Some(10)),
            Ok(Account {
                total: 10,
                unreserved: 10
            })
        );
        assert!(from_answer(Some(10), None).is_err());
        assert!(from_answer(None, None).is_err());
    }
}
