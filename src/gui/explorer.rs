//! Explorer: the t-SNE map of an experiment's embeddings coloured by cluster, with selected runs
//! drawn as trajectories, a step slider / play button, a per-step cluster indicator and a
//! timeline strip of the run's clusters. Projections are computed in the background (their
//! intermediate layouts are shown as they arrive) and stored for reuse.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;
use egui_plot::{Plot, PlotPoint, PlotPoints, Points};
use image::RgbImage;

use super::points;

use crate::analysis::clustering;
use crate::analysis::projection::{self, ProjectionRecord, Scope};
use crate::analysis::trajectories::{Trajectories, TrajectoryPoint, TrajectoryRun, cluster_rgb};
use crate::analysis::tsne::TsneParams;
use crate::export::figure::{ClusteringChoice, FigureRequest, export_figure};
use crate::models::Output;
use crate::store::{ExperimentSummary, InvocationRecord, Store, format_timestamp};

fn colour(label: Option<i32>) -> egui::Color32 {
    let [r, g, b] = cluster_rgb(label.unwrap_or(-1));
    egui::Color32::from_rgb(r, g, b)
}

/// What the t-SNE thread last reported: (stage, done, total, latest intermediate layout).
type ProjectionState = (String, usize, usize, Option<Vec<[f32; 2]>>);

struct ProjectionJob {
    cancel: Arc<AtomicBool>,
    state: Arc<Mutex<ProjectionState>>,
    task: super::task::Task,
}

/// The invocation inspector: one run's invocations (all steps, images included) and the one shown.
struct Inspector {
    run_id: String,
    prompt: String,
    invocations: Vec<InvocationRecord>,
    index: usize,
    textures: HashMap<String, egui::TextureHandle>,
}

/// Hover thumbnails are cached per invocation; this many at most.
const THUMBNAIL_CACHE: usize = 512;

pub struct ExplorerPanel {
    /// Points are drawn by the wgpu point renderer (else as egui shapes).
    gpu: bool,
    experiment: Option<String>,
    /// The experiment's stored projections, one per embedding model chosen from.
    projections: Vec<ProjectionRecord>,
    projection: Option<ProjectionRecord>,
    /// Clustering results of the projection's model that cover the experiment: (id, label).
    clusterings: Vec<(String, String)>,
    clustering: Option<String>,
    prompt_filter: Option<String>,
    network_filter: Option<Vec<String>>,
    data: Option<Trajectories>,
    /// Per run of `data`: whether the filters let it through.
    visible: Vec<bool>,
    /// The visible points uploaded to the GPU; rebuilt when data or filters change.
    cloud: Option<points::PointCloud>,
    selected_run: Option<usize>,
    /// Further runs drawn for comparison (their paths and their position at the same step).
    compared: std::collections::BTreeSet<usize>,
    step: usize,
    playing: bool,
    last_tick: Instant,
    job: Option<ProjectionJob>,
    message: Option<String>,
    loaded_for: Option<(String, Option<String>)>,
    inspector: Option<Inspector>,
    thumbnails: HashMap<String, Option<egui::TextureHandle>>,
    /// The latest intermediate t-SNE layout while one is computed (and its GPU copy).
    live: Option<(Vec<[f32; 2]>, Option<points::PointCloud>)>,
    /// Parameters of the next t-SNE computed here.
    tsne: TsneParams,
    /// Save figure: whether its row is open, the file to write, the writer and its outcome.
    figure_open: bool,
    figure_path: String,
    figure_job: Option<super::task::Task>,
    figure_message: Option<(bool, String)>,
}

impl Default for ExplorerPanel {
    fn default() -> Self {
        Self::new(None)
    }
}

impl ExplorerPanel {
    /// With a wgpu render state the scatter is drawn by the GPU point renderer.
    pub fn new(render_state: Option<&eframe::egui_wgpu::RenderState>) -> Self {
        if let Some(render_state) = render_state {
            points::install(render_state);
        }
        Self {
            gpu: render_state.is_some(),
            experiment: None,
            projections: Vec::new(),
            projection: None,
            clusterings: Vec::new(),
            clustering: None,
            prompt_filter: None,
            network_filter: None,
            data: None,
            visible: Vec::new(),
            cloud: None,
            selected_run: None,
            compared: std::collections::BTreeSet::new(),
            step: 0,
            playing: false,
            last_tick: Instant::now(),
            job: None,
            message: None,
            loaded_for: None,
            inspector: None,
            thumbnails: HashMap::new(),
            live: None,
            tsne: TsneParams::default(),
            figure_open: false,
            figure_path: String::new(),
            figure_job: None,
            figure_message: None,
        }
    }

    /// The cluster shown by the per-step indicator: (step, cluster name).
    pub fn indicator(&self) -> Option<(u32, String)> {
        let data = self.data.as_ref()?;
        let run = data.runs.get(self.selected_run?)?;
        let point = data.points.get(*run.points.get(self.step)?)?;
        Some((point.sequence_number, data.cluster_name(point.label)))
    }

