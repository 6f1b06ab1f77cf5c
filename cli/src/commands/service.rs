//! Which service a command acts on: `--service` (or `SERVICE_NAME`, the old tool's
//! variable, or a prompt on a terminal), `--stage` and the region, turned into every
//! derived name before anything else happens.

use clap::Args;

use crate::aws::{Aws, AwsArgs};
use crate::error::Failure;
use crate::naming::{Names, Region, ServiceName, Stage};
use crate::ui::Ui;

#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// The service's name: lowercase letters, digits and hyphens
    #[arg(long, env = "SERVICE_NAME", value_name = "NAME")]
    pub service: Option<String>,
    /// The stage (the API Gateway stage, and part of every resource name)
    #[arg(long, default_value = "dev", value_name = "STAGE")]
    pub stage: String,
}

impl ServiceArgs {
    /// The service name from the flag or `SERVICE_NAME`, unchecked; an empty
    /// `SERVICE_NAME` counts as unset.
    pub fn given(&self) -> Option<&str> {
        self.service.as_deref().filter(|s| !s.is_empty())
    }

    /// The service name from the flag or `SERVICE_NAME`, else asked for on a terminal.
    pub fn service(&self, ui: &Ui) -> Result<ServiceName, Failure> {
        if let Some(given) = self.given() {
            return Ok(ServiceName::parse(given)?);
        }
        let answer = ui.ask("Service name", |input| {
            ServiceName::parse(input.trim())
                .map(|_| ())
                .map_err(|e| e.to_string())
        })?;
        match answer {
            Some(name) => Ok(ServiceName::parse(name.trim())?),
            None => Err(Failure::usage(
                "no service name: pass --service NAME or set SERVICE_NAME",
            )),
        }
    }

    /// Every derived name for this service and stage in the region `region` finds, which
    /// is asked only once the service and stage are known to be valid.
    pub fn names(
        &self,
        ui: &Ui,
        region: impl FnOnce() -> Result<Region, Failure>,
    ) -> Result<Names, Failure> {
        let service = self.service(ui)?;
        let stage = Stage::parse(&self.stage)?;
        Ok(Names::derive(&service, &stage, &region()?)?)
    }
}

/// The service's names in the region the AWS configuration resolves, with that
/// configuration: the service and stage are checked before any AWS lookup, so a bad name
/// is a usage error even without credentials.
pub async fn connect(
    service: &ServiceArgs,
    aws: &AwsArgs,
    ui: &Ui,
) -> Result<(Names, Aws), Failure> {
    let name = service.service(ui)?;
    let stage = Stage::parse(&service.stage)?;
    let aws = Aws::load(aws).await?;
    let region = Region::parse(aws.region())?;
    Ok((Names::derive(&name, &stage, &region)?, aws))
}

/// [`connect`], then the service's stack; a missing stack is a failure that says how to
/// deploy it.
pub async fn deployed(
    service: &ServiceArgs,
    aws: &AwsArgs,
    ui: &Ui,
) -> Result<(Names, Aws, crate::stack::Stack), Failure> {
    let (names, aws) = connect(service, aws, ui).await?;
    let Some(stack) = crate::stack::describe(&aws.cloudformation(), &names.stack).await? else {
        return Err(Failure::new(format!(
            "no stack {} in {}: service `{}` stage `{}` is not deployed there (deploy it with \
             `mb deploy --service {} --stage {}`)",
            names.stack, names.region, names.service, names.stage, names.service, names.stage
        )));
    };
    Ok((names, aws, stack))
}
