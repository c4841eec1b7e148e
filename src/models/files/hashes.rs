//! sha256 of model files: hashing a file, the `<file>.sha256` record for files the catalog
//! cannot pin, and checking (and deleting) a damaged existing file.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{FetchError, io_error};
use crate::models::catalog::ModelFile;

/// Whether an existing file is good: right size and right sha256 — the catalog's, or for a file
/// the catalog has no hash for, the one recorded when it was downloaded. A wrong file is deleted
/// so it is downloaded again.
pub(super) fn check_existing(file: &ModelFile, local: &Path) -> Result<bool, FetchError> {
    let len = fs::metadata(local).map_err(io_error(local))?.len();
    let expected = match file.sha256 {
        Some(pinned) => Some(pinned.to_owned()),
        None => recorded_sha256(local),
    };
    let good = file.size.is_none_or(|size| size == len)
        && match expected {
            Some(expected) => sha256_file(local)? == expected,
            None => true,
        };
    if !good {
        tracing::warn!("{} is damaged; deleting it", local.display());
        fs::remove_file(local).map_err(io_error(local))?;
        let _ = fs::remove_file(sha256_record_path(local));
    }
    Ok(good)
}

/// `<file>.sha256`: the hash of a downloaded file whose hash the catalog does not pin, written
/// after the download so later damage (a truncated copy, a bad disk) is still caught.
pub fn sha256_record_path(local: &Path) -> PathBuf {
    let mut name = local.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    local.with_file_name(name)
}

fn recorded_sha256(local: &Path) -> Option<String> {
    let text = fs::read_to_string(sha256_record_path(local)).ok()?;
    let hash = text.split_whitespace().next()?.to_ascii_lowercase();
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let mut reader = File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = reader.read(&mut buffer).map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}