    /// How many runs are drawn for comparison besides the selected one.
    pub fn compared_runs(&self) -> usize {
        self.compared
            .iter()
            .filter(|run| Some(**run) != self.selected_run)
            .count()
    }

    pub fn set_step(&mut self, step: usize) {
        self.step = step;
    }

    /// Reads the experiment's projections and the clusterings that fit the chosen one.
    fn find_projection(&mut self, store: &Store) {
        let Some(experiment) = &self.experiment else {
            return;
        };
        // A failed lookup is shown, not mistaken for "no projection yet".
        let projections = match projection::list(store) {
            Ok(records) => records,
            Err(error) => {
                self.message = Some(error.to_string());
                Vec::new()
            }
        };
        // Newest first; one per embedding model.
        let mut models = std::collections::HashSet::new();
        self.projections = projections
            .into_iter()
            .filter(|record| record.scope.experiments() == std::slice::from_ref(experiment))
            .filter(|record| models.insert(record.embedding_model.clone()))
            .collect();
        let model = self
            .projection
            .as_ref()
            .map(|record| record.embedding_model.clone());
        self.projection = self
            .projections
            .iter()
            .find(|record| Some(&record.embedding_model) == model.as_ref())
            .or(self.projections.first())
            .cloned();
        self.find_clusterings(store);
    }

    fn find_clusterings(&mut self, store: &Store) {
        let (Some(experiment), Some(record)) = (&self.experiment, &self.projection) else {
            self.clusterings.clear();
            self.clustering = None;
            return;
        };
        let results = match clustering::list_clusterings(store) {
            Ok(results) => results,
            Err(error) => {
                self.message = Some(error.to_string());
                Vec::new()
            }
        };
        self.clusterings = results
            .into_iter()
            .filter(|result| result.embedding_model == record.embedding_model)
            .filter(|result| {
                match serde_json::from_value::<clustering::Scope>(result.scope.clone()) {
                    Ok(clustering::Scope::All) => true,
                    Ok(clustering::Scope::Experiments(ids)) => ids.contains(experiment),
                    Err(_) => false,
                }
            })
            .map(|result| {
                let label = format!(
                    "{} · {} clusters · {}",
                    result.algorithm,
                    result.cluster_count,
                    crate::store::short_id(&result.id, 8)
                );
                (result.id, label)
            })
            .collect();
        // Keep the chosen result if it still fits, else the newest.
        if !self
            .clusterings
            .iter()
            .any(|(id, _)| Some(id) == self.clustering.as_ref())
        {
            self.clustering = self.clusterings.first().map(|(id, _)| id.clone());
        }
    }

    fn load(&mut self, store: &Store) {
        let Some(record) = &self.projection else {
            self.data = None;
            self.cloud = None;
            return;
        };
        let key = (record.id.clone(), self.clustering.clone());
        if self.loaded_for.as_ref() == Some(&key) {
            return;
        }
        match Trajectories::load(store, &record.id, self.clustering.as_deref()) {
            Ok(data) => {
                self.data = Some(data);
                self.selected_run = None;
                self.compared.clear();
                self.inspector = None;
                self.apply_filters();
            }
            Err(error) => {
                self.data = None;
                self.message = Some(error.to_string());
            }
        }
        self.cloud = None;
        self.loaded_for = Some(key);
    }

    /// Recomputes which runs the prompt / network filters let through and keeps the selected run
    /// among them.
    fn apply_filters(&mut self) {
        self.cloud = None;
        let Some(data) = &self.data else {
            self.visible.clear();
            return;
        };
        self.visible = data
            .runs
            .iter()
            .map(|run| {
                self.prompt_filter
                    .as_ref()
                    .is_none_or(|prompt| *prompt == run.prompt)
                    && self
                        .network_filter
                        .as_ref()
                        .is_none_or(|network| *network == run.network)
            })
            .collect();
        let visible = &self.visible;
        self.compared
            .retain(|run| visible.get(*run).copied().unwrap_or(false));
        if !self
            .selected_run
            .is_some_and(|run| self.visible.get(run).copied().unwrap_or(false))
        {
            self.selected_run = self.visible.iter().position(|visible| *visible);
            self.step = 0;
            self.playing = false;
        }
    }

    fn point_visible(&self, point: &TrajectoryPoint) -> bool {
        self.visible.get(point.run_index).copied().unwrap_or(false)
    }

