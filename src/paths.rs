//! Where the app keeps its files: the database (user data dir), ONNX Runtime (user data dir) and
//! model files (user cache dir). Each location can be overridden by an environment variable so
//! tests, CI and packaged installs can redirect them; `scripts/setup.sh` uses the same rules.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// The ONNX Runtime release the app is built against (`ort` 2.0.0-rc.15 needs ≥ 1.31).
pub const ORT_VERSION: &str = "1.31.1";

#[derive(Debug, Error)]
pub enum PathsError {
    #[error(
        "cannot find a home directory for the app's files; set HOME, or set PANIC_TDA_DATA_DIR and PANIC_TDA_CACHE_DIR"
    )]
    NoHome,
}

/// The app's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPaths {
    /// Database and ONNX Runtime live here (`$XDG_DATA_HOME/panic-tda`).
    pub data_dir: PathBuf,
    /// Downloaded model files live here (`$XDG_CACHE_HOME/panic-tda/models`).
    pub models_dir: PathBuf,
}

impl AppPaths {
    /// Resolves the directories from the environment:
    /// `PANIC_TDA_DATA_DIR`, `PANIC_TDA_MODELS_DIR`, then the XDG base directories.
    pub fn from_env() -> Result<Self, PathsError> {
        let data_dir = match env_path("PANIC_TDA_DATA_DIR") {
            Some(dir) => dir,
            None => directories::BaseDirs::new()
                .ok_or(PathsError::NoHome)?
                .data_dir()
                .join("panic-tda"),
        };
        let models_dir = match env_path("PANIC_TDA_MODELS_DIR") {
            Some(dir) => dir,
            None => directories::BaseDirs::new()
                .ok_or(PathsError::NoHome)?
                .cache_dir()
                .join("panic-tda")
                .join("models"),
        };
        Ok(Self {
            data_dir,
            models_dir,
        })
    }

    /// Paths rooted in one directory (tests, portable installs).
    pub fn rooted_at(root: &Path) -> Self {
        Self {
            data_dir: root.join("data"),
            models_dir: root.join("models"),
        }
    }

    /// The default database, shared by the GUI and every CLI command.
    pub fn default_database(&self) -> PathBuf {
        self.data_dir.join("panic-tda.sqlite")
    }

    /// Where `scripts/setup.sh` unpacks ONNX Runtime builds (`cpu`, `gpu`).
    pub fn onnxruntime_dir(&self) -> PathBuf {
        self.data_dir.join("onnxruntime").join(ORT_VERSION)
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooted_paths_stay_inside_the_root() {
        let paths = AppPaths::rooted_at(Path::new("/tmp/x"));
        assert!(paths.default_database().starts_with("/tmp/x/data"));
        assert!(paths.onnxruntime_dir().ends_with("onnxruntime/1.31.1"));
        assert!(paths.models_dir.starts_with("/tmp/x"));
    }
}
