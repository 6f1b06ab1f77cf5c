//! Which cross-compiler to run, with which arguments, and where the binary lands (pure).
//!
//! cargo-zigbuild is preferred: the glibc suffix on its target (`.2.34`) pins exactly the
//! glibc of Amazon Linux 2023. cargo-lambda, which drives zig the same way, is used when
//! that is what the user has.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{Arch, BINARY, BuildError, PACKAGE, PROFILE, elf};

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

/// Picks the builder and writes its command line.
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
        assert_eq!(args[profile + 1], PROFILE);
        assert_eq!(
            plan.binary,
            Path::new("/w/target/aarch64-unknown-linux-gnu/lambda-release/bootstrap")
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
}