    /// The visible point nearest to (x, y) within `radius`.
    fn nearest_visible(&self, data: &Trajectories, x: f32, y: f32, radius: f32) -> Option<usize> {
        data.points
            .iter()
            .enumerate()
            .filter(|(_, point)| self.point_visible(point))
            .map(|(index, point)| (index, (point.x - x).powi(2) + (point.y - y).powi(2)))
            .filter(|(_, distance)| *distance <= radius * radius)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(index, _)| index)
    }

    /// The image of a step, or for a text step the image it captioned (cached, `None` if there
    /// is none or it cannot be read).
    fn thumbnail(
        &mut self,
        store: &Store,
        ctx: &egui::Context,
        invocation_id: &str,
    ) -> Option<egui::TextureHandle> {
        if let Some(cached) = self.thumbnails.get(invocation_id) {
            return cached.clone();
        }
        let image = store
            .invocation(invocation_id)
            .ok()
            .and_then(|record| match record.output {
                Output::Image(image) => Some(image),
                Output::Text(_) => record
                    .input_invocation_id
                    .and_then(|input| store.invocation(&input).ok())
                    .and_then(|input| match input.output {
                        Output::Image(image) => Some(image),
                        Output::Text(_) => None,
                    }),
            });
        let texture = image.map(|image| texture(ctx, invocation_id, &image));
        if self.thumbnails.len() >= THUMBNAIL_CACHE {
            self.thumbnails.clear();
        }
        self.thumbnails
            .insert(invocation_id.to_owned(), texture.clone());
        texture
    }

    /// Opens the inspector on an invocation of a run.
    fn inspect(&mut self, store: &Store, run_id: &str, prompt: &str, invocation_id: &str) {
        let invocations = match store.invocations(run_id) {
            Ok(invocations) => invocations,
            Err(error) => {
                self.message = Some(error.to_string());
                return;
            }
        };
        let index = invocations
            .iter()
            .position(|invocation| invocation.id == invocation_id)
            .unwrap_or(0);
        self.inspector = Some(Inspector {
            run_id: run_id.to_owned(),
            prompt: prompt.to_owned(),
            invocations,
            index,
            textures: HashMap::new(),
        });
    }

    fn start_projection(&mut self, database: PathBuf, ctx: &egui::Context) {
        let Some(experiment) = self.experiment.clone() else {
            return;
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(("starting".to_owned(), 0, 1, None)));
        let (thread_cancel, thread_state, ctx) = (cancel.clone(), state.clone(), ctx.clone());
        let params = self.tsne;
        let task = super::task::Task::spawn("t-SNE", move || {
            let mut store = Store::open(&database).map_err(|e| e.to_string())?;
            let scope = Scope::for_experiments(&store, &[experiment]).map_err(|e| e.to_string())?;
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
                        state.0 = format!("{:?}", progress.stage);
                        state.1 = progress.done;
                        state.2 = progress.total.max(1);
                        if let Some(layout) = progress.layout {
                            state.3 = Some(layout.to_vec());
                        }
                    }
                    ctx.request_repaint();
                },
            )
            .map_err(|e| e.to_string())?;
            ctx.request_repaint();
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
    fn figure_request(&self, data: &Trajectories, out: PathBuf) -> Option<FigureRequest> {
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
    fn start_figure(&mut self, database: PathBuf, data: &Trajectories, ctx: &egui::Context) {
        let Some(request) = self.figure_request(data, PathBuf::from(self.figure_path.trim()))
        else {
            return;
        };
        self.figure_message = None;
        let ctx = ctx.clone();
        self.figure_job = Some(super::task::Task::spawn("figure", move || {
            let store = Store::open(&database).map_err(|e| e.to_string())?;
            let result = export_figure(&store, &request);
            ctx.request_repaint();
            let summary = result.map_err(|e| e.to_string())?;
            Ok(format!(
                "Saved {} ({}×{})",
                summary.path.display(),
                summary.width,
                summary.height
            ))
        }));
    }

    fn poll_figure(&mut self) {
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
    fn figure_ui(&mut self, ui: &mut egui::Ui, data: &Trajectories, database: &std::path::Path) {
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
            let label = ui.label("Figure file (.png, .svg or .pdf)");
            ui.add(
                egui::TextEdit::singleline(&mut self.figure_path)
                    .desired_width(ui.available_width()),
            )
            .labelled_by(label.id);
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
        if let Some((ok, message)) = &self.figure_message {
            if *ok {
                ui.label(message);
            } else {
                ui.colored_label(ui.visuals().error_fg_color, message);
            }
        }
    }

    fn poll(&mut self, store: &Store) {
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

    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        store: &Store,
        experiments: &[ExperimentSummary],
        database: PathBuf,
    ) {
        self.poll(store);
        self.poll_figure();
        ui.heading("Explorer");
        if experiments.is_empty() {
            ui.label("No experiments yet: run one first.");
            return;
        }
        if self.experiment.is_none() {
            self.experiment = experiments.first().map(|summary| summary.record.id.clone());
            self.find_projection(store);
        }
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Experiment");
            let before = self.experiment.clone();
            egui::ComboBox::from_id_salt("explorer-experiment")
                .selected_text(
                    self.experiment
                        .as_deref()
                        .map_or("", |id| crate::store::short_id(id, 12))
                        .to_owned(),
                )
                .show_ui(ui, |ui| {
                    for summary in experiments {
                        let id = &summary.record.id;
                        ui.selectable_value(
                            &mut self.experiment,
                            Some(id.clone()),
                            crate::store::short_id(id, 12),
                        );
                    }
                })
                .response
                .labelled_by(label.id);
            if self.experiment != before {
                self.find_projection(store);
                self.loaded_for = None;
                self.inspector = None;
            }
            match (&self.projection, &self.job) {
                (_, Some(job)) => {
                    let (stage, done, total, _) = job
                        .state
                        .lock()
                        .map(|state| state.clone())
                        .unwrap_or_default();
                    ui.add(
                        egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                            .desired_width(220.0)
                            .text(format!("t-SNE: {stage} {done}/{total}")),
                    );
                    if ui.button("Cancel").clicked() {
                        job.cancel.store(true, Ordering::Relaxed);
                    }
                }
                (None, None) => {
                    // Parameters are chosen before computing; a layout is stored with them.
                    let label = ui.label("Perplexity");
                    ui.add(
                        egui::DragValue::new(&mut self.tsne.perplexity)
                            .range(2.0..=200.0)
                            .speed(0.5),
                    )
                    .labelled_by(label.id);
                    let label = ui.label("Iterations");
                    ui.add(
                        egui::DragValue::new(&mut self.tsne.iterations)
                            .range(50..=10_000)
                            .speed(10),
                    )
                    .labelled_by(label.id);
                    let label = ui.label("Seed");
                    ui.add(egui::DragValue::new(&mut self.tsne.seed))
                        .labelled_by(label.id);
                    if ui.button("Compute t-SNE").clicked() {
                        self.start_projection(database.clone(), ui.ctx());
                    }
                }
                (Some(record), None) => {
                    ui.label(format!(
                        "t-SNE of {} {} embeddings (perplexity {})",
                        record.points, record.embedding_model, record.parameters.perplexity
                    ));
                }
            }
        });
        if let Some(message) = &self.message {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
        self.filters_ui(ui, store);
        self.load(store);

        // While a projection is computed, show its intermediate layouts.
        if let Some(job) = &self.job {
            // A new layout is taken out of the shared state once, then drawn from here.
            let fresh = job.state.lock().ok().and_then(|mut state| state.3.take());
            if let Some(layout) = fresh {
                let cloud = self.gpu.then(|| {
                    points::PointCloud::new(
                        layout
                            .iter()
                            .map(|p| (*p, ui.visuals().strong_text_color())),
                    )
                });
                self.live = Some((layout, cloud));
            }
            let live = self.live.as_ref();
            let mut plot = Plot::new("explorer-live").data_aspect(1.0);
            if let Some((layout, _)) = live {
                for p in layout {
                    plot = plot.include_x(p[0]).include_y(p[1]);
                }
            }
            let gpu = self.gpu;
            let response = plot.show(ui, |plot| {
                if let (Some((layout, _)), false) = (live, gpu) {
                    let points: Vec<[f64; 2]> =
                        layout.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
                    plot.points(Points::new("layout so far", PlotPoints::from(points)).radius(1.5));
                }
            });
            if let Some((_, Some(cloud))) = live {
                let frame = *response.transform.frame();
                let painter = ui.painter().with_clip_rect(frame.intersect(ui.clip_rect()));
                points::paint_in_plot(&painter, &response.transform, cloud, 1.5, 1.0);
            }
            ui.ctx().request_repaint_after(Duration::from_millis(100));
            return;
        }
        self.live = None;
        let Some(data) = self.data.take() else {
            ui.label("No t-SNE layout for this experiment yet: Compute t-SNE lays out all of its embeddings (nothing is subsampled) and stores the result.");
            return;
        };
        self.explore_ui(ui, store, &data, &database);
        self.data = Some(data);
    }

    /// Embedding model (which projection), clustering result, prompt and network choices.
    fn filters_ui(&mut self, ui: &mut egui::Ui, store: &Store) {
        if self.projections.is_empty() {
            return;
        }
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Embedding model");
            let before = self.projection.as_ref().map(|record| record.id.clone());
            let mut chosen = before.clone();
            egui::ComboBox::from_id_salt("explorer-model")
                .selected_text(
                    self.projection
                        .as_ref()
                        .map_or(String::new(), |record| record.embedding_model.clone()),
                )
                .show_ui(ui, |ui| {
                    for record in &self.projections {
                        ui.selectable_value(
                            &mut chosen,
                            Some(record.id.clone()),
                            &record.embedding_model,
                        );
                    }
                })
                .response
                .labelled_by(label.id);
            if chosen != before {
                self.projection = self
                    .projections
                    .iter()
                    .find(|record| Some(&record.id) == chosen.as_ref())
                    .cloned();
                self.find_clusterings(store);
                self.inspector = None;
            }

            let label = ui.label("Clustering");
            let selected = self
                .clusterings
                .iter()
                .find(|(id, _)| Some(id) == self.clustering.as_ref())
                .map_or("none".to_owned(), |(_, label)| {
                    // The id suffix differs between databases; the list shows it.
                    label
                        .rsplit_once(" · ")
                        .map_or(label.clone(), |(head, _)| head.to_owned())
                });
            egui::ComboBox::from_id_salt("explorer-clustering")
                .selected_text(selected)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.clustering, None, "none");
                    for (id, label) in &self.clusterings {
                        ui.selectable_value(&mut self.clustering, Some(id.clone()), label);
                    }
                })
                .response
                .labelled_by(label.id);

            let Some(data) = &self.data else {
                return;
            };
            let mut prompts: Vec<&String> = Vec::new();
            let mut networks: Vec<&Vec<String>> = Vec::new();
            for run in &data.runs {
                if !prompts.contains(&&run.prompt) {
                    prompts.push(&run.prompt);
                }
                if !networks.contains(&&run.network) {
                    networks.push(&run.network);
                }
            }
            let (mut prompt, mut network) =
                (self.prompt_filter.clone(), self.network_filter.clone());
            let label = ui.label("Prompt");
            egui::ComboBox::from_id_salt("explorer-prompt")
                .selected_text(prompt.clone().unwrap_or_else(|| "all".into()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut prompt, None, "all");
                    for candidate in prompts {
                        ui.selectable_value(&mut prompt, Some(candidate.clone()), candidate);
                    }
                })
                .response
                .labelled_by(label.id);
            let label = ui.label("Network");
            egui::ComboBox::from_id_salt("explorer-network")
                .selected_text(
                    network
                        .as_ref()
                        .map_or_else(|| "all".into(), |network| network.join(" → ")),
                )
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut network, None, "all");
                    for candidate in networks {
                        ui.selectable_value(
                            &mut network,
                            Some(candidate.clone()),
                            candidate.join(" → "),
                        );
                    }
                })
                .response
                .labelled_by(label.id);
            if prompt != self.prompt_filter || network != self.network_filter {
                self.prompt_filter = prompt;
                self.network_filter = network;
                self.apply_filters();
            }
        });
    }

    fn explore_ui(
        &mut self,
        ui: &mut egui::Ui,
        store: &Store,
        data: &Trajectories,
        database: &std::path::Path,
    ) {
        if self.playing && self.last_tick.elapsed() > Duration::from_millis(300) {
            self.last_tick = Instant::now();
            let last = self
                .selected_run
                .and_then(|run| data.runs.get(run))
                .map_or(0, |run| run.points.len().saturating_sub(1));
            if self.step < last {
                self.step += 1;
            } else {
                self.playing = false;
            }
        }
        if self.playing {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }

        let mut select_point = None;
        let mut inspect = None;
        egui::Panel::right("explorer-side")
            .default_size(300.0)
            .show(ui, |ui| {
                ui.label(egui::RichText::new("Runs").strong());
                egui::ScrollArea::vertical()
                    .id_salt("explorer-runs")
                    .max_height(150.0)
                    .show(ui, |ui| {
                        for (index, run) in data.runs.iter().enumerate() {
                            if !self.visible.get(index).copied().unwrap_or(false) {
                                continue;
                            }
                            let label = run.label();
                            ui.horizontal(|ui| {
                                let mut compared = self.compared.contains(&index);
                                let checkbox = ui.checkbox(&mut compared, "");
                                checkbox.widget_info(|| {
                                    egui::WidgetInfo::selected(
                                        egui::accesskit::Role::CheckBox,
                                        true,
                                        compared,
                                        format!("Compare run {}", index + 1),
                                    )
                                });
                                if checkbox
                                    .on_hover_text("Also draw this run, for comparison")
                                    .changed()
                                {
                                    if compared {
                                        self.compared.insert(index);
                                    } else {
                                        self.compared.remove(&index);
                                    }
                                }
                                if ui
                                    .selectable_label(self.selected_run == Some(index), label)
                                    .clicked()
                                {
                                    self.selected_run = Some(index);
                                    self.step = 0;
                                }
                            });
                        }
                    });
                ui.separator();
                if let Some(run) = self.selected_run.and_then(|index| data.runs.get(index)) {
                    let last = run.points.len().saturating_sub(1);
                    self.step = self.step.min(last);
                    ui.horizontal(|ui| {
                        let text = if self.playing {
                            "⏸ Pause"
                        } else {
                            "▶ Play"
                        };
                        if ui.button(text).clicked() {
                            if !self.playing && self.step >= last {
                                self.step = 0;
                            }
                            self.playing = !self.playing;
                            self.last_tick = Instant::now();
                        }
                        let label = ui.label("Step");
                        ui.add(egui::Slider::new(&mut self.step, 0..=last))
                            .labelled_by(label.id);
                    });
                    if let Some(point) = run
                        .points
                        .get(self.step)
                        .and_then(|index| data.points.get(*index))
                    {
                        let name = data.cluster_name(point.label);
                        ui.horizontal(|ui| {
                            let (rect, _) = ui
                                .allocate_exact_size(egui::vec2(16.0, 16.0), egui::Sense::hover());
                            ui.painter().rect_filled(rect, 3.0, colour(point.label));
                            ui.label(format!("Step {}: {name}", point.sequence_number));
                            if ui.small_button("Inspect").clicked() {
                                inspect = Some((
                                    run.id.clone(),
                                    run.prompt.clone(),
                                    point.invocation_id.clone(),
                                ));
                            }
                        });
                        if let Some(caption) = &point.caption {
                            ui.label(egui::RichText::new(caption).italics());
                        }
                    }
                    timeline(ui, data, run, &mut self.step);
                }
                ui.separator();
                self.figure_ui(ui, data, database);
                ui.separator();
                if self.inspector.is_some() {
                    self.inspector_ui(ui, data);
                    ui.separator();
                }
                ui.label(egui::RichText::new("Clusters").strong());
                egui::ScrollArea::vertical()
                    .id_salt("explorer-legend")
                    .show(ui, |ui| {
                        for cluster in data.clusters.iter().take(50) {
                            ui.horizontal(|ui| {
                                let (rect, _) = ui.allocate_exact_size(
                                    egui::vec2(12.0, 12.0),
                                    egui::Sense::hover(),
                                );
                                ui.painter()
                                    .rect_filled(rect, 2.0, colour(Some(cluster.label)));
                                ui.label(format!("{} ({})", cluster.name, cluster.size));
                            });
                        }
                        if data.clusters.len() > 50 {
                            ui.weak(format!(
                                "… and {} smaller clusters",
                                data.clusters.len() - 50
                            ));
                        }
                        if data.clusters.is_empty() {
                            ui.weak("No clustering of this model chosen (Clusters panel).");
                        }
                    });
            });
        if let Some((run_id, prompt, invocation_id)) = inspect {
            self.inspect(store, &run_id, &prompt, &invocation_id);
        }

        let faded = self.selected_run.is_some();
        let alpha = if faded { 0.45 } else { 1.0 };
        let (mut min, mut max) = ([f32::MAX; 2], [f32::MIN; 2]);
        for point in &data.points {
            min = [min[0].min(point.x), min[1].min(point.y)];
            max = [max[0].max(point.x), max[1].max(point.y)];
        }
        let mut plot = Plot::new("explorer-plot").data_aspect(1.0);
        if !data.points.is_empty() {
            // Bounds from every point, so filtering doesn't move the layout.
            plot = plot
                .include_x(min[0])
                .include_x(max[0])
                .include_y(min[1])
                .include_y(max[1]);
        }
        let gpu = self.gpu;
        let response = plot.show(ui, |plot| {
            if !gpu {
                // Fallback without wgpu: one egui_plot item per cluster.
                let mut groups: std::collections::BTreeMap<i32, Vec<[f64; 2]>> =
                    std::collections::BTreeMap::new();
                for point in data.points.iter().filter(|point| self.point_visible(point)) {
                    groups
                        .entry(point.label.unwrap_or(-1))
                        .or_default()
                        .push([point.x as f64, point.y as f64]);
                }
                for (label, points) in groups {
                    plot.points(
                        Points::new(data.cluster_name(Some(label)), PlotPoints::from(points))
                            .radius(POINT_RADIUS)
                            .color(colour(Some(label)).gamma_multiply(alpha)),
                    );
                }
            }
            plot.pointer_coordinate()
        });
        let frame = *response.transform.frame();
        let painter = ui.painter().with_clip_rect(frame.intersect(ui.clip_rect()));
        if gpu {
            let cloud = self.cloud.get_or_insert_with(|| {
                points::PointCloud::new(
                    data.points
                        .iter()
                        .filter(|point| self.visible.get(point.run_index).copied().unwrap_or(false))
                        .map(|point| ([point.x, point.y], colour(point.label))),
                )
            });
            points::paint_in_plot(&painter, &response.transform, cloud, POINT_RADIUS, alpha);
        }
        // A run's points in screen coordinates, in step order.
        let screen_path = |run: &crate::analysis::trajectories::TrajectoryRun| -> Vec<egui::Pos2> {
            run.points
                .iter()
                .filter_map(|index| data.points.get(*index))
                .map(|point| {
                    response
                        .transform
                        .position_from_point(&PlotPoint::new(point.x, point.y))
                })
                .collect()
        };
        // Compared runs under the selected one: each path in its own colour up to the current
        // step, so runs can be followed side by side.
        for (order, index) in self
            .compared
            .iter()
            .filter(|index| Some(**index) != self.selected_run)
            .enumerate()
        {
            let Some(run) = data.runs.get(*index) else {
                continue;
            };
            let [r, g, b] = crate::export::charts::series_colour(order + 1);
            let colour = egui::Color32::from_rgb(r, g, b);
            let path = screen_path(run);
            let shown = &path[..(self.step + 1).min(path.len())];
            fading_path(&painter, shown, colour, false);
            if let Some(current) = shown.last() {
                painter.circle(
                    *current,
                    6.0,
                    egui::Color32::TRANSPARENT,
                    egui::Stroke::new(1.5, colour),
                );
            }
        }
        // The selected run on top, drawn up to the current step: older segments fade, arrows
        // give the direction, each visited step in its cluster's colour.
        if let Some(run) = self.selected_run.and_then(|index| data.runs.get(index)) {
            let path = screen_path(run);
            let shown = &path[..(self.step + 1).min(path.len())];
            fading_path(&painter, shown, ui.visuals().strong_text_color(), true);
            for (position, index) in run.points.iter().take(shown.len()).enumerate() {
                if let (Some(at), Some(point)) = (shown.get(position), data.points.get(*index)) {
                    painter.circle_filled(*at, POINT_RADIUS + 1.0, colour(point.label));
                }
            }
            if let Some(current) = shown.last() {
                painter.circle(
                    *current,
                    7.0,
                    egui::Color32::TRANSPARENT,
                    egui::Stroke::new(2.5, ui.visuals().strong_text_color()),
                );
            }
        }
        // Hover: caption and image of the nearest point; click: select its run, step and inspect it.
        if let Some(pointer) = response.inner {
            let scale = response.transform.dvalue_dpos()[0].abs() as f32 * 6.0;
            if let Some(index) =
                self.nearest_visible(data, pointer.x as f32, pointer.y as f32, scale)
            {
                let point = &data.points[index];
                let run = &data.runs[point.run_index];
                let thumbnail = self.thumbnail(store, ui.ctx(), &point.invocation_id);
                response.response.clone().on_hover_ui_at_pointer(|ui| {
                    ui.label(format!("{} · step {}", run.prompt, point.sequence_number));
                    ui.label(format!("cluster: {}", data.cluster_name(point.label)));
                    if let Some(texture) = &thumbnail {
                        ui.add(
                            egui::Image::from_texture(egui::load::SizedTexture::from_handle(
                                texture,
                            ))
                            .fit_to_exact_size(egui::vec2(96.0, 96.0)),
                        );
                    }
                    if let Some(caption) = &point.caption {
                        ui.label(caption);
                    }
                });
                if response.response.clicked() {
                    select_point = Some(index);
                }
            }
        }
        if let Some(index) = select_point {
            let point = &data.points[index];
            let run = point.run_index;
            self.step = data.runs[run]
                .points
                .iter()
                .position(|candidate| *candidate == index)
                .unwrap_or(0);
            self.selected_run = Some(run);
            let (run_id, prompt) = (data.runs[run].id.clone(), data.runs[run].prompt.clone());
            self.inspect(store, &run_id, &prompt, &point.invocation_id.clone());
        }
    }

    /// The inspected invocation: input, output, model, timings, and links along its run.
    fn inspector_ui(&mut self, ui: &mut egui::Ui, data: &Trajectories) {
        let Some(inspector) = &mut self.inspector else {
            return;
        };
        let mut close = false;
        let mut moved = None;
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("Inspector").strong());
            if ui.small_button("Close inspector").clicked() {
                close = true;
            }
        });
        let count = inspector.invocations.len();
        let Some(invocation) = inspector.invocations.get(inspector.index) else {
            ui.weak("This run has no invocations.");
            if close {
                self.inspector = None;
            }
            return;
        };
        ui.label(format!(
            "{} · step {} of {}",
            inspector.prompt,
            invocation.sequence_number,
            count.saturating_sub(1)
        ));
        ui.label(format!(
            "Model: {} · seed {}",
            invocation.model, invocation.seed
        ));
        let micros = invocation
            .completed_at
            .saturating_sub(invocation.started_at);
        ui.label(format!(
            "Took {:.1} ms (batch of {}), started {}",
            micros as f64 / 1000.0,
            invocation.batch_size,
            format_timestamp(invocation.started_at)
        ));
        let input = invocation.input_invocation_id.as_ref().and_then(|id| {
            inspector
                .invocations
                .iter()
                .find(|candidate| &candidate.id == id)
        });
        egui::Grid::new("explorer-inspector")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("Input");
                match input {
                    Some(input) => show_output(ui, &mut inspector.textures, input),
                    None => {
                        ui.label(egui::RichText::new(&inspector.prompt).italics());
                    }
                }
                ui.end_row();
                ui.label("Output");
                show_output(ui, &mut inspector.textures, invocation);
                ui.end_row();
            });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(inspector.index > 0, egui::Button::new("← Previous step"))
                .clicked()
            {
                moved = Some(inspector.index - 1);
            }
            if ui
                .add_enabled(
                    inspector.index + 1 < count,
                    egui::Button::new("Next step →"),
                )
                .clicked()
            {
                moved = Some(inspector.index + 1);
            }
        });
        if let Some(index) = moved {
            inspector.index = index;
            // Follow along the slider when the step is one of the plotted points.
            if let Some(id) = inspector
                .invocations
                .get(index)
                .map(|record| record.id.clone())
                && let Some(run) = data.runs.iter().position(|run| run.id == inspector.run_id)
                && let Some(step) = data.runs[run].points.iter().position(|point| {
                    data.points
                        .get(*point)
                        .is_some_and(|p| p.invocation_id == id)
                })
            {
                self.selected_run = Some(run);
                self.step = step;
            }
        }
        if close {
            self.inspector = None;
        }
    }
}

