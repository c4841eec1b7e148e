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

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::ModelError;
use super::catalog::{CatalogEntry, FileSource, ModelFile};
use crate::paths::AppPaths;

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
fn file_mentions(path: &Path, needle: &[u8]) -> io::Result<bool> {
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

/// How `fetch` may use the network.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Never touch the network; missing files are an error.
    pub offline: bool,
    /// Base URL of the Hugging Face hub (tests point it at a local server).
    pub endpoint: String,
    /// A download that receives nothing for this long fails (its part is kept for a resume).
    /// Per read, not per file: multi-gigabyte files on slow links must not time out.
    pub stall_timeout: Duration,
}

/// Default [`FetchOptions::stall_timeout`].
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            offline: false,
            endpoint: std::env::var("HF_ENDPOINT")
                .ok()
                .filter(|endpoint| !endpoint.is_empty())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
            stall_timeout: STALL_TIMEOUT,
        }
    }
}

/// Progress reports from [`fetch`], for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum FetchEvent<'a> {
    /// Already on disk (and its sha256 matches when known).
    Present { file: &'a str },
    /// A download starts; `resumed_from` bytes were already in the `.partial` file.
    Started {
        file: &'a str,
        resumed_from: u64,
        total: Option<u64>,
    },
    Progress {
        file: &'a str,
        bytes: u64,
        total: Option<u64>,
    },
    /// Downloaded and checked.
    Finished { file: &'a str },
}

/// Makes every file of `entry` present in `location`, downloading what is missing (resuming
/// `.partial` files) and checking sizes and sha256 where the catalog knows them.
pub fn fetch(
    entry: &CatalogEntry,
    location: &ModelLocation,
    options: &FetchOptions,
    progress: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<ModelStatus, FetchError> {
    fetch_cancellable(entry, location, options, &AtomicBool::new(false), progress)
}

/// [`fetch`] that stops with [`FetchError::Cancelled`] soon after `cancel` is set, keeping the
/// `.partial` file so the next fetch resumes it.
pub fn fetch_cancellable(
    entry: &CatalogEntry,
    location: &ModelLocation,
    options: &FetchOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<ModelStatus, FetchError> {
    let Some(dir) = location.dir() else {
        return Ok(status(entry, location));
    };
    let mut missing = Vec::new();
    for file in entry.files.files {
        let local = dir.join(file.path);
        if local.is_file() && check_existing(file, &local)? {
            progress(FetchEvent::Present { file: file.path });
        } else {
            missing.push(file);
        }
    }
    if !missing.is_empty() {
        let names = || {
            missing
                .iter()
                .map(|f| dir.join(f.path).display().to_string())
                .collect()
        };
        let (repo, revision) = match entry.files.source {
            FileSource::HuggingFace { repo, revision } => (repo, revision),
            FileSource::Setup | FileSource::BuiltIn => {
                return Err(FetchError::InstalledBySetup {
                    model: entry.name.to_owned(),
                    missing: names(),
                });
            }
        };
        if options.offline {
            return Err(FetchError::Offline {
                model: entry.name.to_owned(),
                missing: names(),
            });
        }
        let agent = agent(options.stall_timeout);
        let endpoint = options.endpoint.trim_end_matches('/');
        for file in missing {
            let url = format!("{endpoint}/{repo}/resolve/{revision}/{}", file.path);
            let target = Target {
                url: &url,
                file,
                dest: &dir.join(file.path),
            };
            download(&agent, &target, options.stall_timeout, cancel, progress)?;
        }
    }
    Ok(status(entry, location))
}

/// Whether an existing file is good: right size and right sha256 — the catalog's, or for a file
/// the catalog has no hash for, the one recorded when it was downloaded. A wrong file is deleted
/// so it is downloaded again.
fn check_existing(file: &ModelFile, local: &Path) -> Result<bool, FetchError> {
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

/// `stall_timeout` also bounds the wait for a response's headers (a server that accepts the
/// connection and never answers).
fn agent(stall_timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(stall_timeout))
        .user_agent(concat!("panic-tda/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
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

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dest.with_file_name(name)
}

/// Total length from `Content-Range: bytes a-b/total`.
fn content_range_total(value: &str) -> Option<u64> {
    value.rsplit('/').next()?.trim().parse().ok()
}

/// One file to download: from `url` to `dest`.
struct Target<'a> {
    url: &'a str,
    file: &'a ModelFile,
    dest: &'a Path,
}

fn download(
    agent: &ureq::Agent,
    target: &Target<'_>,
    stall_timeout: Duration,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<(), FetchError> {
    let Target { url, file, dest } = *target;
    let http = |message: String| FetchError::Http {
        url: url.to_owned(),
        message,
    };
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let partial = partial_path(dest);
    let mut start = fs::metadata(&partial).map(|meta| meta.len()).unwrap_or(0);
    if file.size.is_some_and(|size| start > size) {
        start = 0;
    }
    // A second attempt only after a 416 (the partial file does not fit the remote file).
    let mut response = None;
    for _ in 0..2 {
        let mut request = agent.get(url);
        if start > 0 {
            request = request.header("Range", format!("bytes={start}-"));
        }
        let reply = request.call().map_err(|e| http(e.to_string()))?;
        match reply.status().as_u16() {
            416 if start > 0 => start = 0,
            200 | 206 => {
                response = Some(reply);
                break;
            }
            status => return Err(http(format!("HTTP status {status}"))),
        }
    }
    let Some(response) = response else {
        return Err(http("the server rejected every range request".into()));
    };
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let resumed = response.status().as_u16() == 206;
    let offset = if resumed { start } else { 0 };
    let total = if resumed {
        header("content-range")
            .as_deref()
            .and_then(content_range_total)
    } else {
        header("content-length").and_then(|len| len.parse().ok())
    }
    .or(file.size);
    let mut out = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&partial)
        .map_err(io_error(&partial))?;
    progress(FetchEvent::Started {
        file: file.path,
        resumed_from: offset,
        total,
    });
    let chunks = read_in_background(response.into_body().into_reader());
    let mut bytes = offset;
    let mut idle = Duration::ZERO;
    loop {
        if cancel.load(Ordering::Relaxed) {
            out.flush().map_err(io_error(&partial))?;
            return Err(FetchError::Cancelled {
                path: dest.to_owned(),
            });
        }
        // Short waits so a cancel is seen even while the connection is stalled.
        let chunk = match chunks.recv_timeout(CANCEL_POLL) {
            Ok(chunk) => chunk.map_err(|e| http(e.to_string()))?,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                idle += CANCEL_POLL;
                if idle >= stall_timeout {
                    out.flush().map_err(io_error(&partial))?;
                    return Err(http(format!(
                        "no data for {} s after {bytes} bytes; the part is kept, fetch again to resume",
                        stall_timeout.as_secs_f32()
                    )));
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        idle = Duration::ZERO;
        if chunk.is_empty() {
            break;
        }
        out.write_all(&chunk).map_err(io_error(&partial))?;
        bytes += chunk.len() as u64;
        progress(FetchEvent::Progress {
            file: file.path,
            bytes,
            total,
        });
    }
    out.flush().map_err(io_error(&partial))?;
    drop(out);
    if let Some(expected) = total.filter(|&total| total != bytes) {
        return Err(FetchError::SizeMismatch {
            path: partial,
            expected,
            actual: bytes,
        });
    }
    if let Some(expected) = file.size.filter(|&size| size != bytes) {
        let _ = fs::remove_file(&partial);
        return Err(FetchError::SizeMismatch {
            path: dest.to_owned(),
            expected,
            actual: bytes,
        });
    }
    let actual = sha256_file(&partial)?;
    match file.sha256 {
        Some(expected) if actual != expected => {
            let _ = fs::remove_file(&partial);
            return Err(FetchError::ShaMismatch {
                path: dest.to_owned(),
                expected: expected.to_owned(),
                actual,
            });
        }
        Some(_) => {}
        None => {
            let record = sha256_record_path(dest);
            fs::write(&record, format!("{actual}  {}\n", file.path)).map_err(io_error(&record))?;
        }
    }
    fs::rename(&partial, dest).map_err(io_error(dest))?;
    progress(FetchEvent::Finished { file: file.path });
    Ok(())
}

/// How often a download waiting for data checks for a cancel.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// Reads `reader` on its own thread and hands over its chunks (an empty chunk at the end), so
/// the download loop can time out and cancel while a read is blocked: a blocking socket read has
/// no idle timeout of its own here. A thread left blocked after a cancel ends when the
/// connection closes.
fn read_in_background(
    mut reader: impl Read + Send + 'static,
) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (sender, receiver) = mpsc::sync_channel(16);
    std::thread::spawn(move || {
        loop {
            let mut buffer = vec![0u8; 1 << 16];
            let chunk = reader.read(&mut buffer).map(|read| {
                buffer.truncate(read);
                buffer
            });
            let last = !matches!(&chunk, Ok(data) if !data.is_empty());
            if sender.send(chunk).is_err() || last {
                break;
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::catalog::{ModelFiles, ModelKind, Runtime};
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// How the test server answers.
    #[derive(Clone, Copy)]
    enum Mode {
        /// Honour Range requests.
        Normal,
        /// Announce the full length but close the connection halfway through the body.
        DropHalfway,
        /// Send half the body, then keep the connection open without sending anything.
        StallHalfway,
    }

    struct Server {
        endpoint: String,
        /// Range header of each request ("" when none).
        ranges: Arc<Mutex<Vec<String>>>,
        mode: Arc<Mutex<Mode>>,
    }

    /// A one-file HTTP/1.1 server on 127.0.0.1 serving `body` at any path.
    fn serve(body: Vec<u8>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let (seen, current) = (ranges.clone(), mode.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut range = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("range:") {
                        range = value.trim().to_owned();
                    }
                }
                seen.lock().expect("lock").push(range.clone());
                let start: usize = range
                    .strip_prefix("bytes=")
                    .and_then(|r| r.trim_end_matches('-').parse().ok())
                    .unwrap_or(0);
                let mode = *current.lock().expect("lock");
                let _ = if start >= body.len() && start > 0 {
                    stream.write_all(b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                } else if start > 0 {
                    let rest = &body[start..];
                    let head = format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {}-{}/{}\r\nConnection: close\r\n\r\n",
                        rest.len(),
                        start,
                        body.len() - 1,
                        body.len()
                    );
                    stream
                        .write_all(head.as_bytes())
                        .and_then(|_| stream.write_all(rest))
                } else {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let sent = match mode {
                        Mode::Normal => &body[..],
                        Mode::DropHalfway | Mode::StallHalfway => &body[..body.len() / 2],
                    };
                    let written = stream
                        .write_all(head.as_bytes())
                        .and_then(|_| stream.write_all(sent))
                        .and_then(|_| stream.flush());
                    if matches!(mode, Mode::StallHalfway) {
                        let held = stream;
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(20));
                            drop(held);
                        });
                    }
                    written
                };
            }
        });
        Server {
            endpoint,
            ranges,
            mode,
        }
    }

    fn entry(sha256: Option<&str>, size: Option<u64>) -> CatalogEntry {
        let sha: Option<&'static str> = sha256.map(|s| &*Box::leak(s.to_owned().into_boxed_str()));
        let files: &'static [ModelFile] = Box::leak(Box::new([ModelFile {
            path: "onnx/model.onnx",
            size,
            sha256: sha,
        }]));
        CatalogEntry {
            name: "TestModel",
            kind: ModelKind::TextToImage,
            description: "test",
            files: ModelFiles {
                source: FileSource::HuggingFace {
                    repo: "org/repo",
                    revision: "abc",
                },
                dir: "test-model",
                files,
            },
            disk_bytes: 0,
            vram: "none",
            runtime: Runtime::Dummy,
        }
    }

    /// Options for fetching from a test server.
    fn online(endpoint: &str) -> FetchOptions {
        FetchOptions {
            offline: false,
            endpoint: endpoint.to_owned(),
            stall_timeout: STALL_TIMEOUT,
        }
    }

    fn body() -> Vec<u8> {
        (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn downloads_verifies_and_then_finds_the_file_present() {
        let data = body();
        let server = serve(data.clone());
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(Some(&sha(&data)), Some(data.len() as u64));
        let location = ModelLocation::Directory(dir.path().join("m"));
        assert!(!status(&entry, &location).is_complete());
        let options = online(&server.endpoint);
        let mut events = Vec::new();
        let done = fetch(&entry, &location, &options, &mut |event| {
            events.push(format!("{event:?}"))
        })
        .expect("fetch");
        assert!(done.is_complete());
        let local = dir.path().join("m/onnx/model.onnx");
        assert_eq!(fs::read(&local).expect("read"), data);
        assert!(!partial_path(&local).exists());
        assert!(events.iter().any(|e| e.starts_with("Finished")));
        // Second fetch: nothing downloaded.
        let requests = server.ranges.lock().expect("lock").len();
        fetch(&entry, &location, &options, &mut |_| {}).expect("fetch again");
        assert_eq!(server.ranges.lock().expect("lock").len(), requests);
    }

    #[test]
    fn an_interrupted_download_resumes_with_a_range_request() {
        let data = body();
        let server = serve(data.clone());
        *server.mode.lock().expect("lock") = Mode::DropHalfway;
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(Some(&sha(&data)), Some(data.len() as u64));
        let location = ModelLocation::Directory(dir.path().to_owned());
        let options = online(&server.endpoint);
        assert!(fetch(&entry, &location, &options, &mut |_| {}).is_err());
        let local = dir.path().join("onnx/model.onnx");
        let partial = partial_path(&local);
        let kept = fs::metadata(&partial).expect("partial kept").len();
        assert!(kept > 0 && kept < data.len() as u64);
        *server.mode.lock().expect("lock") = Mode::Normal;
        let mut resumed_from = None;
        fetch(&entry, &location, &options, &mut |event| {
            if let FetchEvent::Started {
                resumed_from: from, ..
            } = event
            {
                resumed_from = Some(from);
            }
        })
        .expect("resume");
        assert_eq!(resumed_from, Some(kept));
        assert_eq!(fs::read(&local).expect("read"), data);
        let ranges = server.ranges.lock().expect("lock").clone();
        assert_eq!(
            ranges.last().map(String::as_str),
            Some(format!("bytes={kept}-").as_str())
        );
    }

    #[test]
    fn a_cancelled_download_keeps_its_part_and_the_next_fetch_resumes_it() {
        let data = body();
        let server = serve(data.clone());
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(Some(&sha(&data)), Some(data.len() as u64));
        let location = ModelLocation::Directory(dir.path().to_owned());
        let options = online(&server.endpoint);
        let cancel = AtomicBool::new(false);
        let err = fetch_cancellable(&entry, &location, &options, &cancel, &mut |event| {
            if matches!(event, FetchEvent::Progress { .. }) {
                cancel.store(true, Ordering::Relaxed);
            }
        })
        .expect_err("cancelled");
        assert!(matches!(err, FetchError::Cancelled { .. }), "{err}");
        let local = dir.path().join("onnx/model.onnx");
        let kept = fs::metadata(partial_path(&local))
            .expect("partial kept")
            .len();
        assert!(kept > 0 && kept < data.len() as u64, "{kept}");
        assert!(!local.exists());
        let done = fetch(&entry, &location, &options, &mut |_| {}).expect("resume");
        assert!(done.is_complete());
        assert_eq!(fs::read(&local).expect("read"), data);
        let ranges = server.ranges.lock().expect("lock").clone();
        assert_eq!(
            ranges.last().map(String::as_str),
            Some(format!("bytes={kept}-").as_str())
        );
    }

    #[test]
    fn a_stalled_download_times_out_keeps_its_part_and_resumes() {
        let data = body();
        let server = serve(data.clone());
        *server.mode.lock().expect("lock") = Mode::StallHalfway;
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(Some(&sha(&data)), Some(data.len() as u64));
        let location = ModelLocation::Directory(dir.path().to_owned());
        let mut options = FetchOptions {
            stall_timeout: Duration::from_millis(500),
            ..online(&server.endpoint)
        };
        let err = fetch(&entry, &location, &options, &mut |_| {}).expect_err("stalled");
        assert!(matches!(err, FetchError::Http { .. }), "{err}");
        assert!(err.to_string().contains("no data for 0.5 s"), "{err}");
        let local = dir.path().join("onnx/model.onnx");
        let kept = fs::metadata(partial_path(&local)).expect("part").len();
        assert_eq!(kept, data.len() as u64 / 2);
        *server.mode.lock().expect("lock") = Mode::Normal;
        options.stall_timeout = STALL_TIMEOUT;
        fetch(&entry, &location, &options, &mut |_| {}).expect("resume");
        assert_eq!(fs::read(&local).expect("read"), data);
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            // Accept and hold connections without answering.
            let held: Vec<_> = listener.incoming().take(2).collect();
            std::thread::sleep(Duration::from_secs(20));
            drop(held);
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(None, None);
        let location = ModelLocation::Directory(dir.path().to_owned());
        let options = FetchOptions {
            stall_timeout: Duration::from_millis(500),
            ..online(&endpoint)
        };
        let started = std::time::Instant::now();
        let err = fetch(&entry, &location, &options, &mut |_| {}).expect_err("no answer");
        assert!(matches!(err, FetchError::Http { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn cancel_works_while_the_connection_is_stalled() {
        let data = body();
        let server = serve(data.clone());
        *server.mode.lock().expect("lock") = Mode::StallHalfway;
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(None, Some(data.len() as u64));
        let location = ModelLocation::Directory(dir.path().to_owned());
        let options = online(&server.endpoint);
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let setter = cancel.clone();
        let started = std::time::Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            setter.store(true, Ordering::Relaxed);
        });
        let err = fetch_cancellable(&entry, &location, &options, &cancel, &mut |_| {})
            .expect_err("cancelled");
        assert!(matches!(err, FetchError::Cancelled { .. }), "{err}");
        // Well before the 60 s stall timeout and the server's 20 s hold.
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn an_unpinned_file_gets_its_hash_recorded_and_later_damage_is_caught() {
        let data = body();
        let server = serve(data.clone());
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(None, None);
        let location = ModelLocation::Directory(dir.path().to_owned());
        let options = online(&server.endpoint);
        fetch(&entry, &location, &options, &mut |_| {}).expect("fetch");
        let local = dir.path().join("onnx/model.onnx");
        let record = fs::read_to_string(sha256_record_path(&local)).expect("record");
        assert!(record.starts_with(&sha(&data)), "{record}");
        // Same length, one byte changed: only the recorded hash can tell.
        let mut damaged = data.clone();
        damaged[1000] ^= 0xff;
        fs::write(&local, &damaged).expect("damage");
        let requests = server.ranges.lock().expect("lock").len();
        fetch(&entry, &location, &options, &mut |_| {}).expect("fetch again");
        assert_eq!(server.ranges.lock().expect("lock").len(), requests + 1);
        assert_eq!(fs::read(&local).expect("read"), data);
    }

    #[test]
    fn a_sha_mismatch_is_an_error_and_leaves_no_file() {
        let data = body();
        let server = serve(data);
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(Some(&sha(b"something else")), None);
        let location = ModelLocation::Directory(dir.path().to_owned());
        let options = online(&server.endpoint);
        let err = fetch(&entry, &location, &options, &mut |_| {}).expect_err("bad sha");
        assert!(matches!(err, FetchError::ShaMismatch { .. }), "{err}");
        let local = dir.path().join("onnx/model.onnx");
        assert!(!local.exists() && !partial_path(&local).exists());
    }

    #[test]
    fn offline_refuses_to_download_and_names_the_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(None, None);
        let location = ModelLocation::Directory(dir.path().to_owned());
        let options = FetchOptions {
            offline: true,
            // Nothing listens here; offline must not even try.
            endpoint: "http://127.0.0.1:9".into(),
            stall_timeout: STALL_TIMEOUT,
        };
        let err = fetch(&entry, &location, &options, &mut |_| {}).expect_err("offline");
        assert!(matches!(err, FetchError::Offline { .. }));
        assert!(err.to_string().contains("onnx/model.onnx"), "{err}");
    }

    #[test]
    fn a_truncated_file_is_reported_as_damaged_with_its_size_and_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(Some(&"ab".repeat(32)), Some(1000));
        fs::create_dir_all(dir.path().join("onnx")).expect("dir");
        fs::write(dir.path().join("onnx/model.onnx"), [0u8; 10]).expect("write");
        let location = ModelLocation::Directory(dir.path().to_owned());
        let err = status(&entry, &location).require().expect_err("damaged");
        let message = err.to_string();
        assert!(matches!(err, ModelError::DamagedFiles { .. }), "{message}");
        assert!(message.contains("damaged"), "{message}");
        assert!(!message.contains("missing"), "{message}");
        assert!(
            message.contains("10 bytes; expected 1000 bytes"),
            "{message}"
        );
        assert!(message.contains(&"ab".repeat(32)), "{message}");
        assert!(
            message.contains("panic-tda models fetch TestModel"),
            "{message}"
        );
    }

    #[test]
    fn missing_files_error_names_files_and_the_fetch_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = entry(None, None);
        let location = ModelLocation::Directory(dir.path().to_owned());
        let err = status(&entry, &location).require().expect_err("missing");
        let message = err.to_string();
        assert!(message.contains("onnx/model.onnx"), "{message}");
        assert!(
            message.contains("panic-tda models fetch TestModel"),
            "{message}"
        );
    }

    #[test]
    fn external_data_is_required_only_when_the_graph_names_it() {
        let sd = crate::models::lookup("SDTurbo").expect("SD-Turbo in the catalog");
        let dir = tempfile::tempdir().expect("tempdir");
        for file in sd.files.files {
            if file.path.ends_with(".onnx_data") {
                continue;
            }
            let path = dir.path().join(file.path);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            // A self-contained graph: long enough that a name split across reads would matter.
            fs::write(&path, vec![7u8; 100]).expect("write");
        }
        let location = ModelLocation::Directory(dir.path().to_owned());
        let complete = status(sd, &location);
        assert!(complete.is_complete(), "{:?}", complete.missing());

        // A graph that stores its weights outside names the file: now it is required.
        let unet = dir.path().join("unet/model.onnx");
        // Placed so the name straddles the first read (8 MiB + the name's length).
        let mut graph = vec![0u8; 8 << 20];
        graph.extend_from_slice(b"location\x12\x0fmodel.onnx_data");
        fs::write(&unet, graph).expect("write");
        let err = status(sd, &location)
            .require()
            .expect_err("data file missing");
        assert!(err.to_string().contains("model.onnx_data"), "{err}");
        assert!(file_mentions(&unet, b"model.onnx_data").expect("read"));
    }

    #[test]
    fn the_cache_layout_and_overrides() {
        let paths = AppPaths::rooted_at(Path::new("/x"));
        let minilm = crate::models::lookup("MiniLM").expect("MiniLM");
        assert_eq!(
            locate(&paths, minilm, None),
            ModelLocation::Cache(PathBuf::from("/x/models/all-MiniLM-L6-v2"))
        );
        assert_eq!(
            locate(&paths, minilm, Some(Path::new("/y"))),
            ModelLocation::Directory(PathBuf::from("/y"))
        );
        let dummy = crate::models::lookup("DummyT2I").expect("dummy");
        assert_eq!(locate(&paths, dummy, None), ModelLocation::BuiltIn);
        assert!(status(dummy, &ModelLocation::BuiltIn).is_complete());
    }
}
