//! Experiments list: status and progress of each, with open, resume, duplicate and delete.

use eframe::egui;

use crate::engine::{self, ExperimentStatusReport};
use crate::store::{
    DeleteSummary, ExperimentStatus, ExperimentSummary, RunRecord, Store, format_timestamp,
};

/// What the user asked for; the app carries it out (it owns the store and the job).
pub enum ExperimentAction {
    Resume(String),
    Duplicate(String),
    Delete(String),
    /// Hide the "resume interrupted experiments" banner.
    DismissResume,
    RunDemo,
}

#[derive(Default)]
pub struct ExperimentsPanel {
    experiments: Vec<ExperimentSummary>,
    opened: Option<(ExperimentStatusReport, Vec<RunRecord>)>,
    confirm_delete: Option<(String, DeleteSummary)>,
    pub needs_refresh: bool,
    /// An error to show the user (the app takes it).
    pub last_error: Option<String>,
    last_refresh: Option<std::time::Instant>,
}

impl ExperimentsPanel {
    pub fn new() -> Self {
        Self {
            needs_refresh: true,
            ..Self::default()
        }
    }

    /// Re-reads the list when asked to or every two seconds (cheap: one aggregate query).
    pub fn refresh(&mut self, store: &Store) -> Result<(), String> {
        let stale = self
            .last_refresh
            .is_none_or(|at| at.elapsed() > std::time::Duration::from_secs(2));
        if !(self.needs_refresh || stale) {
            return Ok(());
        }
        self.needs_refresh = false;
        self.last_refresh = Some(std::time::Instant::now());
        self.experiments = store.list_experiments().map_err(|e| e.to_string())?;
        if let Some((report, _)) = &self.opened {
            let id = report.id.clone();
            self.open(store, &id)?;
        }
        Ok(())
    }

    /// Whether the list has been read from the database at least once.
    pub fn has_listed(&self) -> bool {
        self.last_refresh.is_some()
    }

    pub fn summaries(&self) -> &[ExperimentSummary] {
        &self.experiments
    }

    fn open(&mut self, store: &Store, id: &str) -> Result<(), String> {
        let report = engine::status(store, id).map_err(|e| e.to_string())?;
        let runs = store.runs(id).map_err(|e| e.to_string())?;
        self.opened = Some((report, runs));
        Ok(())
    }

    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        store: &Store,
        running: Option<&str>,
        resume_offers: &[String],
    ) -> Option<ExperimentAction> {
        let mut action = None;
        if !resume_offers.is_empty() {
            self.resume_banner_ui(ui, resume_offers, running.is_some(), &mut action);
        }
        if let Some((id, preview)) = &self.confirm_delete {
            let mut close = false;
            egui::Modal::new(egui::Id::unique("confirm-delete")).show(ui.ctx(), |ui| {
                ui.heading("Delete experiment?");
                ui.label(format!(
                    "Experiment {} and everything that belongs to it will be deleted:\n{} runs, {} invocations, {} embeddings, {} cluster assignments.",
                    crate::store::short_id(id, 12),
                    preview.runs,
                    preview.invocations,
                    preview.embeddings,
                    preview.cluster_assignments
                ));
                ui.horizontal(|ui| {
                    if ui.button("Delete").clicked() {
                        action = Some(ExperimentAction::Delete(id.clone()));
                        close = true;
                    }
                    if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                        close = true;
                    }
                });
            });
            if close {
                self.confirm_delete = None;
            }
        }

        if let Some((report, runs)) = &self.opened {
            let mut back = false;
            ui.horizontal(|ui| {
                if ui.button("← All experiments").clicked() {
                    back = true;
                }
                ui.heading(format!(
                    "Experiment {}",
                    crate::store::short_id(&report.id, 12)
                ));
            });
            ui.separator();
            status_ui(ui, report);
            ui.add_space(8.0);
            ui.label(egui::RichText::new("Runs").strong());
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    egui::Grid::new("runs-grid").striped(true).show(ui, |ui| {
                        super::header_row(ui, &["Run", "Network", "Prompt", "Seed", "Stop"]);
                        for run in runs {
                            ui.monospace(crate::store::short_id(&run.id, 12));
                            ui.label(run.network.join(" → "));
                            ui.label(&run.initial_prompt);
                            ui.label(run.seed.to_string());
                            ui.label(
                                run.stop
                                    .as_ref()
                                    .map_or("unfinished".into(), ToString::to_string),
                            );
                            ui.end_row();
                        }
                    });
                });
            if back {
                self.opened = None;
            }
            return action;
        }

        ui.heading("Experiments");
        ui.add_space(4.0);
        if self.experiments.is_empty() {
            ui.label("No experiments yet.");
            ui.add_space(8.0);
            ui.label("Try the demo: two networks of procedural Sketch models (drawn shapes and biased captions that drift into loops), eight prompts, up to 60 steps per run, embedded with MiniLM. It runs offline in about a minute.");
            if ui.button("▶ Run the demo experiment").clicked() {
                action = Some(ExperimentAction::RunDemo);
            }
            ui.add_space(8.0);
            ui.label("Or create one under \"New experiment\" (Ctrl+N).");
            return action;
        }
        let mut open_request = None;
        egui::ScrollArea::both()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                egui::Grid::new("experiments-grid")
                    .striped(true)
                    .num_columns(7)
                    .show(ui, |ui| {
                        super::header_row(
                            ui,
                            &[
                                "Experiment",
                                "",
                                "Status",
                                "Progress",
                                "Created (UTC)",
                                "Runs",
                                "Networks",
                            ],
                        );
                        for summary in &self.experiments {
                            let record = &summary.record;
                            let short = crate::store::short_id(&record.id, 12);
                            ui.monospace(short);
                            let is_running = running == Some(record.id.as_str());
                            ui.horizontal(|ui| {
                                if ui.button("Open").clicked() {
                                    open_request = Some(record.id.clone());
                                    ui.ctx().request_repaint();
                                }
                                let resumable = !is_running
                                    && running.is_none()
                                    && record.status != ExperimentStatus::Completed;
                                if ui
                                    .add_enabled(resumable, egui::Button::new("Resume"))
                                    .clicked()
                                {
                                    action = Some(ExperimentAction::Resume(record.id.clone()));
                                }
                                if ui
                                    .button("Duplicate")
                                    .on_hover_text("Open its config as a new experiment")
                                    .clicked()
                                {
                                    action = Some(ExperimentAction::Duplicate(record.id.clone()));
                                }
                                if ui
                                    .add_enabled(!is_running, egui::Button::new("Delete"))
                                    .clicked()
                                {
                                    match store.experiment_delete_preview(&record.id) {
                                        Ok(preview) => {
                                            self.confirm_delete = Some((record.id.clone(), preview))
                                        }
                                        Err(error) => self.last_error = Some(error.to_string()),
                                    }
                                    ui.ctx().request_repaint();
                                }
                            });
                            ui.label(crate::engine::shown_status(record.status, is_running));
                            // Parsed once per row; a bad stored config is shown, not hidden.
                            let config = crate::config::parse(&record.config_json, "stored config");
                            let expected = config.as_ref().map(|config| {
                                crate::engine::expected_invocations(config, summary.runs)
                            });
                            let fraction = match expected {
                                Ok(expected) if expected > 0 => {
                                    summary.invocations as f32 / expected as f32
                                }
                                _ => 0.0,
                            };
                            let label = match expected {
                                _ if summary.runs > 0 && summary.runs_stopped == summary.runs => {
                                    format!("done · {} invocations", summary.invocations)
                                }
                                Ok(expected) => {
                                    format!("{}/{} invocations", summary.invocations, expected)
                                }
                                Err(_) => format!(
                                    "{} invocations (config unreadable)",
                                    summary.invocations
                                ),
                            };
                            ui.add(
                                egui::ProgressBar::new(fraction.min(1.0))
                                    .desired_width(180.0)
                                    .text(label),
                            );
                            ui.label(format_timestamp(record.created_at));
                            ui.label(summary.runs.to_string());
                            ui.label(config.map_or_else(
                                |error| error.to_string(),
                                |c| {
                                    c.networks
                                        .iter()
                                        .map(|n| n.join(" → "))
                                        .collect::<Vec<_>>()
                                        .join("; ")
                                },
                            ));
                            ui.end_row();
                        }
                    });
            });
        if let Some(id) = open_request
            && let Err(error) = self.open(store, &id)
        {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        action
    }
}

