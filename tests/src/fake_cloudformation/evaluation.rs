//! Template evaluation, as CloudFormation evaluates a template with parameter values:
//! conditions (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`), `Fn::If` and
//! parameter `Ref`s ([`Evaluation`]); the resources a template creates ([`present`]), as
//! CloudFormation sees them ([`resolved`]); the order it creates them in
//! ([`dependency_order`]); and what a create makes ([`to_create`]).

use std::collections::HashSet;

use super::template::Template;

/// A template evaluated with parameter values (defaults where none is given), as
/// CloudFormation evaluates `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`,
/// `Fn::If` and a `Ref` to a parameter. A condition this cannot evaluate counts as true.
struct Evaluation<'a> {
    template: &'a serde_json::Value,
    parameters: &'a [(String, String)],
}

impl Evaluation<'_> {
    fn parameter(&self, name: &str) -> Option<String> {
        use serde_json::Value;
        self.template.pointer(&format!("/Parameters/{name}"))?;
        self.parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                match self
                    .template
                    .pointer(&format!("/Parameters/{name}/Default"))?
                {
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                }
            })
    }

    fn value_of(&self, v: &serde_json::Value) -> Option<String> {
        use serde_json::Value;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => self.parameter(o.get("Ref")?.as_str()?),
            _ => None,
        }
    }

    fn condition(&self, name: &str) -> bool {
        self.template
            .pointer(&format!("/Conditions/{name}"))
            .and_then(|c| self.truth(c, 0))
            .unwrap_or(true)
    }

    fn truth(&self, expr: &serde_json::Value, depth: usize) -> Option<bool> {
        if depth > 20 {
            return None;
        }
        let object = expr.as_object()?;
        let (function, args) = object.iter().next()?;
        let all = |args: &serde_json::Value| -> Option<Vec<bool>> {
            args.as_array()?
                .iter()
                .map(|a| self.truth(a, depth + 1))
                .collect()
        };
        match function.as_str() {
            "Fn::Equals" => {
                let pair = args.as_array()?;
                Some(self.value_of(pair.first()?)? == self.value_of(pair.get(1)?)?)
            }
            "Fn::Not" => Some(!*all(args)?.first()?),
            "Fn::And" => Some(all(args)?.iter().all(|b| *b)),
            "Fn::Or" => Some(all(args)?.iter().any(|b| *b)),
            "Condition" => self.truth(
                self.template
                    .pointer(&format!("/Conditions/{}", args.as_str()?))?,
                depth + 1,
            ),
            _ => None,
        }
    }

    /// `value` with every `Fn::If` replaced by its chosen branch and every `Ref` to a
    /// parameter by the parameter's value; `None` where it is `AWS::NoValue` (the
    /// property is left out).
    fn resolve(&self, value: &serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                if map.len() == 1 {
                    if let Some(Value::String(name)) = map.get("Ref") {
                        if name == "AWS::NoValue" {
                            return None;
                        }
                        if let Some(v) = self.parameter(name) {
                            return Some(Value::String(v));
                        }
                    }
                    if let Some(Value::Array(branches)) = map.get("Fn::If")
                        && let [Value::String(condition), yes, no] = branches.as_slice()
                    {
                        let chosen = if self.condition(condition) { yes } else { no };
                        return self.resolve(chosen);
                    }
                }
                Some(Value::Object(
                    map.iter()
                        .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
                        .collect(),
                ))
            }
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            other => Some(other.clone()),
        }
    }
}

/// The resources a template creates with `parameters`: those whose `Condition` holds.
pub(super) fn present(
    template: &serde_json::Value,
    parameters: &[(String, String)],
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let evaluation = Evaluation {
        template,
        parameters,
    };
    template
        .get("Resources")
        .and_then(Value::as_object)
        .map(|resources| {
            resources
                .iter()
                .filter(
                    |(_, resource)| match resource.get("Condition").and_then(Value::as_str) {
                        None => true,
                        Some(name) => evaluation.condition(name),
                    },
                )
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// [`present`]'s resources as CloudFormation sees them with `parameters`: each
/// `Fn::If` decided, each parameter `Ref` replaced by its value.
pub(super) fn resolved(
    template: &serde_json::Value,
    parameters: &[(String, String)],
) -> serde_json::Map<String, serde_json::Value> {
    let evaluation = Evaluation {
        template,
        parameters,
    };
    present(template, parameters)
        .into_iter()
        .filter_map(|(id, resource)| Some((id, evaluation.resolve(&resource)?)))
        .collect()
}

/// The logical ids of `resources` in the order CloudFormation creates and updates them:
/// each after every resource it references (`Ref`, `Fn::GetAtt`, `${X}` in `Fn::Sub`,
/// `DependsOn`), else in template order.
pub(super) fn dependency_order(
    resources: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    fn refs(value: &serde_json::Value, out: &mut HashSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("Ref", serde_json::Value::String(id)) => {
                            out.insert(id.clone());
                        }
                        ("Fn::GetAtt", serde_json::Value::Array(parts)) => {
                            if let Some(id) = parts.first().and_then(|p| p.as_str()) {
                                out.insert(id.to_owned());
                            }
                        }
                        ("DependsOn", serde_json::Value::String(id)) => {
                            out.insert(id.clone());
                        }
                        _ => {}
                    }
                    if key == "DependsOn"
                        && let serde_json::Value::Array(ids) = inner
                    {
                        out.extend(ids.iter().filter_map(|i| i.as_str().map(str::to_owned)));
                    }
                    refs(inner, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
            serde_json::Value::String(text) => {
                for part in text.split("${").skip(1) {
                    if let Some(name) = part.split('}').next() {
                        out.insert(name.split('.').next().unwrap_or(name).to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    let needs: Vec<(String, HashSet<String>)> = resources
        .iter()
        .map(|(id, resource)| {
            let mut out = HashSet::new();
            refs(resource, &mut out);
            out.retain(|r| r != id && resources.contains_key(r));
            (id.clone(), out)
        })
        .collect();
    let mut done: Vec<String> = Vec::new();
    while done.len() < needs.len() {
        let next = needs
            .iter()
            .find(|(id, deps)| !done.contains(id) && deps.iter().all(|d| done.contains(d)))
            // A cycle (CloudFormation would refuse the template): template order.
            .or_else(|| needs.iter().find(|(id, _)| !done.contains(id)));
        match next {
            Some((id, _)) => done.push(id.clone()),
            None => break,
        }
    }
    done
}

/// The resources a create of `template` makes, in dependency order; `None` when its body
/// is not a JSON template with `Resources` (a test's `{}`).
pub(super) fn to_create(template: &Template) -> Option<Vec<(String, String)>> {
    let value: serde_json::Value = serde_json::from_str(&template.body).ok()?;
    value.get("Resources")?;
    let resources = present(&value, &template.parameters);
    Some(
        dependency_order(&resources)
            .into_iter()
            .map(|id| {
                let kind = resources[&id]["Type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (id, kind)
            })
            .collect(),
    )
}
