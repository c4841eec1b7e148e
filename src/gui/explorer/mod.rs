//! Explorer: the t-SNE map of an experiment's embeddings coloured by cluster, with selected runs
//! drawn as trajectories, a step slider / play button, a per-step cluster indicator and a
//! timeline strip of the run's clusters. Projections are computed in the background (their
//! intermediate layouts are shown as they arrive) and stored for reuse.

use crate::progress::CancelToken;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;
use egui_plot::{Plot, PlotPoint, PlotPoints, Points};
use image::RgbImage;

use super::points;

use crate::analysis::clustering;
use crate::analysis::projection::{self, Projection, ProjectionScope};
use crate::analysis::trajectories::{Trajectories, TrajectoryPoint, TrajectoryRun, cluster_rgb};
use crate::analysis::tsne::{TsneMethod, TsneParams};
use crate::export::figure::{ClusteringChoice, FigureRequest, export_figure};
use crate::models::Output;
use crate::store::{ExperimentSummary, InvocationRecord, Store, format_timestamp};

mod inspector;
mod jobs;
mod map;
mod side;

use inspector::{Inspector, texture, timeline};
use jobs::ProjectionJob;
use map::colour;

/// A map read from the database off the UI thread, for (projection id, clustering id).
struct MapLoad {
    key: (String, Option<String>),
    task: crate::gui::task::Task<Trajectories>,
}

/// Hover thumbnails are cached per invocation; this many at most.
const THUMBNAIL_CACHE: usize = 512;

pub struct ExplorerPanel {
    /// Points are drawn by the wgpu point renderer (else as egui shapes).
    gpu: bool,
    experiment: Option<String>,
    /// The experiment changed from outside (a next-step button); its projections are re-read.
    refind: bool,
    /// Plot-to-screen transform of the last drawn map (screen positions of points).
    last_transform: Option<egui_plot::PlotTransform>,
    next: Option<super::Section>,
    /// The experiment's stored projections, one per embedding model chosen from.
    projections: Vec<Projection>,
    projection: Option<Projection>,
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
    map_load: Option<MapLoad>,
    inspector: Option<Inspector>,
    /// The inspector's run being read (its images included) off the UI thread.
    inspector_load: Option<crate::gui::task::Task<Inspector>>,
    thumbnails: HashMap<String, Option<egui::TextureHandle>>,
    /// The latest intermediate t-SNE layout while one is computed (and its GPU copy).
    live: Option<(Vec<[f32; 2]>, Option<points::PointCloud>)>,
    /// Parameters of the next t-SNE computed here.
    tsne: TsneParams,
    /// Save figure: whether its row is open, the file to write, the writer and its outcome.
    figure_open: bool,
    figure_path: String,
    figure_job: Option<crate::gui::task::Task>,
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
            refind: false,
            last_transform: None,
            next: None,
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
            map_load: None,
            inspector: None,
            inspector_load: None,
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

    /// Opens the explorer on this experiment (a next-step button elsewhere led here).
    pub fn focus(&mut self, experiment_id: &str) {
        if self.experiment.as_deref() != Some(experiment_id) {
            self.experiment = Some(experiment_id.to_owned());
            self.refind = true;
        }
    }

    /// The section a next-step button asked for, once.
    pub fn take_next(&mut self) -> Option<super::Section> {
        self.next.take()
    }

    /// Where step `step` (index into the run's points) of run `run` was drawn in the last
    /// frame, in screen points.
    pub fn screen_position(&self, run: usize, step: usize) -> Option<egui::Pos2> {
        let data = self.data.as_ref()?;
        let point = data.points.get(*data.runs.get(run)?.points.get(step)?)?;
        let transform = self.last_transform.as_ref()?;
        Some(transform.position_from_point(&PlotPoint::new(point.x, point.y)))
    }

