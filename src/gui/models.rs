//! The model list of the new-experiment form: each model's type, size and whether its files are
//! here, with a background Fetch (progress, cancel) through the same library call as
//! `panic-tda models fetch`.

use crate::progress::CancelToken;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;

use super::task::Task;
use crate::models::catalog::{self, FileSource, ModelKind};
use crate::models::files::{self, FetchEvent, FetchOptions, ModelLocation};
use crate::models::{Modality, ModelProvider};
use crate::paths::AppPaths;

/// Whether a model's files are on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesState {
    BuiltIn,
    Present,
    /// `fetchable`: downloadable (Hugging Face); otherwise installed by `make setup`.
    Missing {
        files: usize,
        fetchable: bool,
    },
    /// Not a catalog model (an injected provider's); nothing to say about files.
    Unknown,
}

impl FilesState {
    pub fn label(&self) -> String {
        match self {
            FilesState::BuiltIn => "built in".into(),
            FilesState::Present => "present".into(),
            FilesState::Missing {
                files,
                fetchable: true,
            } => format!("missing {files} file(s)"),
            FilesState::Missing {
                files,
                fetchable: false,
            } => format!("missing {files} file(s); run `make setup`"),
            FilesState::Unknown => "-".into(),
        }
    }
}

/// Where one download is, shared with its thread.
#[derive(Default, Clone)]
struct FetchProgress {
    file: String,
    bytes: u64,
    total: Option<u64>,
}

struct FetchJob {
    cancel: CancelToken,
    progress: Arc<Mutex<FetchProgress>>,
    task: Task,
}

pub struct ModelFiles {
    paths: AppPaths,
    offline: bool,
    states: BTreeMap<String, FilesState>,
    last_refresh: Option<Instant>,
    jobs: BTreeMap<String, FetchJob>,
    /// The outcome of each model's last fetch: (succeeded, message).
    messages: BTreeMap<String, (bool, String)>,
}

pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        0 => "-".into(),
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.0} MB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{:.0} kB", b as f64 / 1024.0),
    }
}

/// "text→image", or "embedding (text+image, 512-d)".
pub fn kind_label(kind: &ModelKind) -> String {
    match embedding_space(kind) {
        Some(space) => format!("embedding ({space})"),
        None => kind.label().to_owned(),
    }
}

/// What an embedder embeds and into how many dimensions ("text+image, 512-d"); `None` for
/// generative models.
pub(crate) fn embedding_space(kind: &ModelKind) -> Option<String> {
    match kind {
        ModelKind::Embedding {
            modalities,
            dimension,
            ..
        } => {
            let modalities: Vec<String> = modalities.iter().map(Modality::to_string).collect();
            Some(format!("{}, {dimension}-d", modalities.join("+")))
        }
        _ => None,
    }
}

impl ModelFiles {
    pub fn new(paths: AppPaths, offline: bool) -> Self {
        Self {
            paths,
            offline,
            states: BTreeMap::new(),
            last_refresh: None,
            jobs: BTreeMap::new(),
            messages: BTreeMap::new(),
        }
    }

    fn location(&self, name: &str) -> Option<(&'static catalog::CatalogEntry, ModelLocation)> {
        let entry = catalog::lookup(name)?;
        Some((entry, files::locate(&self.paths, entry, None)))
    }

    /// Re-checks the files every few seconds (a few `stat` calls), and at once after a fetch.
    fn refresh(&mut self, names: &[String]) {
        let fresh = self
            .last_refresh
            .is_some_and(|at| at.elapsed() < Duration::from_secs(3));
        if fresh && names.iter().all(|name| self.states.contains_key(name)) {
            return;
        }
        self.last_refresh = Some(Instant::now());
        self.states = names
            .iter()
            .map(|name| {
                let state = match self.location(name) {
                    None => FilesState::Unknown,
                    Some((_, ModelLocation::BuiltIn)) => FilesState::BuiltIn,
                    Some((entry, location)) => {
                        let status = files::status(entry, &location);
                        if status.is_complete() {
                            FilesState::Present
                        } else {
                            FilesState::Missing {
                                files: status.missing().len(),
                                fetchable: matches!(
                                    entry.files.source,
                                    FileSource::HuggingFace { .. }
                                ),
                            }
                        }
                    }
                };
                (name.clone(), state)
            })
            .collect();
    }

    pub fn state(&self, name: &str) -> FilesState {
        self.states
            .get(name)
            .cloned()
            .unwrap_or(FilesState::Unknown)
    }

    /// Models whose files are missing, as of the last check (the table re-checks them).
    pub fn missing_count(&self) -> usize {
        self.states
            .values()
            .filter(|state| matches!(state, FilesState::Missing { .. }))
            .count()
    }

    pub fn is_fetching(&self) -> bool {
        !self.jobs.is_empty()
    }

