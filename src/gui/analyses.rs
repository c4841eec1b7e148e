//! Analyses panel: the same report as `panic-tda analyse`, computed in the background, drawn
//! with egui_plot one analysis at a time, and saved as CSV/JSON/PNG/SVG/PDF on request.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use eframe::egui;
use egui_plot::{
    Bar, BarChart, BoxElem, BoxPlot, BoxSpread, GridMark, Heatmap, Legend, Line, Plot, PlotPoint,
    PlotPoints, Points,
};

use crate::analysis::persistence::{PersistenceRequest, compute_persistence_diagrams};
use crate::analysis::report::{
    AnalysisOptions, Report, STEPS, analyse_experiment, box_summary, transition_matrix,
};
use crate::analysis::sequences::STAGES;
use crate::analysis::trajectories::cluster_rgb;
use crate::export::analysis_files::{Analysis, write_report};
use crate::export::charts::series_colour;
use crate::export::report_html::write_report_html;
use crate::progress::CancelToken;
use crate::store::{ExperimentSummary, Store};

/// Analyses with one chart per (embedding model, network).
fn faceted(view: Analysis) -> bool {
    matches!(
        view,
        Analysis::Transitions | Analysis::Bigrams | Analysis::Stages | Analysis::Drift
    )
}

/// Lines of one (model, network) drift chart: each run's points, and the mean per step.
#[derive(Default)]
struct DriftLines {
    runs: Vec<Vec<[f64; 2]>>,
    mean: Vec<[f64; 2]>,
}

/// A report with what its heavier views need, grouped once on the worker thread so the UI
/// thread only draws (drift and timing tables grow with every output of the experiment).
struct Shown {
    report: Arc<Report>,
    /// Per faceted view, its (model, network) facets.
    facets: Vec<(Analysis, Vec<(String, String)>)>,
    drift: BTreeMap<(String, String), DriftLines>,
    /// (model, box) of seconds per output.
    timing: Vec<(String, [f64; 5])>,
    /// ("H<d> · model · network", box) of persistent entropy.
    entropy: Vec<(String, [f64; 5])>,
    /// Finite persistence bars by homology dimension: (birth, persistence).
    bars: BTreeMap<u32, Vec<[f64; 2]>>,
}

