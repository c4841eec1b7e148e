//! Explorer: the t-SNE map of an experiment's embeddings coloured by cluster, with selected runs
//! drawn as trajectories, a step slider / play button, a per-step cluster indicator and a
//! timeline strip of the run's clusters. Projections are computed in the background (their
//! intermediate layouts are shown as they arrive) and stored for reuse.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use crate::analysis::clustering;
use crate::analysis::projection::{self, ProjectionRecord, Scope};
use crate::analysis::trajectories::{Trajectories, cluster_rgb};
use crate::analysis::tsne::TsneParams;
use crate::store::{ExperimentSummary, Store};

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

pub struct ExplorerPanel {
    experiment: Option<String>,
    projection: Option<ProjectionRecord>,
    clustering: Option<String>,
    data: Option<Trajectories>,
    selected_run: Option<usize>,
    step: usize,
    playing: bool,
    last_tick: Instant,
    job: Option<ProjectionJob>,
    message: Option<String>,
    loaded_for: Option<(String, Option<String>)>,
}

impl Default for ExplorerPanel {
    fn default() -> Self {
        Self {
            experiment: None,
            projection: None,
            clustering: None,
            data: None,
            selected_run: None,
            step: 0,
            playing: false,
            last_tick: Instant::now(),
            job: None,
            message: None,
            loaded_for: None,
        }
    }
}

impl ExplorerPanel {
    /// The cluster shown by the per-step indicator: (step, cluster name).
    pub fn indicator(&self) -> Option<(u32, String)> {
        let data = self.data.as_ref()?;
        let run = data.runs.get(self.selected_run?)?;
        let point = data.points.get(*run.points.get(self.step)?)?;
        Some((point.sequence_number, data.cluster_name(point.label)))
    }

