//! The permission check: `iam:SimulatePrincipalPolicy` for every action of
//! [`crate::permissions::PERMISSIONS`] on its resource, as the caller, and the verdict.
//!
//! One simulation per resource and context: a call evaluates every action against every
//! resource it names, so mixing them would deny `lambda:CreateFunction` on the bucket.
//! Each call carries the context a real request has (`aws:RequestedRegion`,
//! `aws:SecureTransport`; `aws:CalledVia` for what CloudFormation calls on the caller's
//! behalf; `iam:PassedToService` for PassRole), since a policy condition on a key the
//! simulation lacks evaluates to a false implicit deny.
//!
//! A simulation that cannot run (the caller may not simulate, the endpoint has no IAM, the
//! principal is not simulatable) gives "unknown" with the reason, never "denied".

use std::collections::BTreeMap;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};
use serde_json::json;

use super::principal::{self, Principal};
use super::{Check, Status};
use crate::aws::error::{self, Kind};
use crate::permissions::{self, Caller, PERMISSIONS, Permission, Scope};

const ID: &str = "permissions";
/// Pages of one simulation before giving up (each holds up to 1000 results).
const MAX_PAGES: usize = 20;

/// What IAM decided for one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    ImplicitDeny,
    ExplicitDeny,
}

/// One action's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    pub permission: Permission,
    pub decision: Decision,
    /// Context keys a matching statement's condition needed and the simulation lacked.
    pub missing_context: Vec<String>,
}

/// How the simulation went.
#[derive(Debug, Clone, PartialEq)]
pub enum Simulation {
    /// Every action was simulated as `simulated_as`.
    Done {
        simulated_as: String,
        results: Vec<Evaluated>,
    },
    /// The caller is the account's root user.
    Root,
    /// It could not run: why, and what would let it.
    Unavailable { reason: String, fix: String },
}

/// One context entry: key, type, values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Context {
    pub key: &'static str,
    pub kind: &'static str,
    pub values: Vec<String>,
}

/// The region a request for `service` goes to: IAM is global and answers from the
/// partition's first region, which is what `aws:RequestedRegion` holds for it (pure).
pub fn requested_region(service: &str, region: &str) -> String {
    if service != "iam" {
        return region.to_owned();
    }
    match permissions::partition(region) {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => "us-east-1",
    }
    .to_owned()
}

/// The context a real request for `permission` carries (pure).
pub fn context(permission: &Permission, region: &str) -> Vec<Context> {
    let string = |key, value: &str| Context {
        key,
        kind: "string",
        values: vec![value.to_owned()],
    };
    let boolean = |key| Context {
        key,
        kind: "boolean",
        values: vec!["true".to_owned()],
    };
    let mut entries = vec![
        string(
            "aws:RequestedRegion",
            &requested_region(permission.service(), region),
        ),
        boolean("aws:SecureTransport"),
    ];
    if let Caller::CloudFormation(_) = permission.caller {
        entries.push(Context {
            key: "aws:CalledVia",
            kind: "stringList",
            values: vec!["cloudformation.amazonaws.com".to_owned()],
        });
        entries.push(string("aws:CalledViaFirst", "cloudformation.amazonaws.com"));
        entries.push(boolean("aws:ViaAWSService"));
    }
    if permission.action == "iam:PassRole" {
        entries.push(string("iam:PassedToService", permissions::PASSED_TO));
    }
    if permission.action == "lambda:InvokeFunctionUrl" {
        entries.push(string(
            "lambda:FunctionUrlAuthType",
            permissions::FUNCTION_URL_AUTH,
        ));
    }
    if permission.action == "lambda:InvokeFunction" {
        entries.push(boolean(permissions::INVOKED_VIA_URL));
    }
    entries
}

/// The simulations to run: (resource ARN, context) → the permissions to simulate there
/// (pure). Actions IAM cannot deny are left out.
pub fn plan(scope: &Scope<'_>) -> BTreeMap<(String, Vec<Context>), Vec<Permission>> {
    let region = scope.names.region.as_str();
    let mut groups: BTreeMap<(String, Vec<Context>), Vec<Permission>> = BTreeMap::new();
    for permission in PERMISSIONS.iter().filter(|p| p.needs_grant()) {
        let key = (
            permission.resource.example(scope),
            context(permission, region),
        );
        groups.entry(key).or_default().push(*permission);
    }
    groups
}

