//! Fixtures for the store tests: experiments, runs and invocations built by hand.

use image::RgbImage;
use panic_tda::models::Output;
use panic_tda::store::{
    ClusteringRecord, EmbeddingRecord, ExperimentRecord, ExperimentStatus, InvocationRecord,
    RunRecord, StepWrite, StopReason, Store, derived_id,
};

pub const NETWORK: [&str; 2] = ["DummyT2I", "DummyI2T"];

pub fn experiment(store: &mut Store, id: &str) {
    store
        .insert_experiment(&ExperimentRecord {
            id: id.into(),
            config_json: r#"{"networks":[["DummyT2I","DummyI2T"]]}"#.into(),
            created_at: 1,
            started_at: None,
            completed_at: None,
            status: ExperimentStatus::Pending,
        })
        .expect("insert experiment");
}

pub fn run(experiment_id: &str, index: u32, seed: i64, max_length: u32) -> RunRecord {
    RunRecord {
        id: derived_id(experiment_id, &format!("run{index}")),
        experiment_id: experiment_id.into(),
        network_index: 0,
        network: NETWORK.iter().map(|s| s.to_string()).collect(),
        prompt_index: index,
        initial_prompt: format!("prompt {index}"),
        seed_index: 0,
        seed,
        max_length,
        stop: None,
    }
}

pub fn image(seed: u32) -> RgbImage {
    RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 13 + seed) as u8, (y * 7 + seed) as u8, seed as u8])
    })
}

/// The output the dummy network gives at `sequence` (images on even steps, text on odd).
pub fn output(run: &RunRecord, sequence: u32) -> Output {
    if sequence.is_multiple_of(2) {
        Output::Image(image(sequence + run.prompt_index * 100))
    } else {
        Output::Text(format!("caption {sequence} of {}", run.prompt_index))
    }
}

pub fn invocation(run: &RunRecord, sequence: u32) -> InvocationRecord {
    InvocationRecord {
        id: derived_id(&run.id, &sequence.to_string()),
        run_id: run.id.clone(),
        sequence_number: sequence,
        model: run.network[sequence as usize % run.network.len()].clone(),
        input_invocation_id: sequence
            .checked_sub(1)
            .map(|previous| derived_id(&run.id, &previous.to_string())),
        seed: run.seed,
        output: output(run, sequence),
        batch_size: 1,
        started_at: 10 + sequence as i64,
        completed_at: 11 + sequence as i64,
    }
}

/// Writes steps `from..to` of every run, one `commit_step` per step; stops runs that reach
/// their max length.
pub fn write_steps(store: &mut Store, runs: &[RunRecord], from: u32, to: u32) {
    for sequence in from..to {
        let mut step = StepWrite::default();
        for run in runs.iter().filter(|run| sequence < run.max_length) {
            step.invocations.push(invocation(run, sequence));
            if sequence + 1 == run.max_length {
                step.stops.push((run.id.clone(), StopReason::Length));
            }
        }
        store.commit_step(&step).expect("commit step");
    }
}

/// Embeds every text invocation of `run` with `model` (vector derived from the sequence).
pub fn embed_texts(
    store: &mut Store,
    run: &RunRecord,
    model: &str,
    dimension: usize,
) -> Vec<String> {
    let records: Vec<EmbeddingRecord> = store
        .invocations(&run.id)
        .expect("invocations")
        .into_iter()
        .filter(|inv| matches!(inv.output, Output::Text(_)))
        .map(|inv| EmbeddingRecord {
            id: derived_id(&inv.id, model),
            invocation_id: inv.id.clone(),
            embedding_model: model.into(),
            vector: (0..dimension)
                .map(|i| (i as f32 + inv.sequence_number as f32).sin())
                .collect(),
            started_at: 1,
            completed_at: 2,
        })
        .collect();
    store
        .insert_embeddings(&records)
        .expect("insert embeddings");
    records.into_iter().map(|r| r.id).collect()
}

pub fn count(store: &Store, sql: &str) -> i64 {
    store
        .raw_connection_for_tests()
        .query_row(sql, [], |row| row.get(0))
        .expect("count query")
}

/// An HDBSCAN clustering record of `model` over one experiment, to insert with its clusters.
pub fn clustering_record(id: &str, model: &str, experiment_id: &str) -> ClusteringRecord {
    ClusteringRecord {
        id: id.into(),
        embedding_model: model.into(),
        algorithm: "hdbscan".into(),
        parameters_json: "{}".into(),
        scope_json: "{}".into(),
        created_at: 5,
        duration_ms: 1,
        experiment_ids: vec![experiment_id.into()],
    }
}
