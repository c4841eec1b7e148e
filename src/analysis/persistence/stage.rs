//! The background stage: plans the (run, embedding model) pairs still needing a diagram,
//! computes them on a worker pool and stores each diagram with its persistent entropy.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    MAX_DIMENSION, PersistenceError, Result, RipsParams, persistent_entropy, vietoris_rips,
};
use crate::store::{self, DiagramRecord, PersistencePair, Store, StoreError, Timestamp};

/// What [`compute_persistence_diagrams`] should do.
#[derive(Debug, Clone, Default)]
pub struct PersistenceRequest {
    /// Embedding models to use; `None` = every model with text embeddings in the experiment.
    pub embedding_models: Option<Vec<String>>,
    /// Worker threads (diagrams computed at once); 0 = one per core.
    pub threads: usize,
    /// Also compute runs that did not finish (failed or cancelled; resuming them would make
    /// their diagram stale).
    pub include_unfinished: bool,
}

/// Where the stage stands, reported after each stored diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PersistenceProgress {
    /// Diagrams to compute in this call.
    pub total: usize,
    /// Stored so far.
    pub done: usize,
    /// Failed so far (nothing stored for them).
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PersistenceFailure {
    pub run_id: String,
    pub embedding_model: String,
    pub error: String,
}

/// What [`compute_persistence_diagrams`] did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PersistenceSummary {
    pub experiment_id: String,
    pub embedding_models: Vec<String>,
    /// Diagrams computed and stored by this call.
    pub computed: usize,
    /// (run, model) pairs that already had a diagram.
    pub already_stored: usize,
    /// Runs skipped because they have not finished (see `include_unfinished`).
    pub unfinished: usize,
    /// Runs skipped because not all their text outputs are embedded by the model, or they have
    /// none.
    pub not_embedded: usize,
    pub failed: Vec<PersistenceFailure>,
    /// Stopped early by the cancel flag; what was stored stays.
    pub cancelled: bool,
    pub seconds: f64,
}

/// Text-embedding models of an experiment, by name.
pub fn text_embedding_models(store: &Store, experiment_id: &str) -> Result<Vec<String>> {
    Ok(store.text_embedding_models(experiment_id)?)
}

/// A run's text embeddings by `model` in sequence order, as rows of one matrix.
pub fn run_point_cloud(store: &Store, run_id: &str, model: &str) -> Result<(Vec<f32>, usize)> {
    let (mut points, mut dim) = (Vec::new(), 0);
    for vector in store.run_text_vectors(run_id, model)? {
        if dim == 0 {
            dim = vector.len();
        } else if vector.len() != dim {
            return Err(StoreError::Corrupt {
                what: format!("'{model}' embeddings of run {run_id}"),
                detail: format!("vectors of {dim} and {} values", vector.len()),
            }
            .into());
        }
        points.extend_from_slice(&vector);
    }
    Ok((points, dim))
}

struct Job {
    run_id: String,
    model: String,
}

/// Finds the (run, model) pairs still needing a diagram and counts the others.
fn plan(
    store: &Store,
    experiment_id: &str,
    models: &[String],
    include_unfinished: bool,
    summary: &mut PersistenceSummary,
) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for model in models {
        for run in store.diagram_candidates(experiment_id, model)? {
            let finished = matches!(run.stop_reason.as_deref(), Some("length" | "duplicate"));
            if run.has_diagram {
                summary.already_stored += 1;
            } else if !finished && !include_unfinished {
                summary.unfinished += 1;
            } else if run.text_outputs == 0 || run.embedded < run.text_outputs {
                summary.not_embedded += 1;
            } else {
                jobs.push(Job {
                    run_id: run.run_id,
                    model: model.clone(),
                });
            }
        }
    }
    Ok(jobs)
}