/// Simulates every permission as the caller `caller_arn`.
pub async fn simulate(iam: &Client, caller_arn: &str, scope: &Scope<'_>) -> Simulation {
    let simulated_as = match principal::parse(caller_arn) {
        Principal::Root => return Simulation::Root,
        Principal::Unsupported(why) => {
            return Simulation::Unavailable {
                reason: why,
                fix: "run mb doctor as an IAM user or role to check permissions".to_owned(),
            };
        }
        Principal::User { arn } => arn,
        Principal::AssumedRole { role, .. } => match iam.get_role().role_name(&role).send().await {
            Ok(out) => match out.role() {
                Some(found) if !found.arn().is_empty() => found.arn().to_owned(),
                _ => {
                    return Simulation::Unavailable {
                        reason: format!("IAM GetRole answered without the ARN of role {role}"),
                        fix: "try again".to_owned(),
                    };
                }
            },
            Err(err) => {
                return unavailable(
                    &error::kind(&err),
                    "IAM GetRole",
                    &format!(
                        "grant iam:GetRole on role {role} (to find its ARN with its path) and \
                         iam:SimulatePrincipalPolicy on it"
                    ),
                );
            }
        },
    };
    let mut results = Vec::new();
    for ((resource, context), group) in plan(scope) {
        match simulate_group(iam, &simulated_as, &resource, &context, &group).await {
            Ok(mut evaluated) => results.append(&mut evaluated),
            Err(kind) => {
                return unavailable(
                    &kind,
                    "IAM SimulatePrincipalPolicy",
                    &format!("grant iam:SimulatePrincipalPolicy on {simulated_as}"),
                );
            }
        }
    }
    Simulation::Done {
        simulated_as,
        results,
    }
}

/// One simulation call (and its pages).
async fn simulate_group(
    iam: &Client,
    source: &str,
    resource: &str,
    context: &[Context],
    group: &[Permission],
) -> Result<Vec<Evaluated>, Kind> {
    let entries: Vec<ContextEntry> = context
        .iter()
        .map(|c| {
            ContextEntry::builder()
                .context_key_name(c.key)
                .context_key_type(ContextKeyTypeEnum::from(c.kind))
                .set_context_key_values(Some(c.values.clone()))
                .build()
        })
        .collect();
    let actions: Vec<String> = group.iter().map(|p| p.action.to_owned()).collect();
    let mut marker: Option<String> = None;
    let mut evaluated = Vec::new();
    for _ in 0..MAX_PAGES {
        let out = iam
            .simulate_principal_policy()
            .policy_source_arn(source)
            .set_action_names(Some(actions.clone()))
            .resource_arns(resource)
            .set_context_entries(Some(entries.clone()))
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| error::kind(&e))?;
        for result in out.evaluation_results() {
            let Some(permission) = group.iter().find(|p| p.action == result.eval_action_name())
            else {
                continue;
            };
            evaluated.push(Evaluated {
                permission: *permission,
                decision: match result.eval_decision() {
                    PolicyEvaluationDecisionType::Allowed => Decision::Allowed,
                    PolicyEvaluationDecisionType::ExplicitDeny => Decision::ExplicitDeny,
                    _ => Decision::ImplicitDeny,
                },
                missing_context: result.missing_context_values().to_vec(),
            });
        }
        marker = out
            .marker()
            .map(str::to_owned)
            .filter(|_| out.is_truncated());
        if marker.is_none() {
            break;
        }
    }
    // An action IAM did not answer for is not known to be allowed.
    for permission in group {
        if !evaluated
            .iter()
            .any(|e| e.permission.action == permission.action)
        {
            return Err(Kind::Other {
                detail: format!("no result for {}", permission.action),
            });
        }
    }
    Ok(evaluated)
}

