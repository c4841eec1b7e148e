//! A running experiment: the engine on a worker thread with its own database connection, and the
//! monitor state built from its progress events.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

use eframe::egui;

use crate::engine::{
    self, CancelToken, EngineError, EngineOptions, ProgressEvent, RunOutcome, Stage,
};
use crate::models::{ModelProvider, Output};
use crate::store::Store;

/// The newest output of one run, ready to draw.
pub struct LatestOutput {
    pub sequence_number: u32,
    pub caption: Option<String>,
    pub image: Option<egui::TextureHandle>,
}

/// What the relay thread forwards to the UI: every progress event, then the run's outcome.
enum Relayed {
    Event(ProgressEvent),
    Finished(Result<RunOutcome, String>),
}

pub struct ExperimentJob {
    pub experiment_id: String,
    cancel: CancelToken,
    receiver: Receiver<Relayed>,
    pub started: Instant,
    pub stage: Option<Stage>,
    pub invocations: (u64, u64),
    pub runs: (usize, usize),
    pub eta_seconds: Option<f64>,
    pub embeddings: BTreeMap<String, (u64, u64)>,
    pub latest: BTreeMap<String, LatestOutput>,
    /// Per model: (seconds since start, seconds per item) of each model call.
    pub timings: BTreeMap<String, Vec<[f64; 2]>>,
    /// (seconds since start, invocations done) samples for the rate.
    rate_samples: Vec<(f64, u64)>,
    pub warnings: Vec<String>,
    pub outcome: Option<Result<RunOutcome, String>>,
}

impl ExperimentJob {
    /// Starts (or resumes) `experiment_id` in the background.
    pub fn start(
        database: PathBuf,
        models: Arc<dyn ModelProvider>,
        experiment_id: String,
        options: EngineOptions,
        ctx: egui::Context,
    ) -> Self {
        let (sender, receiver) = mpsc::channel();
        let cancel = CancelToken::new();
        let worker_cancel = cancel.clone();
        let worker_id = experiment_id.clone();
        let (relay_sender, relay_receiver) = mpsc::channel();
        let (outcome_sender, outcome_receiver) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    let mut store = Store::open(&database)?;
                    engine::run_experiment(
                        &mut store,
                        models.as_ref(),
                        &worker_id,
                        options,
                        &sender,
                        &worker_cancel,
                    )
                }))
                .map_err(|_| "the engine thread crashed".to_string())
                .and_then(|result: Result<RunOutcome, EngineError>| {
                    result.map_err(|e| e.to_string())
                });
                drop(sender);
                let _ = outcome_sender.send(outcome);
            });
        if let Err(error) = worker {
            let _ = relay_sender.send(Relayed::Finished(Err(format!(
                "could not start the engine thread: {error}"
            ))));
        }
        // Relay events and wake the UI for each, so the monitor updates without polling; the
        // outcome comes last, after every event, and wakes the UI once more.
        let relay = relay_sender.clone();
        let _ = std::thread::Builder::new()
            .name("engine events".into())
            .spawn(move || {
                for event in receiver {
                    if relay.send(Relayed::Event(event)).is_err() {
                        return;
                    }
                    ctx.request_repaint();
                }
                let outcome = outcome_receiver
                    .recv()
                    .unwrap_or_else(|_| Err("the engine thread ended without a result".into()));
                let _ = relay.send(Relayed::Finished(outcome));
                ctx.request_repaint();
            });
        Self {
            experiment_id,
            cancel,
            receiver: relay_receiver,
            started: Instant::now(),
            stage: None,
            invocations: (0, 0),
            runs: (0, 0),
            eta_seconds: None,
            embeddings: BTreeMap::new(),
            latest: BTreeMap::new(),
            timings: BTreeMap::new(),
            rate_samples: Vec::new(),
            warnings: Vec::new(),
            outcome: None,
        }
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancelling(&self) -> bool {
        self.cancel.is_cancelled() && self.outcome.is_none()
    }

    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// Invocations per second over the last ~5 seconds.
    pub fn rate(&self) -> f64 {
        let Some(&(t1, n1)) = self.rate_samples.last() else {
            return 0.0;
        };
        let window_start = self
            .rate_samples
            .iter()
            .find(|(t, _)| t1 - t <= 5.0)
            .copied()
            .unwrap_or((t1, n1));
        let (t0, n0) = window_start;
        if t1 - t0 <= 0.0 {
            0.0
        } else {
            (n1 - n0) as f64 / (t1 - t0)
        }
    }

    /// Applies every pending event; returns whether anything changed.
    pub fn poll(&mut self, ctx: &egui::Context) -> bool {
        let mut changed = false;
        loop {
            match self.receiver.try_recv() {
                Ok(Relayed::Event(event)) => {
                    changed = true;
                    self.apply(event, ctx);
                }
                Ok(Relayed::Finished(outcome)) => {
                    changed = true;
                    self.outcome.get_or_insert(outcome);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if self.outcome.is_none() {
                        self.outcome = Some(Err("the engine's event relay stopped".into()));
                        changed = true;
                    }
                    break;
                }
            }
        }
        changed
    }

    fn apply(&mut self, event: ProgressEvent, ctx: &egui::Context) {
        let now = self.started.elapsed().as_secs_f64();
        match event {
            ProgressEvent::Started {
                runs,
                invocations_total,
                invocations_done,
                ..
            } => {
                self.invocations = (invocations_done, invocations_total);
                self.runs.1 = runs;
                self.rate_samples.push((now, invocations_done));
            }
            ProgressEvent::Stage(stage) => self.stage = Some(stage),
            ProgressEvent::Invocations {
                done,
                total,
                runs_finished,
                runs,
                eta_seconds,
            } => {
                self.invocations = (done, total);
                self.runs = (runs_finished, runs);
                self.eta_seconds = Some(eta_seconds);
                self.rate_samples.push((now, done));
                if self.rate_samples.len() > 2000 {
                    self.rate_samples.drain(..1000);
                }
            }
            ProgressEvent::Embeddings { model, done, total } => {
                self.embeddings.insert(model, (done, total));
            }
            ProgressEvent::Latest {
                run_id,
                sequence_number,
                output,
            } => {
                let entry = self.latest.entry(run_id.clone()).or_insert(LatestOutput {
                    sequence_number,
                    caption: None,
                    image: None,
                });
                entry.sequence_number = sequence_number;
                match output {
                    Output::Text(text) => entry.caption = Some(text),
                    Output::Image(image) => {
                        let size = [image.width() as usize, image.height() as usize];
                        let color = egui::ColorImage::from_rgb(size, image.as_raw());
                        match &mut entry.image {
                            Some(texture) => texture.set(color, egui::TextureOptions::LINEAR),
                            None => {
                                entry.image = Some(ctx.load_texture(
                                    format!("latest-{run_id}"),
                                    color,
                                    egui::TextureOptions::LINEAR,
                                ))
                            }
                        }
                    }
                }
            }
            ProgressEvent::Timing {
                model,
                seconds,
                batch,
            } => {
                let series = self.timings.entry(model).or_default();
                series.push([now, seconds / batch.max(1) as f64]);
                if series.len() > 5000 {
                    series.drain(..2500);
                }
            }
            ProgressEvent::Warning(message) => self.warnings.push(message),
            ProgressEvent::Finished(_) => {}
        }
    }
}
