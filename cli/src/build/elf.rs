//! Is this binary one Lambda's `provided.al2023` can run? (pure)
//!
//! Read before zipping and before uploading, so a wrong binary is an error on this machine
//! and never a `Runtime.InvalidEntrypoint` or `GLIBC_2.35 not found` in the function's logs.
//! Two facts decide it: the ELF machine (x86-64 or AArch64, matching `--arch`) and the
//! newest GLIBC symbol version the binary needs (AL2023 ships glibc 2.34).

use object::Endianness;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};

use super::arch::Arch;

/// The glibc of Amazon Linux 2023, which `provided.al2023` runs on.
pub const LAMBDA_GLIBC: GlibcVersion = GlibcVersion(2, 34);

/// A `GLIBC_x.y` symbol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub u32, pub u32);

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// What the checks need to know about an executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfFacts {
    /// `e_machine`: 62 is x86-64, 183 is AArch64.
    pub machine: u16,
    /// Lambda's x86-64 and arm64 are both little-endian.
    pub little_endian: bool,
    /// `e_type`: `ET_EXEC` (2) or `ET_DYN` (3, a position-independent executable) can run;
    /// an object file (1) cannot.
    pub kind: u16,
    /// Linked dynamically, but without the section headers that list its version needs
    /// (`--strip-sections`): the glibc check cannot be made.
    pub needs_unreadable: bool,
    /// Every `GLIBC_*` version the binary needs, as written (`GLIBC_2.34`, `GLIBC_PRIVATE`).
    pub glibc_needs: Vec<String>,
}

/// Why a binary cannot run on Lambda.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("`bootstrap` is not a 64-bit ELF executable ({0}); Lambda runs Linux binaries")]
    NotElf(String),
    #[error(
        "`bootstrap` is built for {found}, but --arch {wanted} was asked for: build it for \
         {wanted_target} (`mb build --arch {wanted_flag}`){}",
        found_flag.map(|f| format!(", or use it with `--arch {f}`")).unwrap_or_default()
    )]
    WrongArch {
        found: &'static str,
        found_flag: Option<&'static str>,
        wanted: &'static str,
        wanted_flag: &'static str,
        wanted_target: &'static str,
    },
    #[error("`bootstrap` is a big-endian binary; Lambda's x86_64 and arm64 are little-endian")]
    BigEndian,
    #[error(
        "`bootstrap` is not an executable (ELF type {0}); Lambda runs `bootstrap` as a program"
    )]
    NotExecutable(u16),
    #[error(
        "`bootstrap` is linked dynamically but its section headers are stripped, so the glibc \
         versions it needs cannot be checked; build it with `mb build`"
    )]
    NeedsUnreadable,
    #[error(
        "`bootstrap` needs GLIBC_{needed} but Lambda's provided.al2023 has glibc {LAMBDA_GLIBC}: \
         build with `mb build` (cargo-zigbuild pins glibc {LAMBDA_GLIBC}), not a plain `cargo build`"
    )]
    GlibcTooNew { needed: GlibcVersion },
    #[error(
        "`bootstrap` needs the glibc symbol version `{0}`, which is not a numbered release that \
         can be checked against Lambda's glibc {LAMBDA_GLIBC}; build with `mb build` (glibc \
         pinned to {LAMBDA_GLIBC})"
    )]
    GlibcUnknown(String),
}

/// Reads the machine and the glibc versions an ELF file needs.
pub fn read(bytes: &[u8]) -> Result<ElfFacts, ElfError> {
    let file =
        ElfFile64::<Endianness>::parse(bytes).map_err(|e| ElfError::NotElf(e.to_string()))?;
    let endian = file.endian();
    let header = file.elf_header();
    let machine = header.e_machine(endian).0;
    let kind = header.e_type(endian).0;
    let dynamic = file
        .elf_program_headers()
        .iter()
        .any(|p| p.p_type(endian) == object::elf::PT_DYNAMIC);
    let sections = file.elf_section_table();
    let needs_unreadable = dynamic && sections.is_empty();
    let mut glibc_needs = Vec::new();
    let verneed = sections
        .gnu_verneed(endian, bytes)
        .map_err(|e| ElfError::NotElf(e.to_string()))?;
    if let Some((mut needs, link)) = verneed {
        let strings = sections
            .strings(endian, bytes, link)
            .map_err(|e| ElfError::NotElf(e.to_string()))?;
        while let Some((_, mut auxes)) =
            needs.next().map_err(|e| ElfError::NotElf(e.to_string()))?
        {
            while let Some(aux) = auxes.next().map_err(|e| ElfError::NotElf(e.to_string()))? {
                let name = aux
                    .name(endian, strings)
                    .map_err(|e| ElfError::NotElf(e.to_string()))?;
                let name = String::from_utf8_lossy(name);
                if name.starts_with("GLIBC_") && !glibc_needs.iter().any(|n| *n == name) {
                    glibc_needs.push(name.into_owned());
                }
            }
        }
    }
    Ok(ElfFacts {
        machine,
        little_endian: header.is_little_endian(),
        kind,
        needs_unreadable,
        glibc_needs,
    })
}

