//! Model files on disk: where they live, whether they are there, and downloading them.
//!
//! Layout: each catalog model with files has one directory, `AppPaths::models_dir/<dir>/`
//! (`<dir>` from the catalog, e.g. `all-MiniLM-L6-v2`), holding its files at their Hugging Face
//! repo paths (e.g. `onnx/model.onnx`). A download in progress is `<file>.partial` next to its
//! destination and is resumed with an HTTP Range request; a download that receives nothing for
//! [`STALL_TIMEOUT`] fails and keeps its part. Files are checked against the catalog's sha256;
//! for a file the catalog cannot pin yet, the hash is recorded as `<file>.sha256` at download
//! and checked from then on. A user can point one model at any
//! directory with the same layout through `PANIC_TDA_MODEL_DIR_<NAME>` (name upper-cased, e.g.
//! `PANIC_TDA_MODEL_DIR_CLIPB32`) or [`ModelLocation::Directory`]; fetching then fills that
//! directory.
//!
//! This module owns the error type and the shared constants; `location` where a model's files
//! are, `status` what is on disk, `hashes` sha256 checks and records, and `download` fetching
//! with resume, stall timeout and cancel.

mod download;
mod hashes;
mod location;
mod status;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use download::{FetchEvent, FetchOptions, STALL_TIMEOUT, fetch, fetch_cancellable};
pub use hashes::{sha256_file, sha256_record_path};
pub use location::{ModelLocation, env_override, locate};
pub use status::{FileStatus, ModelStatus, status};

/// Prefix of the per-model directory override variables.
pub const MODEL_DIR_ENV_PREFIX: &str = "PANIC_TDA_MODEL_DIR_";
/// The default Hugging Face endpoint; `HF_ENDPOINT` overrides it as in Hugging Face's own tools.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

#[derive(Debug, Error)]
pub enum FetchError {
    #[error(
        "model '{model}' is missing {} and offline mode forbids downloading",
        .missing.join(", ")
    )]
    Offline { model: String, missing: Vec<String> },
    #[error(
        "model '{model}' is missing {}; its files are installed by `make setup` (scripts/setup.sh), not downloaded",
        .missing.join(", ")
    )]
    InstalledBySetup { model: String, missing: Vec<String> },
    #[error("downloading {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} has sha256 {actual}, expected {expected}; the bad file was deleted", .path.display())]
    ShaMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{} is {actual} bytes, expected {expected}", .path.display())]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error(
        "downloading {} was cancelled; the part already downloaded is kept and the next fetch resumes it",
        .path.display()
    )]
    Cancelled { path: PathBuf },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_owned(),
        source,
    }
}