const POINT_RADIUS: f32 = 2.5;

/// Opacity of segment `i` of `segments`: the newest opaque, the oldest faint (as in the
/// exported figure).
fn age_alpha(i: usize, segments: usize) -> f32 {
    0.12 + 0.88 * (i + 1) as f32 / segments.max(1) as f32
}

/// A trajectory in screen coordinates, older segments fading; with arrowheads mid-segment
/// where a segment is long enough to carry one.
fn fading_path(painter: &egui::Painter, path: &[egui::Pos2], colour: egui::Color32, arrows: bool) {
    let segments = path.len().saturating_sub(1);
    for (i, pair) in path.windows(2).enumerate() {
        let (from, to) = (pair[0], pair[1]);
        let faded = colour.gamma_multiply(age_alpha(i, segments));
        painter.line_segment([from, to], egui::Stroke::new(1.5, faded));
        if arrows && (to - from).length() > 12.0 {
            let direction = (to - from).normalized();
            let tip = from + (to - from) * 0.5 + direction * 4.0;
            let side = direction.rot90() * 3.5;
            painter.add(egui::Shape::convex_polygon(
                vec![
                    tip,
                    tip - direction * 8.0 + side,
                    tip - direction * 8.0 - side,
                ],
                faded,
                egui::Stroke::NONE,
            ));
        }
    }
}

