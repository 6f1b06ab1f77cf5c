//! What an update changes ([`Change`]): [`changes`] compares the old template with the
//! new one as CloudFormation does (added, modified, removed resources, in dependency
//! order), and [`replaces`] says which property changes replace a resource.

use super::evaluation::{dependency_order, present, resolved};
use super::template::Template;

/// One resource change, as DescribeChangeSet lists it.
#[derive(Debug, Clone)]
pub(super) struct Change {
    pub(super) action: &'static str,
    pub(super) logical_id: String,
    pub(super) resource_type: String,
    pub(super) replacement: Option<&'static str>,
}

/// The resource changes an update from `old` to `new` makes. When both bodies are JSON
/// templates with `Resources` (what `mb deploy` sends), they are compared as
/// CloudFormation does: a logical id only in `new` is an `Add`, only in `old` a `Remove`,
/// in both with other properties a `Modify`, a replacement when a changed property is one
/// whose update requires replacement ([`replaces`]). Otherwise (a test's `{}` body, or
/// only parameters changed) the change is the function's code: `Modify Function`.
pub(super) fn changes(old: &Template, new: &Template) -> Vec<Change> {
    type Resources = serde_json::Map<String, serde_json::Value>;
    // (as written, as resolved with the template's parameters)
    let resources = |template: &Template| -> Option<(Resources, Resources)> {
        let value: serde_json::Value = serde_json::from_str(&template.body).ok()?;
        Some((
            present(&value, &template.parameters),
            resolved(&value, &template.parameters),
        ))
    };
    let function = || Change {
        action: "Modify",
        logical_id: "Function".into(),
        resource_type: "AWS::Lambda::Function".into(),
        replacement: Some("False"),
    };
    let (Some((before, before_resolved)), Some((after, after_resolved))) =
        (resources(old), resources(new))
    else {
        return vec![function()];
    };
    let kind = |r: &serde_json::Value| r["Type"].as_str().unwrap_or_default().to_owned();
    let empty = serde_json::Map::new();
    let props = |r: Option<&serde_json::Value>| {
        r.and_then(|r| r.get("Properties"))
            .and_then(|p| p.as_object())
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let mut found = Vec::new();
    for id in dependency_order(&after) {
        let resource = &after[&id];
        let id = &id;
        match before.get(id) {
            None => found.push(Change {
                action: "Add",
                logical_id: id.clone(),
                resource_type: kind(resource),
                replacement: None,
            }),
            // Modified when its text changed, or when a parameter changed what it
            // resolves to (an `Fn::If` on a condition, a `Ref` to a parameter).
            Some(previous)
                if previous != resource || before_resolved.get(id) != after_resolved.get(id) =>
            {
                let mut changed: Vec<String> = Vec::new();
                for (was, now) in [
                    (props(Some(previous)), props(Some(resource))),
                    (
                        props(before_resolved.get(id)),
                        props(after_resolved.get(id)),
                    ),
                ] {
                    changed.extend(
                        was.keys()
                            .chain(now.keys())
                            .filter(|k| was.get(*k) != now.get(*k))
                            .cloned(),
                    );
                }
                let replaced = kind(previous) != kind(resource)
                    || changed.iter().any(|k| replaces(&kind(resource), k));
                found.push(Change {
                    action: "Modify",
                    logical_id: id.clone(),
                    resource_type: kind(resource),
                    replacement: Some(if replaced { "True" } else { "False" }),
                });
            }
            Some(_) => {}
        }
    }
    for (id, resource) in &before {
        if !after.contains_key(id) {
            found.push(Change {
                action: "Remove",
                logical_id: id.clone(),
                resource_type: kind(resource),
                replacement: None,
            });
        }
    }
    if found.is_empty() {
        found.push(function());
    }
    found
}

/// Whether changing `property` of a resource of `kind` requires replacement ("Update
/// requires: Replacement" in each type's reference), for the types of mb's template.
fn replaces(kind: &str, property: &str) -> bool {
    let properties: &[&str] = match kind {
        "AWS::DynamoDB::Table" => &["TableName", "KeySchema"],
        "AWS::Lambda::Function" => &["FunctionName"],
        "AWS::Lambda::Permission" => &[
            "Action",
            "FunctionName",
            "Principal",
            "SourceAccount",
            "SourceArn",
        ],
        "AWS::Lambda::Url" => &["Qualifier"],
        "AWS::IAM::Role" => &["RoleName", "Path"],
        "AWS::Logs::LogGroup" => &["LogGroupName"],
        "AWS::ApiGatewayV2::Api" => &["ProtocolType"],
        "AWS::ApiGatewayV2::Stage" => &["ApiId", "StageName"],
        "AWS::ApiGatewayV2::Route"
        | "AWS::ApiGatewayV2::Integration"
        | "AWS::ApiGatewayV2::Deployment" => &["ApiId"],
        _ => &[],
    };
    properties.contains(&property)
}
