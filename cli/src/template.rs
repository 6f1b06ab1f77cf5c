//! The CloudFormation template, rendered for one service (pure).
//!
//! `templates/broadcast.yaml` is the source, compiled into `mb`. It writes intrinsic
//! functions in their long form (`Ref:`, `Fn::Sub:`), so YAML and JSON are the same
//! document, and marks each name `mb` derives with the tag `!mb <key>`. Rendering
//! 1. replaces every `!mb` tag with the derived name (an unknown key or any other tag is
//!    an error, so nothing unrendered can reach CloudFormation), and
//! 2. renames the `Deployment` resource to `Deployment<hash>`, the hash taken over the API,
//!    its routes, integrations and every other API Gateway resource but the stage:
//!    CloudFormation only creates a new API Gateway
//!    deployment when its logical id changes, so edited routes would otherwise stay
//!    undeployed (docs/package.md, "Resources").

use serde_yaml::{Mapping, Value};
use sha2::{Digest, Sha256};

use crate::naming::Names;

/// The template source, as shipped in this repository.
pub const SOURCE: &str = include_str!("../../templates/broadcast.yaml");
/// The logical id the source gives the deployment, before its hash is appended.
const DEPLOYMENT: &str = "Deployment";
/// A change to any resource of this family, except the two below, needs a new deployment:
/// routes, integrations, authorizers, models, responses and the API itself.
const DEPLOYED_FAMILY: &str = "AWS::ApiGatewayV2::";
const NOT_DEPLOYED: [&str; 2] = ["AWS::ApiGatewayV2::Deployment", "AWS::ApiGatewayV2::Stage"];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("the template uses `!mb {0}`, which is not a derived name")]
    UnknownKey(String),
    #[error("the template uses the tag `{0}`; write intrinsic functions in long form (`Ref:`)")]
    UnexpectedTag(String),
    #[error("the template has no `{DEPLOYMENT}` resource of type AWS::ApiGatewayV2::Deployment")]
    NoDeployment,
    #[error("the template has no Resources map")]
    NoResources,
    #[error("cannot print the template as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the template has a resource whose logical id is not a string: {0:?}")]
    LogicalId(Value),
}

/// The shipped template rendered for `names`.
pub fn render(names: &Names) -> Result<Value, TemplateError> {
    render_source(SOURCE, names)
}

/// `source` rendered for `names`.
pub fn render_source(source: &str, names: &Names) -> Result<Value, TemplateError> {
    let mut template: Value = serde_yaml::from_str(source)?;
    substitute(&mut template, names)?;
    let resources = template
        .get_mut("Resources")
        .and_then(Value::as_mapping_mut)
        .ok_or(TemplateError::NoResources)?;
    let is_deployment = resources
        .get(DEPLOYMENT)
        .and_then(|r| r.get("Type"))
        .and_then(Value::as_str)
        == Some("AWS::ApiGatewayV2::Deployment");
    if !is_deployment {
        return Err(TemplateError::NoDeployment);
    }
    let renamed = format!("{DEPLOYMENT}{}", deployed_hash(resources)?);
    // Rebuilt rather than removed and re-inserted, so the resources keep their order.
    *resources = std::mem::take(resources)
        .into_iter()
        .map(|(id, resource)| match id.as_str() {
            Some(DEPLOYMENT) => (Value::from(renamed.as_str()), resource),
            _ => (id, resource),
        })
        .collect();
    rename_references(&mut template, DEPLOYMENT, &renamed);
    Ok(template)
}

