//! Background work of the explorer: computing a t-SNE projection (intermediate layouts shown as
//! they arrive) and saving the figure of the current view.

use super::*;

/// What the t-SNE thread last reported.
#[derive(Default)]
pub(super) struct TsneProgress {
    pub(super) stage: String,
    pub(super) iterations_done: usize,
    pub(super) iterations_total: usize,
    /// The newest intermediate layout, taken by the UI once.
    pub(super) layout: Option<Vec<[f32; 2]>>,
}

pub(super) struct ProjectionJob {
    pub(super) cancel: CancelToken,
    pub(super) state: Arc<Mutex<TsneProgress>>,
    pub(super) task: crate::gui::task::Task,
}

impl ExplorerPanel {
    pub(super) fn start_projection(&mut self, database: PathBuf, ctx: &egui::Context) {
        let Some(experiment) = self.experiment.clone() else {
            return;
        };
        let cancel = CancelToken::new();
        let state = Arc::new(Mutex::new(TsneProgress {
            stage: "starting".to_owned(),
            iterations_total: 1,
            ..TsneProgress::default()
        }));
        let (thread_cancel, thread_state, progress_ctx) =
            (cancel.clone(), state.clone(), ctx.clone());
        let params = self.tsne;
        let task = crate::gui::task::Task::spawn(ctx, "t-SNE", move || {
            if params.method == TsneMethod::BarnesHut {
                return barnes_hut_in_child(&database, &experiment, &params, &thread_cancel);
            }
            let mut store = Store::open(&database).map_err(|e| e.to_string())?;
            let scope = ProjectionScope::for_experiments(&store, &[experiment])
                .map_err(|e| e.to_string())?;
            let model = projection::default_model(&store, &scope).map_err(|e| e.to_string())?;
            let record = projection::compute_or_reuse(
                &mut store,
                &model,
                &scope,
                &params,
                &thread_cancel,
                25,
                |progress| {
                    if let Ok(mut state) = thread_state.lock() {
                        state.stage = format!("{:?}", progress.stage);
                        state.iterations_done = progress.done;
                        state.iterations_total = progress.total.max(1);
                        if let Some(layout) = progress.layout {
                            state.layout = Some(layout.to_vec());
                        }
                    }
                    progress_ctx.request_repaint();
                },
            )
            .map_err(|e| e.to_string())?;
            Ok(record.0.id)
        });
        self.job = Some(ProjectionJob {
            cancel,
            state,
            task,
        });
    }

    /// The figure of what the map shows now: this projection and clustering, the selected run
    /// then the compared ones, up to the current step.
    pub(super) fn figure_request(
        &self,
        data: &Trajectories,
        out: PathBuf,
    ) -> Option<FigureRequest> {
        let experiment = self.experiment.clone()?;
        let record = self.projection.as_ref()?;
        let mut request = FigureRequest::new(experiment, out);
        request.projection = Some(record.id.clone());
        request.model = Some(record.embedding_model.clone());
        request.clustering = match &self.clustering {
            Some(id) => ClusteringChoice::Id(id.clone()),
            None => ClusteringChoice::None,
        };
        let selected = self.selected_run.and_then(|index| data.runs.get(index));
        request.runs = selected
            .into_iter()
            .chain(
                self.compared
                    .iter()
                    .filter(|index| Some(**index) != self.selected_run)
                    .filter_map(|index| data.runs.get(*index)),
            )
            .map(|run| run.id.clone())
            .collect();
        request.step = selected
            .and_then(|run| run.points.get(self.step))
            .and_then(|index| data.points.get(*index))
            .map(|point| point.sequence_number);
        Some(request)
    }

    /// Writes the figure on a worker thread (a print-resolution PNG takes a moment).
    pub(super) fn start_figure(
        &mut self,
        database: PathBuf,
        data: &Trajectories,
        ctx: &egui::Context,
    ) {
        let Some(request) = self.figure_request(data, PathBuf::from(self.figure_path.trim()))
        else {
            return;
        };
        self.figure_message = None;
        self.figure_job = Some(crate::gui::task::Task::spawn(ctx, "figure", move || {
            let store = Store::open(&database).map_err(|e| e.to_string())?;
            let summary = export_figure(&store, &request).map_err(|e| e.to_string())?;
            Ok(format!(
                "Saved {} ({}×{})",
                summary.path.display(),
                summary.width,
                summary.height
            ))
        }));
    }

