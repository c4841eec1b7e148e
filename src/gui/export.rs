//! Export panel: the same mosaic-video export as `panic-tda export video`, with the prompt
//! order set by reordering a list (drag or ↑/↓), run in the background with progress and cancel.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use eframe::egui;

use crate::export::encoders::VideoCodec;
use crate::export::video::{self, IndicatorSource, MosaicOrder, Resolution, VideoRequest};
use crate::progress::CancelToken;
use crate::store::{ExperimentSummary, Store};

/// Frames written so far, of all.
#[derive(Clone, Copy, Default)]
struct FrameProgress {
    done: usize,
    total: usize,
}

struct ExportJob {
    cancel: CancelToken,
    progress: Arc<Mutex<FrameProgress>>,
    task: super::task::Task,
}

pub struct ExportPanel {
    experiment: Option<String>,
    /// An experiment another panel led here with, chosen on the next frame.
    wanted: Option<String>,
    prompts: Vec<String>,
    output: String,
    resolution: Resolution,
    fps: u32,
    codec: VideoCodec,
    indicator: bool,
    captions: bool,
    tsne_inset: bool,
    job: Option<ExportJob>,
    message: Option<(bool, String)>,
}

impl Default for ExportPanel {
    fn default() -> Self {
        Self {
            experiment: None,
            wanted: None,
            prompts: Vec::new(),
            output: String::new(),
            resolution: Resolution::Hd,
            fps: 2,
            codec: VideoCodec::H264,
            indicator: true,
            captions: false,
            tsne_inset: false,
            job: None,
            message: None,
        }
    }
}

impl ExportPanel {
    /// The experiment chosen, if any.
    pub fn experiment(&self) -> Option<&str> {
        self.experiment.as_deref()
    }

    /// Opens the panel on this experiment (a next-step button elsewhere led here).
    pub fn focus(&mut self, experiment_id: &str) {
        self.wanted = Some(experiment_id.to_owned());
    }

    fn choose(&mut self, summary: &ExperimentSummary) {
        let id = summary.record.id.clone();
        self.prompts = crate::config::parse(&summary.record.config_json, "stored config")
            .map(|config| config.prompts)
            .unwrap_or_default();
        self.output = format!("panic-tda-{}.mp4", crate::store::short_id(&id, 12));
        self.experiment = Some(id);
    }

    fn start(&mut self, database: PathBuf, ctx: &egui::Context) {
        let Some(experiment) = self.experiment.clone() else {
            return;
        };
        let mut request = VideoRequest::new(vec![experiment], PathBuf::from(&self.output));
        request.resolution = self.resolution;
        request.fps = self.fps;
        request.codec = self.codec;
        request.order = MosaicOrder {
            prompts: Some(self.prompts.clone()),
            alphabetical: false,
        };
        request.indicator = if self.indicator {
            IndicatorSource::Newest
        } else {
            IndicatorSource::Off
        };
        request.captions = self.captions;
        request.tsne_inset = self.tsne_inset;
        let cancel = CancelToken::new();
        let progress = Arc::new(Mutex::new(FrameProgress::default()));
        let (thread_cancel, thread_progress, progress_ctx) =
            (cancel.clone(), progress.clone(), ctx.clone());
        let task = super::task::Task::spawn(ctx, "export", move || {
            let store = Store::open(&database).map_err(|e| e.to_string())?;
            let mut report = |update: video::VideoProgress| {
                if let Ok(mut state) = thread_progress.lock() {
                    *state = FrameProgress {
                        done: update.frames_done,
                        total: update.frames_total,
                    };
                }
                progress_ctx.request_repaint();
            };
            let summary = video::export_video(&store, &request, &mut report, &thread_cancel)
                .map_err(|e| e.to_string());
            summary.map(|summary| {
                format!(
                    "wrote {} ({}×{}, {} frames, {} runs)",
                    summary.path.display(),
                    summary.width,
                    summary.height,
                    summary.frames,
                    summary.runs
                )
            })
        });
        self.job = Some(ExportJob {
            cancel,
            progress,
            task,
        });
    }

