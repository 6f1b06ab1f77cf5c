//! `mb build` as a user runs it after the test command's setup: a Lambda-ready zip, the
//! same bytes every time, and a refusal for any binary Lambda's provided.al2023 could not
//! run. The checks here read the ELF bytes themselves, independently of `mb`'s reader.
//!
//! The function is cross-compiled once, as a user's first `mb build` does it: for the
//! default architecture (arm64), with the profile it ships with (fat LTO, one codegen
//! unit: minutes on two cores, most of the end-to-end run's CPU); `moto::lifecycle`
//! deploys that zip. The other architecture and the build-twice check use
//! `tests/fixtures/bootstrap-std`, a `bootstrap` of the standard library alone under
//! the same profile, through `--manifest-path` as a user's own build of the function
//! goes: what they check (the x86-64 cross toolchain, the ELF machine, the glibc pin,
//! the zip's bytes being `mb`'s doing) does not depend on the function's code, and a
//! second cold cross build of the function would cost the test command minutes.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// A cold cross-compile with LTO takes minutes on two cores.
const BUILD_LIMIT: Duration = Duration::from_secs(40 * 60);

struct Built {
    path: PathBuf,
    sha256: String,
}

fn mb_build(args: &[&str]) -> std::process::Output {
    mb_build_with(args, &[])
}

/// `mb build` with more environment variables (cargo's profile overrides).
fn mb_build_with(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let path = mb_tests::path_with_venv();
    let path = path.to_str().expect("a UTF-8 PATH");
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let mut env = vec![("PATH", path)];
    env.extend_from_slice(vars);
    mb_tests::mb::run_with_env(&all, &env, BUILD_LIMIT)
}

/// The standard-library stand-in for the function, and where its builds go (not into
/// the source tree).
fn fixture() -> (PathBuf, PathBuf) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bootstrap-std/Cargo.toml");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bootstrap-std");
    (manifest, target)
}

/// The zip `mb build` printed, and the sha256 it printed for it.
fn built(output: &std::process::Output) -> Built {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "mb build failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = PathBuf::from(stdout.lines().next().expect("the zip's path"));
    let sha256 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256"))
        .expect("a sha256 line")
        .trim()
        .to_owned();
    Built { path, sha256 }
}

/// Checks the zip as Lambda's provided.al2023 needs it and returns its `bootstrap`: the
/// printed sha256 is the file's, one entry, mode 0755, an ELF for `machine` (62 x86-64,
/// 183 AArch64) needing at most GLIBC_2.34.
fn lambda_ready(built: &Built, machine: u16) -> Vec<u8> {
    let zip = std::fs::read(&built.path).expect("the zip mb printed");
    assert_eq!(
        built.sha256,
        hex_sha256(&zip),
        "printed sha256 is the file's"
    );
    let (binary, mode) = bootstrap_of(&zip);
    assert_eq!(mode & 0o777, 0o755, "bootstrap is rwxr-xr-x");
    assert_eq!(elf_machine(&binary), machine, "the ELF machine");
    let newest = newest_glibc_minor(&binary).expect("it links glibc");
    assert!(newest <= 34, "needs GLIBC_2.{newest}, AL2023 has 2.34");
    binary
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `bootstrap` entry: its bytes and Unix mode.
fn bootstrap_of(zip: &[u8]) -> (Vec<u8>, u32) {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).expect("a zip");
    let names: Vec<&[u8]> = archive.file_names_raw().collect();
    assert_eq!(names, [b"bootstrap"], "one entry, named bootstrap");
    let mut entry = archive.by_name("bootstrap").expect("bootstrap");
    let mode = entry.unix_mode().expect("a Unix mode");
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).expect("read bootstrap");
    (bytes, mode)
}

/// e_machine of a little-endian 64-bit ELF.
fn elf_machine(binary: &[u8]) -> u16 {
    assert_eq!(&binary[..4], b"\x7fELF", "ELF magic");
    assert_eq!(binary[4], 2, "64-bit");
    u16::from_le_bytes([binary[18], binary[19]])
}

/// The newest `GLIBC_2.N` version string in the binary (its version-needs strings).
fn newest_glibc_minor(binary: &[u8]) -> Option<u32> {
    let needle = b"GLIBC_2.";
    binary
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .filter_map(|(i, _)| {
            let digits: String = binary[i + needle.len()..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|&b| b as char)
                .collect();
            digits.parse().ok()
        })
        .max()
}

fn zip_as_bootstrap(binary: &[u8], dir: &Path, name: &str) -> PathBuf {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    writer.start_file("bootstrap", options).expect("start");
    writer.write_all(binary).expect("write");
    let path = dir.join(name);
    std::fs::write(&path, writer.finish().expect("finish").into_inner()).expect("write zip");
    path
}

