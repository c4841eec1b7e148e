//! Live view of a running experiment: progress per stage, rate, ETA, the newest image and
//! caption of a few runs, and the duration of every model call over time.

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::job::ExperimentJob;
use crate::progress::human_duration;
use crate::store::ExperimentStatus;

/// What the user asked for. There is no pause: Stop ends the run after the current batch with
/// everything kept, and Resume continues exactly where it stopped, which is what a pause does.
pub enum MonitorAction {
    Stop,
    Resume,
    /// A next-step button: go on to this section with the finished experiment.
    Next(super::Section),
}

pub fn monitor_ui(ui: &mut egui::Ui, job: &ExperimentJob) -> Option<MonitorAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        ui.heading(format!(
            "Experiment {}",
            crate::store::short_id(&job.experiment_id, 12)
        ));
        if !job.is_finished() {
            let label = if job.is_cancelling() {
                "Stopping after this batch…"
            } else {
                "■ Stop"
            };
            if ui
                .add_enabled(!job.is_cancelling(), egui::Button::new(label))
                .on_hover_text(
                    "Stops after the current batch, keeping everything; Resume continues exactly where it stopped",
                )
                .clicked()
            {
                action = Some(MonitorAction::Stop);
            }
            ui.weak("(Stop + Resume is the pause: nothing done is lost)");
        } else if !matches!(&job.outcome, Some(Ok(outcome)) if outcome.status == ExperimentStatus::Completed)
            && ui
                .button("▶ Resume")
                .on_hover_text("Continue this experiment where it stopped")
                .clicked()
        {
            action = Some(MonitorAction::Resume);
        }
    });
    match &job.outcome {
        Some(Ok(outcome)) if outcome.status == ExperimentStatus::Cancelled => {
            ui.label("Stopped. Everything done so far is kept; ▶ Resume continues it.");
        }
        Some(Ok(outcome)) => {
            ui.label(format!(
                "Finished: {} ({} failed runs).",
                outcome.status, outcome.failed_runs
            ));
            if super::next_step_button(
                ui,
                "cluster the outputs",
                "Clusters groups similar captions and images; then the Explorer shows them on a map and Export makes the video",
            ) {
                action = Some(MonitorAction::Next(super::Section::Clusters));
            }
        }
        Some(Err(error)) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Stopped with an error: {error}"),
            );
        }
        None => {
            let stage = match &job.stage {
                Some(crate::engine::Stage::Generating { network, .. }) => {
                    format!("Generating: {}", network.join(" → "))
                }
                Some(crate::engine::Stage::Embedding { model }) => {
                    format!("Embedding with {model}")
                }
                None => "Starting…".into(),
            };
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(stage);
            });
        }
    }
    ui.add_space(6.0);
    let (done, total) = job.invocations;
    let fraction = if total == 0 {
        0.0
    } else {
        done as f32 / total as f32
    };
    ui.add(egui::ProgressBar::new(fraction).text(format!("invocations {done}/{total}")));
    let mut stats = format!(
        "{}/{} runs finished · {:.1} invocations/s · elapsed {}",
        job.runs.0,
        job.runs.1,
        job.rate(),
        human_duration(job.started.elapsed().as_secs_f64())
    );
    if let Some(eta) = job.eta_seconds
        && !job.is_finished()
    {
        stats.push_str(&format!(" · about {} left", human_duration(eta)));
    }
    ui.label(stats);
    for (model, (done, total)) in &job.embeddings {
        let fraction = if *total == 0 {
            0.0
        } else {
            *done as f32 / *total as f32
        };
        ui.add(egui::ProgressBar::new(fraction).text(format!("{model} embeddings {done}/{total}")));
    }
    for warning in &job.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, warning);
    }
    ui.add_space(6.0);
    if !job.latest.is_empty() {
        ui.label(egui::RichText::new("Latest outputs").strong());
        // A row of its own that scrolls sideways, so it never pushes the window wider.
        egui::ScrollArea::horizontal()
            .id_salt("monitor-latest")
            .show(ui, |ui| {
                ui.horizontal_top(|ui| {
                    for (run_id, latest) in job.latest.iter().take(8) {
                        ui.vertical(|ui| {
                            ui.set_width(150.0);
                            if let Some(texture) = &latest.image {
                                ui.add(
                                    egui::Image::new(texture)
                                        .fit_to_exact_size(egui::vec2(128.0, 128.0)),
                                );
                            }
                            ui.small(format!(
                                "run {} · step {}",
                                crate::store::short_id(run_id, 8),
                                latest.sequence_number
                            ));
                            if let Some(caption) = &latest.caption {
                                ui.small(caption);
                            }
                        });
                    }
                });
            });
    }
    if !job.timings.is_empty() {
        ui.label(egui::RichText::new("Seconds per item, per model call").strong());
        Plot::new("timings")
            .height(200.0)
            .legend(Legend::default())
            .x_axis_label("seconds since start")
            .show(ui, |plot| {
                for (model, series) in &job.timings {
                    plot.line(Line::new(model.clone(), PlotPoints::from(series.clone())));
                }
            });
    }
    action
}