impl Shown {
    fn new(report: Report) -> Self {
        let keys = |rows: &mut dyn Iterator<Item = (&String, &String)>| -> Vec<(String, String)> {
            rows.map(|(m, n)| (m.clone(), n.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        let facets = vec![
            (
                Analysis::Transitions,
                keys(
                    &mut report
                        .transitions
                        .iter()
                        .map(|r| (&r.embedding_model, &r.network)),
                ),
            ),
            (
                Analysis::Bigrams,
                keys(
                    &mut report
                        .bigrams
                        .iter()
                        .map(|r| (&r.embedding_model, &r.network)),
                ),
            ),
            (
                Analysis::Stages,
                keys(
                    &mut report
                        .stages
                        .iter()
                        .map(|r| (&r.embedding_model, &r.network)),
                ),
            ),
            (
                Analysis::Drift,
                keys(
                    &mut report
                        .drift
                        .iter()
                        .map(|r| (&r.embedding_model, &r.network)),
                ),
            ),
        ];
        let drift = crate::analysis::report::drift_facets(&report.drift)
            .into_iter()
            .map(|facet| {
                let as_plot = |points: &[(u32, f64)]| -> Vec<[f64; 2]> {
                    points
                        .iter()
                        .map(|&(step, value)| [f64::from(step), value])
                        .collect()
                };
                let lines = DriftLines {
                    runs: facet
                        .runs
                        .iter()
                        .map(|(_, points)| as_plot(points))
                        .collect(),
                    mean: as_plot(&facet.mean),
                };
                ((facet.embedding_model, facet.network), lines)
            })
            .collect();
        let timing = report
            .timing_samples
            .iter()
            .filter_map(|(model, values)| Some((model.clone(), box_summary(values)?)))
            .collect();
        let mut groups: BTreeMap<(usize, &str, &str), Vec<f64>> = BTreeMap::new();
        for row in &report.entropy {
            groups
                .entry((row.dimension, &row.embedding_model, &row.network))
                .or_default()
                .push(row.entropy);
        }
        let entropy = groups
            .into_iter()
            .filter_map(|((d, m, n), values)| {
                Some((format!("H{d} · {m} · {n}"), box_summary(&values)?))
            })
            .collect();
        let mut bars: BTreeMap<u32, Vec<[f64; 2]>> = BTreeMap::new();
        for bar in &report.persistence_bars {
            bars.entry(bar.dimension)
                .or_default()
                .push([bar.birth as f64, bar.persistence as f64]);
        }
        Self {
            report: Arc::new(report),
            facets,
            drift,
            timing,
            entropy,
            bars,
        }
    }

    fn facets(&self, view: Analysis) -> &[(String, String)] {
        self.facets
            .iter()
            .find(|(v, _)| *v == view)
            .map_or(&[], |(_, facets)| facets.as_slice())
    }
}

#[derive(Clone, Copy)]
struct DiagramProgress {
    done: usize,
    total: usize,
}

struct Job {
    cancel: CancelToken,
    /// Index of the analysis being computed.
    step: Arc<AtomicUsize>,
    /// Persistence diagrams while they are computed first.
    diagrams: Arc<Mutex<Option<DiagramProgress>>>,
    task: super::task::Task<Box<Shown>>,
}

pub struct AnalysesPanel {
    experiment: Option<String>,
    next: Option<super::Section>,
    include_outliers: bool,
    compute_diagrams: bool,
    shown: Option<Shown>,
    view: Analysis,
    facet: Option<(String, String)>,
    job: Option<Job>,
    save: Option<super::task::Task>,
    folder: String,
    message: Option<(bool, String)>,
}

impl Default for AnalysesPanel {
    fn default() -> Self {
        Self {
            experiment: None,
            next: None,
            include_outliers: false,
            compute_diagrams: true,
            shown: None,
            view: Analysis::Transitions,
            facet: None,
            job: None,
            save: None,
            folder: String::new(),
            message: None,
        }
    }
}

fn colour(rgb: [u8; 3]) -> egui::Color32 {
    egui::Color32::from_rgb(rgb[0], rgb[1], rgb[2])
}

/// Axis labels for category positions 0, 1, … (nothing between them).
fn category_formatter(names: Vec<String>) -> impl Fn(GridMark, &RangeInclusive<f64>) -> String {
    move |mark, _| {
        let v = mark.value;
        if (v - v.round()).abs() > 1e-9 || v < 0.0 {
            return String::new();
        }
        names.get(v.round() as usize).cloned().unwrap_or_default()
    }
}

fn short(id: &str) -> &str {
    crate::store::short_id(id, 12)
}

impl AnalysesPanel {
    fn start(&mut self, database: PathBuf, ctx: &egui::Context) {
        let Some(experiment) = self.experiment.clone() else {
            return;
        };
        let options = AnalysisOptions {
            include_outliers: self.include_outliers,
            ..AnalysisOptions::default()
        };
        let cancel = CancelToken::new();
        let step = Arc::new(AtomicUsize::new(0));
        let diagrams = Arc::new(Mutex::new(None));
        let compute_diagrams = self.compute_diagrams;
        let (thread_cancel, thread_step, thread_diagrams, progress_ctx) =
            (cancel.clone(), step.clone(), diagrams.clone(), ctx.clone());
        let task = super::task::Task::spawn(ctx, "analysis", move || {
            let mut store = Store::open(&database).map_err(|e| e.to_string())?;
            if compute_diagrams {
                let summary = compute_persistence_diagrams(
                    &mut store,
                    &experiment,
                    &PersistenceRequest::default(),
                    &thread_cancel,
                    |progress| {
                        if let Ok(mut state) = thread_diagrams.lock() {
                            *state = Some(DiagramProgress {
                                done: progress.done + progress.failed,
                                total: progress.total,
                            });
                        }
                        progress_ctx.request_repaint();
                    },
                )
                .map_err(|e| e.to_string())?;
                if summary.cancelled {
                    return Err(
                        "cancelled; the persistence diagrams computed so far are kept".into(),
                    );
                }
                if let Ok(mut state) = thread_diagrams.lock() {
                    *state = None;
                }
            }
            let mut on_step = |s: usize| {
                thread_step.store(s, Ordering::Relaxed);
                progress_ctx.request_repaint();
            };
            let report =
                analyse_experiment(&store, &experiment, &options, &mut on_step, &thread_cancel)
                    .map_err(|e| e.to_string());
            report.map(|report| Box::new(Shown::new(report)))
        });
        self.message = None;
        self.job = Some(Job {
            cancel,
            step,
            diagrams,
            task,
        });
    }

    fn poll(&mut self) {
        if let Some(outcome) = self.job.as_mut().and_then(|job| job.task.finished()) {
            self.job = None;
            match outcome {
                Ok(shown) => {
                    self.facet = None;
                    self.shown = Some(*shown);
                }
                Err(error) => self.message = Some((false, error)),
            }
        }
        if let Some(outcome) = self.save.as_mut().and_then(super::task::Task::finished) {
            self.save = None;
            self.message = Some(match outcome {
                Ok(message) => (true, message),
                Err(error) => (false, error),
            });
        }
    }

    fn save_files(&mut self, ctx: &egui::Context) {
        let Some(report) = self.shown.as_ref().map(|shown| Arc::clone(&shown.report)) else {
            return;
        };
        let folder = PathBuf::from(&self.folder);
        self.save = Some(super::task::Task::spawn(ctx, "saving charts", move || {
            write_report(&report, Analysis::All, &folder)
                .map(|files| format!("wrote {} files to {}", files.len(), folder.display()))
                .map_err(|e| e.to_string())
        }));
    }

    /// Writes the one-file HTML report into the folder (the config is read off the UI thread).
    fn save_html(&mut self, database: PathBuf, ctx: &egui::Context) {
        let Some(report) = self.shown.as_ref().map(|shown| Arc::clone(&shown.report)) else {
            return;
        };
        let path = PathBuf::from(&self.folder).join("report.html");
        self.save = Some(super::task::Task::spawn(
            ctx,
            "saving the report",
            move || {
                let store = Store::open(&database).map_err(|e| e.to_string())?;
                let experiment = store
                    .experiment(&report.experiment_id)
                    .map_err(|e| e.to_string())?;
                write_report_html(&report, &experiment.config_json, &path)
                    .map(|()| format!("wrote {}", path.display()))
                    .map_err(|e| e.to_string())
            },
        ));
    }

    /// Opens the panel on this experiment (a next-step button elsewhere led here).
    pub fn focus(&mut self, experiment_id: &str) {
        if self.experiment.as_deref() != Some(experiment_id) {
            self.experiment = Some(experiment_id.to_owned());
            self.shown = None;
        }
    }

    /// The experiment chosen, if any.
    pub fn experiment(&self) -> Option<&str> {
        self.experiment.as_deref()
    }

    /// The section a next-step button asked for, once.
    pub fn take_next(&mut self) -> Option<super::Section> {
        self.next.take()
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, experiments: &[ExperimentSummary], database: PathBuf) {
        self.poll();
        ui.heading("Analyses");
        if super::no_experiments(ui, experiments, Some(&mut self.next)) {
            return;
        }
        if self.experiment.is_none()
            && let Some(first) = experiments.first()
        {
            self.experiment = Some(first.record.id.clone());
        }
        ui.horizontal(|ui| {
            if super::experiment_combo(ui, "analyses-experiment", &mut self.experiment, experiments)
                .is_some()
            {
                self.shown = None;
            }
            ui.checkbox(&mut self.include_outliers, "Outliers as a state");
            ui.checkbox(
                &mut self.compute_diagrams,
                "Compute missing persistence diagrams",
            )
            .on_hover_text("Seconds per run of a few hundred steps; stored and reused.");
            match &self.job {
                Some(job) => {
                    let diagrams = job.diagrams.lock().ok().and_then(|state| *state);
                    let (fraction, text) = match diagrams {
                        Some(DiagramProgress { done, total }) => (
                            done as f32 / total.max(1) as f32,
                            format!("persistence diagrams {done}/{total}"),
                        ),
                        None => {
                            let step = job.step.load(Ordering::Relaxed);
                            (
                                step as f32 / STEPS.len() as f32,
                                STEPS.get(step).copied().unwrap_or("").to_owned(),
                            )
                        }
                    };
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .desired_width(220.0)
                            .text(text),
                    );
                    if ui.button("Cancel").clicked() {
                        job.cancel.cancel();
                    }
                }
                None => {
                    if ui.button("Analyse").clicked() {
                        self.start(database.clone(), ui.ctx());
                    }
                }
            }
        });
        super::outcome_label(ui, &self.message);
        let Some(report) = self.shown.as_ref().map(|shown| &shown.report) else {
            ui.label("Press Analyse to compute transitions, stable runs, bigrams, stages, returns, agreement, drift, the drift model, timing and persistence for the experiment.");
            return;
        };
        for note in &report.notes {
            ui.label(egui::RichText::new(format!("Note: {note}")).weak());
        }
        if self.folder.is_empty() {
            let base = database.parent().map(PathBuf::from).unwrap_or_default();
            self.folder = base
                .join("analyses")
                .join(short(&report.experiment_id))
                .display()
                .to_string();
        }
        ui.horizontal(|ui| {
            super::labelled(
                ui,
                "Folder",
                egui::TextEdit::singleline(&mut self.folder).desired_width(360.0),
            );
            let saving = self.save.is_some();
            if ui
                .add_enabled(!saving, egui::Button::new("Save tables and charts"))
                .clicked()
            {
                self.save_files(ui.ctx());
            }
            if ui
                .add_enabled(!saving, egui::Button::new("Save one-page report (HTML)"))
                .on_hover_text("Every chart, its table and the experiment's config in one file")
                .clicked()
            {
                self.save_html(database.clone(), ui.ctx());
            }
            if super::next_step_button(
                ui,
                "an annotated video",
                "Export: a mosaic video of every run, with captions and cluster rings",
            ) {
                self.next = Some(super::Section::Export);
            }
        });
        ui.horizontal_wrapped(|ui| {
            for view in Analysis::EACH {
                ui.selectable_value(&mut self.view, view, view.title());
            }
        });
        let Some(shown) = self.shown.as_ref() else {
            return;
        };
        if faceted(self.view) {
            let facets = shown.facets(self.view);
            if self.facet.as_ref().is_none_or(|f| !facets.contains(f)) {
                self.facet = facets.first().cloned();
            }
            ui.horizontal(|ui| {
                let label = ui.label("Model · network");
                let current = self
                    .facet
                    .as_ref()
                    .map(|(m, n)| format!("{m} · {n}"))
                    .unwrap_or_default();
                egui::ComboBox::from_id_salt("analyses-facet")
                    .selected_text(current)
                    .show_ui(ui, |ui| {
                        for facet in facets {
                            let text = format!("{} · {}", facet.0, facet.1);
                            if ui
                                .selectable_label(self.facet.as_ref() == Some(facet), text)
                                .clicked()
                            {
                                self.facet = Some(facet.clone());
                            }
                        }
                    })
                    .response
                    .labelled_by(label.id);
            });
        }
        let facet = self.facet.clone().unwrap_or_default();
        draw_view(ui, shown, self.view, &facet);
    }
}

fn empty(ui: &mut egui::Ui, message: &str) {
    ui.add_space(20.0);
    ui.label(egui::RichText::new(message).weak());
}

fn draw_view(ui: &mut egui::Ui, shown: &Shown, view: Analysis, facet: &(String, String)) {
    let report = shown.report.as_ref();
    let in_facet = |model: &str, network: &str| model == facet.0 && network == facet.1;
    match view {
        // Not a view of its own: the panel offers each analysis separately.
        Analysis::All | Analysis::Report => {}
        Analysis::Transitions => {
            let rows: Vec<_> = report
                .transitions
                .iter()
                .filter(|r| in_facet(&r.embedding_model, &r.network))
                .collect();
            if rows.is_empty() {
                return empty(
                    ui,
                    "No transitions: cluster this experiment first (Clusters panel).",
                );
            }
            let (states, matrix) = transition_matrix(rows.iter().copied());
            let n = states.len();
            // Heatmap rows run upwards; give it the last row first so the first is on top.
            let values: Vec<f64> = matrix.iter().rev().flatten().copied().collect();
            let names: Vec<String> = states.iter().map(|s| s.1.clone()).collect();
            let reversed: Vec<String> = names.iter().rev().cloned().collect();
            Plot::new("analyses-transitions")
                .x_axis_label("to cluster")
                .y_axis_label("from cluster")
                .x_axis_formatter(category_formatter(names))
                .y_axis_formatter(category_formatter(reversed))
                .data_aspect(1.0)
                .show(ui, |plot| {
                    plot.heatmap(
                        Heatmap::new(values, n)
                            .range(0.0, 1.0)
                            .at(PlotPoint::new(-0.5, -0.5))
                            .show_labels(n <= 12)
                            .name("share of moves"),
                    );
                });
        }
        Analysis::StableRuns => {
            let mut by_network: BTreeMap<(&str, &str), BTreeMap<u32, u64>> = BTreeMap::new();
            for row in &report.stable_runs {
                *by_network
                    .entry((&row.embedding_model, &row.network))
                    .or_default()
                    .entry(row.anywhere)
                    .or_insert(0) += 1;
            }
            if by_network.is_empty() {
                return empty(ui, "No stable runs: cluster this experiment first.");
            }
            Plot::new("analyses-stable-runs")
                .legend(Legend::default())
                .x_axis_label("longest stable run (outputs in one cluster)")
                .y_axis_label("runs")
                .show(ui, |plot| {
                    for (i, ((model, network), counts)) in by_network.into_iter().enumerate() {
                        let points: Vec<[f64; 2]> = counts
                            .into_iter()
                            .map(|(l, c)| [l as f64, c as f64])
                            .collect();
                        plot.line(
                            Line::new(format!("{model} · {network}"), PlotPoints::from(points))
                                .color(colour(series_colour(i)))
                                .width(2.0),
                        );
                    }
                });
        }
        Analysis::Bigrams => {
            let rows: Vec<_> = report
                .bigrams
                .iter()
                .filter(|r| in_facet(&r.embedding_model, &r.network))
                .collect();
            if rows.is_empty() {
                return empty(ui, "No bigrams: cluster this experiment first.");
            }
            let n = rows.len();
            let names: Vec<String> = rows
                .iter()
                .rev()
                .map(|r| format!("{} → {}", r.from_name, r.to_name))
                .collect();
            let bars = rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    Bar::new((n - 1 - i) as f64, r.count as f64)
                        .name(format!("{} → {}", r.from_name, r.to_name))
                })
                .collect();
            Plot::new("analyses-bigrams")
                .y_axis_formatter(category_formatter(names))
                .x_axis_label("times")
                .show(ui, |plot| {
                    plot.bar_chart(
                        BarChart::new("bigrams", bars)
                            .horizontal()
                            .color(colour(series_colour(0))),
                    );
                });
        }
        Analysis::Stages => {
            let rows: Vec<_> = report
                .stages
                .iter()
                .filter(|r| in_facet(&r.embedding_model, &r.network))
                .collect();
            if rows.is_empty() {
                return empty(ui, "No stages: cluster this experiment first.");
            }
            let mut clusters: BTreeMap<(i32, &str), [f64; 3]> = BTreeMap::new();
            for r in &rows {
                let stage = STAGES.iter().position(|s| *s == r.stage).unwrap_or(0);
                clusters.entry((r.cluster, &r.cluster_name)).or_default()[stage] = r.fraction;
            }
            let charts: Vec<BarChart> = clusters
                .into_iter()
                .map(|((label, name), fractions)| {
                    BarChart::new(
                        name.to_owned(),
                        fractions
                            .iter()
                            .enumerate()
                            .map(|(stage, &f)| Bar::new(stage as f64, f).width(0.7))
                            .collect(),
                    )
                    .color(colour(cluster_rgb(label)))
                })
                .collect();
            Plot::new("analyses-stages")
                .legend(Legend::default())
                .x_axis_formatter(category_formatter(
                    STAGES.iter().map(|s| (*s).to_owned()).collect(),
                ))
                .y_axis_label("share of outputs")
                .show(ui, |plot| {
                    let mut stacked: Vec<BarChart> = Vec::new();
                    for chart in charts {
                        let below: Vec<&BarChart> = stacked.iter().collect();
                        let chart = chart.stack_on(&below);
                        stacked.push(chart);
                    }
                    for chart in stacked {
                        plot.bar_chart(chart);
                    }
                });
        }
        Analysis::Returns => {
            let mut by_network: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
            let mut returned: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
            for row in &report.returns {
                let key = (row.embedding_model.as_str(), row.network.as_str());
                let entry = returned.entry(key).or_default();
                entry.1 += 1;
                if let Some(steps) = row.steps_to_return {
                    entry.0 += 1;
                    by_network.entry(key).or_default().push(f64::from(steps));
                }
            }
            if returned.is_empty() {
                return empty(ui, "No returns: cluster this experiment first.");
            }
            for ((model, network), (back, total)) in &returned {
                ui.label(format!(
                    "{model} · {network}: {back} of {total} runs return to their first cluster"
                ));
            }
            let names: Vec<String> = by_network
                .keys()
                .map(|(m, n)| format!("{m} · {n}"))
                .collect();
            let boxes = by_network
                .values()
                .enumerate()
                .filter_map(|(i, values)| Some(box_elem(i as f64, box_summary(values)?)))
                .collect();
            let plot = Plot::new("analyses-returns");
            let y_label = "outputs until the first return";
            category_boxes(ui, plot, names, y_label, "outputs until return", boxes);
        }
        Analysis::Agreement => {
            if report.agreement.is_empty() {
                return empty(
                    ui,
                    "Needs clusterings by at least two embedding models of this experiment.",
                );
            }
            egui::Grid::new("analyses-agreement")
                .striped(true)
                .show(ui, |ui| {
                    super::header_row(ui, &["model A", "model B", "outputs", "ARI", "NMI"]);
                    for row in &report.agreement {
                        ui.label(&row.model_a);
                        ui.label(&row.model_b);
                        ui.label(row.outputs.to_string());
                        ui.label(format!("{:.3}", row.adjusted_rand_index));
                        ui.label(format!("{:.3}", row.normalized_mutual_information));
                        ui.end_row();
                    }
                });
        }
        Analysis::Drift => {
            let Some(lines) = shown.drift.get(facet) else {
                return empty(
                    ui,
                    "No drift: the experiment has no initial-prompt embeddings.",
                );
            };
            Plot::new("analyses-drift")
                .legend(Legend::default())
                .x_axis_label("step")
                .y_axis_label("cosine distance to the run's prompt")
                .show(ui, |plot| {
                    for points in &lines.runs {
                        plot.line(
                            Line::new("runs", PlotPoints::from(points.clone()))
                                .color(colour(series_colour(0)).gamma_multiply(0.35)),
                        );
                    }
                    plot.line(
                        Line::new("mean over runs", PlotPoints::from(lines.mean.clone()))
                            .color(colour(series_colour(1)))
                            .width(3.0),
                    );
                });
        }
        Analysis::DriftModel => {
            let Some(fit) = &report.drift_model else {
                return empty(ui, "The drift model was not fitted (see the notes above).");
            };
            ui.label(format!(
                "cosine drift ~ step + lag + network + prompt + embedding model · n = {} · R² = {:.3} · adjusted R² = {:.3} · Durbin–Watson = {:.2} · AIC = {:.1}",
                fit.observations,
                fit.r_squared,
                fit.adjusted_r_squared,
                fit.durbin_watson,
                fit.aic
            ));
            egui::ScrollArea::vertical()
                .id_salt("analyses-drift-model")
                .show(ui, |ui| {
                    egui::Grid::new("analyses-coefficients")
                        .striped(true)
                        .show(ui, |ui| {
                            super::header_row(
                                ui,
                                &["term", "estimate", "std. error", "t", "95 % interval"],
                            );
                            for c in &fit.coefficients {
                                ui.label(&c.name);
                                ui.label(format!("{:.5}", c.estimate));
                                ui.label(format!("{:.5}", c.std_error));
                                ui.label(format!("{:.2}", c.t_value));
                                ui.label(format!("[{:.5}, {:.5}]", c.ci_low, c.ci_high));
                                ui.end_row();
                            }
                        });
                });
        }
        Analysis::Timing => {
            if shown.timing.is_empty() {
                return empty(ui, "No invocations.");
            }
            let (names, boxes) = named_boxes(&shown.timing);
            let plot = Plot::new("analyses-timing");
            category_boxes(
                ui,
                plot,
                names,
                "seconds per output",
                "seconds per output",
                boxes,
            );
        }
        Analysis::Persistence => {
            if shown.entropy.is_empty() {
                return empty(
                    ui,
                    "No persistence diagrams: tick \"Compute missing persistence diagrams\" and Analyse again (runs must be finished and embedded).",
                );
            }
            let (names, boxes) = named_boxes(&shown.entropy);
            let plot = Plot::new("analyses-entropy").height(ui.available_height() / 2.0);
            category_boxes(ui, plot, names, "persistent entropy", "entropy", boxes);
            Plot::new("analyses-diagrams")
                .legend(Legend::default())
                .x_axis_label("birth")
                .y_axis_label("persistence")
                .show(ui, |plot| {
                    for (d, points) in &shown.bars {
                        plot.points(
                            Points::new(format!("H{d}"), PlotPoints::from(points.clone()))
                                .color(colour(series_colour(*d as usize)))
                                .radius(2.0),
                        );
                    }
                });
        }
    }
}

/// A box plot element from [`box_summary`]'s five percentiles.
fn box_elem(x: f64, [low, q1, median, q3, high]: [f64; 5]) -> BoxElem {
    BoxElem::new(x, BoxSpread::new(low, q1, median, q3, high))
}

/// The names and the boxes of named five-number summaries, in order.
fn named_boxes(spreads: &[(String, [f64; 5])]) -> (Vec<String>, Vec<BoxElem>) {
    let names = spreads.iter().map(|(name, _)| name.clone()).collect();
    let boxes = spreads
        .iter()
        .enumerate()
        .map(|(i, (_, spread))| box_elem(i as f64, *spread))
        .collect();
    (names, boxes)
}

/// `plot` showing one box per category of `names`, left to right, as series `series`.
fn category_boxes(
    ui: &mut egui::Ui,
    plot: Plot<'_>,
    names: Vec<String>,
    y_label: &str,
    series: &str,
    boxes: Vec<BoxElem>,
) {
    plot.x_axis_formatter(category_formatter(names))
        .y_axis_label(y_label)
        .show(ui, |plot| {
            plot.box_plot(BoxPlot::new(series, boxes));
        });
}
