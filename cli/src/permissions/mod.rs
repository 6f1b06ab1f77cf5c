//! Every IAM action `mb deploy`, `mb info`, `mb logs`, `mb publish`, `mb token`, `mb console` and `mb destroy` need, on which
//! resource, and why: the one list that `mb doctor` simulates, `mb doctor --policy` prints
//! as a policy, and docs/deploy.md shows (a test keeps the document equal to [`markdown`]).
//!
//! `mb` uses no CloudFormation service role, so CloudFormation creates the template's
//! resources with the caller's credentials: the list holds the calls `mb` makes itself
//! and the calls CloudFormation makes for each resource type (the resource providers'
//! handler permissions). Resources are scoped to one service's names, but for the three
//! actions IAM cannot scope (`sts:GetCallerIdentity`, `lambda:GetAccountSettings`,
//! `secretsmanager:GetRandomPassword`), which are granted on `*`; no action is `*`.
//! Everything here is pure.
//!
//! The CloudFormation part is held against the resource providers' own lists: a test
//! reads `tests/fixtures/handler-permissions.json` (the `handlers` sections of
//! CloudFormation's published resource schemas) and requires, for every resource type the
//! rendered template uses, each create, read, update, delete and list action to be either
//! in [`PERMISSIONS`] for that type or in `NOT_GRANTED` with its reason; an exclusion that
//! no schema lists fails too.
//!
//! | file | what |
//! |---|---|
//! | `grant.rs` | who calls, on what resource, with which condition |
//! | `list.rs` | the list itself, [`PERMISSIONS`] |
//! | `not_granted.rs` | what the list leaves out of the handlers' permissions, and why |
//! | `policy.rs` | the list as a policy and as docs/deploy.md's tables |

mod grant;
mod list;
#[cfg(test)]
mod not_granted;
mod policy;

#[cfg(test)]
pub use grant::Resource;
pub use grant::{
    Caller, FUNCTION_URL_AUTH, INVOKED_VIA_URL, PASSED_TO, Permission, Scope, partition,
};
pub use list::PERMISSIONS;
#[cfg(test)]
pub use policy::{markdown, scope};
pub use policy::{policy, statements};

#[cfg(test)]
mod tests {
    use super::grant::*;
    use super::not_granted::NOT_GRANTED;
    use super::*;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    use crate::naming::example as names;

