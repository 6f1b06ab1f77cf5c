//! `mb build`'s machinery: cross-compile the `lambda` crate for `provided.al2023`, check
//! the binary, zip it reproducibly.
//!
//! The compiler is cargo-zigbuild with zig as the linker (glibc pinned to 2.34, the glibc
//! of Amazon Linux 2023), or cargo-lambda when that is what the user has. Choosing the
//! command line and the target is pure ([`plan`]); running cargo and rustup is the I/O at
//! the edge ([`compile`]). Whatever produced the binary, [`elf::check`] decides whether it
//! may be zipped, and [`package`] zips it.

pub mod elf;
pub mod package;

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ui::Ui;

/// The name of the release profile tuned for Lambda (workspace `Cargo.toml`).
pub const PROFILE: &str = "lambda";
/// The crate and binary Lambda runs.
const PACKAGE: &str = "mb-lambda";
const BINARY: &str = "bootstrap";

/// A Lambda instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// Intel/AMD 64-bit
    #[value(name = "x86_64")]
    X86_64,
    /// Graviton (cheaper per ms on Lambda)
    #[value(name = "arm64")]
    Arm64,
}

impl Arch {
    /// The Rust target triple.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The `--arch` value, which is also Lambda's `Architectures` value.
    pub fn flag(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86-64",
            Arch::Arm64 => "arm64 (AArch64)",
        }
    }

    /// ELF `e_machine`.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => object::elf::EM_X86_64.0,
            Arch::Arm64 => object::elf::EM_AARCH64.0,
        }
    }

    pub fn from_elf_machine(machine: u16) -> Option<Arch> {
        [Arch::X86_64, Arch::Arm64]
            .into_iter()
            .find(|a| a.elf_machine() == machine)
    }
}

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
        "the Rust target {target} is not installed{why}. Either add it: `rustup target add \
         {target}`, or build for the other architecture: `--arch {other}`"
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

/// Which cross-compiler drives cargo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    Zigbuild,
    CargoLambda,
}

/// What is installed, as far as building goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toolchain {
    pub zigbuild: bool,
    pub zig: bool,
    pub cargo_lambda: bool,
}

/// How to build: the cargo arguments and where the binary will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub builder: Builder,
    pub args: Vec<OsString>,
    pub binary: PathBuf,
}

/// Picks the builder and writes its command line (pure). cargo-zigbuild is preferred
/// because the glibc suffix on its target (`.2.34`) pins exactly what AL2023 has.
pub fn plan(
    tools: &Toolchain,
    arch: Arch,
    manifest: &Path,
    target_dir: &Path,
) -> Result<Plan, BuildError> {
    let target = format!("{}.{}", arch.rust_target(), elf::LAMBDA_GLIBC);
    let common = |sub: &[&str]| -> Vec<OsString> {
        let mut args: Vec<OsString> = sub.iter().map(OsString::from).collect();
        args.extend([
            "--manifest-path".into(),
            manifest.as_os_str().to_owned(),
            "--package".into(),
            PACKAGE.into(),
            "--bin".into(),
            BINARY.into(),
            "--profile".into(),
            PROFILE.into(),
            "--target".into(),
            OsString::from(&target),
        ]);
        args
    };
    if tools.zigbuild && tools.zig {
        return Ok(Plan {
            builder: Builder::Zigbuild,
            args: common(&["zigbuild"]),
            binary: target_dir
                .join(arch.rust_target())
                .join(PROFILE)
                .join(BINARY),
        });
    }
    if tools.cargo_lambda {
        // cargo-lambda puts every binary in target/lambda/<name>/bootstrap.
        return Ok(Plan {
            builder: Builder::CargoLambda,
            args: common(&["lambda", "build"]),
            binary: target_dir.join("lambda").join(BINARY).join(BINARY),
        });
    }
    let missing = match (tools.zigbuild, tools.zig) {
        (true, false) => "cargo-zigbuild is installed but zig is not",
        (false, true) => "zig is installed but cargo-zigbuild is not",
        _ => "neither cargo-zigbuild nor cargo-lambda is installed",
    };
    Err(BuildError::NoToolchain {
        missing: missing.to_owned(),
    })
}

/// Finds the `lambda` crate's manifest: `--manifest-path`, else `lambda/Cargo.toml` in
/// the current directory or a parent, else the source tree `mb` was built from.
pub fn find_manifest(given: Option<&Path>) -> Result<PathBuf, BuildError> {
    if let Some(path) = given {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(BuildError::NoSource(format!(
                "{} is not a file; pass the lambda crate's Cargo.toml to --manifest-path",
                path.display()
            )))
        };
    }
    let here = std::env::current_dir().ok();
    let candidates = here
        .iter()
        .flat_map(|dir| dir.ancestors())
        .map(|dir| dir.join("lambda").join("Cargo.toml"))
        .chain(std::iter::once(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../lambda/Cargo.toml"),
        ));
    for candidate in candidates {
        if is_lambda_manifest(&candidate) {
            return Ok(candidate);
        }
    }
    Err(BuildError::NoSource(
        "no lambda/Cargo.toml of the mb-lambda crate here or in a parent directory; run mb from \
         the mb checkout, pass --manifest-path, or deploy a built zip with --artifact"
            .to_owned(),
    ))
}

fn is_lambda_manifest(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.contains(&format!("name = \"{PACKAGE}\"")))
}

