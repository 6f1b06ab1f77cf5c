//! The CloudFormation template, rendered for one service (pure).
//!
//! `templates/broadcast.yaml` is the source, compiled into `mb`. It writes intrinsic
//! functions in their long form (`Ref:`, `Fn::Sub:`), so YAML and JSON are the same
//! document, and marks each name `mb` derives with the tag `!mb <key>`. Rendering
//! 1. replaces every `!mb` tag with the derived name (an unknown key or any other tag is
//!    an error, so nothing unrendered can reach CloudFormation), and
//! 2. renames the `Deployment` resource to `Deployment<hash>`, the hash taken over the API,
//!    its routes, integrations and every other API Gateway resource but the stage, **and
//!    over the values of the parameters those resources depend on** (through `Ref`,
//!    `Fn::Sub`, `Fn::If` and `Condition`): a stage serves a deployment's snapshot, and
//!    CloudFormation only creates a new API Gateway deployment when its logical id
//!    changes, so edited routes, or routes a parameter switches (`Auth` turns the
//!    `$connect` authorizer on and off), would otherwise stay undeployed
//!    (docs/package.md, "Resources").

use std::collections::{BTreeMap, BTreeSet};

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

/// To the user: a failure (exit 1), in the error's own words.
impl From<TemplateError> for crate::error::Failure {
    fn from(err: TemplateError) -> Self {
        crate::error::Failure::new(err.to_string())
    }
}

/// The value of each template parameter a create or update passes (by parameter name);
/// a parameter left out takes the template's `Default`.
pub type ParameterValues = BTreeMap<String, String>;

/// The shipped template rendered for `names`, its deployment named for the parameter
/// `values` it will be deployed with.
pub fn render(names: &Names, values: &ParameterValues) -> Result<Value, TemplateError> {
    render_source(SOURCE, names, values)
}

/// `source` rendered for `names` and parameter `values`.
pub fn render_source(
    source: &str,
    names: &Names,
    values: &ParameterValues,
) -> Result<Value, TemplateError> {
    let mut template: Value = serde_yaml::from_str(source)?;
    substitute(&mut template, names)?;
    let parameters = snapshot_parameters(&template, values);
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
    let renamed = format!("{DEPLOYMENT}{}", deployed_hash(resources, &parameters)?);
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
        "lost_queue" => &names.lost_queue,
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

/// Whether a resource of this type is part of what a deployment snapshots.
fn is_deployed(resource: &Value) -> bool {
    let kind = resource
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    kind.starts_with(DEPLOYED_FAMILY) && !NOT_DEPLOYED.contains(&kind)
}

/// (name, value) of every parameter the snapshotted resources depend on, directly (`Ref`,
/// `${Name}` in `Fn::Sub`) or through a condition (`Condition`, `Fn::If`, and the
/// conditions those use), with the value `values` gives or else the template's default.
fn snapshot_parameters(template: &Value, values: &ParameterValues) -> Vec<(String, String)> {
    let empty = Mapping::new();
    let declared = template
        .get("Parameters")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    let conditions = template
        .get("Conditions")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    let mut found = Dependencies::default();
    if let Some(resources) = template.get("Resources").and_then(Value::as_mapping) {
        for resource in resources.values().filter(|r| is_deployed(r)) {
            found.walk(resource);
        }
    }
    // Conditions use other conditions: follow them until no new one turns up.
    let mut seen = BTreeSet::new();
    while let Some(name) = found
        .conditions
        .iter()
        .find(|c| !seen.contains(*c))
        .cloned()
    {
        if let Some(expression) = conditions.get(name.as_str()) {
            found.walk(expression);
        }
        seen.insert(name);
    }
    found
        .names
        .into_iter()
        .filter_map(|name| {
            let declaration = declared.get(name.as_str())?;
            let value = match values.get(&name) {
                Some(value) => value.clone(),
                None => match declaration.get("Default") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::Bool(b)) => b.to_string(),
                    _ => String::new(),
                },
            };
            Some((name, value))
        })
        .collect()
}

