//! Lock-step generation of one network's runs: at each step every unfinished run needs the same
//! model, so the engine calls it once per batch of runs instead of once per run.

use std::collections::HashMap;
use std::sync::mpsc::Sender;

use super::status::{ExperimentStatusReport, estimated_seconds_per_item};
use super::{CancelToken, EngineError, EngineOptions, ProgressEvent};
use crate::config::ValidatedConfig;
use crate::models::{GenerativeModel, Input, ModelError, ModelProvider, Output, Seed};
use crate::store::{
    self, InvocationRecord, RunRecord, StepWrite, StopReason, Store, Timestamp, derived_id,
    output_hash,
};

/// Live progress counts shared across networks.
pub(super) struct Counters {
    done: u64,
    total: u64,
    runs: usize,
    runs_finished: usize,
    /// Seconds per item, per model: measured in this process, seeded from stored timings.
    seconds_per_item: HashMap<String, f64>,
}

impl Counters {
    pub(super) fn from_report(report: &ExperimentStatusReport) -> Self {
        Self {
            done: report.invocations_done,
            total: report.invocations_expected,
            runs: report.runs,
            runs_finished: report.runs - report.runs_unfinished,
            seconds_per_item: HashMap::new(),
        }
    }

    fn eta(&self, network: &[String]) -> f64 {
        let per_item = network
            .iter()
            .map(|model| self.seconds_per_item.get(model).copied().unwrap_or(0.0))
            .sum::<f64>()
            / network.len().max(1) as f64;
        self.total.saturating_sub(self.done) as f64 * per_item
    }
}

struct ActiveRun {
    run: RunRecord,
    next_sequence: u32,
    last_output: Option<Output>,
    last_invocation_id: Option<String>,
    /// First sequence number at which each output was seen (loop detection).
    seen: HashMap<[u8; 32], u32>,
    stopped: bool,
}

