//! Where one model's files are read from: built in, the app's cache, or a directory the user
//! chose (explicitly or through the environment override).

use std::path::{Path, PathBuf};

use super::MODEL_DIR_ENV_PREFIX;
use crate::models::catalog::{CatalogEntry, FileSource};
use crate::paths::AppPaths;

/// Where one model's files are read from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum ModelLocation {
    /// Built into the binary; no files.
    BuiltIn,
    /// The app's model cache, `models_dir/<dir>`.
    Cache(PathBuf),
    /// A directory the user chose.
    Directory(PathBuf),
}

impl ModelLocation {
    pub fn dir(&self) -> Option<&Path> {
        match self {
            ModelLocation::BuiltIn => None,
            ModelLocation::Cache(dir) | ModelLocation::Directory(dir) => Some(dir),
        }
    }
}

/// The environment override for `name`, e.g. `PANIC_TDA_MODEL_DIR_MINILM`.
pub fn env_override(name: &str) -> Option<PathBuf> {
    let var = format!("{MODEL_DIR_ENV_PREFIX}{}", name.to_uppercase());
    std::env::var_os(var)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// Where `entry`'s files are: an explicit directory, else the environment override, else the cache.
pub fn locate(paths: &AppPaths, entry: &CatalogEntry, explicit: Option<&Path>) -> ModelLocation {
    if entry.files.source == FileSource::BuiltIn {
        return ModelLocation::BuiltIn;
    }
    if let Some(dir) = explicit {
        return ModelLocation::Directory(dir.to_owned());
    }
    if let Some(dir) = env_override(entry.name) {
        return ModelLocation::Directory(dir);
    }
    ModelLocation::Cache(paths.models_dir.join(entry.files.dir))
}
