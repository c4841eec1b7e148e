//! Clusters panel: clustering results (run in the background with progress and cancel, list,
//! delete) and each result's clusters with their display names, sizes and example images.

use crate::progress::CancelToken;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use eframe::egui;
use egui_plot::{Bar, BarChart, Plot};

use crate::analysis::clustering::{self, ClusterRequest, ClusteringDetail, ClusteringOverview};
use crate::analysis::hdbscan::Control;
use crate::store::{Store, format_timestamp};

/// Example images per cluster shown: enough to recognise it, few enough to load quickly.
const EXAMPLES_PER_CLUSTER: usize = 4;
/// Examples are loaded for this many of the largest clusters.
const CLUSTERS_WITH_EXAMPLES: usize = 60;
const THUMBNAIL: u32 = 56;

/// Thumbnails of each cluster's examples, decoded off the UI thread.
type Examples = Vec<(i32, Vec<egui::ColorImage>)>;

/// The clustering's current phase and how far into it it is (0–1).
#[derive(Clone, Default)]
struct PhaseState {
    phase: String,
    fraction: f64,
}

struct ClusteringJob {
    cancel: CancelToken,
    progress: Arc<Mutex<PhaseState>>,
    task: super::task::Task,
}

#[derive(Default)]
pub struct ClustersPanel {
    results: Vec<ClusteringOverview>,
    models: Vec<(String, u64)>,
    selected: Option<ClusteringDetail>,
    model: String,
    min_cluster_size: usize,
    epsilon: f64,
    job: Option<ClusteringJob>,
    message: Option<(bool, String)>,
    confirm_delete: Option<String>,
    stale: bool,
    /// (clustering id, loader) while examples load.
    examples_task: Option<(String, super::task::Task<Examples>)>,
    /// (clustering id, per label the textures) once loaded.
    examples: Option<(String, BTreeMap<i32, Vec<egui::TextureHandle>>)>,
    next: Option<super::Section>,
}

impl ClustersPanel {
    pub fn new() -> Self {
        Self {
            min_cluster_size: 0,
            epsilon: 0.4,
            stale: true,
            ..Self::default()
        }
    }

    fn refresh(&mut self, store: &Store) {
        self.stale = false;
        match clustering::list_clusterings(store) {
            Ok(results) => self.results = results,
            Err(error) => self.message = Some((false, error.to_string())),
        }
        match store.embedding_model_counts(crate::store::ExperimentFilter::All) {
            Ok(models) => self.models = models,
            Err(error) => self.message = Some((false, error.to_string())),
        }
        if self.model.is_empty()
            && let Some((model, _)) = self.models.first()
        {
            self.model = model.clone();
        }
    }

    fn start(&mut self, database: PathBuf, ctx: &egui::Context) {
        let cancel = CancelToken::new();
        let progress = Arc::new(Mutex::new(PhaseState {
            phase: "starting".to_owned(),
            fraction: 0.0,
        }));
        let request = ClusterRequest {
            model: Some(self.model.clone()),
            min_cluster_size: (self.min_cluster_size > 0).then_some(self.min_cluster_size),
            epsilon: Some(self.epsilon),
            ..ClusterRequest::default()
        };
        let (thread_cancel, thread_progress, progress_ctx) =
            (cancel.clone(), progress.clone(), ctx.clone());
        let task = super::task::Task::spawn(ctx, "clustering", move || {
            let mut store = Store::open(&database).map_err(|e| e.to_string())?;
            let report = |phase: crate::analysis::hdbscan::Phase, fraction: f64| {
                if let Ok(mut state) = thread_progress.lock() {
                    *state = PhaseState {
                        phase: phase.label().to_owned(),
                        fraction,
                    };
                }
                progress_ctx.request_repaint();
            };
            let control = Control::new(Some(&thread_cancel), Some(&report));
            let outcome = clustering::run_clustering(&mut store, &request, &control)
                .map_err(|e| e.to_string());
            outcome.map(|outcome| outcome.id)
        });
        self.job = Some(ClusteringJob {
            cancel,
            progress,
            task,
        });
    }

    /// How many example thumbnails the shown result has; `None` until they are loaded.
    pub fn examples_shown(&self) -> Option<usize> {
        let shown = &self.selected.as_ref()?.summary.id;
        self.examples
            .as_ref()
            .filter(|(id, _)| id == shown)
            .map(|(_, examples)| examples.values().map(Vec::len).sum())
    }