/// What is installed: runs `cargo-zigbuild --version`, `zig version` (or the pip
/// package's `python3 -m ziglang version`, which cargo-zigbuild also finds) and
/// `cargo lambda --version`.
pub fn detect_toolchain() -> Toolchain {
    let runs = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // (`cargo zigbuild --version` is an error: the flag goes to the subcommand.)
    let zigbuild = runs("cargo-zigbuild", &["--version"]);
    Toolchain {
        zigbuild,
        zig: zigbuild
            && (runs("zig", &["version"]) || runs("python3", &["-m", "ziglang", "version"])),
        cargo_lambda: runs("cargo", &["lambda", "--version"]),
    }
}

/// Makes sure the Rust standard library for `arch` is installed, adding it with rustup
/// (as cargo-lambda does) when it is missing. Never falls back to another architecture.
pub fn ensure_target(arch: Arch, workspace: &Path, ui: &Ui) -> Result<(), BuildError> {
    let target = arch.rust_target();
    let other = match arch {
        Arch::X86_64 => Arch::Arm64.flag(),
        Arch::Arm64 => Arch::X86_64.flag(),
    };
    let missing = |why: String| BuildError::NoTarget { target, why, other };
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(workspace)
        .stderr(Stdio::null())
        .output();
    match installed {
        Ok(out) if out.status.success() => {
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == target)
            {
                return Ok(());
            }
        }
        // No rustup: the toolchain's own sysroot tells whether the target is there.
        _ => {
            return if sysroot_has(target) {
                Ok(())
            } else {
                Err(missing(" and rustup is not available to add it".to_owned()))
            };
        }
    }
    ui.line(&format!(
        "adding the Rust target {target} (rustup target add {target})"
    ));
    let added = Command::new("rustup")
        .args(["target", "add", target])
        .current_dir(workspace)
        .status();
    match added {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(missing(format!(
            " and `rustup target add` failed ({status})"
        ))),
        Err(error) => Err(missing(format!(" and rustup could not run ({error})"))),
    }
}

fn sysroot_has(target: &str) -> bool {
    Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|root| root.join("lib/rustlib").join(target).is_dir())
}

/// Cargo's target directory for the workspace of `manifest` (honours `CARGO_TARGET_DIR`
/// and `.cargo/config.toml`, because cargo itself answers).
pub fn target_dir(manifest: &Path) -> Result<PathBuf, BuildError> {
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
pub fn compile(plan: &Plan, workspace: &Path, ui: &Ui) -> Result<(), BuildError> {
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
        .current_dir(workspace)
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
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
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

    fn args(plan: &Plan) -> Vec<String> {
        plan.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn zigbuild_pins_glibc_and_the_lambda_profile() {
        let tools = Toolchain {
            zigbuild: true,
            zig: true,
            cargo_lambda: true,
        };
        let plan = plan(
            &tools,
            Arch::Arm64,
            Path::new("/w/lambda/Cargo.toml"),
            Path::new("/w/target"),
        )
        .unwrap();
        assert_eq!(plan.builder, Builder::Zigbuild);
        let args = args(&plan);
        assert_eq!(args[0], "zigbuild");
        let target = args.iter().position(|a| a == "--target").unwrap();
        assert_eq!(args[target + 1], "aarch64-unknown-linux-gnu.2.34");
        let profile = args.iter().position(|a| a == "--profile").unwrap();
        assert_eq!(args[profile + 1], "lambda");
        assert_eq!(
            plan.binary,
            Path::new("/w/target/aarch64-unknown-linux-gnu/lambda/bootstrap")
        );
    }

    #[test]
    fn cargo_lambda_when_that_is_what_there_is() {
        let tools = Toolchain {
            cargo_lambda: true,
            ..Toolchain::default()
        };
        let plan = plan(&tools, Arch::X86_64, Path::new("m"), Path::new("/t")).unwrap();
        assert_eq!(plan.builder, Builder::CargoLambda);
        assert_eq!(&args(&plan)[..2], ["lambda", "build"]);
        assert!(args(&plan).contains(&"x86_64-unknown-linux-gnu.2.34".to_owned()));
        assert_eq!(plan.binary, Path::new("/t/lambda/bootstrap/bootstrap"));
    }

    #[test]
    fn missing_tools_are_named_with_how_to_install() {
        for (tools, named) in [
            (
                Toolchain::default(),
                "neither cargo-zigbuild nor cargo-lambda",
            ),
            (
                Toolchain {
                    zigbuild: true,
                    ..Toolchain::default()
                },
                "zig is not",
            ),
        ] {
            let err = plan(&tools, Arch::Arm64, Path::new("m"), Path::new("t"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(named), "{err}");
            assert!(err.contains("pip install cargo-zigbuild ziglang"), "{err}");
        }
    }

    #[test]
    fn a_missing_target_offers_both_fixes() {
        let err = BuildError::NoTarget {
            target: Arch::Arm64.rust_target(),
            why: " and `rustup target add` failed (exit status: 1)".to_owned(),
            other: Arch::X86_64.flag(),
        }
        .to_string();
        assert!(
            err.contains("rustup target add aarch64-unknown-linux-gnu"),
            "{err}"
        );
        assert!(err.contains("--arch x86_64"), "{err}");
    }

    #[test]
    fn arches_map_to_elf_machines() {
        for arch in [Arch::X86_64, Arch::Arm64] {
            assert_eq!(Arch::from_elf_machine(arch.elf_machine()), Some(arch));
        }
        assert_eq!(Arch::from_elf_machine(0), None);
    }
}