impl ExperimentsPanel {
    /// "These experiments did not finish": one Resume button each, and Dismiss.
    fn resume_banner_ui(
        &self,
        ui: &mut egui::Ui,
        offers: &[String],
        busy: bool,
        action: &mut Option<ExperimentAction>,
    ) {
        egui::Frame::group(ui.style())
            .fill(ui.visuals().faint_bg_color)
            .show(ui, |ui| {
                ui.label(egui::RichText::new("Unfinished experiments from last time").strong());
                for id in offers {
                    let summary = self.experiments.iter().find(|s| s.record.id == *id);
                    ui.horizontal(|ui| {
                        let how = match summary.map(|s| s.record.status) {
                            Some(ExperimentStatus::Running) => "was interrupted",
                            _ => "was stopped when the app quit",
                        };
                        let done = summary.map_or(0, |s| s.invocations);
                        ui.label(format!(
                            "Experiment {} {how} ({done} invocations done).",
                            crate::store::short_id(id, 12)
                        ));
                        if ui
                            .add_enabled(!busy, egui::Button::new("▶ Resume"))
                            .on_hover_text("Continues exactly where it stopped")
                            .on_disabled_hover_text("another experiment is running")
                            .clicked()
                        {
                            *action = Some(ExperimentAction::Resume(id.clone()));
                        }
                    });
                }
                if ui.small_button("Dismiss").clicked() {
                    *action = Some(ExperimentAction::DismissResume);
                }
            });
        ui.add_space(6.0);
    }
}

pub fn status_ui(ui: &mut egui::Ui, report: &ExperimentStatusReport) {
    egui::Grid::new("status-grid").show(ui, |ui| {
        ui.label("Status");
        ui.label(report.status.to_string());
        ui.end_row();
        ui.label("Runs");
        ui.label(format!(
            "{} ({} reached max length, {} stopped in a loop, {} failed, {} cancelled, {} unfinished)",
            report.runs, report.runs_length, report.runs_duplicate, report.runs_failed, report.runs_cancelled, report.runs_unfinished
        ));
        ui.end_row();
        ui.label("Invocations");
        ui.label(format!("{} of {}", report.invocations_done, report.invocations_expected));
        ui.end_row();
        for failure in &report.failures {
            ui.label("Failure");
            ui.colored_label(ui.visuals().error_fg_color, failure);
            ui.end_row();
        }
    });
}