    /// The experiment shown, if any.
    pub fn experiment(&self) -> Option<&str> {
        self.experiment.as_deref()
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
        let results = match clustering::covering(store, experiment, Some(&record.embedding_model)) {
            Ok(results) => results,
            Err(error) => {
                self.message = Some(error.to_string());
                Vec::new()
            }
        };
        self.clusterings = results
            .into_iter()
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

    /// Starts reading the chosen projection's map in the background when it changed.
    fn load(&mut self, database: &std::path::Path, ctx: &egui::Context) {
        let Some(record) = &self.projection else {
            self.data = None;
            self.cloud = None;
            self.map_load = None;
            return;
        };
        let key = (record.id.clone(), self.clustering.clone());
        if self.loaded_for.as_ref() == Some(&key)
            || self.map_load.as_ref().is_some_and(|load| load.key == key)
        {
            return;
        }
        let (projection_id, clustering_id) = key.clone();
        let database = database.to_path_buf();
        let task = crate::gui::task::Task::spawn(ctx, "map", move || {
            let store = Store::open(&database).map_err(|e| e.to_string())?;
            Trajectories::load(&store, &projection_id, clustering_id.as_deref())
                .map_err(|e| e.to_string())
        });
        self.map_load = Some(MapLoad { key, task });
    }

    /// Takes a finished map read.
    fn poll_map(&mut self) {
        let Some(outcome) = self.map_load.as_mut().and_then(|load| load.task.finished()) else {
            return;
        };
        let key = self.map_load.take().map(|load| load.key);
        match outcome {
            Ok(data) => {
                self.data = Some(data);
                self.selected_run = None;
                self.compared.clear();
                self.inspector = None;
                self.apply_filters();
            }
            Err(error) => {
                self.data = None;
                self.message = Some(error);
            }
        }
        self.cloud = None;
        self.loaded_for = key;
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

    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        store: &Store,
        experiments: &[ExperimentSummary],
        database: PathBuf,
    ) {
        self.poll(store);
        self.poll_figure();
        self.poll_map();
        self.poll_inspector();
        ui.heading("Explorer");
        if super::no_experiments(ui, experiments, Some(&mut self.next)) {
            return;
        }
        if self.experiment.is_none() {
            self.experiment = experiments.first().map(|summary| summary.record.id.clone());
            self.find_projection(store);
        }
        if std::mem::take(&mut self.refind) {
            self.find_projection(store);
            self.loaded_for = None;
            self.inspector = None;
        }
        ui.horizontal_wrapped(|ui| {
            let before = self.experiment.clone();
            super::experiment_combo(ui, "explorer-experiment", &mut self.experiment, experiments);
            if self.experiment != before {
                self.find_projection(store);
                self.loaded_for = None;
                self.inspector = None;
            }
            match (&self.projection, &self.job) {
                (_, Some(job)) => {
                    let (stage, done, total) = job
                        .state
                        .lock()
                        .map(|state| {
                            (
                                state.stage.clone(),
                                state.iterations_done,
                                state.iterations_total,
                            )
                        })
                        .unwrap_or_default();
                    ui.add(
                        egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                            .desired_width(220.0)
                            .text(format!("t-SNE: {stage} {done}/{total}")),
                    );
                    if ui.button("Cancel").clicked() {
                        job.cancel.cancel();
                    }
                }
                (None, None) => {
                    // Parameters are chosen before computing; a layout is stored with them.
                    super::labelled(ui, "Perplexity", egui::DragValue::new(&mut self.tsne.perplexity)
                            .range(2.0..=200.0)
                            .speed(0.5),);
                    super::labelled(ui, "Iterations", egui::DragValue::new(&mut self.tsne.iterations)
                            .range(50..=10_000)
                            .speed(10),);
                    super::labelled(ui, "Seed", egui::DragValue::new(&mut self.tsne.seed));
                    let label = ui.label("Method");
                    egui::ComboBox::from_id_salt("explorer-tsne-method")
                        .selected_text(self.tsne.method.label())
                        .show_ui(ui, |ui| {
                            for method in [TsneMethod::Fitsne, TsneMethod::BarnesHut] {
                                ui.selectable_value(&mut self.tsne.method, method, method.label())
                                    .on_hover_text(match method {
                                        TsneMethod::Fitsne => "Ours: any size, shows the layout as it forms, can be cancelled",
                                        TsneMethod::BarnesHut => "linfa-tsne's Barnes–Hut: up to 5,000 points, one uninterrupted computation",
                                    });
                            }
                        })
                        .response
                        .labelled_by(label.id);
                    if ui.button("Compute t-SNE").clicked() {
                        self.start_projection(database.clone(), ui.ctx());
                    }
                }
                (Some(record), None) => {
                    // The method is named only when it is not the default FIt-SNE.
                    let method = match record.parameters.method {
                        TsneMethod::Fitsne => String::new(),
                        other => format!("{}, ", other.label()),
                    };
                    ui.label(format!(
                        "t-SNE of {} {} embeddings ({method}perplexity {})",
                        record.points, record.embedding_model, record.parameters.perplexity
                    ));
                }
            }
        });
        if let Some(message) = &self.message {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
        self.filters_ui(ui, store);
        self.load(&database, ui.ctx());
        if self.data.is_some() && self.job.is_none() {
            self.next_steps_ui(ui);
        }

        // While a projection is computed, show its intermediate layouts.
        if let Some(job) = &self.job {
            // A new layout is taken out of the shared state once, then drawn from here.
            let fresh = job
                .state
                .lock()
                .ok()
                .and_then(|mut state| state.layout.take());
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
        if self.map_load.is_some() && self.data.is_none() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Reading the map…");
            });
            return;
        }
        let Some(data) = self.data.take() else {
            ui.label("No t-SNE layout for this experiment yet: Compute t-SNE lays out all of its embeddings (nothing is subsampled) and stores the result.");
            return;
        };
        self.explore_ui(ui, store, &data, &database);
        self.data = Some(data);
    }

    /// Where to go from the map: cluster first if nothing is clustered, else charts or a video.
    fn next_steps_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            if self.clusterings.is_empty() {
                if super::next_step_button(
                    ui,
                    "cluster the outputs",
                    "Clusters groups similar outputs; the map then colours them and the indicator names each step's cluster",
                ) {
                    self.next = Some(super::Section::Clusters);
                }
                return;
            }
            if super::next_step_button(
                ui,
                "charts of this experiment",
                "Analyses: drift from the prompt, cluster transitions, stable runs, persistence diagrams",
            ) {
                self.next = Some(super::Section::Analyses);
            }
            if super::next_step_button(
                ui,
                "an annotated video",
                "Export: a mosaic video of every run, with captions and cluster rings",
            ) {
                self.next = Some(super::Section::Export);
            }
        });
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
}
