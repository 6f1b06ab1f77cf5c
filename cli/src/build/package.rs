//! The deployment package: `bootstrap` in a zip, byte-for-byte reproducible (pure).
//!
//! The same binary always gives the same zip (fixed timestamp, fixed mode, one entry), so
//! its sha256 names it in the artifact bucket and an unchanged handler uploads nothing.

use std::io::{Cursor, Read, Write};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// The entry Lambda's `provided.*` runtimes execute.
pub const ENTRY: &str = "bootstrap";
/// rwxr-xr-x: Lambda needs the execute bit, which zip stores in the external attributes.
const MODE: u32 = 0o755;
/// Lambda's limit on a function's unzipped code: 250 MB.
pub const MAX_UNZIPPED: u64 = 250 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot write the zip: {0}")]
    Write(zip::result::ZipError),
    #[error("not a readable zip file: {0}")]
    NotZip(zip::result::ZipError),
    #[error(
        "the zip has no `bootstrap` entry at its root; Lambda's provided.al2023 runs `bootstrap`"
    )]
    NoBootstrap,
    #[error("`bootstrap` in the zip is not executable (mode {0:o}); Lambda could not start it")]
    NotExecutable(u32),
    #[error("cannot read `bootstrap` from the zip: {0}")]
    Read(std::io::Error),
    #[error("`bootstrap` is over 250 MB unzipped, Lambda's limit for a function's code")]
    TooLarge,
}

/// Zips `binary` as `bootstrap`, mode 0755, timestamp 1980-01-01 00:00 (zip's epoch).
pub fn zip(binary: &[u8]) -> Result<Vec<u8>, PackageError> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::with_capacity(binary.len() / 2)));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(DateTime::default())
        .unix_permissions(MODE)
        .large_file(false);
    writer
        .start_file(ENTRY, options)
        .map_err(PackageError::Write)?;
    writer
        .write_all(binary)
        .map_err(|e| PackageError::Write(e.into()))?;
    let cursor = writer.finish().map_err(PackageError::Write)?;
    Ok(cursor.into_inner())
}

/// The `bootstrap` binary inside a deployment package, checked to be executable.
pub fn unzip(package: &[u8]) -> Result<Vec<u8>, PackageError> {
    let mut archive = ZipArchive::new(Cursor::new(package)).map_err(PackageError::NotZip)?;
    let entry = archive.by_name(ENTRY).map_err(|e| match e {
        zip::result::ZipError::FileNotFound => PackageError::NoBootstrap,
        other => PackageError::NotZip(other),
    })?;
    // Archives made on Windows carry no Unix mode; Lambda then treats the file as not
    // executable, so neither do we.
    let mode = entry.unix_mode().unwrap_or(0);
    if mode & 0o111 == 0 {
        return Err(PackageError::NotExecutable(mode & 0o7777));
    }
    // The declared size is only a claim: read at most one byte past the limit.
    if entry.size() > MAX_UNZIPPED {
        return Err(PackageError::TooLarge);
    }
    let mut binary = Vec::new();
    entry
        .take(MAX_UNZIPPED + 1)
        .read_to_end(&mut binary)
        .map_err(PackageError::Read)?;
    if binary.len() as u64 > MAX_UNZIPPED {
        return Err(PackageError::TooLarge);
    }
    Ok(binary)
}

/// Lowercase hex sha256, as S3 keys and `sha256sum` print it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_binary_same_bytes() {
        let binary = b"\x7fELF pretend binary".repeat(1000);
        let first = zip(&binary).unwrap();
        let second = zip(&binary).unwrap();
        assert_eq!(first, second);
        assert!(first.len() < binary.len(), "deflated");
        assert_ne!(zip(b"another").unwrap(), first);
    }

    #[test]
    fn round_trips_with_the_execute_bit() {
        let binary = b"\x7fELF bytes".to_vec();
        let package = zip(&binary).unwrap();
        let archive = ZipArchive::new(Cursor::new(&package[..])).unwrap();
        assert_eq!(archive.len(), 1);
        assert_eq!(
            archive.file_names_raw().collect::<Vec<_>>(),
            [ENTRY.as_bytes()]
        );
        assert_eq!(unzip(&package).unwrap(), binary);
    }

    #[test]
    fn refuses_packages_lambda_could_not_run() {
        assert!(matches!(unzip(b"not a zip"), Err(PackageError::NotZip(_))));

        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let plain = SimpleFileOptions::default().unix_permissions(0o644);
        writer.start_file("bootstrap", plain).unwrap();
        writer.write_all(b"x").unwrap();
        let not_executable = writer.finish().unwrap().into_inner();
        let err = unzip(&not_executable).unwrap_err().to_string();
        assert!(
            err.contains("not executable") && err.contains("644"),
            "{err}"
        );

        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        writer
            .start_file("main", plain.unix_permissions(0o755))
            .unwrap();
        let misnamed = writer.finish().unwrap().into_inner();
        assert!(matches!(unzip(&misnamed), Err(PackageError::NoBootstrap)));
    }

    #[test]
    fn sha256_matches_sha256sum() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