/// Whether the test command installed cargo-zigbuild (under CI a missing one fails).
fn zigbuild_installed() -> bool {
    mb_tests::required_tool(
        mb_tests::venv_bin().join("cargo-zigbuild"),
        "cargo-zigbuild",
    )
    .is_some()
}

#[test]
fn build_gives_a_lambda_ready_zip_and_refuses_wrong_binaries() {
    if !zigbuild_installed() || !mb_tests::arm64_target_installed() {
        return;
    }
    // The lifecycle deploy uses the same zip: while this test writes it, no deploy may
    // read it.
    let _build = crate::FUNCTION_BUILD.blocking_lock();
    // The default architecture is arm64.
    let output = mb_build(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let first = built(&output);
    assert!(stdout.contains("arch    arm64"), "{stdout}");
    let binary = lambda_ready(&first, 183);

    let dir = std::env::temp_dir().join(format!("mb-package-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // The arm64 zip for an x86-64 function: refused, naming both fixes.
    let output = mb_build(&[
        "--arch",
        "x86_64",
        "--artifact",
        first.path.to_str().expect("path"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("built for arm64"), "{stderr}");
    assert!(stderr.contains("--arch arm64"), "{stderr}");
    assert!(stderr.contains("mb build --arch x86_64"), "{stderr}");

    // The same binary claiming GLIBC_2.35: refused.
    let needle = b"GLIBC_2.34";
    let at = binary
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("GLIBC_2.34 among the version needs");
    let mut newer = binary.clone();
    newer[at..at + needle.len()].copy_from_slice(b"GLIBC_2.35");
    let crafted = zip_as_bootstrap(&newer, &dir, "glibc-2.35.zip");
    let output = mb_build(&["--artifact", crafted.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("GLIBC_2.35") && stderr.contains("2.34"),
        "{stderr}"
    );

    // The unmodified binary, zipped by hand, is accepted as an artifact.
    let good = zip_as_bootstrap(&binary, &dir, "good.zip");
    let output = mb_build(&["--artifact", good.to_str().expect("path")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A shell script is not a Lambda binary.
    let script = zip_as_bootstrap(b"#!/bin/sh\necho hi\n", &dir, "script.zip");
    let output = mb_build(&["--artifact", script.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a 64-bit ELF"));

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn build_for_x86_64_gives_the_same_zip_twice() {
    if !zigbuild_installed() {
        return;
    }
    // Two cargo-zigbuild processes starting at once race to write its cache of zig
    // wrappers ("File exists (os error 17)", seen in a clean-clone run): one at a time.
    let _build = crate::FUNCTION_BUILD.blocking_lock();
    let (manifest, target) = fixture();
    let target_var = target.to_str().expect("a UTF-8 target folder");
    let vars = [("CARGO_TARGET_DIR", target_var)];
    let output = mb_build_with(
        &[
            "--arch",
            "x86_64",
            "--manifest-path",
            manifest.to_str().expect("a UTF-8 path"),
        ],
        &vars,
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let first = built(&output);
    assert!(stdout.contains("arch    x86_64"), "{stdout}");
    assert_eq!(first.path, target.join("mb/bootstrap-x86_64.zip"));
    lambda_ready(&first, 62);

    // Building again gives the same bytes, even when the binary is compiled and linked
    // anew: removing it and cargo's copy in deps/ makes cargo rebuild the crate and link
    // it again.
    let linked = target.join("x86_64-unknown-linux-gnu/lambda-release/bootstrap");
    std::fs::remove_file(&linked).expect("remove the linked binary");
    let deps = linked.with_file_name("deps");
    for entry in std::fs::read_dir(&deps).expect("deps/").flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("bootstrap-")
        {
            std::fs::remove_file(entry.path()).expect("remove cargo's copy");
        }
    }
    // This time with a relative --manifest-path (tests run in the tests/ folder).
    let second = built(&mb_build_with(
        &[
            "--arch",
            "x86_64",
            "--manifest-path",
            "fixtures/bootstrap-std/Cargo.toml",
        ],
        &vars,
    ));
    assert!(
        linked.exists(),
        "the second build linked {} again",
        linked.display()
    );
    assert_eq!(second.path, first.path);
    assert_eq!(
        second.sha256, first.sha256,
        "two builds, two different zips"
    );
}

#[test]
fn the_fixture_builds_with_the_functions_profile() {
    // The stand-in proves the toolchain for the profile the function ships with only
    // while the two profiles are the same.
    let profile = |path: &Path| -> String {
        let text = std::fs::read_to_string(path).expect("a manifest");
        let start = text
            .find("[profile.lambda-release]")
            .expect("a lambda-release profile");
        text[start..]
            .lines()
            .skip(1)
            .take_while(|line| !line.starts_with('['))
            .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let shipped = profile(&workspace);
    assert!(shipped.contains("lto = \"fat\""), "{shipped}");
    assert_eq!(profile(&fixture().0), shipped);
}