/// The template's resources as (logical id, type), in order: the preview of a first
/// create, which has no change set to list.
pub fn resources(template: &Value) -> Vec<(String, String)> {
    template
        .get("Resources")
        .and_then(Value::as_mapping)
        .map(|resources| {
            resources
                .iter()
                .filter_map(|(id, resource)| {
                    Some((
                        id.as_str()?.to_owned(),
                        resource.get("Type")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn to_yaml(template: &Value) -> Result<String, TemplateError> {
    Ok(serde_yaml::to_string(template)?)
}

pub fn to_json(template: &Value) -> Result<String, TemplateError> {
    Ok(serde_json::to_string_pretty(template)?)
}

/// The derived name a `!mb` key stands for.
fn lookup<'a>(names: &'a Names, key: &str) -> Option<&'a str> {
    Some(match key {
        "service" => names.service.as_str(),
        "stage" => names.stage.as_str(),
        "table" => &names.table,
        "function" => &names.function,
        "role" => &names.role,
        "log_group" => &names.log_group,
        "api" => &names.api,
        "secret" => &names.secret,
        _ => return None,
    })
}

fn substitute(value: &mut Value, names: &Names) -> Result<(), TemplateError> {
    match value {
        Value::Tagged(tagged) => {
            if tagged.tag != "mb" {
                return Err(TemplateError::UnexpectedTag(tagged.tag.to_string()));
            }
            let key = tagged.value.as_str().unwrap_or_default().to_owned();
            let name = lookup(names, &key).ok_or(TemplateError::UnknownKey(key))?;
            *value = Value::from(name);
        }
        Value::Mapping(map) => {
            for (_, v) in map.iter_mut() {
                substitute(v, names)?;
            }
        }
        Value::Sequence(items) => {
            for v in items {
                substitute(v, names)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// 10 hex digits of sha256 over the resources a deployment snapshots, in logical-id
/// order (serde_yaml keeps the source order; sorting makes moving a resource harmless).
fn deployed_hash(resources: &Mapping) -> Result<String, TemplateError> {
    let mut deployed = Vec::new();
    for (id, resource) in resources {
        let kind = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !kind.starts_with(DEPLOYED_FAMILY) || NOT_DEPLOYED.contains(&kind) {
            continue;
        }
        let id = id
            .as_str()
            .ok_or_else(|| TemplateError::LogicalId(id.clone()))?;
        deployed.push((id.to_owned(), serde_json::to_string(resource)?));
    }
    deployed.sort();
    let mut hasher = Sha256::new();
    for (id, body) in &deployed {
        hasher.update(id.as_bytes());
        hasher.update([0]);
        hasher.update(body.as_bytes());
        hasher.update([0]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Points every `Ref`, `Fn::GetAtt`, `DependsOn` and `Fn::Sub` variable naming `from` at `to`.
fn rename_references(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Mapping(map) => {
            for (key, v) in map.iter_mut() {
                match (key.as_str(), &mut *v) {
                    (Some("Ref" | "DependsOn"), Value::String(s)) if s == from => {
                        *s = to.to_owned();
                    }
                    (Some("DependsOn"), Value::Sequence(items)) => {
                        for item in items.iter_mut() {
                            if item.as_str() == Some(from) {
                                *item = Value::from(to);
                            }
                        }
                    }
                    (Some("Fn::GetAtt"), Value::Sequence(items)) => {
                        if let Some(first) = items.first_mut().filter(|f| f.as_str() == Some(from))
                        {
                            *first = Value::from(to);
                        }
                    }
                    (Some("Fn::GetAtt"), Value::String(s))
                        if s.starts_with(&format!("{from}.")) =>
                    {
                        *s = format!("{to}{}", &s[from.len()..]);
                    }
                    (Some("Fn::Sub"), v) => rename_in_sub(v, from, to),
                    _ => rename_references(v, from, to),
                }
            }
        }
        Value::Sequence(items) => {
            for v in items {
                rename_references(v, from, to);
            }
        }
        _ => {}
    }
}

fn rename_in_sub(value: &mut Value, from: &str, to: &str) {
    let rewrite = |s: &mut String| {
        *s = s
            .replace(&format!("${{{from}}}"), &format!("${{{to}}}"))
            .replace(&format!("${{{from}."), &format!("${{{to}."));
    };
    match value {
        Value::String(s) => rewrite(s),
        Value::Sequence(items) => {
            if let Some(Value::String(s)) = items.first_mut() {
                rewrite(s);
            }
            for v in items.iter_mut().skip(1) {
                rename_references(v, from, to);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{Region, ServiceName, Stage};

    fn names(service: &str) -> Names {
        Names::derive(
            &ServiceName::parse(service).unwrap(),
            &Stage::parse("dev").unwrap(),
            &Region::parse("us-east-1").unwrap(),
        )
        .unwrap()
    }

    const SMALL: &str = r#"
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: !mb api, RouteSelectionExpression: $request.body.action}
  DefaultRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: {Ref: Api}, RouteKey: $default}
  Deployment:
    Type: AWS::ApiGatewayV2::Deployment
    DependsOn: [DefaultRoute]
    Properties: {ApiId: {Ref: Api}}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    DependsOn: Deployment
    Properties:
      StageName: !mb stage
      DeploymentId: {Ref: Deployment}
      Description: {Fn::Sub: "from ${Deployment}"}
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {TableName: !mb table}
"#;

    fn deployment_id(template: &Value) -> String {
        let ids: Vec<String> = template["Resources"]
            .as_mapping()
            .unwrap()
            .keys()
            .filter_map(|k| k.as_str())
            .filter(|k| k.starts_with(DEPLOYMENT))
            .map(str::to_owned)
            .collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        ids[0].clone()
    }

    #[test]
    fn resources_are_listed_in_order_with_the_renamed_deployment() {
        let t = render_source(SMALL, &names("chat")).unwrap();
        let listed = resources(&t);
        let ids: Vec<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids[..2], ["Api", "DefaultRoute"]);
        assert_eq!(ids[2], deployment_id(&t));
        assert_eq!(ids[3..], ["Stage", "Table"]);
        assert_eq!(listed[4].1, "AWS::DynamoDB::Table");
    }

    #[test]
    fn names_replace_tags() {
        let t = render_source(SMALL, &names("chat")).unwrap();
        assert_eq!(t["Resources"]["Api"]["Properties"]["Name"], "mb-chat-dev");
        assert_eq!(
            t["Resources"]["Table"]["Properties"]["TableName"],
            "mb-chat-dev-rooms"
        );
        assert_eq!(t["Resources"]["Stage"]["Properties"]["StageName"], "dev");
        assert!(!to_yaml(&t).unwrap().contains("!mb"));
    }

    #[test]
    fn resources_keep_the_source_order() {
        let t = render_source(SMALL, &names("chat")).unwrap();
        let ids: Vec<&str> = t["Resources"]
            .as_mapping()
            .unwrap()
            .keys()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(ids.len(), 5);
        assert_eq!(&ids[..2], ["Api", "DefaultRoute"]);
        assert!(ids[2].starts_with(DEPLOYMENT), "{ids:?}");
        assert_eq!(&ids[3..], ["Stage", "Table"]);
    }

    #[test]
    fn the_deployment_and_every_reference_to_it_are_renamed() {
        let t = render_source(SMALL, &names("chat")).unwrap();
        let id = deployment_id(&t);
        assert_eq!(id.len(), DEPLOYMENT.len() + 10, "{id}");
        let stage = &t["Resources"]["Stage"];
        assert_eq!(stage["DependsOn"], Value::from(id.as_str()));
        assert_eq!(
            stage["Properties"]["DeploymentId"]["Ref"],
            Value::from(id.as_str())
        );
        assert_eq!(
            stage["Properties"]["Description"]["Fn::Sub"],
            Value::from(format!("from ${{{id}}}"))
        );
    }

    #[test]
    fn changing_a_route_changes_the_deployment_and_nothing_else_does() {
        let base = deployment_id(&render_source(SMALL, &names("chat")).unwrap());
        assert_eq!(
            base,
            deployment_id(&render_source(SMALL, &names("chat")).unwrap())
        );
        let table_renamed = SMALL.replace("TableName: !mb table", "TableName: !mb function");
        assert_eq!(
            base,
            deployment_id(&render_source(&table_renamed, &names("chat")).unwrap())
        );
        let route_changed = SMALL.replace("RouteKey: $default", "RouteKey: $connect");
        assert_ne!(
            base,
            deployment_id(&render_source(&route_changed, &names("chat")).unwrap())
        );
        // Another service's API has another name, hence its own deployment id.
        assert_ne!(
            base,
            deployment_id(&render_source(SMALL, &names("game")).unwrap())
        );
    }

    #[test]
    fn refuses_unknown_keys_and_short_form_tags() {
        let unknown = SMALL.replace("!mb table", "!mb tabel");
        assert!(matches!(
            render_source(&unknown, &names("chat")),
            Err(TemplateError::UnknownKey(k)) if k == "tabel"
        ));
        let short = SMALL.replace("{Ref: Api}}", "!Ref Api}");
        assert!(matches!(
            render_source(&short, &names("chat")),
            Err(TemplateError::UnexpectedTag(t)) if t == "!Ref"
        ));
        let no_deployment = SMALL.replace("Deployment:\n", "Deploy:\n");
        assert!(matches!(
            render_source(&no_deployment, &names("chat")),
            Err(TemplateError::NoDeployment)
        ));
    }

    #[test]
    fn editing_a_route_of_the_shipped_template_redeploys() {
        let names = names("broadcaster");
        let base = deployment_id(&render(&names).unwrap());
        for (from, to) in [
            ("RouteKey: $disconnect", "RouteKey: leave"),
            (
                "Fn::If: [Jwt, CUSTOM, NONE]",
                "Fn::If: [Jwt, CUSTOM, AWS_IAM]",
            ),
            // The authorizer is part of the deployment too.
            (
                "route.request.querystring.token",
                "route.request.header.token",
            ),
            ("IntegrationType: AWS_PROXY", "IntegrationType: AWS"),
            ("$request.body.action", "$request.body.type"),
        ] {
            assert!(SOURCE.contains(from), "{from}");
            let edited = SOURCE.replacen(from, to, 1);
            assert_ne!(
                base,
                deployment_id(&render_source(&edited, &names).unwrap()),
                "{from}"
            );
        }
        // Function settings are not part of the deployment.
        let edited = SOURCE.replacen("Default: 256", "Default: 512", 1);
        assert_eq!(
            base,
            deployment_id(&render_source(&edited, &names).unwrap())
        );
    }

    #[test]
    fn the_shipped_template_renders_to_yaml_and_json() {
        let t = render(&names("broadcaster")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&to_json(&t).unwrap()).unwrap();
        assert_eq!(
            json["Resources"]["Function"]["Properties"]["FunctionName"],
            "mb-broadcaster-dev-broadcast"
        );
        let yaml: Value = serde_yaml::from_str(&to_yaml(&t).unwrap()).unwrap();
        assert_eq!(yaml, t);
    }
}