    /// An action may be listed twice on one resource only for two callers: mb's own call
    /// and CloudFormation's are simulated with different contexts (`aws:CalledVia`).
    #[test]
    fn no_action_is_a_wildcard_and_none_is_listed_twice_for_one_resource() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PERMISSIONS {
            assert!(!p.action.contains('*'), "{} has a wildcard", p.action);
            let (service, name) = p.action.split_once(':').unwrap();
            assert!(!service.is_empty() && !name.is_empty(), "{}", p.action);
            let by_mb = matches!(p.caller, Caller::Mb(_));
            assert!(
                seen.insert((p.action, p.resource, by_mb)),
                "{} twice",
                p.action
            );
        }
    }

    /// IAM refuses a policy whose statements repeat a Sid; and the publisher's grant of
    /// InvokeFunction reaches the function only through its URL, so a backend allowed to
    /// publish cannot invoke it with an event it made up.
    #[test]
    fn statement_ids_are_unique_and_invoke_is_only_through_the_url() {
        let names = names("eu-west-1");
        let statements = statements(PERMISSIONS, &scope(&names));
        let sids: std::collections::BTreeSet<_> = statements.iter().map(|s| &s.sid).collect();
        assert_eq!(sids.len(), statements.len(), "{statements:#?}");
        let invoke: Vec<_> = statements
            .iter()
            .filter(|s| s.action.contains(&"lambda:InvokeFunction"))
            .collect();
        assert_eq!(invoke.len(), 1, "{invoke:#?}");
        assert_eq!(invoke[0].action, ["lambda:InvokeFunction"]);
        assert_eq!(
            invoke[0].condition,
            Some(json!({ "Bool": { "lambda:InvokedViaFunctionUrl": "true" } }))
        );
    }

    #[test]
    fn the_policy_is_scoped_to_the_service_names() {
        let names = names("eu-west-1");
        let policy = serde_json::to_value(policy(&scope(&names))).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        let mut actions = 0;
        for statement in statements {
            actions += statement["Action"].as_array().unwrap().len();
            for resource in statement["Resource"].as_array().unwrap() {
                let resource = resource.as_str().unwrap();
                if statement["Sid"] == "CallerIdentity" {
                    assert_eq!(resource, "*");
                    assert_eq!(statement["Action"], json!(["sts:GetCallerIdentity"]));
                    continue;
                }
                // The one action without resource-level permissions, alone on `*`.
                if statement["Sid"] == "LambdaAccountSettings" {
                    assert_eq!(resource, "*");
                    assert_eq!(statement["Action"], json!(["lambda:GetAccountSettings"]));
                    continue;
                }
                if statement["Sid"] == "RandomPassword" {
                    assert_eq!(resource, "*");
                    assert_eq!(
                        statement["Action"],
                        json!(["secretsmanager:GetRandomPassword"])
                    );
                    continue;
                }
                assert!(resource.starts_with("arn:aws:"), "{resource}");
                assert!(
                    resource.contains("mb-chat-dev")
                        || resource.contains("chat/dev/")
                        || resource.ends_with("mb-artifacts-123456789012-eu-west-1")
                        || resource.contains(":apigateway:eu-west-1::/")
                        || resource.ends_with(":log-group:*"),
                    "{resource} is not scoped to the service"
                );
            }
        }
        // Every permission is in exactly one statement (an action that both mb and
        // CloudFormation call on one resource, once).
        let distinct: std::collections::BTreeSet<_> =
            PERMISSIONS.iter().map(|p| (p.action, p.resource)).collect();
        assert_eq!(actions, distinct.len());
    }

    #[test]
    fn pass_role_is_only_to_lambda_on_the_function_role() {
        let names = names("eu-west-1");
        let policy = serde_json::to_value(policy(&scope(&names))).unwrap();
        let pass: Vec<&Value> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("iam:PassRole"))
            })
            .collect();
        assert_eq!(pass.len(), 1);
        assert_eq!(pass[0]["Action"], json!(["iam:PassRole"]));
        assert_eq!(
            pass[0]["Resource"],
            json!(["arn:aws:iam::123456789012:role/mb-chat-dev-eu-west-1"])
        );
        assert_eq!(
            pass[0]["Condition"]["StringEquals"]["iam:PassedToService"],
            "lambda.amazonaws.com"
        );
    }

    #[test]
    fn arns_follow_the_partition_of_the_region() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        let names = names("cn-north-1");
        let scope = scope(&names);
        assert_eq!(
            Resource::Function.arns(&scope),
            ["arn:aws-cn:lambda:cn-north-1:123456789012:function:mb-chat-dev-broadcast"]
        );
    }

    #[test]
    fn each_example_matches_its_pattern() {
        let names = names("eu-west-1");
        let scope = scope(&names);
        for p in PERMISSIONS {
            let example = p.resource.example(&scope);
            assert!(
                !example.contains('*')
                    || matches!(
                        p.resource,
                        Resource::Account | Resource::LambdaAccount | Resource::SecretsAccount
                    ),
                "{example}"
            );
            let matched = p
                .resource
                .arns(&scope)
                .iter()
                .any(|pattern| glob(pattern, &example));
            assert!(matched, "{example} is not matched by {:?}", p.resource);
        }
        // The secret's grant reaches its six-character suffix, not a longer name.
        let secret = &Resource::Secret.arns(&scope)[0];
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mb-chat-dev-token-key-";
        assert!(glob(secret, &format!("{arn}a1B2c3")));
        assert!(!glob(secret, &format!("{arn}dev-token-key-a1B2c3")));
    }

    /// IAM's matching of a resource pattern: `*` any run of characters, `?` any one.
    fn glob(pattern: &str, text: &str) -> bool {
        let (pattern, text): (Vec<char>, Vec<char>) =
            (pattern.chars().collect(), text.chars().collect());
        fn at(p: &[char], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some(('*', rest)) => (0..=t.len()).any(|i| at(rest, &t[i..])),
                Some(('?', rest)) => !t.is_empty() && at(rest, &t[1..]),
                Some((c, rest)) => t.first() == Some(c) && at(rest, &t[1..]),
            }
        }
        at(&pattern, &text)
    }

    /// The `handlers` sections of CloudFormation's published resource schemas, as cfn-lint
    /// 1.10.0 ships them (the file names its source and how to regenerate it).
    const HANDLERS: &str = include_str!("../../../tests/fixtures/handler-permissions.json");

    /// Whether a grant for `granted` (a type, or a family ending in `*`) is for
    /// `resource_type`.
    fn for_type(granted: &str, resource_type: &str) -> bool {
        match granted.strip_suffix('*') {
            Some(family) => resource_type.starts_with(family),
            None => granted == resource_type,
        }
    }

    /// The handler actions of each resource type in the data: type → (handler, action).
    fn handler_actions() -> BTreeMap<String, Vec<(String, String)>> {
        let data: Value = serde_json::from_str(HANDLERS).expect("the fixture is JSON");
        assert_eq!(
            data["source"]["package"], "cfn-lint",
            "{:#}",
            data["source"]
        );
        let types = data["types"].as_object().expect("a types object");
        types
            .iter()
            .map(|(resource_type, handlers)| {
                let handlers = handlers.as_object().expect("handlers by name");
                let actions = handlers
                    .iter()
                    .flat_map(|(handler, actions)| {
                        actions
                            .as_array()
                            .expect("a list of actions")
                            .iter()
                            .map(move |a| {
                                (handler.clone(), a.as_str().expect("an action").to_owned())
                            })
                    })
                    .collect();
                (resource_type.clone(), actions)
            })
            .collect()
    }

    /// CloudFormation calls a resource type's handlers with the caller's credentials, so a
    /// handler action missing from the list fails a deploy on a real account (the Lambda
    /// update handler's lambda:ListTags did), while `mb doctor`, which simulates this same
    /// list, passes. Every action the providers list for a type of the rendered template
    /// is granted for that type or excluded with a reason; IAM action names are
    /// case-insensitive.
    #[test]
    fn every_handler_permission_of_the_templates_types_is_granted_or_excluded() {
        let handlers = handler_actions();
        let names = names("eu-west-1");
        let template = crate::template::render(&names, &Default::default()).unwrap();
        let used: std::collections::BTreeSet<String> = crate::template::resources(&template)
            .into_iter()
            .map(|(_, resource_type)| resource_type)
            .collect();
        assert!(used.contains(FUNCTION), "{used:?}");
        let mut problems = Vec::new();
        for resource_type in &used {
            let Some(actions) = handlers.get(resource_type) else {
                problems.push(format!(
                    "the template uses {resource_type}, which tests/fixtures/handler-permissions.json \
                     has no entry for: add it to tests/fixtures/handler_permissions.py and \
                     regenerate the file"
                ));
                continue;
            };
            for (handler, action) in actions {
                let granted = PERMISSIONS.iter().any(|p| {
                    matches!(p.caller, Caller::CloudFormation(t) if for_type(t, resource_type))
                        && p.action.eq_ignore_ascii_case(action)
                });
                let excluded = NOT_GRANTED.iter().any(|n| {
                    n.resource_type == resource_type
                        && n.actions.iter().any(|a| a.eq_ignore_ascii_case(action))
                });
                match (granted, excluded) {
                    (false, false) => problems.push(format!(
                        "{resource_type}'s {handler} handler needs {action}, which is neither \
                         in PERMISSIONS for {resource_type} nor in NOT_GRANTED"
                    )),
                    (true, true) => problems.push(format!(
                        "{action} is both granted and excluded for {resource_type}"
                    )),
                    _ => {}
                }
            }
        }
        // No stale excuse: every exclusion names an action its type's handlers list.
        for excluded in NOT_GRANTED {
            for action in excluded.actions {
                let listed = handlers.get(excluded.resource_type).is_some_and(|actions| {
                    actions.iter().any(|(_, a)| a.eq_ignore_ascii_case(action))
                });
                if !listed {
                    problems.push(format!(
                        "NOT_GRANTED excludes {action} for {}, which none of its handlers lists",
                        excluded.resource_type
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// docs/deploy.md shows the list as it is. `MB_UPDATE_DOCS=1 cargo test -p mb
    /// permissions` rewrites the section after a change to the list.
    #[test]
    fn the_documentation_shows_this_list() {
        crate::docs::assert_generated(
            "docs/deploy.md",
            "permissions",
            "cli/src/permissions.rs",
            &markdown(),
        );
    }
}