    pub fn set_step(&mut self, step: usize) {
        self.step = step;
    }

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
        self.projection = projections
            .into_iter()
            .find(|record| record.scope.experiments() == std::slice::from_ref(experiment));
        // Newest clustering of the projection's model.
        let clusterings = match clustering::list_clusterings(store) {
            Ok(results) => results,
            Err(error) => {
                self.message = Some(error.to_string());
                Vec::new()
            }
        };
        self.clustering = self.projection.as_ref().and_then(|record| {
            clusterings
                .into_iter()
                .find(|result| result.embedding_model == record.embedding_model)
                .map(|result| result.id)
        });
    }

    fn load(&mut self, store: &Store) {
        let Some(record) = &self.projection else {
            self.data = None;
            return;
        };
        let key = (record.id.clone(), self.clustering.clone());
        if self.loaded_for.as_ref() == Some(&key) {
            return;
        }
        match Trajectories::load(store, &record.id, self.clustering.as_deref()) {
            Ok(data) => {
                self.selected_run = if data.runs.is_empty() { None } else { Some(0) };
                self.step = 0;
                self.data = Some(data);
            }
            Err(error) => self.message = Some(error.to_string()),
        }
        self.loaded_for = Some(key);
    }

    fn start_projection(&mut self, database: PathBuf, ctx: &egui::Context) {
        let Some(experiment) = self.experiment.clone() else {
            return;
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(("starting".to_owned(), 0, 1, None)));
        let (thread_cancel, thread_state, ctx) = (cancel.clone(), state.clone(), ctx.clone());
        let task = super::task::Task::spawn("t-SNE", move || {
            let mut store = Store::open(&database).map_err(|e| e.to_string())?;
            let scope = Scope::for_experiments(&store, &[experiment]).map_err(|e| e.to_string())?;
            let model = projection::default_model(&store, &scope).map_err(|e| e.to_string())?;
            let record = projection::compute_or_reuse(
                &mut store,
                &model,
                &scope,
                &TsneParams::default(),
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
                        .map_or("", |id| &id[..12.min(id.len())])
                        .to_owned(),
                )
                .show_ui(ui, |ui| {
                    for summary in experiments {
                        let id = &summary.record.id;
                        ui.selectable_value(
                            &mut self.experiment,
                            Some(id.clone()),
                            &id[..12.min(id.len())],
                        );
                    }
                })
                .response
                .labelled_by(label.id);
            if self.experiment != before {
                self.find_projection(store);
                self.loaded_for = None;
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
                    if ui.button("Compute t-SNE").clicked() {
                        self.start_projection(database, ui.ctx());
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
        self.load(store);

        // While a projection is computed, show its intermediate layouts.
        if let Some(job) = &self.job {
            let layout = job.state.lock().ok().and_then(|state| state.3.clone());
            Plot::new("explorer-live")
                .data_aspect(1.0)
                .show(ui, |plot| {
                    if let Some(layout) = layout {
                        let points: Vec<[f64; 2]> =
                            layout.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
                        plot.points(
                            Points::new("layout so far", PlotPoints::from(points)).radius(1.5),
                        );
                    }
                });
            ui.ctx().request_repaint_after(Duration::from_millis(100));
            return;
        }
        let Some(data) = &self.data else {
            ui.label("No t-SNE layout for this experiment yet: Compute t-SNE lays out all of its embeddings (nothing is subsampled) and stores the result.");
            return;
        };

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
        egui::Panel::right("explorer-side")
            .default_size(300.0)
            .show(ui, |ui| {
                ui.label(egui::RichText::new("Runs").strong());
                egui::ScrollArea::vertical()
                    .id_salt("explorer-runs")
                    .max_height(180.0)
                    .show(ui, |ui| {
                        for (index, run) in data.runs.iter().enumerate() {
                            let label = format!(
                                "{} · {} · seed {}",
                                run.prompt,
                                run.network.join(" → "),
                                run.seed
                            );
                            if ui
                                .selectable_label(self.selected_run == Some(index), label)
                                .clicked()
                            {
                                self.selected_run = Some(index);
                                self.step = 0;
                            }
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
                        });
                        if let Some(caption) = &point.caption {
                            ui.label(egui::RichText::new(caption).italics());
                        }
                    }
                    // Timeline strip: the run's cluster at every embedded step, current one marked.
                    let width = ui.available_width();
                    let (rect, response) =
                        ui.allocate_exact_size(egui::vec2(width, 22.0), egui::Sense::click());
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
                        if position == self.step {
                            ui.painter().rect_stroke(
                                cell.expand(2.0),
                                0.0,
                                egui::Stroke::new(2.0, ui.visuals().strong_text_color()),
                                egui::StrokeKind::Outside,
                            );
                        }
                    }
                    if let Some(position) = response.interact_pointer_pos() {
                        let fraction =
                            ((position.x - rect.left()) / rect.width()).clamp(0.0, 0.999);
                        self.step = (fraction * count) as usize;
                    }
                }
                ui.separator();
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
                        if data.clusters.is_empty() {
                            ui.weak("No clustering of this model yet (Clusters panel).");
                        }
                    });
            });

        // Points grouped by cluster so the legend names them; one egui_plot item per cluster.
        let mut groups: std::collections::BTreeMap<i32, Vec<[f64; 2]>> =
            std::collections::BTreeMap::new();
        for point in &data.points {
            groups
                .entry(point.label.unwrap_or(-1))
                .or_default()
                .push([point.x as f64, point.y as f64]);
        }
        let response = Plot::new("explorer-plot")
            .data_aspect(1.0)
            .legend(Legend::default())
            .show(ui, |plot| {
                for (label, points) in &groups {
                    let name = data.cluster_name(Some(*label));
                    plot.points(
                        Points::new(name, PlotPoints::from(points.clone()))
                            .radius(2.0)
                            .color(colour(Some(*label)).gamma_multiply(
                                if self.selected_run.is_some() {
                                    0.45
                                } else {
                                    1.0
                                },
                            )),
                    );
                }
                if let Some(run) = self.selected_run.and_then(|index| data.runs.get(index)) {
                    let path: Vec<[f64; 2]> = run
                        .points
                        .iter()
                        .filter_map(|index| data.points.get(*index))
                        .map(|point| [point.x as f64, point.y as f64])
                        .collect();
                    plot.line(Line::new("trajectory", PlotPoints::from(path.clone())).width(1.5));
                    if let Some(current) = path.get(self.step) {
                        plot.points(
                            Points::new("current step", PlotPoints::from(vec![*current]))
                                .radius(7.0)
                                .color(egui::Color32::WHITE),
                        );
                    }
                }
                plot.pointer_coordinate()
            });
        // Hover: caption of the nearest point; click: select its run and step.
        if let Some(pointer) = response.inner {
            let scale = response.transform.dvalue_dpos()[0].abs() as f32 * 6.0;
            if let Some(index) = data.nearest(pointer.x as f32, pointer.y as f32, scale) {
                let point = &data.points[index];
                let run = &data.runs[point.run_index];
                response.response.clone().on_hover_ui_at_pointer(|ui| {
                    ui.label(format!("{} · step {}", run.prompt, point.sequence_number));
                    ui.label(format!("cluster: {}", data.cluster_name(point.label)));
                    if let Some(caption) = &point.caption {
                        ui.label(caption);
                    }
                });
                if response.response.clicked() {
                    select_point = Some(index);
                }
            }
        }
        if let Some(index) = select_point
            && let Some(data) = &self.data
        {
            let point = &data.points[index];
            let run = point.run_index;
            self.step = data.runs[run]
                .points
                .iter()
                .position(|candidate| *candidate == index)
                .unwrap_or(0);
            self.selected_run = Some(run);
        }
    }
}
