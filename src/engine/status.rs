//! Experiment status: progress counts, per-model embedding progress and an ETA from measured
//! timings (median of recent invocations of each model, with a prior before there are any).

use super::EngineError;
use crate::models::{Modality, ModelKind, ModelProvider};
use crate::store::{ExperimentStatus, Store, StoreError, Timestamp};

/// How many recent invocations the per-model time estimate looks at.
const TIMING_WINDOW: usize = 50;

#[derive(Debug, Clone, serde::Serialize)]
pub struct EmbeddingStatus {
    pub model: String,
    pub modality: Modality,
    pub done: u64,
    /// Outputs of that modality stored so far.
    pub total: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExperimentStatusReport {
    pub id: String,
    pub status: ExperimentStatus,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub runs: usize,
    pub runs_length: usize,
    pub runs_duplicate: usize,
    pub runs_failed: usize,
    pub runs_cancelled: usize,
    pub runs_unfinished: usize,
    pub invocations_done: u64,
    /// What the experiment will have when done (early-stopped runs count what they have).
    pub invocations_expected: u64,
    pub embeddings: Vec<EmbeddingStatus>,
    /// Seconds left for the invocations still to run, from measured per-model timings.
    pub eta_seconds: Option<f64>,
    pub failures: Vec<String>,
}

/// Seconds one item costs on `model`: the median of its recent invocations (call time / batch
/// size), or a prior by model kind before any were measured.
pub fn estimated_seconds_per_item(
    store: &Store,
    model: &str,
    kind: Option<ModelKind>,
) -> Result<f64, EngineError> {
    let mut recent = store.recent_durations(model, TIMING_WINDOW)?;
    if !recent.is_empty() {
        recent.sort_by(f64::total_cmp);
        return Ok(recent[recent.len() / 2]);
    }
    Ok(if model.starts_with("Dummy") {
        0.000_1
    } else {
        match kind {
            Some(ModelKind::TextToImage) => 1.0,
            Some(ModelKind::ImageToText) => 0.5,
            Some(ModelKind::Embedding { .. }) => 0.02,
            None => 1.0,
        }
    })
}

/// The status of one experiment. `models` (when given) adds embedding progress and the ETA.
pub fn status(store: &Store, experiment_id: &str) -> Result<ExperimentStatusReport, EngineError> {
    status_with_models(store, experiment_id, None)
}

pub fn status_with_models(
    store: &Store,
    experiment_id: &str,
    models: Option<&dyn ModelProvider>,
) -> Result<ExperimentStatusReport, EngineError> {
    let record = store.experiment(experiment_id)?;
    let rows = store.run_progress(experiment_id)?;
    let mut report = ExperimentStatusReport {
        id: record.id.clone(),
        status: record.status,
        created_at: record.created_at,
        started_at: record.started_at,
        completed_at: record.completed_at,
        runs: rows.len(),
        runs_length: 0,
        runs_duplicate: 0,
        runs_failed: 0,
        runs_cancelled: 0,
        runs_unfinished: 0,
        invocations_done: 0,
        invocations_expected: 0,
        embeddings: Vec::new(),
        eta_seconds: None,
        failures: Vec::new(),
    };
    // Remaining invocations per network (as JSON text), for the ETA.
    let mut remaining: Vec<(String, u64)> = Vec::new();
    for run in rows {
        let crate::store::RunProgress {
            max_length,
            stop_reason: stop,
            failure,
            network_json,
            invocations: count,
        } = run;
        report.invocations_done += u64::from(count);
        match stop.as_deref() {
            Some("duplicate") => {
                report.runs_duplicate += 1;
                report.invocations_expected += u64::from(count);
                continue;
            }
            Some("length") => report.runs_length += 1,
            Some("failed") => {
                report.runs_failed += 1;
                if let Some(failure) = failure
                    && !report.failures.contains(&failure)
                {
                    report.failures.push(failure);
                }
            }
            Some("cancelled") => report.runs_cancelled += 1,
            _ => report.runs_unfinished += 1,
        }
        report.invocations_expected += u64::from(max_length.max(count));
        let left = u64::from(max_length.saturating_sub(count));
        if left > 0 {
            match remaining
                .iter_mut()
                .find(|(network, _)| *network == network_json)
            {
                Some((_, total)) => *total += left,
                None => remaining.push((network_json, left)),
            }
        }
    }
    if let Some(models) = models {
        let mut eta = 0.0;
        for (network_json, left) in remaining {
            let network: Vec<String> =
                serde_json::from_str(&network_json).map_err(|source| StoreError::Json {
                    what: "run.network_json",
                    source,
                })?;
            let mut per_item = 0.0;
            for model in &network {
                per_item += estimated_seconds_per_item(store, model, models.describe(model))?;
            }
            eta += left as f64 * per_item / network.len().max(1) as f64;
        }
        report.eta_seconds = Some(eta);
        let config =
            crate::config::parse(&record.config_json, "stored config").map_err(|source| {
                EngineError::StoredConfig {
                    id: experiment_id.to_owned(),
                    source,
                }
            })?;
        for model in config.embedding_models {
            for modality in [Modality::Text, Modality::Image] {
                if models
                    .describe(&model)
                    .is_some_and(|kind| kind.embeds(modality))
                {
                    let (total, done) =
                        store.embedding_progress(experiment_id, &model, modality)?;
                    report.embeddings.push(EmbeddingStatus {
                        model: model.clone(),
                        modality,
                        done,
                        total,
                    });
                }
            }
        }
    }
    Ok(report)
}

/// How an experiment's status is shown: as stored, except that one stored as running while no
/// engine in this process runs it was interrupted (the app or the machine stopped mid-run;
/// resuming continues it).
pub fn shown_status(stored: ExperimentStatus, running_here: bool) -> &'static str {
    match (stored, running_here) {
        (_, true) => "running",
        (ExperimentStatus::Running, false) => "interrupted",
        (other, false) => other.as_str(),
    }
}

/// Invocations an experiment's runs make when none stops early: runs × `max_length`.
pub fn expected_invocations(config: &crate::config::ExperimentConfig, runs: u64) -> u64 {
    runs.saturating_mul(config.max_length.max(0) as u64)
}

#[cfg(test)]
mod shown_tests {
    use super::*;

    #[test]
    fn a_running_experiment_without_its_engine_is_shown_as_interrupted() {
        assert_eq!(shown_status(ExperimentStatus::Running, true), "running");
        assert_eq!(
            shown_status(ExperimentStatus::Running, false),
            "interrupted"
        );
        assert_eq!(
            shown_status(ExperimentStatus::Completed, false),
            "completed"
        );
        assert_eq!(shown_status(ExperimentStatus::Pending, true), "running");
    }

    #[test]
    fn expected_invocations_are_runs_times_max_length() {
        let json = r#"{"networks": [["DummyT2I", "DummyI2T"]], "seeds": [-1], "prompts": ["a"], "embedding_models": ["Dummy"], "max_length": 10}"#;
        let config = crate::config::parse(json, "test").expect("config");
        assert_eq!(expected_invocations(&config, 3), 30);
        assert_eq!(expected_invocations(&config, 0), 0);
    }
}