    /// Starts loading the selected result's example images unless they are loaded or loading.
    fn load_examples(&mut self, database: PathBuf, ctx: &egui::Context) {
        let Some(detail) = &self.selected else { return };
        let id = detail.summary.id.clone();
        let loaded = self
            .examples
            .as_ref()
            .is_some_and(|(shown, _)| *shown == id);
        let loading = self
            .examples_task
            .as_ref()
            .is_some_and(|(shown, _)| *shown == id);
        if loaded || loading {
            return;
        }
        let labels: Vec<i32> = detail
            .clusters
            .iter()
            .take(CLUSTERS_WITH_EXAMPLES)
            .map(|cluster| cluster.label)
            .collect();
        let clustering = id.clone();
        let task = super::task::Task::spawn(ctx, "example images", move || {
            let store = Store::open(&database).map_err(|e| e.to_string())?;
            labels
                .into_iter()
                .map(|label| {
                    let images = store
                        .cluster_example_images(&clustering, label, EXAMPLES_PER_CLUSTER)
                        .map_err(|e| e.to_string())?;
                    let thumbnails = images
                        .iter()
                        .map(|image| {
                            let small = image::imageops::thumbnail(image, THUMBNAIL, THUMBNAIL);
                            egui::ColorImage::from_rgb(
                                [small.width() as usize, small.height() as usize],
                                small.as_raw(),
                            )
                        })
                        .collect();
                    Ok((label, thumbnails))
                })
                .collect()
        });
        self.examples_task = Some((id, task));
    }

    fn poll_examples(&mut self, ctx: &egui::Context) {
        let Some((id, task)) = &mut self.examples_task else {
            return;
        };
        let Some(outcome) = task.finished() else {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
            return;
        };
        let id = id.clone();
        self.examples_task = None;
        match outcome {
            Ok(examples) => {
                let textures = examples
                    .into_iter()
                    .map(|(label, images)| {
                        let handles = images
                            .into_iter()
                            .enumerate()
                            .map(|(n, image)| {
                                ctx.load_texture(
                                    format!("cluster-example-{id}-{label}-{n}"),
                                    image,
                                    egui::TextureOptions::LINEAR,
                                )
                            })
                            .collect();
                        (label, handles)
                    })
                    .collect();
                self.examples = Some((id, textures));
            }
            Err(error) => {
                self.message = Some((false, format!("cannot show example images: {error}")));
                self.examples = Some((id, BTreeMap::new()));
            }
        }
    }

    fn poll(&mut self, store: &Store) {
        let Some(outcome) = self.job.as_mut().and_then(|job| job.task.finished()) else {
            return;
        };
        self.job = None;
        self.message = Some(match outcome {
            Ok(id) => {
                self.selected = clustering::show_clustering(store, &id, None).ok();
                (
                    true,
                    format!("clustering {} stored", crate::store::short_id(&id, 12)),
                )
            }
            Err(error) => (false, error),
        });
        self.stale = true;
    }

