//! One CloudFormation stack: reading it, and the calls that change it.
//!
//! `status` decides (pure), `events` follows an operation and reports it, `changeset`
//! previews and applies an update, `cleanup` deletes the change sets a deploy did not
//! execute. This file holds the stack as mb sees it and the single calls (describe,
//! create, delete, roll back) through the SDK client.

pub mod changeset;
pub mod cleanup;
pub mod events;
pub mod status;

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus, Tag};
use aws_smithy_types::DateTime;

use crate::aws::failure;
use crate::error::Failure;

/// A template parameter's value in a create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterValue {
    Given(String),
    /// Keep the deployed value (`UsePreviousValue`), only valid on an update.
    Previous,
}

/// A stack as `mb` needs it.
#[derive(Debug, Clone)]
pub struct Stack {
    pub id: String,
    pub name: String,
    pub status: StackStatus,
    pub reason: Option<String>,
    pub created: Option<DateTime>,
    pub updated: Option<DateTime>,
    /// (key, value, description), in the template's order.
    pub outputs: Vec<(String, String, Option<String>)>,
    pub parameters: Vec<(String, String)>,
}

impl Stack {
    /// A stack that was deleted and is no longer described.
    pub fn gone(id: &str, name: &str) -> Stack {
        Stack {
            id: id.to_owned(),
            name: name.to_owned(),
            status: StackStatus::DeleteComplete,
            reason: None,
            created: None,
            updated: None,
            outputs: Vec::new(),
            parameters: Vec::new(),
        }
    }

    pub fn output(&self, key: &str) -> Option<&str> {
        self.outputs
            .iter()
            .find(|(k, ..)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What a create or update sends: the template and its parameters, with the capability
/// the template needs (it names its IAM role) and tags naming the service.
#[derive(Debug, Clone)]
pub struct Request {
    pub template_body: String,
    /// Parameters not listed take the template's default.
    pub parameters: Vec<(String, ParameterValue)>,
    pub tags: Vec<(String, String)>,
}

impl Request {
    /// The value each parameter will have once applied to a stack whose parameters are
    /// `deployed`: a given value, or the deployed one where it is kept
    /// (`UsePreviousValue`). Parameters not sent are left out: they take the default.
    pub fn values(&self, deployed: &[(String, String)]) -> BTreeMap<String, String> {
        self.parameters
            .iter()
            .filter_map(|(name, value)| {
                let value = match value {
                    ParameterValue::Given(value) => value.clone(),
                    ParameterValue::Previous => deployed
                        .iter()
                        .find(|(deployed, _)| deployed == name)
                        .map(|(_, value)| value.clone())?,
                };
                Some((name.clone(), value))
            })
            .collect()
    }

    fn sdk_parameters(&self) -> Vec<Parameter> {
        self.parameters
            .iter()
            .map(|(k, v)| {
                let parameter = Parameter::builder().parameter_key(k);
                match v {
                    ParameterValue::Given(value) => parameter.parameter_value(value),
                    ParameterValue::Previous => parameter.use_previous_value(true),
                }
                .build()
            })
            .collect()
    }

    fn sdk_tags(&self) -> Vec<Tag> {
        self.tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }
}

/// The template names its IAM role (so the name carries the service and region).
const CAPABILITY: Capability = Capability::CapabilityNamedIam;

/// True when an error says the stack does not exist. DescribeStacks has no modelled
/// not-found error: a missing stack is a `ValidationError` whose message says so.
pub fn is_missing(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationError") && message.is_some_and(|m| m.contains("does not exist"))
}

/// The stack named `name_or_id`, or `None` if there is none. By name, a deleted stack is
/// absent; by id, it is found with status DELETE_COMPLETE.
pub async fn describe(client: &Client, name_or_id: &str) -> Result<Option<Stack>, Failure> {
    let out = match client.describe_stacks().stack_name(name_or_id).send().await {
        Ok(out) => out,
        Err(err) => {
            let service = err.as_service_error();
            if is_missing(
                service.and_then(|e| e.code()),
                service.and_then(|e| e.message()),
            ) {
                return Ok(None);
            }
            return Err(failure(&err, "CloudFormation DescribeStacks"));
        }
    };
    let Some(stack) = out.stacks().first() else {
        return Ok(None);
    };
    let (Some(id), Some(status)) = (stack.stack_id(), stack.stack_status()) else {
        return Err(Failure::new(format!(
            "CloudFormation described the stack `{name_or_id}` without its id or status"
        )));
    };
    Ok(Some(Stack {
        id: id.to_owned(),
        name: stack.stack_name().unwrap_or(name_or_id).to_owned(),
        status: status.clone(),
        reason: stack.stack_status_reason().map(str::to_owned),
        created: stack.creation_time().copied(),
        updated: stack.last_updated_time().copied(),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| {
                Some((
                    o.output_key()?.to_owned(),
                    o.output_value().unwrap_or_default().to_owned(),
                    o.description().map(str::to_owned),
                ))
            })
            .collect(),
        parameters: stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
    }))
}

/// CreateStack; returns the new stack's id. Rollback on failure stays on (the default), so
/// a failed create ends in ROLLBACK_COMPLETE, which the next deploy recreates.
pub async fn create(client: &Client, name: &str, request: &Request) -> Result<String, Failure> {
    let out = client
        .create_stack()
        .stack_name(name)
        .template_body(&request.template_body)
        .set_parameters(Some(request.sdk_parameters()))
        .capabilities(CAPABILITY)
        .set_tags(Some(request.sdk_tags()))
        .send()
        .await
        .map_err(|e| failure(&e, "CloudFormation CreateStack"))?;
    out.stack_id()
        .map(str::to_owned)
        .ok_or_else(|| Failure::new("CloudFormation CreateStack answered without a stack id"))
}

/// DeleteStack by id (a name could meet a new stack of the same name).
pub async fn delete(client: &Client, id: &str) -> Result<(), Failure> {
    client
        .delete_stack()
        .stack_name(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failure(&e, "CloudFormation DeleteStack"))
}

/// RollbackStack (UPDATE_FAILED or CREATE_FAILED with rollback disabled).
pub async fn roll_back(client: &Client, id: &str) -> Result<(), Failure> {
    client
        .rollback_stack()
        .stack_name(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failure(&e, "CloudFormation RollbackStack"))
}

/// ContinueUpdateRollback (UPDATE_ROLLBACK_FAILED).
pub async fn continue_rollback(client: &Client, id: &str) -> Result<(), Failure> {
    client
        .continue_update_rollback()
        .stack_name(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failure(&e, "CloudFormation ContinueUpdateRollback"))
}

/// A timestamp as `2026-11-22 10:44:01 UTC`.
pub fn format_time(time: &DateTime) -> String {
    match time.fmt(aws_smithy_types::date_time::Format::DateTime) {
        Ok(text) if text.len() >= 19 => format!("{} {} UTC", &text[..10], &text[11..19]),
        Ok(text) => text,
        Err(_) => format!("{} s after 1970", time.secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_stack_is_recognised_by_code_and_message() {
        assert!(is_missing(
            Some("ValidationError"),
            Some("Stack with id mb-a-dev does not exist")
        ));
        assert!(!is_missing(
            Some("ValidationError"),
            Some("Template format error")
        ));
        assert!(!is_missing(Some("AccessDenied"), Some("does not exist")));
        assert!(!is_missing(None, None));
    }

    #[test]
    fn times_are_printed_in_utc_to_the_second() {
        let time = DateTime::from_secs(1_795_000_000);
        assert_eq!(format_time(&time), "2026-11-18 11:06:40 UTC");
    }
}