/// Computes and stores the persistence diagram (H0–H2, threshold = enclosing radius) and
/// persistent entropy of every finished run × text-embedding model of an experiment that has
/// none yet, several runs at once. Each diagram is stored in its own transaction, so a
/// cancelled or failed call keeps what it finished and a second call continues.
pub fn compute_persistence_diagrams(
    store: &mut Store,
    experiment: &str,
    request: &PersistenceRequest,
    cancel: &AtomicBool,
    mut on_progress: impl FnMut(PersistenceProgress),
) -> Result<PersistenceSummary> {
    let started = std::time::Instant::now();
    let experiment_id = store.resolve_experiment(experiment)?;
    let available = text_embedding_models(store, &experiment_id)?;
    let models = match &request.embedding_models {
        Some(wanted) if !wanted.is_empty() => {
            for model in wanted {
                if !available.contains(model) {
                    return Err(PersistenceError::ModelNotEmbedded {
                        experiment: experiment_id,
                        model: model.clone(),
                        available,
                    });
                }
            }
            wanted.clone()
        }
        _ if available.is_empty() => {
            return Err(PersistenceError::NothingEmbedded {
                experiment: experiment_id,
            });
        }
        _ => available,
    };
    let mut summary = PersistenceSummary {
        experiment_id: experiment_id.clone(),
        embedding_models: models.clone(),
        ..PersistenceSummary::default()
    };
    let jobs = plan(
        store,
        &experiment_id,
        &models,
        request.include_unfinished,
        &mut summary,
    )?;
    let mut progress = PersistenceProgress {
        total: jobs.len(),
        done: 0,
        failed: 0,
    };
    on_progress(progress);
    if !jobs.is_empty() {
        run_jobs(store, jobs, request.threads, cancel, &mut summary, |p| {
            progress.done = p.0;
            progress.failed = p.1;
            on_progress(progress);
        })?;
    }
    summary.cancelled = cancel.load(Ordering::Relaxed);
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

type Outcome = (Job, Timestamp, Result<Vec<PersistencePair>>, Timestamp);

/// Computes on a worker pool while this thread loads point clouds and stores diagrams (the store
/// stays on one thread); at most two clouds per worker are in memory at once.
fn run_jobs(
    store: &mut Store,
    jobs: Vec<Job>,
    threads: usize,
    cancel: &AtomicBool,
    summary: &mut PersistenceSummary,
    mut on_progress: impl FnMut((usize, usize)),
) -> Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("persistence-{i}"))
        .build()
        .map_err(|e| PersistenceError::Threads(e.to_string()))?;
    let limit = pool.current_num_threads() * 2;
    // Workers watch this flag; it follows `cancel` and is also raised when storing fails.
    let stop = AtomicBool::new(false);
    let (sender, receiver) = std::sync::mpsc::channel::<Outcome>();
    pool.in_place_scope(|scope| {
        let mut in_flight = 0usize;
        let mut result = Ok(());
        let receive = |store: &mut Store,
                       in_flight: &mut usize,
                       summary: &mut PersistenceSummary|
         -> Result<()> {
            loop {
                if cancel.load(Ordering::Relaxed) {
                    stop.store(true, Ordering::Relaxed);
                }
                match receiver.recv_timeout(std::time::Duration::from_millis(100)) {
                    Ok(outcome) => {
                        *in_flight -= 1;
                        return store_outcome(store, outcome, summary);
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    // Every sender is gone only when nothing is in flight.
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        *in_flight = 0;
                        return Ok(());
                    }
                }
            }
        };
        for job in jobs {
            if cancel.load(Ordering::Relaxed) {
                stop.store(true, Ordering::Relaxed);
                break;
            }
            while in_flight >= limit {
                if let Err(error) = receive(store, &mut in_flight, summary) {
                    result = Err(error);
                    break;
                }
                on_progress((summary.computed, summary.failed.len()));
            }
            if result.is_err() {
                break;
            }
            let cloud = run_point_cloud(store, &job.run_id, &job.model);
            let (sender, stop) = (sender.clone(), &stop);
            in_flight += 1;
            scope.spawn(move |_| {
                let started = store::now();
                let pairs = cloud.and_then(|(points, dim)| {
                    vietoris_rips(&points, dim.max(1), &RipsParams::default(), Some(stop))
                });
                // The receiver outlives every worker; a failed send only means it gave up.
                let _ = sender.send((job, started, pairs, store::now()));
            });
        }
        drop(sender);
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        while in_flight > 0 {
            match receive(store, &mut in_flight, summary) {
                Ok(()) => on_progress((summary.computed, summary.failed.len())),
                Err(error) => {
                    stop.store(true, Ordering::Relaxed);
                    if result.is_ok() {
                        result = Err(error);
                    }
                }
            }
        }
        result
    })
}

/// Stores one finished diagram (its own transaction) or records why it failed.
fn store_outcome(
    store: &mut Store,
    (job, started_at, pairs, completed_at): Outcome,
    summary: &mut PersistenceSummary,
) -> Result<()> {
    match pairs {
        Ok(pairs) => {
            let entropy = persistent_entropy(&pairs, MAX_DIMENSION);
            store.insert_diagrams(&[DiagramRecord {
                id: store::new_id(),
                run_id: job.run_id,
                embedding_model: job.model,
                pairs,
                entropy,
                started_at,
                completed_at,
            }])?;
            summary.computed += 1;
        }
        Err(PersistenceError::Cancelled) => {}
        Err(error) => summary.failed.push(PersistenceFailure {
            run_id: job.run_id,
            embedding_model: job.model,
            error: error.to_string(),
        }),
    }
    Ok(())
}
