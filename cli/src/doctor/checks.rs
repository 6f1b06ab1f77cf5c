//! Each of `mb doctor`'s checks but the permissions, decided from what the command found
//! (pure): the configuration, the caller, the toolchain, the names, the stack, the
//! artifact bucket, the preflight and the account's concurrency. The same decisions as `mb build` and `mb deploy` make, so doctor
//! says what they would do.

use std::path::Path;

use aws_sdk_cloudformation::types::StackStatus;
use serde_json::json;

use super::Check;
use crate::artifacts::Presence;
use crate::build::Arch;
use crate::build::plan::{self, Builder, Toolchain};
use crate::build::toolchain::TargetStep;
use crate::concurrency::{self, Account, Plan, Source};
use crate::naming::{NameError, Names};
use crate::preflight::{self, Found};
use crate::stack::status::{self, Action};

/// The AWS configuration: `Ok((region, profile))` or the loader's error.
pub fn configuration(loaded: Result<(&str, Option<&str>), String>) -> Check {
    match loaded {
        Ok((region, profile)) => Check::pass(
            "credentials",
            format!(
                "credentials found ({}), region {region}",
                match profile {
                    Some(profile) => format!("profile `{profile}`"),
                    None => "the SDK's default chain".to_owned(),
                }
            ),
        )
        .with("region", json!(region))
        .with("profile", json!(profile)),
        Err(why) => Check::new("credentials", super::Status::Fail, why),
    }
}

/// STS GetCallerIdentity: `Ok((account, arn))` or the failure's sentence.
pub fn identity(found: Result<(&str, &str), String>) -> Check {
    match found {
        Ok((account, arn)) => Check::pass("identity", format!("account {account} as {arn}"))
            .with("account", json!(account))
            .with("principal", json!(arn)),
        Err(why) => Check::new("identity", super::Status::Fail, why).with_fix(
            "check the credentials and the network; `aws sts get-caller-identity` should \
             answer",
        ),
    }
}

/// What a check that needs an earlier one says when that one failed.
pub fn not_checked(id: &'static str, because: &str) -> Check {
    Check::unknown(
        id,
        format!("not checked: {because}"),
        "fix the failures above first",
    )
}

/// The cross-compiling toolchain for `arch`: whether cargo runs, what is installed and
/// the state of the Rust target.
pub fn toolchain(arch: Arch, cargo: bool, tools: &Toolchain, target: &TargetStep) -> Check {
    const ID: &str = "toolchain";
    if !cargo {
        return Check::fail(
            ID,
            "cargo is not installed (or not on PATH)",
            "install Rust from https://rustup.rs",
        );
    }
    let builder = match plan::plan(tools, arch, Path::new("Cargo.toml"), Path::new("target")) {
        Ok(plan) => plan.builder,
        // Build's own message, which says what to install.
        Err(err) => return Check::new(ID, super::Status::Fail, err.to_string()),
    };
    let builder = match builder {
        Builder::Zigbuild => "cargo-zigbuild and zig",
        Builder::CargoLambda => "cargo-lambda",
    };
    let rust_target = arch.rust_target();
    let check = match target {
        TargetStep::Ready => Check::pass(
            ID,
            format!("{builder}; the Rust target {rust_target} is installed"),
        ),
        TargetStep::Add => Check::pass(
            ID,
            format!(
                "{builder}; the Rust target {rust_target} is missing and mb build will add it \
                 with rustup"
            ),
        ),
        TargetStep::Missing(why) => Check::fail(
            ID,
            format!("{builder}; the Rust target {rust_target} is not installed ({why})"),
            format!(
                "rustup target add {rust_target}, or deploy with --arch {}",
                arch.other().flag()
            ),
        ),
    };
    check
        .with("builder", json!(builder))
        .with("arch", json!(arch.flag()))
        .with("target", json!(rust_target))
}

/// The service name and every name derived from it.
pub fn names(derived: Option<&Result<(Names, String), NameError>>) -> Check {
    const ID: &str = "names";
    match derived {
        None => Check::unknown(
            ID,
            "no service given, so the names, the stack and the permissions on its resources \
             are not checked",
            "pass --service NAME (or set SERVICE_NAME)",
        ),
        Some(Err(err)) => Check::new(ID, super::Status::Fail, err.to_string()),
        Some(Ok((names, bucket))) => {
            let rows = [
                ("stack", names.stack.as_str()),
                ("function", &names.function),
                ("role", &names.role),
                ("table", &names.table),
                ("log group", &names.log_group),
                ("API", &names.api),
                ("stage", names.stage.as_str()),
                ("bucket", bucket),
            ];
            // The default bucket's name needs the account.
            let rows: Vec<_> = rows
                .into_iter()
                .filter(|(_, name)| !name.is_empty())
                .collect();
            Check::pass(
                ID,
                format!(
                    "service `{}` stage `{}`: every derived name is valid",
                    names.service, names.stage
                ),
            )
            .with_details(
                rows.iter()
                    .map(|(what, name)| format!("{what}: {name}"))
                    .collect(),
            )
            .with(
                "derived",
                json!(
                    rows.iter()
                        .map(|(what, name)| (what.replace(' ', "_"), name.to_string()))
                        .collect::<std::collections::BTreeMap<_, _>>()
                ),
            )
        }
    }
}