    /// The section a next-step button asked for, once.
    pub fn take_next(&mut self) -> Option<super::Section> {
        self.next.take()
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, store: &mut Store, database: PathBuf) {
        self.poll(store);
        self.poll_examples(ui.ctx());
        self.load_examples(database.clone(), ui.ctx());
        if self.stale {
            self.refresh(store);
        }
        ui.heading("Clusters");
        if let Some(id) = self.confirm_delete.clone() {
            egui::Modal::new(egui::Id::unique("confirm-delete-clustering")).show(ui.ctx(), |ui| {
                ui.heading("Delete clustering?");
                ui.label("Its clusters and assignments are deleted; embeddings are kept.");
                ui.horizontal(|ui| {
                    if ui.button("Delete clustering").clicked() {
                        if let Err(error) = clustering::delete_clustering(store, &id) {
                            self.message = Some((false, error.to_string()));
                        }
                        if self
                            .selected
                            .as_ref()
                            .is_some_and(|detail| detail.summary.id == id)
                        {
                            self.selected = None;
                        }
                        self.confirm_delete = None;
                        self.stale = true;
                    }
                    if ui.button("Cancel").clicked() {
                        self.confirm_delete = None;
                    }
                });
            });
        }

        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Embedding model");
            egui::ComboBox::from_id_salt("cluster-model")
                .selected_text(self.model.clone())
                .show_ui(ui, |ui| {
                    for (model, count) in &self.models {
                        ui.selectable_value(
                            &mut self.model,
                            model.clone(),
                            format!("{model} ({count})"),
                        );
                    }
                })
                .response
                .labelled_by(label.id);
            super::labelled(
                ui,
                "Min cluster size (0 = auto)",
                egui::DragValue::new(&mut self.min_cluster_size).range(0..=100_000),
            );
            super::labelled(
                ui,
                "Epsilon",
                egui::DragValue::new(&mut self.epsilon)
                    .range(0.0..=2.0)
                    .speed(0.01),
            );
            match &self.job {
                Some(job) => {
                    let PhaseState { phase, fraction } = job
                        .progress
                        .lock()
                        .map(|state| state.clone())
                        .unwrap_or_default();
                    ui.add(
                        egui::ProgressBar::new(fraction as f32)
                            .desired_width(200.0)
                            .text(phase),
                    );
                    if ui.button("Cancel").clicked() {
                        job.cancel.cancel();
                    }
                    ui.ctx()
                        .request_repaint_after(std::time::Duration::from_millis(200));
                }
                None => {
                    if ui
                        .add_enabled(!self.model.is_empty(), egui::Button::new("Run clustering"))
                        .on_disabled_hover_text("no embeddings in this database yet")
                        .clicked()
                    {
                        self.start(database, ui.ctx());
                    }
                }
            }
        });
        super::outcome_label(ui, &self.message);
        ui.separator();
        if self.results.is_empty() {
            ui.label("No clustering results yet. Run one above (or `panic-tda cluster run`).");
            return;
        }
        // The newest result is shown until another is chosen, so its clusters are in view at once.
        let mut open = match &self.selected {
            None => self.results.first().map(|result| result.id.clone()),
            Some(_) => None,
        };
        egui::Grid::new("clusterings").striped(true).show(ui, |ui| {
            super::header_row(
                ui,
                &[
                    "Result",
                    "",
                    "Model",
                    "Clusters",
                    "Outliers",
                    "Created (UTC)",
                    "Took",
                ],
            );
            for result in &self.results {
                ui.monospace(crate::store::short_id(&result.id, 12));
                ui.horizontal(|ui| {
                    if ui.button("Show").clicked() {
                        open = Some(result.id.clone());
                        ui.ctx().request_repaint();
                    }
                    if ui.button("Delete").clicked() {
                        self.confirm_delete = Some(result.id.clone());
                        ui.ctx().request_repaint();
                    }
                });
                ui.label(&result.embedding_model);
                ui.label(result.cluster_count.to_string());
                ui.label(format!("{:.1} %", 100.0 * result.outlier_fraction()));
                ui.label(format_timestamp(result.created_at));
                ui.label(format!("{:.1} s", result.duration_ms as f64 / 1000.0));
                ui.end_row();
            }
        });
        if self.job.is_none()
            && super::next_step_button(
                ui,
                "see the clusters on the map",
                "The Explorer lays out every output with t-SNE, coloured by these clusters, and draws each run's trajectory step by step",
            )
        {
            self.next = Some(super::Section::Explorer);
        }
        if let Some(id) = open {
            match clustering::show_clustering(store, &id, None) {
                Ok(detail) => self.selected = Some(detail),
                Err(error) => self.message = Some((false, error.to_string())),
            }
        }
        if let Some(detail) = &self.selected {
            ui.separator();
            ui.label(
                egui::RichText::new(format!(
                    "{} clusters of {} embeddings ({}), {} outliers",
                    detail.clusters.len(),
                    detail.summary.assignments,
                    detail.summary.embedding_model,
                    detail.summary.outliers
                ))
                .strong(),
            );
            let bars: Vec<Bar> = detail
                .clusters
                .iter()
                .enumerate()
                .map(|(rank, cluster)| {
                    Bar::new(rank as f64, cluster.size as f64).name(&cluster.display_name)
                })
                .collect();
            Plot::new("cluster-sizes")
                .height(160.0)
                .y_axis_label("members")
                .x_axis_label("clusters by size")
                .show(ui, |plot| {
                    plot.bar_chart(BarChart::new("cluster sizes", bars))
                });
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    let examples = self
                        .examples
                        .as_ref()
                        .filter(|(id, _)| *id == detail.summary.id)
                        .map(|(_, examples)| examples);
                    egui::Grid::new("clusters")
                        .striped(true)
                        .max_col_width(380.0)
                        .show(ui, |ui| {
                            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Wrap);
                            super::header_row(
                                ui,
                                &["Label", "Size", "Display name (medoid)", "Examples"],
                            );
                            for (rank, cluster) in detail.clusters.iter().enumerate() {
                                ui.label(cluster.label.to_string());
                                ui.label(cluster.size.to_string());
                                ui.label(&cluster.display_name);
                                ui.horizontal(|ui| match examples {
                                    Some(examples) => {
                                        for texture in
                                            examples.get(&cluster.label).into_iter().flatten()
                                        {
                                            ui.add(egui::Image::new(texture).fit_to_exact_size(
                                                egui::vec2(THUMBNAIL as f32, THUMBNAIL as f32),
                                            ))
                                            .on_hover_text(format!(
                                                "an image of cluster {}",
                                                cluster.display_name
                                            ));
                                        }
                                    }
                                    None if rank < CLUSTERS_WITH_EXAMPLES => {
                                        ui.spinner();
                                    }
                                    None => {}
                                });
                                ui.end_row();
                            }
                        });
                });
        }
    }
}
