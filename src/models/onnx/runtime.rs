//! Finding, checking and loading the ONNX Runtime shared library, and choosing execution providers.
//!
//! `ort` is built with `load-dynamic`: nothing links against ONNX Runtime at build time, so the app
//! starts (and the GUI opens) without it, and every failure to find or load it becomes a
//! [`RuntimeError`] that names where we looked and how to fix it instead of a dlopen panic.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::ep::ExecutionProvider;
use thiserror::Error;

use crate::paths::AppPaths;

/// The oldest ONNX Runtime minor version `ort` 2.0.0-rc.15 accepts.
pub const MIN_ORT_MINOR: u32 = 31;

const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";
const SETUP_HINT: &str = "run `panic-tda-setup` (installed package) or `make setup` (source tree), or set ORT_DYLIB_PATH to a libonnxruntime.so of version 1.31 or newer";

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("ONNX Runtime library not found; looked in: {}. To fix it, {SETUP_HINT}", .looked.join(", "))]
    NotFound { looked: Vec<String> },
    #[error("{path} is not a loadable ONNX Runtime library ({reason}). To fix it, {SETUP_HINT}")]
    NotLoadable { path: PathBuf, reason: String },
    #[error(
        "ONNX Runtime at {path} is version {found}, but panic-tda needs 1.{MIN_ORT_MINOR} or newer. To fix it, {SETUP_HINT}"
    )]
    TooOld { path: PathBuf, found: String },
    #[error("ONNX Runtime failed to initialise: {0}")]
    Environment(String),
    #[error("execution provider {provider} was requested but is not available: {reason}")]
    ProviderUnavailable { provider: String, reason: String },
    #[error("could not create an ONNX Runtime session for {file}: {message}")]
    Session { file: PathBuf, message: String },
}

/// Where the library came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LibrarySource {
    /// `ORT_DYLIB_PATH`.
    Environment,
    /// The GPU build unpacked by `make setup-gpu`.
    CacheGpu,
    /// The CPU build unpacked by `make setup`.
    CacheCpu,
    /// Bundled with an installed package (`lib/panic-tda/` next to the binary's `bin/`).
    Bundled,
}

/// What was loaded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeInfo {
    pub path: PathBuf,
    pub version: String,
    pub source: LibrarySource,
    /// Execution providers compiled into the loaded library, e.g. `CPUExecutionProvider`.
    pub providers: Vec<String>,
}

impl RuntimeInfo {
    pub fn has_provider(&self, name: &str) -> bool {
        self.providers.iter().any(|provider| provider == name)
    }
}

/// Which hardware to run models on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum DevicePreference {
    /// CUDA when its provider loads, otherwise the CPU.
    #[default]
    Auto,
    Cuda,
    /// CUDA through TensorRT (falls back to plain CUDA for unsupported nodes).
    Tensorrt,
    Cpu,
}

/// The provider actually chosen for a session, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceChoice {
    pub provider: String,
    pub reason: String,
}

/// Candidate library locations, in the order they are tried.
pub fn candidate_libraries(paths: &AppPaths) -> Vec<(PathBuf, LibrarySource)> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|path| !path.is_empty()) {
        candidates.push((PathBuf::from(path), LibrarySource::Environment));
    }
    let ort_dir = paths.onnxruntime_dir();
    candidates.push((
        ort_dir.join("gpu").join(LIBRARY_FILE),
        LibrarySource::CacheGpu,
    ));
    candidates.push((
        ort_dir.join("cpu").join(LIBRARY_FILE),
        LibrarySource::CacheCpu,
    ));
    if let Some(prefix) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
    {
        candidates.push((
            prefix.join("lib").join("panic-tda").join(LIBRARY_FILE),
            LibrarySource::Bundled,
        ));
    }
    candidates
}

/// Finds the library without loading it into `ort`. An explicit `ORT_DYLIB_PATH` that does not
/// exist is an error rather than silently falling through to another copy.
pub fn locate_library(paths: &AppPaths) -> Result<(PathBuf, LibrarySource), RuntimeError> {
    let candidates = candidate_libraries(paths);
    if let Some((path, LibrarySource::Environment)) = candidates.first()
        && !path.is_file()
    {
        return Err(RuntimeError::NotFound {
            looked: vec![format!("{} (from ORT_DYLIB_PATH)", path.display())],
        });
    }
    let looked = candidates
        .iter()
        .map(|(path, _)| path.display().to_string())
        .collect();
    candidates
        .into_iter()
        .find(|(path, _)| path.is_file())
        .ok_or(RuntimeError::NotFound { looked })
}