/// The stack, described: `Ok(None)` when there is none, `Err` when it cannot be read.
pub fn stack(name: &str, found: Result<Option<(&StackStatus, Option<&str>)>, String>) -> Check {
    const ID: &str = "stack";
    let (status, reason) = match found {
        Err(why) => {
            return Check::unknown(ID, format!("cannot read stack {name}: {why}"), "see above");
        }
        Ok(None) => {
            return Check::pass(
                ID,
                format!("{name} does not exist yet: mb deploy will create it"),
            )
            .with("stack_status", json!(null));
        }
        Ok(Some(found)) => found,
    };
    let state = status.as_str();
    let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
    let check = match status::deploy_action(Some(status)) {
        Action::Create => Check::pass(ID, format!("{name} is {state}: mb deploy will create it")),
        Action::CreateWithChangeSet => Check::pass(
            ID,
            format!(
                "{name} is {state} (created, never executed): mb deploy will create it with a \
                 change set"
            ),
        ),
        Action::Update { .. } => Check::pass(
            ID,
            format!("{name} is {state}: mb deploy will update it with a change set"),
        ),
        Action::Wait => Check::pass(
            ID,
            format!(
                "{name} is {state} ({}): mb deploy will wait for it to settle",
                status::meaning(status)
            ),
        ),
        Action::Recreate => Check::pass(
            ID,
            format!(
                "{name} is {state}{reason}: its first create failed; mb deploy will delete it \
                 and create it again once you confirm (--yes when nobody can answer)"
            ),
        ),
        Action::RollBack => Check::pass(
            ID,
            format!(
                "{name} is {state}{reason}: mb deploy will roll it back, then update it, once \
                 you confirm (--yes when nobody can answer)"
            ),
        ),
        Action::ContinueRollback => Check::pass(
            ID,
            format!(
                "{name} is {state}{reason}: mb deploy will continue its rollback, then update \
                 it, once you confirm (--yes when nobody can answer)"
            ),
        ),
        Action::Blocked(help) => Check::fail(
            ID,
            format!("{name} is {state}{reason}: mb deploy cannot proceed"),
            help,
        ),
    };
    check.with("stack_status", json!(state))
}

/// The artifact bucket.
pub fn bucket(name: &str, account: &str, found: Result<Presence, String>) -> Check {
    const ID: &str = "bucket";
    let check = match found {
        Ok(Presence::Ours) => Check::pass(ID, format!("{name} exists and belongs to {account}")),
        Ok(Presence::Absent) => Check::pass(
            ID,
            format!("{name} does not exist yet: mb deploy will create it (private, encrypted)"),
        ),
        Ok(Presence::NotOurs) => Check::fail(
            ID,
            format!(
                "{name} exists but is not owned by account {account} (or these credentials \
                 may not read it: s3:ListBucket)"
            ),
            "bucket names are global: deploy with --bucket NAME, a bucket of your own",
        ),
        Err(why) => Check::unknown(ID, format!("cannot check {name}: {why}"), "see above"),
    };
    check.with("bucket", json!(name))
}

/// The preflight of `mb deploy` (`crate::preflight`): the same problems it would refuse.
pub fn preflight(found: Result<&Found, String>) -> Check {
    const ID: &str = "preflight";
    let found = match found {
        Ok(found) => found,
        Err(why) => {
            return Check::unknown(ID, format!("cannot check: {why}"), "see above");
        }
    };
    let problems = preflight::problems(found);
    let check = match problems.as_slice() {
        [] => {
            let mut passed = if found.names_checked {
                "no name the stack would create is taken".to_owned()
            } else {
                "the stack exists, so the names it uses are its own".to_owned()
            };
            if let Some((bucket, region)) = &found.bucket {
                passed.push_str(&format!("; {bucket} is in {region}, like the stack"));
            }
            Check::pass(ID, passed)
        }
        [one] => Check::fail(
            ID,
            format!("mb deploy would stop before creating anything: {one}"),
            "do as it says, then run mb doctor again",
        ),
        many => Check::fail(
            ID,
            format!(
                "mb deploy would stop before creating anything, for {} reasons",
                many.len()
            ),
            "do as each says, then run mb doctor again",
        )
        .with_details(many.to_vec()),
    };
    check.with("problems", json!(problems))
}