impl ActiveRun {
    fn seed(&self) -> Seed {
        u64::try_from(self.run.seed).ok()
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run_network(
    store: &mut Store,
    models: &dyn ModelProvider,
    experiment_id: &str,
    config: &ValidatedConfig,
    network_index: usize,
    options: EngineOptions,
    counters: &mut Counters,
    progress: &Sender<ProgressEvent>,
    cancel: &CancelToken,
) -> Result<(), EngineError> {
    let network = &config.networks()[network_index];
    let mut active = resume_runs(store, experiment_id, network_index)?;
    if active.is_empty() {
        return Ok(());
    }
    for model in network {
        if !counters.seconds_per_item.contains_key(model) {
            let estimate = estimated_seconds_per_item(store, model, models.describe(model))?;
            counters.seconds_per_item.insert(model.clone(), estimate);
        }
    }

    // Each distinct model of the network is loaded once and dropped when the network is done.
    let mut loaded: HashMap<String, GenerativeModel> = HashMap::new();
    for name in network {
        if loaded.contains_key(name) {
            continue;
        }
        match models.load_generative(name) {
            Ok(model) => {
                loaded.insert(name.clone(), model);
            }
            Err(error) => {
                let message = format!(
                    "network {network_index} ({}): loading model '{name}' failed: {error}",
                    network.join(" → ")
                );
                let all: Vec<usize> = (0..active.len()).collect();
                return fail_runs(store, &mut active, &all, &message, counters, progress);
            }
        }
    }

    loop {
        active.retain(|run| !run.stopped);
        if cancel.is_cancelled() {
            let stops: Vec<_> = active
                .iter()
                .map(|run| (run.run.id.clone(), Some(StopReason::Cancelled)))
                .collect();
            store.set_run_stops(&stops)?;
            return Ok(());
        }
        let Some(sequence) = active.iter().map(|run| run.next_sequence).min() else {
            return Ok(());
        };
        let model_name = &network[sequence as usize % network.len()];
        let Some(model) = loaded.get_mut(model_name) else {
            // Every model of the network was loaded above, so this is a bug; the runs still
            // get a stop reason instead of ending silently.
            let message = format!("network {network_index}: model '{model_name}' was not loaded");
            let all: Vec<usize> = (0..active.len()).collect();
            return fail_runs(store, &mut active, &all, &message, counters, progress);
        };
        let at_step: Vec<usize> = (0..active.len())
            .filter(|&index| active[index].next_sequence == sequence)
            .collect();
        for chunk in at_step.chunks(options.batch_size.max(1)) {
            if cancel.is_cancelled() {
                break;
            }
            let Some(kept) = call_model(
                store,
                &mut active,
                model,
                model_name,
                chunk,
                sequence,
                config.image_size(),
                counters,
                progress,
            )?
            else {
                continue;
            };
            commit_outputs(
                store,
                &mut active,
                kept,
                model_name,
                sequence,
                counters,
                progress,
            )?;
            let _ = progress.send(ProgressEvent::Invocations {
                done: counters.done,
                total: counters.total,
                runs_finished: counters.runs_finished,
                runs: counters.runs,
                eta_seconds: counters.eta(network),
            });
        }
    }
}

/// The runs of network `network_index` still to generate, each where it stopped (its next
/// step, last output and the hashes it has produced); runs found complete are marked so.
fn resume_runs(
    store: &mut Store,
    experiment_id: &str,
    network_index: usize,
) -> Result<Vec<ActiveRun>, EngineError> {
    let mut tails: HashMap<String, store::RunTail> = store
        .run_tails(experiment_id)?
        .into_iter()
        .map(|tail| (tail.run_id.clone(), tail))
        .collect();
    let mut active = Vec::new();
    let mut already_complete = Vec::new();
    for run in store.runs(experiment_id)? {
        if run.network_index as usize != network_index || run.stop.is_some() {
            continue;
        }
        let Some(tail) = tails.remove(&run.id) else {
            continue;
        };
        if tail.next_sequence >= run.max_length {
            already_complete.push((run.id.clone(), Some(StopReason::Length)));
            continue;
        }
        let seen = tail
            .output_hashes
            .iter()
            .enumerate()
            .rev()
            .map(|(sequence, hash)| (*hash, sequence as u32))
            .collect();
        active.push(ActiveRun {
            next_sequence: tail.next_sequence,
            last_output: tail.last_output,
            last_invocation_id: tail.last_invocation_id,
            seen,
            stopped: false,
            run,
        });
    }
    if !already_complete.is_empty() {
        store.set_run_stops(&already_complete)?;
    }
    Ok(active)
}

/// Calls the model on one chunk of runs at step `sequence`. A failed batch is retried one item
/// at a time so that only the runs whose items fail are marked failed; returns what was kept
/// (nothing when every item failed).
#[allow(clippy::too_many_arguments)]
fn call_model(
    store: &mut Store,
    active: &mut [ActiveRun],
    model: &mut GenerativeModel,
    model_name: &str,
    chunk: &[usize],
    sequence: u32,
    image_size: u32,
    counters: &mut Counters,
    progress: &Sender<ProgressEvent>,
) -> Result<Option<Kept>, EngineError> {
    let started_at = store::now();
    let result = invoke(model, active, chunk, image_size);
    let completed_at = store::now();
    let kept = match result {
        Ok(outputs) if outputs.len() == chunk.len() => {
            let call = Call {
                started_at,
                completed_at,
                batch_size: chunk.len() as u32,
            };
            Kept {
                indices: chunk.to_vec(),
                outputs,
                calls: vec![call; chunk.len()],
                seconds: call.seconds(),
            }
        }
        Ok(outputs) => {
            fail_runs(
                store,
                active,
                chunk,
                &format!(
                    "'{model_name}' returned {} outputs for {} inputs at step {sequence}",
                    outputs.len(),
                    chunk.len()
                ),
                counters,
                progress,
            )?;
            return Ok(None);
        }
        // One bad item (an empty caption, say) must fail only its own run: the batch is
        // retried one item at a time. Items are independent of their batch (batch = one
        // by one is tested per model), so the outputs are the ones the batch would give.
        Err(error) if chunk.len() > 1 => {
            tracing::warn!(
                "'{model_name}' failed on a batch of {} at step {sequence} ({error}); retrying one at a time",
                chunk.len()
            );
            let mut kept = Kept::default();
            for &index in chunk {
                let started_at = store::now();
                let result = invoke(model, active, &[index], image_size);
                let call = Call {
                    started_at,
                    completed_at: store::now(),
                    batch_size: 1,
                };
                let failure = match result {
                    Ok(mut one) if one.len() == 1 => match one.pop() {
                        Some(output) => {
                            kept.indices.push(index);
                            kept.outputs.push(output);
                            kept.calls.push(call);
                            kept.seconds += call.seconds();
                            continue;
                        }
                        None => "returned no output".to_owned(),
                    },
                    Ok(other) => format!("returned {} outputs for 1 input", other.len()),
                    Err(error) => error.to_string(),
                };
                fail_runs(
                    store,
                    active,
                    &[index],
                    &format!("'{model_name}' failed at step {sequence}: {failure}"),
                    counters,
                    progress,
                )?;
            }
            if kept.indices.is_empty() {
                return Ok(None);
            }
            kept
        }
        Err(error) => {
            fail_runs(
                store,
                active,
                chunk,
                &format!("'{model_name}' failed at step {sequence}: {error}"),
                counters,
                progress,
            )?;
            return Ok(None);
        }
    };
    Ok(Some(kept))
}

/// Stores one step's outputs of a chunk in one transaction (with the runs that stop there) and
/// advances the runs, the counters and the progress events.
fn commit_outputs(
    store: &mut Store,
    active: &mut [ActiveRun],
    kept: Kept,
    model_name: &str,
    sequence: u32,
    counters: &mut Counters,
    progress: &Sender<ProgressEvent>,
) -> Result<(), EngineError> {
    let Kept {
        indices,
        outputs,
        calls,
        seconds,
    } = kept;
    let chunk = indices.as_slice();
    counters
        .seconds_per_item
        .insert(model_name.to_owned(), seconds / chunk.len() as f64);

    let mut step = StepWrite::default();
    let mut hashes = Vec::with_capacity(chunk.len());
    for ((&index, output), call) in chunk.iter().zip(outputs).zip(calls) {
        let run = &active[index];
        let hash = output_hash(&output);
        let stop = match run.seen.get(&hash) {
            Some(first) if run.run.seed >= 0 => Some(StopReason::Duplicate {
                loop_length: sequence - first,
            }),
            _ if sequence + 1 >= run.run.max_length => Some(StopReason::Length),
            _ => None,
        };
        if let Some(stop) = stop {
            step.stops.push((run.run.id.clone(), stop));
        }
        step.invocations.push(InvocationRecord {
            id: derived_id(&run.run.id, &format!("invocation/{sequence}")),
            run_id: run.run.id.clone(),
            sequence_number: sequence,
            model: model_name.to_owned(),
            input_invocation_id: run.last_invocation_id.clone(),
            seed: run.run.seed,
            output,
            batch_size: call.batch_size,
            started_at: call.started_at,
            completed_at: call.completed_at,
        });
        hashes.push(hash);
    }
    store.commit_step(&step)?;

    let stopped: HashMap<&str, &StopReason> = step
        .stops
        .iter()
        .map(|(run_id, stop)| (run_id.as_str(), stop))
        .collect();
    for ((&index, invocation), hash) in chunk.iter().zip(step.invocations).zip(hashes) {
        let run = &mut active[index];
        if let Some(stop) = stopped.get(run.run.id.as_str()) {
            run.stopped = true;
            counters.runs_finished += 1;
            if let StopReason::Duplicate { .. } = stop {
                // The run ends early: its remaining steps will never be generated.
                counters.total = counters
                    .total
                    .saturating_sub(u64::from(run.run.max_length - sequence - 1));
            }
        }
        run.seen.entry(hash).or_insert(sequence);
        run.next_sequence = sequence + 1;
        run.last_invocation_id = Some(invocation.id);
        if run.run.seed_index == 0 && run.run.prompt_index < 4 {
            let _ = progress.send(ProgressEvent::Latest {
                run_id: run.run.id.clone(),
                sequence_number: sequence,
                output: invocation.output.clone(),
            });
        }
        run.last_output = Some(invocation.output);
    }
    counters.done += chunk.len() as u64;
    let _ = progress.send(ProgressEvent::Timing {
        model: model_name.to_owned(),
        seconds,
        batch: chunk.len(),
    });
    Ok(())
}

/// One model call: when it ran and on how many inputs.
#[derive(Debug, Clone, Copy)]
struct Call {
    started_at: Timestamp,
    completed_at: Timestamp,
    batch_size: u32,
}

impl Call {
    fn seconds(&self) -> f64 {
        (self.completed_at - self.started_at) as f64 / 1e6
    }
}

/// The runs of a batch that got an output, with the call that made each (after a failed batch,
/// one call per item; the failed call's time is not counted in `seconds`).
#[derive(Default)]
struct Kept {
    indices: Vec<usize>,
    outputs: Vec<Output>,
    calls: Vec<Call>,
    seconds: f64,
}

/// Calls `model` on the runs `indices` of `active`: each run's last output (or its prompt at
/// the start) with its seed.
fn invoke(
    model: &mut GenerativeModel,
    active: &[ActiveRun],
    indices: &[usize],
    image_size: u32,
) -> Result<Vec<Output>, ModelError> {
    let inputs: Vec<Input<'_>> = indices
        .iter()
        .map(|&index| match &active[index].last_output {
            Some(output) => Input::from(output),
            None => Input::Text(&active[index].run.initial_prompt),
        })
        .collect();
    let seeds: Vec<Seed> = indices.iter().map(|&index| active[index].seed()).collect();
    model.invoke_batch(&inputs, &seeds, image_size)
}

fn fail_runs(
    store: &mut Store,
    active: &mut [ActiveRun],
    chunk: &[usize],
    message: &str,
    counters: &mut Counters,
    progress: &Sender<ProgressEvent>,
) -> Result<(), EngineError> {
    let stops: Vec<_> = chunk
        .iter()
        .map(|&index| {
            active[index].stopped = true;
            (
                active[index].run.id.clone(),
                Some(StopReason::Failed {
                    message: message.to_owned(),
                }),
            )
        })
        .collect();
    store.set_run_stops(&stops)?;
    counters.runs_finished += stops.len();
    let _ = progress.send(ProgressEvent::Warning(format!(
        "{message}; {} runs marked failed (resume retries them)",
        stops.len()
    )));
    Ok(())
}
