//! What is on disk for a model: per-file presence and size, and the ONNX external-data check.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::location::ModelLocation;
use crate::models::ModelError;
use crate::models::catalog::CatalogEntry;

/// One file's state on disk.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileStatus {
    pub path: &'static str,
    pub local: PathBuf,
    /// Exists, and has the catalog size when that is known.
    pub present: bool,
    pub bytes: Option<u64>,
    /// The catalog's size and sha256, to describe a damaged file.
    pub expected_bytes: Option<u64>,
    pub expected_sha256: Option<&'static str>,
}

/// A model's files on disk. Checks existence and size only; `fetch` also checks sha256.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelStatus {
    pub name: &'static str,
    pub location: ModelLocation,
    pub files: Vec<FileStatus>,
}

impl ModelStatus {
    pub fn is_complete(&self) -> bool {
        self.files.iter().all(|file| file.present)
    }

    /// Local paths of the missing files (absent, or present with the wrong size).
    pub fn missing(&self) -> Vec<String> {
        self.files
            .iter()
            .filter(|file| !file.present)
            .map(|file| file.local.display().to_string())
            .collect()
    }

    /// Files that exist but have the wrong size, described with what was expected.
    pub fn damaged(&self) -> Vec<String> {
        self.files
            .iter()
            .filter(|file| !file.present)
            .filter_map(|file| {
                let (bytes, expected) = (file.bytes?, file.expected_bytes?);
                let hash = file
                    .expected_sha256
                    .map_or(String::new(), |sha| format!(", sha256 {sha}"));
                Some(format!(
                    "{} ({bytes} bytes; expected {expected} bytes{hash})",
                    file.local.display()
                ))
            })
            .collect()
    }

    pub fn present_bytes(&self) -> u64 {
        self.files.iter().filter_map(|file| file.bytes).sum()
    }

    /// `Ok` when complete, else [`ModelError::MissingFiles`] naming the files and the fetch command.
    pub fn require(&self) -> Result<(), ModelError> {
        if self.is_complete() {
            return Ok(());
        }
        let damaged = self.damaged();
        if damaged.is_empty() {
            return Err(ModelError::MissingFiles {
                model: self.name.to_owned(),
                missing: self.missing(),
            });
        }
        let absent = self
            .files
            .iter()
            .filter(|file| file.bytes.is_none())
            .map(|file| file.local.display().to_string())
            .collect();
        Err(ModelError::DamagedFiles {
            model: self.name.to_owned(),
            damaged,
            absent,
        })
    }
}

pub fn status(entry: &CatalogEntry, location: &ModelLocation) -> ModelStatus {
    let files = match location.dir() {
        None => Vec::new(),
        Some(dir) => entry
            .files
            .files
            .iter()
            .map(|file| {
                let local = dir.join(file.path);
                let bytes = fs::metadata(&local)
                    .ok()
                    .filter(|meta| meta.is_file())
                    .map(|meta| meta.len());
                let present = bytes.is_some_and(|len| file.size.is_none_or(|size| size == len))
                    || (bytes.is_none() && external_data_unused(dir, file.path));
                FileStatus {
                    path: file.path,
                    local,
                    present,
                    bytes,
                    expected_bytes: file.size,
                    expected_sha256: file.sha256,
                }
            })
            .collect(),
    };
    ModelStatus {
        name: entry.name,
        location: location.clone(),
        files,
    }
}

/// Whether `data_path` is an ONNX external-data file (`X.onnx_data` beside `X.onnx`) that its
/// graph does not use. Exporters keep graphs under 2 GB self-contained, so a directory without
/// the data file is complete when the graph never names it (the location is stored in the graph
/// as a plain string). Results are cached per graph size and modification time, since graphs
/// can be gigabytes and the model list is refreshed every few seconds.
fn external_data_unused(dir: &Path, data_path: &str) -> bool {
    let Some(graph_path) = data_path.strip_suffix("_data") else {
        return false;
    };
    if !graph_path.ends_with(".onnx") {
        return false;
    }
    let graph = dir.join(graph_path);
    let Ok(meta) = fs::metadata(&graph) else {
        return false;
    };
    let Some(name) = Path::new(data_path).file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let key = (graph.clone(), meta.len(), meta.modified().ok());
    static SCANNED: OnceLock<Mutex<HashMap<GraphKey, bool>>> = OnceLock::new();
    let cache = SCANNED.get_or_init(Default::default);
    if let Some(unused) = cache.lock().ok().and_then(|c| c.get(&key).copied()) {
        return unused;
    }
    // An unreadable graph is not known to be self-contained: the data file stays required.
    let Ok(mentions) = file_mentions(&graph, name.as_bytes()) else {
        return false;
    };
    if let Ok(mut cache) = cache.lock() {
        cache.insert(key, !mentions);
    }
    !mentions
}

type GraphKey = (PathBuf, u64, Option<std::time::SystemTime>);

/// Whether the file contains `needle`, read in chunks (graphs can be larger than memory allows).
pub(super) fn file_mentions(path: &Path, needle: &[u8]) -> io::Result<bool> {
    const CHUNK: usize = 8 << 20;
    let finder = memchr::memmem::Finder::new(needle);
    let mut file = fs::File::open(path)?;
    let mut buffer = vec![0u8; CHUNK + needle.len()];
    let mut carried = 0;
    loop {
        let read = file.read(&mut buffer[carried..])?;
        if read == 0 {
            return Ok(false);
        }
        let filled = carried + read;
        if finder.find(&buffer[..filled]).is_some() {
            return Ok(true);
        }
        // Keep the tail so a name split across two reads is still found.
        carried = needle.len().saturating_sub(1).min(filled);
        buffer.copy_within(filled - carried..filled, 0);
    }
}
