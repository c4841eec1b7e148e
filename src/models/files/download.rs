//! Fetching model files: options and events, the resumable, cancellable download with its
//! stall timeout, and the background reader it waits on.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::hashes::{check_existing, sha256_file, sha256_record_path};
use super::location::ModelLocation;
use super::status::{ModelStatus, status};
use super::{DEFAULT_ENDPOINT, FetchError, io_error};
use crate::models::catalog::{CatalogEntry, FileSource, ModelFile};

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

pub(super) fn partial_path(dest: &Path) -> PathBuf {
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
