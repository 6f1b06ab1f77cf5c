//! A template as a request sends it ([`Template`]: body, parameters, capabilities, tags),
//! read from CreateStack, UpdateStack and CreateChangeSet ([`template_of`], with
//! `UsePreviousTemplate` and `UsePreviousValue`), and the capability it needs.

use super::fault::{Fault, validation};
use super::query::{Params, members, pairs};

/// InsufficientCapabilities' message: mb's template names its IAM role.
pub(super) const REQUIRES_IAM: &str = "Requires capabilities : [CAPABILITY_NAMED_IAM]";

/// A template with what was sent along with it.
#[derive(Debug, Clone, Default)]
pub(super) struct Template {
    pub(super) body: String,
    pub(super) parameters: Vec<(String, String)>,
    pub(super) capabilities: Vec<String>,
    pub(super) tags: Vec<(String, String)>,
}

impl Template {
    /// Same body and parameters (in any order): nothing to change.
    pub(super) fn same_as(&self, other: &Template) -> bool {
        self.body == other.body && sorted(&self.parameters) == sorted(&other.parameters)
    }
}

/// The template a create or update sends, with `UsePreviousTemplate` and
/// `UsePreviousValue` taken from `previous`.
pub(super) fn template_of(params: &Params, previous: Option<&Template>) -> Result<Template, Fault> {
    let flag = |name: &str| params.get(name).is_some_and(|v| v == "true");
    let body = match (params.get("TemplateBody"), params.get("TemplateURL")) {
        (Some(body), _) => body.clone(),
        (None, Some(url)) => url.clone(),
        (None, None) => match previous {
            Some(previous) if flag("UsePreviousTemplate") => previous.body.clone(),
            _ => {
                return Err(validation(
                    "Either Template URL or Template Body must be specified.".into(),
                ));
            }
        },
    };
    let mut parameters = Vec::new();
    for n in 1.. {
        let Some(key) = params.get(&format!("Parameters.member.{n}.ParameterKey")) else {
            break;
        };
        let previous_value = flag(&format!("Parameters.member.{n}.UsePreviousValue"))
            .then(|| {
                previous
                    .and_then(|p| p.parameters.iter().find(|(k, _)| k == key))
                    .map(|(_, v)| v.clone())
            })
            .flatten();
        let value = match previous_value {
            Some(value) => value,
            None => params
                .get(&format!("Parameters.member.{n}.ParameterValue"))
                .cloned()
                .unwrap_or_default(),
        };
        parameters.push((key.clone(), value));
    }
    Ok(Template {
        body,
        parameters,
        capabilities: members(params, "Capabilities"),
        tags: pairs(params, "Tags", "Key", "Value"),
    })
}

fn sorted(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    pairs
}

/// Whether `capabilities` allow a template that creates IAM resources.
pub(super) fn has_iam_capability(capabilities: &[String]) -> bool {
    capabilities
        .iter()
        .any(|c| c == "CAPABILITY_NAMED_IAM" || c == "CAPABILITY_IAM")
}