/// Reads the version a library reports, without handing it to `ort`.
pub fn library_version(path: &Path) -> Result<String, RuntimeError> {
    let not_loadable = |reason: String| RuntimeError::NotLoadable {
        path: path.to_path_buf(),
        reason,
    };
    // SAFETY: loading a shared library runs its initialisers; this is the library the user (or
    // setup) chose to run models with, and it is loaded again by `ort` right after.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|e| not_loadable(e.to_string()))?;
    // SAFETY: the symbol has this signature in every ONNX Runtime release (C API, stable ABI).
    let get_api_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { library.get(b"OrtGetApiBase") }
            .map_err(|_| not_loadable("it does not export OrtGetApiBase".into()))?;
    // SAFETY: OrtGetApiBase returns a pointer to a static table or null.
    let base = unsafe { get_api_base() };
    if base.is_null() {
        return Err(not_loadable("OrtGetApiBase returned null".into()));
    }
    // SAFETY: `base` is non-null and points at the library's static OrtApiBase; the version
    // string is a static NUL-terminated C string owned by the library.
    let version = unsafe { std::ffi::CStr::from_ptr(((*base).GetVersionString)()) };
    Ok(version.to_string_lossy().into_owned())
}

fn minor_version(version: &str) -> Option<u32> {
    version.split('.').nth(1)?.parse().ok()
}

struct Loaded {
    info: RuntimeInfo,
    environment: ort::environment::Environment,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime once per process and returns what was loaded. Later calls return the
/// same library even if the environment changed.
pub fn init(paths: &AppPaths) -> Result<&'static RuntimeInfo, RuntimeError> {
    if let Some(loaded) = LOADED.get() {
        return Ok(&loaded.info);
    }
    let _guard = LOADING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(loaded) = LOADED.get() {
        return Ok(&loaded.info);
    }
    let (path, source) = locate_library(paths)?;
    let version = library_version(&path)?;
    if minor_version(&version).is_none_or(|minor| minor < MIN_ORT_MINOR) {
        return Err(RuntimeError::TooOld {
            path,
            found: version,
        });
    }
    if source == LibrarySource::CacheGpu {
        preload_cuda_libraries(&path);
    }
    let environment = ort::init_from(&path)
        .map_err(|e| RuntimeError::NotLoadable {
            path: path.clone(),
            reason: e.to_string(),
        })?
        .with_name("panic-tda")
        .build()
        .map_err(|e| RuntimeError::Environment(e.to_string()))?;
    let providers = available_providers();
    let loaded = LOADED.get_or_init(|| Loaded {
        info: RuntimeInfo {
            path,
            version,
            source,
            providers,
        },
        environment,
    });
    Ok(&loaded.info)
}

fn available_providers() -> Vec<String> {
    let mut providers = Vec::new();
    type Probe = fn() -> ort::Result<bool>;
    let probes: [(&str, Probe); 3] = [
        (ort::ep::CPU::NAME, ort::ep::CPU::is_available),
        (ort::ep::CUDA::NAME, ort::ep::CUDA::is_available),
        (ort::ep::TensorRT::NAME, ort::ep::TensorRT::is_available),
    ];
    for (name, probe) in probes {
        if probe().unwrap_or(false) {
            providers.push(name.to_owned());
        }
    }
    providers
}