fn texture(ctx: &egui::Context, name: &str, image: &RgbImage) -> egui::TextureHandle {
    let size = [image.width() as usize, image.height() as usize];
    ctx.load_texture(
        format!("explorer-{name}"),
        egui::ColorImage::from_rgb(size, image.as_raw()),
        egui::TextureOptions::LINEAR,
    )
}

/// A step's output: its text, or its image (texture cached by invocation id).
fn show_output(
    ui: &mut egui::Ui,
    textures: &mut HashMap<String, egui::TextureHandle>,
    invocation: &InvocationRecord,
) {
    match &invocation.output {
        Output::Text(text) => {
            ui.label(text);
        }
        Output::Image(image) => {
            let handle = textures
                .entry(invocation.id.clone())
                .or_insert_with(|| texture(ui.ctx(), &invocation.id, image));
            ui.add(
                egui::Image::from_texture(egui::load::SizedTexture::from_handle(handle))
                    .fit_to_exact_size(egui::vec2(128.0, 128.0)),
            );
        }
    }
}

/// Timeline strip: the run's cluster at every embedded step, the current one marked; clicking it
/// moves the step.
fn timeline(ui: &mut egui::Ui, data: &Trajectories, run: &TrajectoryRun, step: &mut usize) {
    let width = ui.available_width();
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, 22.0), egui::Sense::click());
    let count = run.points.len().max(1) as f32;
    for (position, index) in run.points.iter().enumerate() {
        let Some(point) = data.points.get(*index) else {
            continue;
        };
        let x0 = rect.left() + rect.width() * position as f32 / count;
        let x1 = rect.left() + rect.width() * (position + 1) as f32 / count;
        let cell = egui::Rect::from_min_max(
            egui::pos2(x0, rect.top() + 3.0),
            egui::pos2(x1, rect.bottom() - 3.0),
        );
        ui.painter().rect_filled(cell, 0.0, colour(point.label));
        if position == *step {
            ui.painter().rect_stroke(
                cell.expand(2.0),
                0.0,
                egui::Stroke::new(2.0, ui.visuals().strong_text_color()),
                egui::StrokeKind::Outside,
            );
        }
    }
    if let Some(position) = response.interact_pointer_pos() {
        let fraction = ((position.x - rect.left()) / rect.width()).clamp(0.0, 0.999);
        *step = (fraction * count) as usize;
    }
}
