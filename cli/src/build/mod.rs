//! `mb build`'s machinery: cross-compile the `lambda` crate for `provided.al2023`, check
//! the binary, zip it reproducibly.
//!
//! - [`plan`]: which cross-compiler, which arguments, where the binary lands (pure).
//! - [`toolchain`]: what is installed; adding a missing Rust target.
//! - [`cargo`]: finding the crate and running cargo.
//! - [`elf`]: whether Lambda's `provided.al2023` can run a binary (pure).
//! - [`package`]: the reproducible zip (pure).
//!
//! This file holds what they share, and the two ways to an [`Artifact`]: a binary to
//! check and zip, or a zip to check.

mod arch;
pub mod cargo;
pub mod elf;
pub mod package;
pub mod plan;
pub mod toolchain;

pub use arch::Arch;

use std::path::{Path, PathBuf};

/// The release profile tuned for Lambda (workspace `Cargo.toml`). Not `lambda`: a host
/// build with that profile would write `target/lambda/`, cargo-lambda's output folder.
pub const PROFILE: &str = "lambda-release";
/// The crate and binary Lambda runs.
const PACKAGE: &str = "mb-lambda";
const BINARY: &str = "bootstrap";

/// A deployment package ready to upload.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub path: PathBuf,
    pub zip: Vec<u8>,
    pub sha256: String,
    /// The newest glibc version `bootstrap` needs, if it links glibc at all.
    pub glibc: Option<elf::GlibcVersion>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "cannot cross-compile for Lambda: {missing}. Install cargo-zigbuild and zig \
         (`pip install cargo-zigbuild ziglang`, or `cargo install --locked cargo-zigbuild` and zig \
         from https://ziglang.org/download/), or install cargo-lambda (https://www.cargo-lambda.info)"
    )]
    NoToolchain { missing: String },
    #[error(
        "the Rust target {target} is not installed ({why}). Either install it (`rustup target \
         add {target}`, or a toolchain that includes it), or build for the other architecture: \
         `--arch {other}`"
    )]
    NoTarget {
        target: &'static str,
        why: String,
        other: &'static str,
    },
    #[error("cannot find the lambda crate: {0}")]
    NoSource(String),
    #[error("cannot run `{command}`: {error}")]
    Spawn {
        command: String,
        error: std::io::Error,
    },
    #[error("the build failed (`{command}` exited with {status}); cargo's output is above")]
    Cargo { command: String, status: String },
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Package {
        path: PathBuf,
        error: package::PackageError,
    },
    #[error("{path}: {error}")]
    Binary { path: PathBuf, error: elf::ElfError },
}

/// To the user: a failure (exit 1), in the error's own words.
impl From<BuildError> for crate::error::Failure {
    fn from(err: BuildError) -> Self {
        crate::error::Failure::new(err.to_string())
    }
}
/// Checks `binary` for `arch`, zips it and writes the zip to `out`.
pub fn package_binary(binary_path: &Path, arch: Arch, out: &Path) -> Result<Artifact, BuildError> {
    let binary = std::fs::read(binary_path).map_err(|error| BuildError::Read {
        path: binary_path.to_owned(),
        error,
    })?;
    let glibc = check_binary(&binary, arch).map_err(|error| BuildError::Binary {
        path: binary_path.to_owned(),
        error,
    })?;
    let zip = package::zip(&binary).map_err(|error| BuildError::Package {
        path: out.to_owned(),
        error,
    })?;
    let write_error = |error| BuildError::Write {
        path: out.to_owned(),
        error,
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    std::fs::write(out, &zip).map_err(write_error)?;
    Ok(Artifact {
        path: out.to_owned(),
        sha256: package::sha256_hex(&zip),
        zip,
        glibc,
    })
}

/// Reads a zip built elsewhere (`--artifact`) and checks its `bootstrap` for `arch`.
pub fn load_artifact(path: &Path, arch: Arch) -> Result<Artifact, BuildError> {
    let zip = std::fs::read(path).map_err(|error| BuildError::Read {
        path: path.to_owned(),
        error,
    })?;
    let binary = package::unzip(&zip).map_err(|error| BuildError::Package {
        path: path.to_owned(),
        error,
    })?;
    let glibc = check_binary(&binary, arch).map_err(|error| BuildError::Binary {
        path: path.to_owned(),
        error,
    })?;
    Ok(Artifact {
        path: path.to_owned(),
        sha256: package::sha256_hex(&zip),
        zip,
        glibc,
    })
}

fn check_binary(binary: &[u8], arch: Arch) -> Result<Option<elf::GlibcVersion>, elf::ElfError> {
    elf::check(&elf::read(binary)?, arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arches_map_to_elf_machines() {
        for arch in [Arch::X86_64, Arch::Arm64] {
            assert_eq!(Arch::from_elf_machine(arch.elf_machine()), Some(arch));
            assert_ne!(arch.other(), arch);
        }
        assert_eq!(Arch::from_elf_machine(0), None);
    }
}
