//! The list as an identity policy: one statement per resource (and condition), and as the
//! tables of docs/deploy.md.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

#[cfg(test)]
use super::grant::{Caller, FUNCTION_URL_AUTH, INVOKED_VIA_URL, PASSED_TO};
use super::grant::{Permission, Resource, Scope};
use super::list::PERMISSIONS;
#[cfg(test)]
use super::not_granted::NOT_GRANTED;
#[cfg(test)]
use crate::naming::Names;

/// One statement of an identity policy, its fields in the order people write them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub sid: String,
    pub effect: &'static str,
    pub action: Vec<&'static str>,
    pub resource: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

/// An identity policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

/// The permissions grouped as policy statements: one per resource (and condition), the
/// actions sorted (pure).
pub fn statements<'a>(
    permissions: impl IntoIterator<Item = &'a Permission>,
    scope: &Scope<'_>,
) -> Vec<Statement> {
    let mut groups: BTreeMap<(Resource, Option<String>), Vec<&'static str>> = BTreeMap::new();
    for permission in permissions {
        let condition = permission.condition().map(|c| c.to_string());
        let actions = groups.entry((permission.resource, condition)).or_default();
        if !actions.contains(&permission.action) {
            actions.push(permission.action);
        }
    }
    groups
        .into_iter()
        .map(|((resource, condition), mut actions)| {
            actions.sort_unstable();
            let condition = condition.and_then(|c| serde_json::from_str(&c).ok());
            let sid = match &condition {
                None => resource.sid().to_owned(),
                Some(_) if actions.contains(&"iam:PassRole") => format!("Pass{}", resource.sid()),
                Some(_) if actions.contains(&"lambda:InvokeFunction") => {
                    format!("{}ViaUrl", resource.sid())
                }
                Some(_) => format!("{}Url", resource.sid()),
            };
            Statement {
                sid,
                effect: "Allow",
                action: actions,
                resource: resource.arns(scope),
                condition,
            }
        })
        .collect()
}

/// The least-privilege identity policy for deploying, inspecting and destroying one
/// service (pure).
pub fn policy(scope: &Scope<'_>) -> Policy {
    Policy {
        version: "2012-10-17",
        statement: statements(PERMISSIONS, scope),
    }
}

/// A scope in account 123456789012 with the default bucket of eu-west-1, for unit tests.
#[cfg(test)]
pub fn scope(names: &Names) -> Scope<'_> {
    Scope {
        names,
        account: "123456789012",
        bucket: "mb-artifacts-123456789012-eu-west-1",
    }
}

/// The permission tables of docs/deploy.md (pure), which a test compares with the
/// document (and rewrites with `MB_UPDATE_DOCS=1`).
#[cfg(test)]
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "What `mb` calls itself:\n\n| Action | Needed by | For | Resource |\n|---|---|---|---|\n",
    );
    for p in PERMISSIONS {
        if let Caller::Mb(calls) = p.caller {
            let mut resource = p.resource.documented().to_owned();
            if p.action == "lambda:InvokeFunctionUrl" {
                resource.push_str(&format!(
                    ", only through an `{FUNCTION_URL_AUTH}` function URL"
                ));
            }
            if p.action == "lambda:InvokeFunction" {
                resource.push_str(&format!(
                    ", only through the function URL (`{INVOKED_VIA_URL}`)"
                ));
            }
            out.push_str(&format!(
                "| `{}` | {} | {} | {resource} |\n",
                p.action,
                p.commands,
                calls.join(", "),
            ));
        }
    }
    out.push_str(
        "\nWhat CloudFormation calls with your credentials, for the template's resources \
         (deploy and destroy):\n\n| Resource type | Actions | Resource |\n|---|---|---|\n",
    );
    let mut rows: Vec<(&str, Resource, Vec<&str>)> = Vec::new();
    for p in PERMISSIONS {
        if let Caller::CloudFormation(resource_type) = p.caller {
            match rows
                .iter_mut()
                .find(|(t, r, _)| *t == resource_type && *r == p.resource)
            {
                Some((_, _, actions)) => actions.push(p.action),
                None => rows.push((resource_type, p.resource, vec![p.action])),
            }
        }
    }
    for (resource_type, resource, actions) in rows {
        let actions: Vec<String> = actions.iter().map(|a| format!("`{a}`")).collect();
        let mut resource = resource.documented().to_owned();
        if actions.iter().any(|a| a == "`iam:PassRole`") {
            resource.push_str(&format!(", only to `{PASSED_TO}`"));
        }
        out.push_str(&format!(
            "| {resource_type} | {} | {resource} |\n",
            actions.join(", ")
        ));
    }
    out.push_str(
        "\nWhat the resource providers' handler permissions list that the policy leaves \
         out, and why (CloudFormation's resource schemas, \
         `tests/fixtures/handler-permissions.json`):\n\n| Resource type | Actions | Why not \
         |\n|---|---|---|\n",
    );
    for excluded in NOT_GRANTED {
        let actions: Vec<String> = excluded.actions.iter().map(|a| format!("`{a}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            excluded.resource_type,
            actions.join(", "),
            excluded.why
        ));
    }
    out
}
