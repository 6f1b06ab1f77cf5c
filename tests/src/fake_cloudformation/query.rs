//! The AWS query protocol's request side: a request's form-encoded parameters
//! ([`Params`]), its lists (`List.member.N`) and key/value lists, and a parameter it must
//! carry ([`required`]).

use std::collections::BTreeMap;

use super::fault::{Fault, validation};

/// A request's form parameters, by name (`Action`, `StackName`, `Parameters.member.1...`).
pub(super) type Params = BTreeMap<String, String>;

/// `List.member.N` (N from 1) as a list.
pub(super) fn members(params: &Params, list: &str) -> Vec<String> {
    (1..)
        .map_while(|n| params.get(&format!("{list}.member.{n}")).cloned())
        .collect()
}

/// `List.member.N.Key` / `.Value` pairs (N from 1).
pub(super) fn pairs(params: &Params, list: &str, key: &str, value: &str) -> Vec<(String, String)> {
    (1..)
        .map_while(|n| {
            let k = params.get(&format!("{list}.member.{n}.{key}"))?;
            let v = params
                .get(&format!("{list}.member.{n}.{value}"))
                .cloned()
                .unwrap_or_default();
            Some((k.clone(), v))
        })
        .collect()
}

/// The parameter `name`, or the ValidationError CloudFormation answers when a request
/// lacks it.
pub(super) fn required<'a>(params: &'a Params, name: &str) -> Result<&'a String, Fault> {
    params.get(name).ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
             Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
