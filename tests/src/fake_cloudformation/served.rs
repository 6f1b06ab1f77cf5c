//! The fake's model of what an API Gateway stage serves ([`Served`]): a stage serves the
//! snapshot its deployment took of the API's routes, integrations and authorizers when
//! the deployment was created, so a route changed after its deployment is stale (the
//! live endpoint does not serve it), whatever CloudFormation said.

use super::evaluation::resolved;
use super::stack::Stack;

/// What a stage serves ([`FakeCloudFormation::served`](super::server::FakeCloudFormation::served)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The logical id of the deployment the stage points at.
    pub deployment: String,
    /// When that deployment was created (the fake's clock); `None` if the fake never
    /// created it.
    pub created: Option<i64>,
    /// The API's routes, integrations, authorizers (and the API itself) changed after the
    /// deployment was created: the live endpoint does not serve them. Any entry is a
    /// failure in this model, whatever CloudFormation said.
    pub stale: Vec<String>,
}

impl Served {
    /// What the stage of `stack`'s live template serves; `None` without a stage.
    pub(super) fn of(stack: &Stack) -> Option<Served> {
        let template: serde_json::Value = serde_json::from_str(&stack.template.body).ok()?;
        let resources = resolved(&template, &stack.template.parameters);
        let (_, stage) = resources
            .iter()
            .find(|(_, r)| r["Type"] == "AWS::ApiGatewayV2::Stage")?;
        let deployment = stage
            .pointer("/Properties/DeploymentId/Ref")?
            .as_str()?
            .to_owned();
        let created = stack.changed.get(&deployment).copied();
        let stale = stack
            .resources
            .iter()
            .filter(|(_, kind)| {
                kind.starts_with("AWS::ApiGatewayV2::")
                    && kind != "AWS::ApiGatewayV2::Stage"
                    && kind != "AWS::ApiGatewayV2::Deployment"
            })
            .filter_map(|(id, _)| {
                let changed = *stack.changed.get(id)?;
                created.is_none_or(|c| changed > c).then(|| id.clone())
            })
            .collect();
        Some(Served {
            deployment,
            created,
            stale,
        })
    }
}