/// "Unknown": `call` failed with `kind`.
fn unavailable(kind: &Kind, call: &str, grant: &str) -> Simulation {
    match kind {
        Kind::Denied { message } => Simulation::Unavailable {
            reason: format!(
                "these credentials may not call {call}{}",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", message.trim_end_matches('.'))
                }
            ),
            fix: format!("{grant} to let mb doctor check the permissions"),
        },
        other => Simulation::Unavailable {
            reason: format!("simulation unavailable: {}", error::sentence(other, call)),
            fix: "run mb doctor again later; where there is no simulation (an emulator), a \
                  deploy names what is missing"
                .to_owned(),
        },
    }
}

/// The permission check from the simulation (pure).
pub fn verdict(simulation: &Simulation, scope: &Scope<'_>) -> Check {
    match simulation {
        Simulation::Root => Check::pass(
            ID,
            "the caller is the account's root user, which may do everything (use an IAM \
             user or role for deploys)",
        ),
        Simulation::Unavailable { reason, fix } => {
            Check::unknown(ID, format!("not checked: {reason}"), fix.clone())
                .with("reason", json!(reason))
        }
        Simulation::Done {
            simulated_as,
            results,
        } => {
            let denied: Vec<&Evaluated> = results
                .iter()
                .filter(|e| e.decision != Decision::Allowed)
                .collect();
            let base = Check::new(ID, Status::Pass, "")
                .with("simulated_as", json!(simulated_as))
                .with("actions", json!(results.len()));
            if denied.is_empty() {
                return Check {
                    summary: format!(
                        "all {} actions a deploy needs are allowed for {simulated_as}",
                        results.len()
                    ),
                    ..base
                };
            }
            let mut by_service: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for e in &denied {
                by_service
                    .entry(e.permission.service())
                    .or_default()
                    .push(e.permission.action);
            }
            let mut details: Vec<String> = by_service
                .iter()
                .map(|(service, actions)| format!("{service}: {}", actions.join(", ")))
                .collect();
            let explicit: Vec<&str> = denied
                .iter()
                .filter(|e| e.decision == Decision::ExplicitDeny)
                .map(|e| e.permission.action)
                .collect();
            if !explicit.is_empty() {
                details.push(format!(
                    "explicitly denied (a Deny statement, a permissions boundary or an SCP; \
                     an Allow does not help): {}",
                    explicit.join(", ")
                ));
            }
            for e in denied.iter().filter(|e| !e.missing_context.is_empty()) {
                details.push(format!(
                    "{} depends on context mb doctor cannot know: {}",
                    e.permission.action,
                    e.missing_context.join(", ")
                ));
            }
            let statements = permissions::statements(denied.iter().map(|e| &e.permission), scope);
            let mut check = Check {
                status: Status::Fail,
                summary: format!(
                    "{} of {} actions a deploy needs are denied for {simulated_as}",
                    denied.len(),
                    results.len()
                ),
                details,
                fix: Some(
                    "add these statements to a policy of the caller (`mb doctor --policy` \
                     prints the whole least-privilege policy):"
                        .to_owned(),
                ),
                blocks: vec![serde_json::to_string_pretty(&statements).unwrap_or_default()],
                ..base
            };
            check = check
                .with("denied", json!(by_service))
                .with("explicitly_denied", json!(explicit))
                .with(
                    "grant",
                    serde_json::to_value(&statements).unwrap_or_default(),
                );
            check
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::Names;
    use crate::permissions::scope;

    fn names() -> Names {
        crate::naming::example("eu-west-1")
    }

    fn done(denied: &[(&str, Decision)]) -> Simulation {
        Simulation::Done {
            simulated_as: "arn:aws:iam::123456789012:user/alice".into(),
            results: PERMISSIONS
                .iter()
                .filter(|p| p.needs_grant())
                .map(|p| Evaluated {
                    permission: *p,
                    decision: denied
                        .iter()
                        .find(|(a, _)| *a == p.action)
                        .map_or(Decision::Allowed, |(_, d)| *d),
                    missing_context: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn every_permission_that_needs_a_grant_is_simulated_once() {
        let names = names();
        let plan = plan(&scope(&names));
        let planned: usize = plan.values().map(Vec::len).sum();
        assert_eq!(planned, PERMISSIONS.len() - 1);
        for ((resource, _), group) in &plan {
            // `*` only for the action IAM cannot scope to a resource.
            assert!(
                !resource.contains('*')
                    || group.iter().all(|p| matches!(
                        p.resource,
                        crate::permissions::Resource::LambdaAccount
                            | crate::permissions::Resource::SecretsAccount
                    )),
                "{resource}"
            );
            assert!(group.iter().all(|p| p.needs_grant()));
        }
    }

    #[test]
    fn the_context_is_what_a_real_request_carries() {
        let pass_role = PERMISSIONS
            .iter()
            .find(|p| p.action == "iam:PassRole")
            .unwrap();
        let context = context(pass_role, "eu-west-1");
        let value = |key: &str| {
            context
                .iter()
                .find(|c| c.key == key)
                .map(|c| c.values.clone())
        };
        // IAM is global: its requests go to us-east-1.
        assert_eq!(value("aws:RequestedRegion"), Some(vec!["us-east-1".into()]));
        assert_eq!(
            value("iam:PassedToService"),
            Some(vec!["lambda.amazonaws.com".into()])
        );
        assert_eq!(
            value("aws:CalledVia"),
            Some(vec!["cloudformation.amazonaws.com".into()])
        );
        let upload = PERMISSIONS
            .iter()
            .find(|p| p.action == "s3:PutObject")
            .unwrap();
        let context = super::context(upload, "eu-west-1");
        assert!(context.iter().all(|c| c.key != "aws:CalledVia"));
        assert_eq!(context[0].values, ["eu-west-1"]);
        // The publisher's InvokeFunction is granted only through the function URL: a
        // simulation without the key would read that grant as a denial.
        let invoke = PERMISSIONS
            .iter()
            .find(|p| p.action == "lambda:InvokeFunction")
            .unwrap();
        let context = super::context(invoke, "eu-west-1");
        assert!(
            context
                .iter()
                .any(|c| c.key == "lambda:InvokedViaFunctionUrl" && c.values == ["true"]),
            "{context:?}"
        );
    }

    #[test]
    fn all_allowed_passes() {
        let names = names();
        let check = verdict(&done(&[]), &scope(&names));
        assert_eq!(check.status, Status::Pass, "{check:?}");
    }

    #[test]
    fn denied_actions_are_listed_by_service_with_the_grant() {
        let names = names();
        let check = verdict(
            &done(&[
                ("iam:PassRole", Decision::ImplicitDeny),
                ("lambda:CreateFunction", Decision::ExplicitDeny),
            ]),
            &scope(&names),
        );
        assert_eq!(check.status, Status::Fail);
        assert!(check.summary.starts_with("2 of "), "{}", check.summary);
        assert_eq!(check.details[0], "iam: iam:PassRole");
        assert_eq!(check.details[1], "lambda: lambda:CreateFunction");
        assert!(check.details[2].contains("explicitly denied"));
        let grant = check.data["grant"].as_array().unwrap();
        assert!(check.blocks[0].starts_with("[\n  {\n    \"Sid\": \"PassFunctionRole\""));
        let actions: Vec<&serde_json::Value> = grant
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap())
            .collect();
        assert_eq!(
            actions,
            [&json!("iam:PassRole"), &json!("lambda:CreateFunction")]
        );
        assert_eq!(check.blocks.len(), 1);
    }

    #[test]
    fn a_simulation_that_cannot_run_is_unknown_never_denied() {
        let names = names();
        for kind in [
            Kind::Denied {
                message: "not authorized to perform iam:SimulatePrincipalPolicy".into(),
            },
            Kind::Other {
                detail: "HTTP 500 with no error details".into(),
            },
        ] {
            let simulation = unavailable(&kind, "IAM SimulatePrincipalPolicy", "grant it");
            let check = verdict(&simulation, &scope(&names));
            assert_eq!(check.status, Status::Unknown, "{check:?}");
        }
        let check = verdict(
            &unavailable(
                &Kind::Other { detail: "x".into() },
                "IAM SimulatePrincipalPolicy",
                "",
            ),
            &scope(&names),
        );
        assert!(check.summary.contains("simulation unavailable"));
    }
}
