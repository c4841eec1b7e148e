//! Runs experiments: plans the runs of a config, advances every run of a network in lock step
//! (one batched model call per step), detects loops, embeds the outputs, and resumes exactly
//! where a previous attempt stopped. Progress goes out as [`ProgressEvent`]s over a channel;
//! a [`CancelToken`] stops it after the current batch with everything written.

mod embed;
mod generate;
mod plan;
mod shard;
mod status;

use std::sync::mpsc::Sender;

use thiserror::Error;

use crate::config::{ConfigError, ValidatedConfig};
use crate::models::{ModelError, ModelProvider, Output};
use crate::store::{self, ExperimentStatus, Store, StoreError};

pub use plan::plan_runs;
pub use shard::{Shard, ShardParseError};
pub use status::{
    EmbeddingStatus, ExperimentStatusReport, estimated_seconds_per_item, expected_invocations,
    shown_status, status, status_with_models,
};

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("embedding model '{model}' failed: {source}")]
    Embedding { model: String, source: ModelError },
    #[error(
        "experiment {id} already exists with a different config; shards of one experiment must use the same config file"
    )]
    ConfigMismatch { id: String },
    #[error("experiment {id} has a stored config that no longer validates: {source}")]
    StoredConfig { id: String, source: ConfigError },
}

/// Tuning knobs; the defaults suit a single GPU.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Most inputs in one generative model call.
    pub batch_size: usize,
    /// Most inputs in one embedding model call.
    pub embedding_batch_size: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            batch_size: 32,
            embedding_batch_size: 64,
        }
    }
}

/// Cancelling stops the engine after the batch in progress.
pub use crate::progress::CancelToken;

/// Which part of the experiment is running.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Generating {
        network_index: usize,
        network: Vec<String>,
    },
    Embedding {
        model: String,
    },
}

/// What the engine reports while it works.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    Started {
        experiment_id: String,
        runs: usize,
        invocations_total: u64,
        invocations_done: u64,
    },
    Stage(Stage),
    /// After each committed generation batch.
    Invocations {
        done: u64,
        total: u64,
        runs_finished: usize,
        runs: usize,
        eta_seconds: f64,
    },
    /// After each committed embedding batch.
    Embeddings {
        model: String,
        done: u64,
        total: u64,
    },
    /// The newest output of a run (for live previews).
    Latest {
        run_id: String,
        sequence_number: u32,
        output: Output,
    },
    /// A model call took this long for this many items (the monitor's timing chart).
    Timing {
        model: String,
        seconds: f64,
        batch: usize,
    },
    /// A problem that did not stop the experiment (e.g. a model failed for some runs).
    Warning(String),
    Finished(ExperimentStatus),
}

/// How an engine call ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunOutcome {
    pub experiment_id: String,
    pub status: ExperimentStatus,
    pub failed_runs: usize,
}

/// Validates nothing (the config already is) and stores the experiment and all its runs in one
/// transaction each; returns the new experiment id.
pub fn create_experiment(
    store: &mut Store,
    config: &ValidatedConfig,
) -> Result<String, EngineError> {
    let id = store::new_id();
    store.insert_experiment(&store::ExperimentRecord {
        id: id.clone(),
        config_json: config.to_json(),
        created_at: store::now(),
        started_at: None,
        completed_at: None,
        status: ExperimentStatus::Pending,
    })?;
    store.insert_runs(&plan_runs(&id, config))?;
    Ok(id)
}

/// The id every shard of `config` agrees on: derived from the config itself.
pub fn shared_experiment_id(config: &ValidatedConfig) -> String {
    store::derived_id("experiment", &config.to_json())
}

/// Stores the experiment (or finds it, if it exists with the same config) as shard `shard` of
/// the plan, under `id`: `experiment run --shard` on every machine of a Slurm array.
pub fn create_shard(
    store: &mut Store,
    config: &ValidatedConfig,
    id: &str,
    shard: Shard,
) -> Result<(), EngineError> {
    match store.experiment(id) {
        Ok(existing) => {
            let same = crate::config::parse(&existing.config_json, "stored config")
                .is_ok_and(|stored| stored == *config.raw());
            if !same {
                return Err(EngineError::ConfigMismatch { id: id.to_owned() });
            }
        }
        Err(StoreError::NotFound { .. }) => store.insert_experiment(&store::ExperimentRecord {
            id: id.to_owned(),
            config_json: config.to_json(),
            created_at: store::now(),
            started_at: None,
            completed_at: None,
            status: ExperimentStatus::Pending,
        })?,
        Err(other) => return Err(other.into()),
    }
    store.set_experiment_shard(id, Some((shard.index, shard.count)))?;
    store.insert_runs(&shard.select(plan_runs(id, config)))?;
    Ok(())
}

