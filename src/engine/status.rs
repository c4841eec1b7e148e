//! Experiment status: progress counts, per-model embedding progress and an ETA from measured
//! timings (median of recent invocations of each model, with a prior before there are any).

use super::EngineError;
use crate::models::{Modality, ModelKind, ModelProvider};
use crate::store::{ExperimentStatus, Store, Timestamp};

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
    let mut statement = store
        .connection()
        .prepare_cached(
            "SELECT r.max_length, r.stop_reason, r.failure, r.network_json,
                (SELECT count(*) FROM invocation i WHERE i.run_id = r.id)
         FROM run r WHERE r.experiment_id = ?1",
        )
        .map_err(crate::store::StoreError::from)?;
    let rows = statement
        .query_map([experiment_id], |row| {
            Ok((
                row.get::<_, u32>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, u32>(4)?,
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(crate::store::StoreError::from)?;
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
    for (max_length, stop, failure, network_json, count) in rows {
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
            let network: Vec<String> = serde_json::from_str(&network_json).unwrap_or_default();
            let mut per_item = 0.0;
            for model in &network {
                per_item += estimated_seconds_per_item(store, model, models.describe(model))?;
            }
            eta += left as f64 * per_item / network.len().max(1) as f64;
        }
        report.eta_seconds = Some(eta);
        let config: Option<crate::config::ExperimentConfig> =
            serde_json::from_str(&record.config_json).ok();
        for model in config
            .map(|config| config.embedding_models)
            .unwrap_or_default()
        {
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
