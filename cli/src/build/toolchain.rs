//! What is installed for cross-compiling, and adding a missing Rust target.
//!
//! Probing runs the tools (`cargo-zigbuild --version`, `zig version`, rustup); what to do
//! with the answers is [`target_step`], a pure decision.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::plan::Toolchain;
use super::{Arch, BuildError};
use crate::ui::Ui;

/// What is installed: runs `cargo-zigbuild --version`, `zig version` (or the pip
/// package's `python3 -m ziglang version`, which cargo-zigbuild also finds) and
/// `cargo lambda --version`.
pub fn detect() -> Toolchain {
    // (`cargo zigbuild --version` is an error: the flag goes to the subcommand.)
    Toolchain {
        zigbuild: runs("cargo-zigbuild", &["--version"], None),
        zig: runs("zig", &["version"], None)
            || runs("python3", &["-m", "ziglang", "version"], None),
        cargo_lambda: runs("cargo", &["lambda", "--version"], None),
    }
}

fn runs(program: &str, args: &[&str], dir: Option<&Path>) -> bool {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.status().is_ok_and(|s| s.success())
}

/// What to do about the Rust target of an architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetStep {
    /// It is installed.
    Ready,
    /// rustup can add it.
    Add,
    /// It is missing and cannot be added; the reason.
    Missing(String),
}

/// Decides from rustup's list of installed targets (`None` when rustup is not available)
/// and whether the toolchain's sysroot has the target.
pub fn target_step(
    target: &str,
    rustup_installed: Option<&[String]>,
    in_sysroot: bool,
) -> TargetStep {
    match rustup_installed {
        Some(installed) if installed.iter().any(|t| t == target) => TargetStep::Ready,
        Some(_) => TargetStep::Add,
        None if in_sysroot => TargetStep::Ready,
        None => TargetStep::Missing("rustup is not available to add it".to_owned()),
    }
}

/// Makes sure the Rust standard library for `arch` is installed, adding it with rustup
/// (as cargo-lambda does) when it is missing. Never falls back to another architecture.
/// Runs in `workspace`, so a `rust-toolchain.toml` there picks the toolchain.
pub fn ensure_target(arch: Arch, workspace: &Path, ui: &Ui) -> Result<(), BuildError> {
    let target = arch.rust_target();
    let missing = |why: String| BuildError::NoTarget {
        target,
        why,
        other: arch.other().flag(),
    };
    match target_status(arch, workspace) {
        TargetStep::Ready => Ok(()),
        TargetStep::Missing(why) => Err(missing(why)),
        TargetStep::Add => {
            ui.line(&format!(
                "adding the Rust target {target} (rustup target add {target})"
            ));
            let added = Command::new("rustup")
                .args(["target", "add", target])
                .current_dir(workspace)
                .status();
            match added {
                Ok(status) if status.success() => Ok(()),
                Ok(status) => Err(missing(format!("`rustup target add` failed ({status})"))),
                Err(error) => Err(missing(format!("rustup could not run ({error})"))),
            }
        }
    }
}

/// Whether the Rust target of `arch` is there, can be added, or neither (what
/// [`ensure_target`] would do, without doing it).
pub fn target_status(arch: Arch, workspace: &Path) -> TargetStep {
    let target = arch.rust_target();
    let installed = rustup_targets(workspace);
    let in_sysroot = installed.is_none() && sysroot_has(target, workspace);
    target_step(target, installed.as_deref(), in_sysroot)
}

/// Whether `cargo` runs.
pub fn cargo_runs() -> bool {
    runs("cargo", &["--version"], None)
}

/// The targets rustup has installed for the toolchain in use in `dir`.
fn rustup_targets(dir: &Path) -> Option<Vec<String>> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

fn sysroot_has(target: &str, dir: &Path) -> bool {
    Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|root| root.join("lib/rustlib").join(target).is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARM: &str = "aarch64-unknown-linux-gnu";

    #[test]
    fn installed_targets_are_ready_and_missing_ones_are_added() {
        let with = vec![ARM.to_owned(), "x86_64-unknown-linux-gnu".to_owned()];
        let without = vec!["x86_64-unknown-linux-gnu".to_owned()];
        assert_eq!(target_step(ARM, Some(&with), false), TargetStep::Ready);
        assert_eq!(target_step(ARM, Some(&without), false), TargetStep::Add);
        assert_eq!(
            target_step(ARM, Some(&[]), true),
            TargetStep::Add,
            "rustup decides"
        );
    }

    #[test]
    fn without_rustup_the_sysroot_decides() {
        assert_eq!(target_step(ARM, None, true), TargetStep::Ready);
        assert!(matches!(
            target_step(ARM, None, false),
            TargetStep::Missing(_)
        ));
    }

    #[test]
    fn a_missing_target_offers_both_fixes() {
        let TargetStep::Missing(why) = target_step(ARM, None, false) else {
            panic!("missing");
        };
        let err = BuildError::NoTarget {
            target: ARM,
            why,
            other: Arch::Arm64.other().flag(),
        }
        .to_string();
        assert!(
            err.contains("rustup target add aarch64-unknown-linux-gnu"),
            "{err}"
        );
        assert!(err.contains("--arch x86_64"), "{err}");
        assert!(err.contains("rustup is not available"), "{err}");
    }
}