    pub(super) fn poll_figure(&mut self) {
        if let Some(outcome) = self.figure_job.as_mut().and_then(|job| job.finished()) {
            self.figure_job = None;
            self.figure_message = Some(match outcome {
                Ok(message) => (true, message),
                Err(error) => (false, error),
            });
        }
    }

    /// What the last Save figure said: (succeeded, message).
    pub fn figure_message(&self) -> Option<&(bool, String)> {
        self.figure_message.as_ref()
    }

    /// The Save figure… button, and once pressed the file to write.
    pub(super) fn figure_ui(
        &mut self,
        ui: &mut egui::Ui,
        data: &Trajectories,
        database: &std::path::Path,
    ) {
        if self.figure_path.is_empty() {
            let experiment = self.experiment.as_deref().unwrap_or_default();
            let model = self
                .projection
                .as_ref()
                .map_or("", |record| record.embedding_model.as_str());
            // Model names can be Hugging Face ids with slashes.
            let name = format!("{}-{}.png", crate::store::short_id(experiment, 8), model)
                .replace(['/', '\\', ' '], "_");
            self.figure_path = database
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default()
                .join("figures")
                .join(name)
                .display()
                .to_string();
        }
        let saving = self.figure_job.is_some();
        if ui
            .add_enabled(!saving, egui::Button::new("Save figure…"))
            .on_hover_text(
                "Write this map (clusters, legend, the runs drawn up to this step) as PNG, SVG or PDF",
            )
            .clicked()
        {
            self.figure_open = !self.figure_open;
        }
        if self.figure_open {
            crate::gui::labelled(
                ui,
                "Figure file (.png, .svg or .pdf)",
                egui::TextEdit::singleline(&mut self.figure_path)
                    .desired_width(ui.available_width()),
            );
            if ui.add_enabled(!saving, egui::Button::new("Save")).clicked() {
                self.start_figure(database.to_path_buf(), data, ui.ctx());
            }
            if saving {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Saving the figure…");
                });
            }
        }
        crate::gui::outcome_label(ui, &self.figure_message);
    }

    pub(super) fn poll(&mut self, store: &Store) {
        let Some(outcome) = self.job.as_mut().and_then(|job| job.task.finished()) else {
            return;
        };
        self.job = None;
        match outcome {
            Ok(_) => {
                self.find_projection(store);
                self.loaded_for = None;
            }
            Err(error) => self.message = Some(error),
        }
    }
}

/// Runs a Barnes–Hut projection in a child `panic-tda project run`: bhtsne can overflow its stack
/// on some data (an abort no thread can catch), which must not take the app down. Nothing is
/// stored unless the child finishes; Cancel kills it.
fn barnes_hut_in_child(
    database: &std::path::Path,
    experiment: &str,
    params: &crate::analysis::tsne::TsneParams,
    cancel: &CancelToken,
) -> Result<String, String> {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().map_err(|e| format!("finding panic-tda itself: {e}"))?;
    let mut child = Command::new(exe)
        .arg("--db")
        .arg(database)
        .args([
            "project",
            "run",
            "--method",
            "barnes-hut",
            "--json",
            "--experiments",
        ])
        .arg(experiment)
        .args(["--perplexity", &params.perplexity.to_string()])
        .args(["--iterations", &params.iterations.to_string()])
        .args(["--seed", &params.seed.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the Barnes–Hut t-SNE: {e}"))?;
    // Read as it comes, so a chatty child never blocks on a full pipe.
    let stderr_reader = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            text
        })
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if cancel.is_cancelled() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("t-SNE was cancelled".into());
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for the Barnes–Hut t-SNE: {e}")),
        }
    };
    if status.success() {
        return Ok("barnes-hut".into());
    }
    let stderr = stderr_reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    let reason = stderr
        .lines()
        .rfind(|line| !line.trim().is_empty())
        .unwrap_or("no message");
    Err(format!(
        "Barnes–Hut t-SNE stopped ({status}: {reason}); nothing was stored. FIt-SNE lays out any data"
    ))
}
