//! `mb build`: the Lambda deployment package, from source or from a given zip.
//!
//! 1. With `--artifact`: read that zip and check its `bootstrap`.
//! 2. Otherwise find the lambda crate, pick the cross-compiler, make sure the Rust target
//!    for `--arch` is installed, and compile with the `lambda-release` profile (glibc 2.34).
//! 3. Check the binary's ELF (architecture, glibc), zip it reproducibly.
//! 4. Print the zip's path, size and sha256.

use std::path::PathBuf;

use clap::Args;

use crate::build::{self, Arch, Artifact, cargo, plan, toolchain};
use crate::error::Failure;
use crate::ui::Ui;

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Lambda architecture (arm64 costs less per ms)
    #[arg(long, value_enum, default_value = "arm64")]
    pub arch: Arch,
    /// Use this deployment zip (with `bootstrap` at its root) instead of building
    #[arg(long, value_name = "FILE.zip")]
    pub artifact: Option<PathBuf>,
    /// The lambda crate's Cargo.toml (default: lambda/Cargo.toml here or in a parent)
    #[arg(long, value_name = "PATH", conflicts_with = "artifact")]
    pub manifest_path: Option<PathBuf>,
}

pub fn run(args: &BuildArgs, ui: &Ui) -> Result<(), Failure> {
    let artifact = artifact(args, ui)?;
    let size = artifact.zip.len();
    let mut report = format!(
        "{}\n  arch    {}\n  size    {size} bytes ({:.2} MB)\n  sha256  {}\n",
        artifact.path.display(),
        args.arch.flag(),
        size as f64 / 1e6,
        artifact.sha256
    );
    if let Some(glibc) = artifact.glibc {
        report.push_str(&format!(
            "  glibc   needs {glibc} (provided.al2023 has {})\n",
            build::elf::LAMBDA_GLIBC
        ));
    }
    crate::ui::print(&report)
}

/// The package `mb build` prints and `mb deploy` uploads.
pub fn artifact(args: &BuildArgs, ui: &Ui) -> Result<Artifact, Failure> {
    if let Some(path) = &args.artifact {
        return Ok(build::load_artifact(path, args.arch)?);
    }
    let source = cargo::find_source(args.manifest_path.as_deref())?;
    let target_dir = cargo::target_dir(&source)?;
    let plan = plan::plan(
        &toolchain::detect(),
        args.arch,
        &source.manifest,
        &target_dir,
    )?;
    toolchain::ensure_target(args.arch, &source.dir, ui)?;
    cargo::compile(&plan, &source, ui)?;
    let out = target_dir
        .join("mb")
        .join(format!("bootstrap-{}.zip", args.arch.flag()));
    Ok(build::package_binary(&plan.binary, args.arch, &out)?)
}
