//! Running cargo: finding the lambda crate, asking cargo where it builds, and compiling
//! with progress that degrades without a terminal.
//!
//! Every cargo, rustup and rustc call runs in the lambda crate's folder with an absolute
//! manifest path, so `.cargo/config.toml` and `rust-toolchain.toml` are read from the
//! same place whatever folder `mb` was started in.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::plan::Plan;
use super::{BuildError, PACKAGE};
use crate::ui::Ui;

/// The lambda crate: its manifest (absolute) and the folder commands run in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub manifest: PathBuf,
    pub dir: PathBuf,
}

/// Finds the `lambda` crate's manifest: `--manifest-path`, else `lambda/Cargo.toml` in
/// the current directory or a parent, else the source tree `mb` was built from.
pub fn find_source(given: Option<&Path>) -> Result<Source, BuildError> {
    let manifest = match given {
        Some(path) if path.is_file() => path.to_owned(),
        Some(path) => {
            return Err(BuildError::NoSource(format!(
                "{} is not a file; pass the lambda crate's Cargo.toml to --manifest-path",
                path.display()
            )));
        }
        None => {
            let here = std::env::current_dir().ok();
            let candidates = here
                .iter()
                .flat_map(|dir| dir.ancestors())
                .map(|dir| dir.join("lambda").join("Cargo.toml"))
                .chain(std::iter::once(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lambda/Cargo.toml"),
                ));
            let mut found = None;
            for candidate in candidates {
                if is_lambda_manifest(&candidate) {
                    found = Some(candidate);
                    break;
                }
            }
            found.ok_or_else(|| {
                BuildError::NoSource(
                    "no lambda/Cargo.toml of the mb-lambda crate here or in a parent directory; \
                     run mb from the mb checkout, pass --manifest-path, or use a built zip with \
                     --artifact"
                        .to_owned(),
                )
            })?
        }
    };
    let manifest = manifest
        .canonicalize()
        .map_err(|e| BuildError::NoSource(format!("cannot resolve {}: {e}", manifest.display())))?;
    let dir = manifest
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| BuildError::NoSource(format!("{} has no folder", manifest.display())))?;
    Ok(Source { manifest, dir })
}

fn is_lambda_manifest(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.contains(&format!("name = \"{PACKAGE}\"")))
}

/// Cargo's target directory for the lambda crate's workspace (honours `CARGO_TARGET_DIR`
/// and `.cargo/config.toml`, because cargo itself answers).
pub fn target_dir(source: &Source) -> Result<PathBuf, BuildError> {
    let manifest = &source.manifest;
    let command = format!(
        "cargo metadata --format-version 1 --no-deps --manifest-path {}",
        manifest.display()
    );
    let output = Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest)
        .current_dir(&source.dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| BuildError::Spawn {
            command: command.clone(),
            error,
        })?;
    if !output.status.success() {
        return Err(BuildError::Cargo {
            command,
            status: output.status.to_string(),
        });
    }
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .ok()
        .and_then(|v| v.get("target_directory")?.as_str().map(PathBuf::from))
        .ok_or_else(|| BuildError::NoSource(format!("`{command}` printed no target_directory")))
}

/// Runs the planned cargo command. On a terminal a spinner shows the crate being compiled
/// and cargo's whole output is printed if it fails; elsewhere cargo's lines pass through.
pub fn compile(plan: &Plan, source: &Source, ui: &Ui) -> Result<(), BuildError> {
    let command = format!(
        "cargo {}",
        plan.args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    ui.line(&format!("building: {command}"));
    let mut cargo = Command::new("cargo");
    cargo
        .args(&plan.args)
        .current_dir(&source.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let spawn_error = |error| BuildError::Spawn {
        command: command.clone(),
        error,
    };
    let status = if ui.is_terminal() {
        let mut child = cargo.stderr(Stdio::piped()).spawn().map_err(spawn_error)?;
        let progress = ui.spinner("compiling");
        let mut transcript = Vec::new();
        if let Some(stderr) = child.stderr.take() {
            // Bytes, not `lines()`: a line that is not UTF-8 must not stop the reading
            // (cargo would then write to a closed pipe and fail).
            let mut reader = BufReader::new(stderr);
            let mut bytes = Vec::new();
            while reader.read_until(b'\n', &mut bytes).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&bytes).trim_end().to_owned();
                bytes.clear();
                let trimmed = line.trim_start();
                if trimmed.starts_with("Compiling") || trimmed.starts_with("Finished") {
                    progress.set_message(trimmed);
                }
                transcript.push(line);
            }
        }
        let status = child.wait().map_err(spawn_error)?;
        progress.finish();
        if !status.success() {
            for line in &transcript {
                eprintln!("{line}");
            }
        }
        status
    } else {
        cargo
            .stderr(Stdio::inherit())
            .status()
            .map_err(spawn_error)?
    };
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Cargo {
            command,
            status: status.to_string(),
        })
    }
}