/// The GPU build of ONNX Runtime needs the CUDA and cuDNN libraries that `make setup-gpu` unpacks
/// into `gpu/cuda/` next to it. They are not on the loader's search path, so load them by full path
/// first (in dependency order, found by retrying) so the CUDA provider's own dlopen finds them.
fn preload_cuda_libraries(library: &Path) {
    let Some(cuda_dir) = library.parent().map(|dir| dir.join("cuda")) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&cuda_dir) else {
        return;
    };
    let mut pending: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.contains(".so"))
        })
        .collect();
    pending.sort();
    let mut kept = Vec::new();
    loop {
        let before = pending.len();
        pending.retain(|path| {
            // SAFETY: these are the CUDA runtime libraries shipped for this ONNX Runtime build.
            match unsafe { libloading::Library::new(path) } {
                Ok(library) => {
                    kept.push(library);
                    false
                }
                Err(_) => true,
            }
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    for path in &pending {
        tracing::warn!("could not preload CUDA library {}", path.display());
    }
    // The libraries must stay loaded for the life of the process.
    std::mem::forget(kept);
}

/// Picks the execution providers for a session according to `preference`.
pub fn choose_device(
    info: &RuntimeInfo,
    preference: DevicePreference,
) -> Result<DeviceChoice, RuntimeError> {
    let cuda = ort::ep::CUDA::NAME;
    let tensorrt = ort::ep::TensorRT::NAME;
    let cpu = ort::ep::CPU::NAME;
    let choice = |provider: &str, reason: String| DeviceChoice {
        provider: provider.to_owned(),
        reason,
    };
    match preference {
        DevicePreference::Cpu => Ok(choice(cpu, "requested --device cpu".into())),
        DevicePreference::Cuda if info.has_provider(cuda) => {
            Ok(choice(cuda, "requested --device cuda".into()))
        }
        DevicePreference::Tensorrt if info.has_provider(tensorrt) => {
            Ok(choice(tensorrt, "requested --device tensorrt".into()))
        }
        DevicePreference::Cuda | DevicePreference::Tensorrt => {
            Err(RuntimeError::ProviderUnavailable {
                provider: format!("{preference:?}").to_lowercase(),
                reason: format!(
                    "the ONNX Runtime at {} only has {}; install the GPU build with `make setup-gpu`",
                    info.path.display(),
                    info.providers.join(", ")
                ),
            })
        }
        DevicePreference::Auto if info.has_provider(cuda) => Ok(choice(
            cuda,
            "auto: the CUDA provider is available in the loaded ONNX Runtime".into(),
        )),
        DevicePreference::Auto => Ok(choice(
            cpu,
            format!(
                "auto: no CUDA provider in the ONNX Runtime at {}",
                info.path.display()
            ),
        )),
    }
}

/// A session builder with the app's defaults: full graph optimisation (`All`; `ort`'s `Level3` is
/// only ORT_ENABLE_LAYOUT), `threads` intra-op threads
/// (0 = ONNX Runtime's choice) and the chosen device. CUDA registration failures fall back to
/// the CPU with a warning, so `auto` never fails on a machine without a working GPU.
/// [`init`] must have succeeded first.
pub fn session_builder(
    device: &DeviceChoice,
    threads: usize,
) -> Result<ort::session::builder::SessionBuilder, String> {
    use ort::session::builder::GraphOptimizationLevel;
    let loaded = LOADED
        .get()
        .ok_or("ONNX Runtime is not initialised (call runtime::init first)")?;
    let mut builder = ort::session::Session::builder(&loaded.environment)
        .map_err(|e| e.to_string())?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| e.to_string())?;
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| e.to_string())?;
    }
    let providers = if device.provider == ort::ep::TensorRT::NAME {
        vec![
            ort::ep::TensorRT::default().build(),
            ort::ep::CUDA::default().build(),
        ]
    } else if device.provider == ort::ep::CUDA::NAME {
        vec![ort::ep::CUDA::default().build()]
    } else {
        Vec::new()
    };
    if !providers.is_empty() {
        builder = builder
            .with_execution_providers(providers)
            .map_err(|e| e.to_string())?;
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_version_parses_release_strings() {
        assert_eq!(minor_version("1.31.1"), Some(31));
        assert_eq!(minor_version("1.9.0"), Some(9));
        assert_eq!(minor_version("garbage"), None);
    }

    #[test]
    fn missing_library_names_every_place_looked_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = AppPaths::rooted_at(dir.path());
        // Only meaningful when ORT_DYLIB_PATH is unset in the test environment.
        if std::env::var_os("ORT_DYLIB_PATH").is_some() {
            return;
        }
        let err = locate_library(&paths).expect_err("nothing is installed in a fresh temp dir");
        let message = err.to_string();
        assert!(
            message.contains("cpu/libonnxruntime.so.1.31.1"),
            "{message}"
        );
        assert!(
            message.contains("gpu/libonnxruntime.so.1.31.1"),
            "{message}"
        );
        assert!(message.contains("make setup"), "{message}");
    }

    #[test]
    fn a_file_that_is_not_a_library_is_reported_not_loadable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("libonnxruntime.so");
        std::fs::write(&fake, b"not an ELF file").expect("write");
        let err = library_version(&fake).expect_err("garbage must not load");
        assert!(matches!(err, RuntimeError::NotLoadable { .. }), "{err}");
        assert!(err.to_string().contains("make setup"));
    }
}