/// The names (parameters or resources: the caller keeps the parameters) and conditions
/// a part of a template refers to.
#[derive(Default)]
struct Dependencies {
    names: BTreeSet<String>,
    conditions: BTreeSet<String>,
}

impl Dependencies {
    fn walk(&mut self, value: &Value) {
        match value {
            Value::Mapping(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        (Some("Ref"), Value::String(name)) => {
                            self.names.insert(name.clone());
                        }
                        (Some("Condition"), Value::String(name)) => {
                            self.conditions.insert(name.clone());
                        }
                        (Some("Fn::If"), Value::Sequence(items)) => {
                            if let Some(name) = items.first().and_then(Value::as_str) {
                                self.conditions.insert(name.to_owned());
                            }
                        }
                        (Some("Fn::Sub"), Value::String(text)) => self.sub(text),
                        (Some("Fn::Sub"), Value::Sequence(items)) => {
                            if let Some(text) = items.first().and_then(Value::as_str) {
                                self.sub(text);
                            }
                        }
                        _ => {}
                    }
                    self.walk(inner);
                }
            }
            Value::Sequence(items) => items.iter().for_each(|item| self.walk(item)),
            _ => {}
        }
    }

    /// `${Name}` and `${Name.Attribute}` in an `Fn::Sub` string (`${!Literal}` is text).
    fn sub(&mut self, text: &str) {
        for part in text.split("${").skip(1) {
            let Some(name) = part.split('}').next() else {
                continue;
            };
            if !name.starts_with('!') {
                let name = name.split('.').next().unwrap_or(name);
                self.names.insert(name.to_owned());
            }
        }
    }
}