/// The account's concurrency (Lambda GetAccountSettings, or why it could not be read)
/// and what `mb deploy` would reserve: `plan` is `crate::concurrency::plan` for what
/// `mb.toml` gives and the reservation `deployed` by the stack.
pub fn concurrency(
    account: &Result<Account, String>,
    deployed: Option<u32>,
    plan: &Result<Plan, String>,
) -> Check {
    const ID: &str = "concurrency";
    let (account, plan) = match (account, plan) {
        (Err(why), plan) => {
            let reserve = plan.as_ref().map(|p| p.reserved).unwrap_or(0);
            return Check::unknown(
                ID,
                format!(
                    "cannot read the account's concurrency: {why}; mb deploy would reserve \
                     {} without checking",
                    if reserve == 0 {
                        "none".to_owned()
                    } else {
                        reserve.to_string()
                    }
                ),
                "grant lambda:GetAccountSettings (an action without resource-level \
                 permissions, so on \"*\"; `mb doctor --policy` has it)",
            )
            .with("reserve", json!(reserve));
        }
        (Ok(_), Err(refused)) => {
            return Check::fail(
                ID,
                format!("mb deploy would stop before any change: {refused}"),
                format!(
                    "lower `{}` in mb.toml (0 for no reservation), or ask for a higher \
                     Lambda concurrent executions quota",
                    concurrency::KEY
                ),
            );
        }
        (Ok(account), Ok(plan)) => (account, plan),
    };
    let reserve = match (plan.source, plan.reserved) {
        (Source::Kept, 0) => "keep no reservation, as deployed".to_owned(),
        (Source::Kept, n) => format!("keep the deployed {n}"),
        (Source::Given, 0) => "reserve none, as mb.toml says".to_owned(),
        (Source::Given, n) => format!("reserve {n}, as mb.toml says"),
        (Source::Computed, 0) => "reserve none".to_owned(),
        (Source::Computed, n) => format!("reserve {n}"),
    };
    Check::pass(
        ID,
        format!(
            "the account's concurrency is {} in all, {} unreserved (Lambda keeps {}); mb \
             deploy would {reserve}",
            account.total,
            account.unreserved,
            account.minimum()
        ),
    )
    .with_details(vec![plan.said.clone()])
    .with("total", json!(account.total))
    .with("unreserved", json!(account.unreserved))
    .with("minimum", json!(account.minimum()))
    .with("spare", json!(account.spare(deployed.unwrap_or(0))))
    .with("reserve", json!(plan.reserved))
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;
    use crate::naming::ServiceName;

    #[test]
    fn the_toolchain_check_takes_builds_decisions() {
        let zig = Toolchain {
            zigbuild: true,
            zig: true,
            cargo_lambda: false,
        };
        let check = toolchain(Arch::Arm64, true, &zig, &TargetStep::Ready);
        assert_eq!(check.status, Status::Pass);
        assert!(check.summary.contains("aarch64-unknown-linux-gnu"));
        let check = toolchain(Arch::Arm64, true, &zig, &TargetStep::Add);
        assert_eq!(check.status, Status::Pass);
        assert!(check.summary.contains("will add it"));
        let check = toolchain(
            Arch::X86_64,
            true,
            &zig,
            &TargetStep::Missing("no rustup".into()),
        );
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.unwrap().contains("--arch arm64"));
        let half = Toolchain {
            zigbuild: true,
            ..Toolchain::default()
        };
        let check = toolchain(Arch::Arm64, true, &half, &TargetStep::Ready);
        assert_eq!(check.status, Status::Fail);
        assert!(check.summary.contains("zig is not"), "{}", check.summary);
        assert_eq!(
            toolchain(Arch::Arm64, false, &zig, &TargetStep::Ready).status,
            Status::Fail
        );
    }

    #[test]
    fn every_derived_name_is_listed() {
        let names = crate::naming::example("eu-west-1");
        let check = self::names(Some(&Ok((names, "b".into()))));
        assert_eq!(check.status, Status::Pass);
        assert!(
            check
                .details
                .contains(&"function: mb-chat-dev-broadcast".to_owned())
        );
        assert!(
            check
                .details
                .contains(&"role: mb-chat-dev-eu-west-1".to_owned())
        );
        assert_eq!(self::names(None).status, Status::Unknown);
        let bad = Err(ServiceName::parse("my_service").unwrap_err());
        let check = self::names(Some(&bad));
        assert_eq!(check.status, Status::Fail);
        assert!(check.summary.contains("my-service"), "{}", check.summary);
    }

    #[test]
    fn the_stack_says_what_deploy_will_do() {
        let name = "mb-chat-dev";
        let absent = stack(name, Ok(None));
        assert_eq!(absent.status, Status::Pass);
        assert!(absent.summary.contains("will create"));
        let ready = stack(name, Ok(Some((&StackStatus::UpdateComplete, None))));
        assert!(ready.summary.contains("will update"));
        let failed = stack(
            name,
            Ok(Some((&StackStatus::RollbackComplete, Some("Role exists")))),
        );
        assert_eq!(failed.status, Status::Pass);
        assert!(failed.summary.contains("delete it and create it again"));
        assert!(failed.summary.contains("Role exists"));
        let blocked = stack(name, Ok(Some((&StackStatus::DeleteFailed, None))));
        assert_eq!(blocked.status, Status::Fail);
        assert!(blocked.fix.unwrap().contains("mb destroy"));
        let busy = stack(name, Ok(Some((&StackStatus::UpdateInProgress, None))));
        assert!(busy.summary.contains("wait"));
        assert_eq!(
            stack(name, Err("AccessDenied".into())).status,
            Status::Unknown
        );
    }

    #[test]
    fn the_preflight_fails_with_deploys_own_sentences() {
        let mut found = Found {
            region: "us-east-1".into(),
            bucket: Some(("mine".into(), "us-east-1".into())),
            names_checked: true,
            taken: vec![],
        };
        let check = preflight(Ok(&found));
        assert_eq!(check.status, Status::Pass);
        assert!(
            check.summary.contains("mine is in us-east-1"),
            "{}",
            check.summary
        );
        found.taken = vec![preflight::Taken::LogGroup("/aws/lambda/x".into())];
        let check = preflight(Ok(&found));
        assert_eq!(check.status, Status::Fail);
        assert!(
            check
                .summary
                .contains("log group /aws/lambda/x already exists")
        );
        assert_eq!(check.data["problems"], json!(preflight::problems(&found)));
        found.bucket = Some(("mine".into(), "eu-west-1".into()));
        let check = preflight(Ok(&found));
        assert_eq!(check.details.len(), 2);
        assert_eq!(
            preflight(Err("AccessDenied".into())).status,
            Status::Unknown
        );
    }

    #[test]
    fn the_concurrency_check_says_what_a_deploy_would_reserve() {
        let big = Ok(Account {
            total: 1000,
            unreserved: 1000,
        });
        let check = concurrency(&big, None, &concurrency::plan(None, None, &big));
        assert_eq!(check.status, Status::Pass);
        assert_eq!(
            check.summary,
            "the account's concurrency is 1000 in all, 1000 unreserved (Lambda keeps 100); mb \
             deploy would reserve 100"
        );
        assert_eq!(check.data["reserve"], json!(100));
        assert_eq!(check.data["spare"], json!(900));
        let small = Ok(Account {
            total: 10,
            unreserved: 10,
        });
        let check = concurrency(&small, None, &concurrency::plan(None, None, &small));
        assert!(
            check.summary.ends_with("would reserve none"),
            "{}",
            check.summary
        );
        let refused = concurrency(&small, None, &concurrency::plan(Some(5), None, &small));
        assert_eq!(refused.status, Status::Fail);
        assert!(refused.summary.contains("at most 0"), "{}", refused.summary);
        let denied: Result<Account, String> = Err("AWS denied it".into());
        let check = concurrency(&denied, None, &concurrency::plan(None, None, &denied));
        assert_eq!(check.status, Status::Unknown);
        assert_eq!(
            check.summary,
            "cannot read the account's concurrency: AWS denied it; mb deploy would reserve \
             none without checking"
        );
        assert_eq!(
            check.fix.unwrap(),
            "grant lambda:GetAccountSettings (an action without resource-level permissions, \
             so on \"*\"; `mb doctor --policy` has it)"
        );
    }

    #[test]
    fn a_bucket_of_another_account_is_a_hard_failure() {
        let check = bucket("b", "123456789012", Ok(Presence::NotOurs));
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.unwrap().contains("--bucket"));
        assert_eq!(
            bucket("b", "123456789012", Ok(Presence::Absent)).status,
            Status::Pass
        );
        assert_eq!(
            bucket("b", "1", Err("timeout".into())).status,
            Status::Unknown
        );
    }
}
