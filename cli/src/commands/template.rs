//! `mb template`: the CloudFormation template `mb deploy` would deploy, printed.
//!
//! 1. Derive every name from `--service`, `--stage` and the region (no AWS call).
//! 2. Render `templates/broadcast.yaml` with them.
//! 3. Print it as YAML or JSON.

use clap::{Args, ValueEnum};

use crate::commands::service::ServiceArgs;
use crate::error::Failure;
use crate::naming::Region;
use crate::template;
use crate::ui::Ui;

/// The region a template is rendered for when none is given: names only (the IAM role
/// carries the region), so the note on stderr says so.
const FALLBACK_REGION: &str = "us-east-1";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct TemplateArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// The region the names are derived for (the IAM role's name includes it)
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
}

pub fn run(args: &TemplateArgs, ui: &Ui) -> Result<(), Failure> {
    let names = args.service.names(ui, || region(args, ui))?;
    // The deployment is named for the parameters' defaults; `mb deploy` names it for the
    // values it deploys (crate::template).
    let rendered = template::render(&names, &template::ParameterValues::new())?;
    let text = match args.format {
        Format::Yaml => template::to_yaml(&rendered)?,
        Format::Json => template::to_json(&rendered)? + "\n",
    };
    crate::ui::print(&text)
}

/// `--region`, `AWS_REGION` or `AWS_DEFAULT_REGION`; else the fallback, with a note.
fn region(args: &TemplateArgs, ui: &Ui) -> Result<Region, Failure> {
    let given = args
        .region
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty());
    match given {
        Some(region) => Ok(Region::parse(&region)?),
        None => {
            ui.line(&format!(
                "note: no --region, AWS_REGION or AWS_DEFAULT_REGION; names are derived for \
                 {FALLBACK_REGION}"
            ));
            Ok(Region::parse(FALLBACK_REGION)?)
        }
    }
}