    fn start_fetch(&mut self, name: &str, ctx: &egui::Context) {
        let Some((entry, location)) = self.location(name) else {
            return;
        };
        let cancel = CancelToken::new();
        let progress = Arc::new(Mutex::new(FetchProgress::default()));
        let options = FetchOptions {
            offline: self.offline,
            ..FetchOptions::default()
        };
        let (thread_cancel, thread_progress, progress_ctx) =
            (cancel.clone(), progress.clone(), ctx.clone());
        let task = Task::spawn(ctx, "download", move || {
            let mut last_repaint = Instant::now();
            let mut report = |event: FetchEvent<'_>| {
                let update = match event {
                    FetchEvent::Started {
                        file,
                        resumed_from,
                        total,
                    } => Some((file, resumed_from, total)),
                    FetchEvent::Progress { file, bytes, total } => Some((file, bytes, total)),
                    FetchEvent::Present { .. } | FetchEvent::Finished { .. } => None,
                };
                if let Some((file, bytes, total)) = update
                    && let Ok(mut state) = thread_progress.lock()
                {
                    *state = FetchProgress {
                        file: file.to_owned(),
                        bytes,
                        total,
                    };
                }
                // A repaint per 64 kB chunk would be wasteful; ten a second is smooth enough.
                if last_repaint.elapsed() > Duration::from_millis(100) {
                    last_repaint = Instant::now();
                    progress_ctx.request_repaint();
                }
            };
            let outcome =
                files::fetch_cancellable(entry, &location, &options, &thread_cancel, &mut report);
            let status = outcome.map_err(|e| e.to_string())?;
            let dir = location
                .dir()
                .map_or(String::new(), |dir| format!(" in {}", dir.display()));
            Ok(format!("{} files ready{dir}", status.files.len()))
        });
        self.messages.remove(name);
        self.jobs.insert(
            name.to_owned(),
            FetchJob {
                cancel,
                progress,
                task,
            },
        );
    }

    fn poll(&mut self) {
        let finished: Vec<(String, Result<String, String>)> = self
            .jobs
            .iter_mut()
            .filter_map(|(name, job)| job.task.finished().map(|outcome| (name.clone(), outcome)))
            .collect();
        for (name, outcome) in finished {
            self.jobs.remove(&name);
            self.messages.insert(
                name,
                match outcome {
                    Ok(message) => (true, message),
                    Err(error) => (false, error),
                },
            );
            self.last_refresh = None;
        }
    }

    /// Picks up finished fetches and re-checks the files when due; call every frame.
    pub fn update(&mut self, models: &dyn ModelProvider) {
        self.poll();
        self.refresh(&models.names());
    }

    /// The table of models: type, size, files, Fetch.
    pub fn ui(&mut self, ui: &mut egui::Ui, models: &dyn ModelProvider) {
        let names = models.names();
        let mut fetch = None;
        egui::Grid::new("model-files")
            .striped(true)
            .num_columns(5)
            .show(ui, |ui| {
                super::header_row(ui, &["Model", "Type", "Size", "Files", ""]);
                for name in &names {
                    let entry = catalog::lookup(name);
                    let name_label = ui.label(name);
                    if let Some(entry) = entry {
                        name_label.on_hover_text(entry.description);
                    }
                    ui.label(models.describe(name).map_or("?".into(), |kind| kind_label(&kind)));
                    ui.label(entry.map_or("-".into(), |entry| {
                        let approximate = if entry.files.verified() { "" } else { "~" };
                        format!("{approximate}{}", human_bytes(entry.disk_bytes))
                    }));
                    let state = self.state(name);
                    match &state {
                        FilesState::Missing { .. } => {
                            ui.colored_label(ui.visuals().warn_fg_color, state.label())
                        }
                        _ => ui.label(state.label()),
                    };
                    ui.horizontal(|ui| {
                        if let Some(job) = self.jobs.get(name) {
                            let progress = job
                                .progress
                                .lock()
                                .map(|state| state.clone())
                                .unwrap_or_default();
                            let fraction = progress
                                .total
                                .filter(|&total| total > 0)
                                .map_or(0.0, |total| progress.bytes as f32 / total as f32);
                            let text = match progress.total {
                                _ if progress.file.is_empty() => "connecting…".to_owned(),
                                Some(total) => format!(
                                    "{} {}/{}",
                                    progress.file,
                                    human_bytes(progress.bytes),
                                    human_bytes(total)
                                ),
                                None => format!("{} {}", progress.file, human_bytes(progress.bytes)),
                            };
                            ui.add(
                                egui::ProgressBar::new(fraction)
                                    .desired_width(240.0)
                                    .text(text),
                            );
                            let cancelling = job.cancel.is_cancelled();
                            if ui
                                .add_enabled(!cancelling, egui::Button::new("Cancel"))
                                .on_hover_text("Stops the download; Fetch resumes it later")
                                .clicked()
                            {
                                job.cancel.cancel();
                            }
                        } else if matches!(state, FilesState::Missing { fetchable: true, .. })
                            && ui
                                .button("Fetch")
                                .on_hover_text(format!(
                                    "Download {name}'s files in the background (same as `panic-tda models fetch {name}`)"
                                ))
                                .clicked()
                        {
                            fetch = Some(name.clone());
                        }
                    });
                    ui.end_row();
                }
            });
        // Below the table rather than in it: errors are long and would widen a column.
        for (name, (ok, message)) in &self.messages {
            if *ok {
                ui.label(format!("{name}: {message}"));
            } else {
                ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {name}: {message}"));
            }
        }
        if let Some(name) = fetch {
            self.start_fetch(&name, ui.ctx());
        }
    }
}