/// 10 hex digits of sha256 over the resources a deployment snapshots, in logical-id
/// order (serde_yaml keeps the source order; sorting makes moving a resource harmless),
/// then over the parameters they depend on, `name=value`.
fn deployed_hash(
    resources: &Mapping,
    parameters: &[(String, String)],
) -> Result<String, TemplateError> {
    let mut deployed = Vec::new();
    for (id, resource) in resources {
        if !is_deployed(resource) {
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
    for (name, value) in parameters {
        hasher.update([1]);
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value.as_bytes());
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

    /// Every parameter at its default.
    fn defaults() -> ParameterValues {
        ParameterValues::new()
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
        let t = render_source(SMALL, &names("chat"), &defaults()).unwrap();
        let listed = resources(&t);
        let ids: Vec<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids[..2], ["Api", "DefaultRoute"]);
        assert_eq!(ids[2], deployment_id(&t));
        assert_eq!(ids[3..], ["Stage", "Table"]);
        assert_eq!(listed[4].1, "AWS::DynamoDB::Table");
    }

    #[test]
    fn names_replace_tags() {
        let t = render_source(SMALL, &names("chat"), &defaults()).unwrap();
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
        let t = render_source(SMALL, &names("chat"), &defaults()).unwrap();
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
        let t = render_source(SMALL, &names("chat"), &defaults()).unwrap();
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
        let base = deployment_id(&render_source(SMALL, &names("chat"), &defaults()).unwrap());
        assert_eq!(
            base,
            deployment_id(&render_source(SMALL, &names("chat"), &defaults()).unwrap())
        );
        let table_renamed = SMALL.replace("TableName: !mb table", "TableName: !mb function");
        assert_eq!(
            base,
            deployment_id(&render_source(&table_renamed, &names("chat"), &defaults()).unwrap())
        );
        let route_changed = SMALL.replace("RouteKey: $default", "RouteKey: $connect");
        assert_ne!(
            base,
            deployment_id(&render_source(&route_changed, &names("chat"), &defaults()).unwrap())
        );
        // Another service's API has another name, hence its own deployment id.
        assert_ne!(
            base,
            deployment_id(&render_source(SMALL, &names("game"), &defaults()).unwrap())
        );
    }

    #[test]
    fn refuses_unknown_keys_and_short_form_tags() {
        let unknown = SMALL.replace("!mb table", "!mb tabel");
        assert!(matches!(
            render_source(&unknown, &names("chat"), &defaults()),
            Err(TemplateError::UnknownKey(k)) if k == "tabel"
        ));
        let short = SMALL.replace("{Ref: Api}}", "!Ref Api}");
        assert!(matches!(
            render_source(&short, &names("chat"), &defaults()),
            Err(TemplateError::UnexpectedTag(t)) if t == "!Ref"
        ));
        let no_deployment = SMALL.replace("Deployment:\n", "Deploy:\n");
        assert!(matches!(
            render_source(&no_deployment, &names("chat"), &defaults()),
            Err(TemplateError::NoDeployment)
        ));
    }

    #[test]
    fn editing_a_route_of_the_shipped_template_redeploys() {
        let names = names("broadcaster");
        let base = deployment_id(&render(&names, &defaults()).unwrap());
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
                deployment_id(&render_source(&edited, &names, &defaults()).unwrap()),
                "{from}"
            );
        }
        // Function settings are not part of the deployment.
        let edited = SOURCE.replacen("Default: 256", "Default: 512", 1);
        assert_eq!(
            base,
            deployment_id(&render_source(&edited, &names, &defaults()).unwrap())
        );
    }

    fn with(pairs: &[(&str, &str)]) -> ParameterValues {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The stage serves a snapshot: turning tokens on or off changes only `Fn::If`s and a
    /// `Condition`, so the deployment must follow the parameter, not just the text.
    #[test]
    fn the_auth_parameter_changes_the_deployment() {
        let names = names("broadcaster");
        let id = |values: &ParameterValues| deployment_id(&render(&names, values).unwrap());
        let open = id(&defaults());
        assert_eq!(open, id(&with(&[("Auth", "none")])), "none is the default");
        let jwt = id(&with(&[("Auth", "jwt")]));
        assert_ne!(open, jwt);
        assert_eq!(
            jwt,
            id(&with(&[("Auth", "jwt")])),
            "the same values, the same id"
        );
        // Parameters the routes do not depend on leave the deployment alone, or every
        // code upload would redeploy the API.
        for (name, value) in [
            ("ArtifactKey", "chat/dev/abc.zip"),
            ("MemorySize", "1024"),
            ("ThrottlingRateLimit", "500"),
            ("JwtIssuer", "https://issuer.example"),
        ] {
            assert_eq!(open, id(&with(&[(name, value)])), "{name}");
        }
    }

    #[test]
    fn parameters_reached_through_conditions_and_subs_count() {
        let source = r#"
Parameters:
  Mode: {Type: String, Default: a}
  Other: {Type: String, Default: x}
  Path: {Type: String, Default: p}
  Unused: {Type: String, Default: u}
Conditions:
  IsB: {Fn::Equals: [{Ref: Mode}, b]}
  Either: {Fn::Or: [{Condition: IsB}, {Fn::Equals: [{Ref: Other}, y]}]}
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: {Fn::Sub: "api-${Path}-${!Literal}"}}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Condition: Either
    Properties: {ApiId: {Ref: Api}, RouteKey: $default}
  Deployment:
    Type: AWS::ApiGatewayV2::Deployment
    Properties: {ApiId: {Ref: Api}}
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {TableName: {Ref: Unused}}
"#;
        let names = names("chat");
        let id = |pairs: &[(&str, &str)]| {
            deployment_id(&render_source(source, &names, &with(pairs)).unwrap())
        };
        let base = id(&[]);
        assert_ne!(base, id(&[("Mode", "b")]), "through IsB inside Either");
        assert_ne!(base, id(&[("Other", "y")]), "through Either");
        assert_ne!(base, id(&[("Path", "q")]), "through Fn::Sub");
        assert_eq!(base, id(&[("Unused", "v")]), "only the table uses it");
        assert_eq!(base, id(&[("Mode", "a")]), "the default given explicitly");
    }

    #[test]
    fn the_shipped_template_renders_to_yaml_and_json() {
        let t = render(&names("broadcaster"), &defaults()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&to_json(&t).unwrap()).unwrap();
        assert_eq!(
            json["Resources"]["Function"]["Properties"]["FunctionName"],
            "mb-broadcaster-dev-broadcast"
        );
        let yaml: Value = serde_yaml::from_str(&to_yaml(&t).unwrap()).unwrap();
        assert_eq!(yaml, t);
    }
}