/// Decides whether a binary with these facts runs on `arch` Lambda; returns the newest
/// glibc version it needs (if any) when it does.
pub fn check(facts: &ElfFacts, arch: Arch) -> Result<Option<GlibcVersion>, ElfError> {
    if facts.machine != arch.elf_machine() {
        let found = Arch::from_elf_machine(facts.machine);
        return Err(ElfError::WrongArch {
            found: found.map_or("another architecture", Arch::describe),
            found_flag: found.map(Arch::flag),
            wanted: arch.describe(),
            wanted_flag: arch.flag(),
            wanted_target: arch.rust_target(),
        });
    }
    if !facts.little_endian {
        return Err(ElfError::BigEndian);
    }
    if facts.kind != object::elf::ET_EXEC.0 && facts.kind != object::elf::ET_DYN.0 {
        return Err(ElfError::NotExecutable(facts.kind));
    }
    if facts.needs_unreadable {
        return Err(ElfError::NeedsUnreadable);
    }
    let mut newest = None;
    for name in &facts.glibc_needs {
        let version = parse_glibc(name).ok_or_else(|| ElfError::GlibcUnknown(name.clone()))?;
        if version > LAMBDA_GLIBC {
            return Err(ElfError::GlibcTooNew { needed: version });
        }
        newest = newest.max(Some(version));
    }
    Ok(newest)
}

/// `GLIBC_2.34` → 2.34, `GLIBC_2.2.5` → 2.2; `GLIBC_PRIVATE` → None.
fn parse_glibc(name: &str) -> Option<GlibcVersion> {
    let mut parts = name.strip_prefix("GLIBC_")?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(GlibcVersion(major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(machine: u16, needs: &[&str]) -> ElfFacts {
        ElfFacts {
            machine,
            little_endian: true,
            kind: 3,
            needs_unreadable: false,
            glibc_needs: needs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn refuses_what_is_not_a_little_endian_executable_with_readable_needs() {
        let big = ElfFacts {
            little_endian: false,
            ..facts(183, &[])
        };
        assert!(matches!(check(&big, Arch::Arm64), Err(ElfError::BigEndian)));
        let object_file = ElfFacts {
            kind: 1,
            ..facts(62, &[])
        };
        let err = check(&object_file, Arch::X86_64).unwrap_err().to_string();
        assert!(err.contains("not an executable"), "{err}");
        let stripped = ElfFacts {
            needs_unreadable: true,
            ..facts(62, &[])
        };
        assert!(matches!(
            check(&stripped, Arch::X86_64),
            Err(ElfError::NeedsUnreadable)
        ));
        let exec = ElfFacts {
            kind: 2,
            ..facts(62, &["GLIBC_2.17"])
        };
        assert!(check(&exec, Arch::X86_64).is_ok());
    }

    #[test]
    fn accepts_the_right_machine_and_old_enough_glibc() {
        let newest = check(
            &facts(62, &["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_2.17"]),
            Arch::X86_64,
        );
        assert_eq!(newest.unwrap(), Some(GlibcVersion(2, 34)));
        assert_eq!(check(&facts(183, &[]), Arch::Arm64).unwrap(), None);
    }

    #[test]
    fn refuses_the_wrong_machine_with_both_fixes() {
        let err = check(&facts(62, &[]), Arch::Arm64).unwrap_err().to_string();
        assert!(err.contains("built for x86-64"), "{err}");
        assert!(err.contains("--arch arm64"), "{err}");
        assert!(err.contains("--arch x86_64"), "{err}");
        let err = check(&facts(40, &[]), Arch::X86_64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("another architecture"), "{err}");
    }

    #[test]
    fn refuses_a_glibc_newer_than_al2023() {
        let err = check(&facts(183, &["GLIBC_2.17", "GLIBC_2.35"]), Arch::Arm64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("GLIBC_2.35") && err.contains("2.34"), "{err}");
        let err = check(&facts(62, &["GLIBC_PRIVATE"]), Arch::X86_64).unwrap_err();
        assert!(err.to_string().contains("GLIBC_PRIVATE"));
    }

    #[test]
    fn parses_glibc_versions() {
        assert_eq!(parse_glibc("GLIBC_2.2.5"), Some(GlibcVersion(2, 2)));
        assert_eq!(parse_glibc("GLIBC_2.34"), Some(GlibcVersion(2, 34)));
        assert!(GlibcVersion(2, 4) < GlibcVersion(2, 34));
        assert_eq!(parse_glibc("GLIBC_PRIVATE"), None);
    }

    #[test]
    fn reads_a_real_binary() {
        // The test binary itself: a host ELF that links glibc dynamically.
        let exe = std::env::current_exe().unwrap();
        let facts = read(&std::fs::read(exe).unwrap()).unwrap();
        assert!(facts.machine == 62 || facts.machine == 183, "{facts:?}");
        assert!(
            facts.little_endian && (facts.kind == 2 || facts.kind == 3),
            "{facts:?}"
        );
        assert!(!facts.needs_unreadable, "{facts:?}");
        assert!(
            facts.glibc_needs.iter().any(|n| n.starts_with("GLIBC_2.")),
            "{facts:?}"
        );
    }

    #[test]
    fn refuses_what_is_not_elf() {
        assert!(matches!(
            read(b"#!/bin/sh\necho hi\n"),
            Err(ElfError::NotElf(_))
        ));
        assert!(matches!(
            read(&[0x7f, b'E', b'L', b'F']),
            Err(ElfError::NotElf(_))
        ));
    }
}
