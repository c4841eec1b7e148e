//! Tests of model files against a local HTTP server: resume, stall, cancel, hashes and status.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::download::partial_path;
use super::status::file_mentions;
use super::*;
use crate::models::ModelError;
use crate::models::catalog::{CatalogEntry, FileSource, ModelFile, ModelFiles, ModelKind, Runtime};
use crate::paths::AppPaths;

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

/// [`body`] served by a test server in `mode`, to be fetched into a fresh directory.
struct Download {
    data: Vec<u8>,
    server: Server,
    /// Kept so the directory lives as long as the test.
    _dir: tempfile::TempDir,
    location: ModelLocation,
    /// Where the test file lands.
    local: PathBuf,
    options: FetchOptions,
}

fn download(mode: Mode) -> Download {
    let data = body();
    let server = serve(data.clone());
    *server.mode.lock().expect("lock") = mode;
    let dir = tempfile::tempdir().expect("tempdir");
    let location = ModelLocation::Directory(dir.path().to_owned());
    let local = dir.path().join("onnx/model.onnx");
    let options = online(&server.endpoint);
    Download {
        data,
        server,
        _dir: dir,
        location,
        local,
        options,
    }
}

impl Download {
    /// The test entry with the body's sha256 and size.
    fn pinned(&self) -> CatalogEntry {
        entry(Some(&sha(&self.data)), Some(self.data.len() as u64))
    }

    fn set_mode(&self, mode: Mode) {
        *self.server.mode.lock().expect("lock") = mode;
    }

    /// Requests the server has had.
    fn requests(&self) -> usize {
        self.server.ranges.lock().expect("lock").len()
    }

    /// The Range header of the last request ("" when it had none).
    fn last_range(&self) -> Option<String> {
        self.server.ranges.lock().expect("lock").last().cloned()
    }
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
    let test = download(Mode::DropHalfway);
    let entry = test.pinned();
    assert!(fetch(&entry, &test.location, &test.options, &mut |_| {}).is_err());
    let partial = partial_path(&test.local);
    let kept = fs::metadata(&partial).expect("partial kept").len();
    assert!(kept > 0 && kept < test.data.len() as u64);
    test.set_mode(Mode::Normal);
    let mut resumed_from = None;
    fetch(&entry, &test.location, &test.options, &mut |event| {
        if let FetchEvent::Started {
            resumed_from: from, ..
        } = event
        {
            resumed_from = Some(from);
        }
    })
    .expect("resume");
    assert_eq!(resumed_from, Some(kept));
    assert_eq!(fs::read(&test.local).expect("read"), test.data);
    assert_eq!(test.last_range(), Some(format!("bytes={kept}-")));
}

#[test]
fn a_cancelled_download_keeps_its_part_and_the_next_fetch_resumes_it() {
    let test = download(Mode::Normal);
    let entry = test.pinned();
    let cancel = AtomicBool::new(false);
    let err = fetch_cancellable(
        &entry,
        &test.location,
        &test.options,
        &cancel,
        &mut |event| {
            if matches!(event, FetchEvent::Progress { .. }) {
                cancel.store(true, Ordering::Relaxed);
            }
        },
    )
    .expect_err("cancelled");
    assert!(matches!(err, FetchError::Cancelled { .. }), "{err}");
    let kept = fs::metadata(partial_path(&test.local))
        .expect("partial kept")
        .len();
    assert!(kept > 0 && kept < test.data.len() as u64, "{kept}");
    assert!(!test.local.exists());
    let done = fetch(&entry, &test.location, &test.options, &mut |_| {}).expect("resume");
    assert!(done.is_complete());
    assert_eq!(fs::read(&test.local).expect("read"), test.data);
    assert_eq!(test.last_range(), Some(format!("bytes={kept}-")));
}

#[test]
fn a_stalled_download_times_out_keeps_its_part_and_resumes() {
    let mut test = download(Mode::StallHalfway);
    let entry = test.pinned();
    test.options.stall_timeout = Duration::from_millis(500);
    let err = fetch(&entry, &test.location, &test.options, &mut |_| {}).expect_err("stalled");
    assert!(matches!(err, FetchError::Http { .. }), "{err}");
    assert!(err.to_string().contains("no data for 0.5 s"), "{err}");
    let kept = fs::metadata(partial_path(&test.local)).expect("part").len();
    assert_eq!(kept, test.data.len() as u64 / 2);
    test.set_mode(Mode::Normal);
    test.options.stall_timeout = STALL_TIMEOUT;
    fetch(&entry, &test.location, &test.options, &mut |_| {}).expect("resume");
    assert_eq!(fs::read(&test.local).expect("read"), test.data);
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
    let test = download(Mode::StallHalfway);
    let entry = entry(None, Some(test.data.len() as u64));
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let setter = cancel.clone();
    let started = std::time::Instant::now();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        setter.store(true, Ordering::Relaxed);
    });
    let err = fetch_cancellable(&entry, &test.location, &test.options, &cancel, &mut |_| {})
        .expect_err("cancelled");
    assert!(matches!(err, FetchError::Cancelled { .. }), "{err}");
    // Well before the 60 s stall timeout and the server's 20 s hold.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn an_unpinned_file_gets_its_hash_recorded_and_later_damage_is_caught() {
    let test = download(Mode::Normal);
    let entry = entry(None, None);
    fetch(&entry, &test.location, &test.options, &mut |_| {}).expect("fetch");
    let record = fs::read_to_string(sha256_record_path(&test.local)).expect("record");
    assert!(record.starts_with(&sha(&test.data)), "{record}");
    // Same length, one byte changed: only the recorded hash can tell.
    let mut damaged = test.data.clone();
    damaged[1000] ^= 0xff;
    fs::write(&test.local, &damaged).expect("damage");
    let requests = test.requests();
    fetch(&entry, &test.location, &test.options, &mut |_| {}).expect("fetch again");
    assert_eq!(test.requests(), requests + 1);
    assert_eq!(fs::read(&test.local).expect("read"), test.data);
}

#[test]
fn a_sha_mismatch_is_an_error_and_leaves_no_file() {
    let test = download(Mode::Normal);
    let entry = entry(Some(&sha(b"something else")), None);
    let err = fetch(&entry, &test.location, &test.options, &mut |_| {}).expect_err("bad sha");
    assert!(matches!(err, FetchError::ShaMismatch { .. }), "{err}");
    assert!(!test.local.exists() && !partial_path(&test.local).exists());
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