    fn poll(&mut self) {
        let Some(outcome) = self.job.as_mut().and_then(|job| job.task.finished()) else {
            return;
        };
        self.job = None;
        self.message = Some(match outcome {
            Ok(message) => (true, message),
            Err(error) => (false, error),
        });
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, experiments: &[ExperimentSummary], database: PathBuf) {
        self.poll();
        ui.heading("Export video");
        if super::no_experiments(ui, experiments, None) {
            return;
        }
        if let Some(wanted) = self.wanted.take()
            && let Some(summary) = experiments.iter().find(|s| s.record.id == wanted)
        {
            self.choose(summary);
        }
        if self.experiment.is_none()
            && let Some(first) = experiments.first()
        {
            self.choose(first);
        }
        ui.horizontal(|ui| {
            if let Some(summary) =
                super::experiment_combo(ui, "export-experiment", &mut self.experiment, experiments)
            {
                self.choose(summary);
            }
        });
        ui.label(egui::RichText::new("Prompt order (top to bottom in the mosaic)").strong());
        let mut swap = None;
        let mut dropped = None;
        let count = self.prompts.len();
        for (index, prompt) in self.prompts.iter().enumerate() {
            let row = ui.horizontal(|ui| {
                super::reorder::handle(ui, "export-prompts", index);
                if ui
                    .add_enabled(index > 0, egui::Button::new("↑").small())
                    .clicked()
                {
                    swap = Some((index - 1, index));
                }
                if ui
                    .add_enabled(index + 1 < count, egui::Button::new("↓").small())
                    .clicked()
                {
                    swap = Some((index, index + 1));
                }
                ui.label(prompt);
            });
            if let Some(moved) =
                super::reorder::drop_target(ui, &row.response, "export-prompts", index)
            {
                dropped = Some(moved);
            }
        }
        if let Some((a, b)) = swap {
            self.prompts.swap(a, b);
        }
        if let Some((from, to)) = dropped {
            super::reorder::move_item(&mut self.prompts, from, to);
        }
        egui::Grid::new("export-options").show(ui, |ui| {
            ui.label("Resolution");
            ui.horizontal(|ui| {
                ui.selectable_value(&mut self.resolution, Resolution::Hd, "HD");
                ui.selectable_value(&mut self.resolution, Resolution::Uhd4k, "4K");
                ui.selectable_value(&mut self.resolution, Resolution::Uhd8k, "8K");
            });
            ui.end_row();
            super::labelled(
                ui,
                "Frames per second",
                egui::DragValue::new(&mut self.fps).range(1..=60),
            );
            ui.end_row();
            ui.label("Codec");
            ui.horizontal(|ui| {
                for codec in VideoCodec::ALL {
                    ui.selectable_value(&mut self.codec, codec, codec.label());
                }
            });
            ui.end_row();
            super::labelled(
                ui,
                "Output file",
                egui::TextEdit::singleline(&mut self.output).desired_width(360.0),
            );
            ui.end_row();
        });
        ui.checkbox(
            &mut self.indicator,
            "Cluster indicator on every tile (newest clustering)",
        );
        ui.checkbox(&mut self.captions, "Captions under the tiles");
        ui.checkbox(
            &mut self.tsne_inset,
            "t-SNE inset (needs a stored projection)",
        );
        match &self.job {
            Some(job) => {
                let FrameProgress { done, total } =
                    job.progress.lock().map(|state| *state).unwrap_or_default();
                ui.horizontal(|ui| {
                    ui.add(
                        egui::ProgressBar::new(if total == 0 {
                            0.0
                        } else {
                            done as f32 / total as f32
                        })
                        .desired_width(300.0)
                        .text(format!("frame {done}/{total}")),
                    );
                    if ui.button("Cancel export").clicked() {
                        job.cancel.cancel();
                    }
                });
            }
            None => {
                if ui.button("Export video").clicked() {
                    self.start(database, ui.ctx());
                }
            }
        }
        super::outcome_label(ui, &self.message);
    }
}