/// The runs this database is responsible for: the whole plan, or its shard's part.
fn planned_runs(
    store: &Store,
    experiment_id: &str,
    config: &ValidatedConfig,
) -> Result<Vec<store::RunRecord>, EngineError> {
    let plan = plan_runs(experiment_id, config);
    Ok(match store.experiment_shard(experiment_id)? {
        Some((index, count)) => Shard { index, count }.select(plan),
        None => plan,
    })
}

/// The validated config stored with an experiment.
pub fn stored_config(
    store: &Store,
    experiment_id: &str,
    models: &dyn ModelProvider,
) -> Result<ValidatedConfig, EngineError> {
    let record = store.experiment(experiment_id)?;
    let stored_error = |source| EngineError::StoredConfig {
        id: experiment_id.to_owned(),
        source,
    };
    let raw = crate::config::parse(&record.config_json, "stored config").map_err(stored_error)?;
    crate::config::validate(&raw, models).map_err(stored_error)
}

/// Runs (or resumes) an experiment to the end, or until cancelled. Completed invocations and
/// embeddings are never recomputed; missing runs are created; failed and cancelled runs are
/// retried.
pub fn run_experiment(
    store: &mut Store,
    models: &dyn ModelProvider,
    experiment_id: &str,
    options: EngineOptions,
    progress: &Sender<ProgressEvent>,
    cancel: &CancelToken,
) -> Result<RunOutcome, EngineError> {
    let config = stored_config(store, experiment_id, models)?;
    // Creating runs is idempotent: an interrupted creation is completed here.
    store.insert_runs(&planned_runs(store, experiment_id, &config)?)?;
    let retry: Vec<_> = store
        .runs(experiment_id)?
        .into_iter()
        .filter(|run| run.stop.as_ref().is_some_and(|stop| stop.is_resumable()))
        .map(|run| (run.id, None))
        .collect();
    store.set_run_stops(&retry)?;
    store.set_experiment_status(experiment_id, ExperimentStatus::Running, store::now())?;

    let result = run_stages(
        store,
        models,
        experiment_id,
        &config,
        options,
        progress,
        cancel,
    );
    let (status, failed_runs) = match &result {
        Ok(failed) if cancel.is_cancelled() => (ExperimentStatus::Cancelled, *failed),
        Ok(0) => (ExperimentStatus::Completed, 0),
        Ok(failed) => (ExperimentStatus::Failed, *failed),
        Err(_) => (ExperimentStatus::Failed, 0),
    };
    // Record the outcome even when a stage failed, so status and resume see it.
    let recorded = store.set_experiment_status(experiment_id, status, store::now());
    let _ = progress.send(ProgressEvent::Finished(status));
    result?;
    recorded?;
    Ok(RunOutcome {
        experiment_id: experiment_id.to_owned(),
        status,
        failed_runs,
    })
}

/// Generation per network, each followed by embedding its outputs (so embeddings of finished
/// networks exist while later networks still generate). Returns the number of failed runs.
fn run_stages(
    store: &mut Store,
    models: &dyn ModelProvider,
    experiment_id: &str,
    config: &ValidatedConfig,
    options: EngineOptions,
    progress: &Sender<ProgressEvent>,
    cancel: &CancelToken,
) -> Result<usize, EngineError> {
    let report = status(store, experiment_id)?;
    let _ = progress.send(ProgressEvent::Started {
        experiment_id: experiment_id.to_owned(),
        runs: report.runs,
        invocations_total: report.invocations_expected,
        invocations_done: report.invocations_done,
    });
    let mut counters = generate::Counters::from_report(&report);
    for (network_index, network) in config.networks().iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let _ = progress.send(ProgressEvent::Stage(Stage::Generating {
            network_index,
            network: network.clone(),
        }));
        generate::run_network(
            store,
            models,
            experiment_id,
            config,
            network_index,
            options,
            &mut counters,
            progress,
            cancel,
        )?;
        if cancel.is_cancelled() {
            break;
        }
        embed::embed_outputs(
            store,
            models,
            experiment_id,
            config,
            Some(network_index as u32),
            options,
            progress,
            cancel,
        )?;
    }
    if !cancel.is_cancelled() {
        embed::embed_prompts(store, models, experiment_id, config, progress)?;
    }
    let failed = store
        .runs(experiment_id)?
        .iter()
        .filter(|run| matches!(run.stop, Some(store::StopReason::Failed { .. })))
        .count();
    Ok(failed)
}
