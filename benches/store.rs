//! Store write throughput: text invocations, 256×256 image invocations (WebP encoding
//! included, and measured alone), and 768-d embeddings, into a file database (WAL, as used).
//!
//! Run: `cargo bench --profile dev --bench store` (see BENCHMARKS.md for why dev).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use image::RgbImage;
use panic_tda::models::Output;
use panic_tda::store::{
    EmbeddingRecord, ExperimentRecord, ExperimentStatus, InvocationRecord, RunRecord, StepWrite,
    Store, derived_id, encode_image,
};

const RUNS: u32 = 100;
const IMAGE_BATCH: u32 = 8;
const EMBEDDING_BATCH: usize = 256;

fn setup(dir: &std::path::Path) -> (Store, Vec<RunRecord>) {
    let mut store = Store::open(&dir.join("bench.sqlite")).expect("open");
    store
        .insert_experiment(&ExperimentRecord {
            id: "bench".into(),
            config_json: "{}".into(),
            created_at: 0,
            started_at: None,
            completed_at: None,
            status: ExperimentStatus::Running,
        })
        .expect("experiment");
    let runs: Vec<RunRecord> = (0..RUNS)
        .map(|i| RunRecord {
            id: derived_id("bench", &i.to_string()),
            experiment_id: "bench".into(),
            network_index: 0,
            network: vec!["DummyT2I".into(), "DummyI2T".into()],
            prompt_index: i,
            initial_prompt: format!("prompt {i}"),
            seed_index: 0,
            seed: 42,
            max_length: u32::MAX,
            stop: None,
        })
        .collect();
    store.insert_runs(&runs).expect("runs");
    (store, runs)
}

/// A generated-looking image: smooth gradients with noise (compresses like real outputs do,
/// neither trivially nor not at all).
fn picture(seed: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    RgbImage::from_fn(256, 256, |x, y| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (state >> 28) as u8;
        image::Rgb([
            (x as u8).wrapping_add(noise),
            (y as u8).wrapping_add(noise),
            ((x + y) / 2) as u8 ^ (seed as u8),
        ])
    })
}

fn invocation(run: &RunRecord, sequence: u32, output: Output) -> InvocationRecord {
    InvocationRecord {
        id: derived_id(&run.id, &sequence.to_string()),
        run_id: run.id.clone(),
        sequence_number: sequence,
        model: run.network[sequence as usize % 2].clone(),
        input_invocation_id: None,
        seed: 42,
        output,
        batch_size: 1,
        started_at: 0,
        completed_at: 1,
    }
}

fn text_invocations(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, runs) = setup(dir.path());
    let mut sequence = 0u32;
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(RUNS as u64));
    group.bench_function("text invocations (batch of 100)", |b| {
        b.iter(|| {
            let step = StepWrite {
                invocations: runs
                    .iter()
                    .map(|run| {
                        let text = format!("a caption of a picture, step {sequence} of {}", run.id);
                        invocation(run, sequence, Output::Text(text))
                    })
                    .collect(),
                stops: Vec::new(),
            };
            store.commit_step(&step).expect("commit");
            sequence += 1;
        })
    });
    group.finish();
}

fn image_invocations(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, runs) = setup(dir.path());
    let pictures: Vec<RgbImage> = (0..IMAGE_BATCH).map(picture).collect();
    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    group.bench_function("png (fast) encode 256x256, as stored", |b| {
        b.iter(|| encode_image(&pictures[0]).expect("encode"))
    });
    // The alternative the store does not use: lossless WebP (smaller, far slower to write).
    group.bench_function("webp lossless encode 256x256, for comparison", |b| {
        b.iter(|| {
            let mut bytes = Vec::new();
            image::codecs::webp::WebPEncoder::new_lossless(&mut bytes)
                .encode(
                    pictures[0].as_raw(),
                    256,
                    256,
                    image::ExtendedColorType::Rgb8,
                )
                .expect("webp");
            bytes
        })
    });
    let mut sequence = 0u32;
    group.throughput(Throughput::Elements(IMAGE_BATCH as u64));
    group.bench_function("image invocations 256x256 (batch of 8)", |b| {
        b.iter_batched(
            || {
                let step = StepWrite {
                    invocations: runs[..IMAGE_BATCH as usize]
                        .iter()
                        .zip(&pictures)
                        .map(|(run, picture)| {
                            invocation(run, sequence, Output::Image(picture.clone()))
                        })
                        .collect(),
                    stops: Vec::new(),
                };
                sequence += 1;
                step
            },
            |step| store.commit_step(&step).expect("commit"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn embeddings(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, runs) = setup(dir.path());
    // 256 invocations to embed; each iteration embeds them all with a new model name.
    let per_run = EMBEDDING_BATCH as u32 / RUNS + 1;
    let mut invocation_ids = Vec::new();
    for sequence in 0..per_run {
        let step = StepWrite {
            invocations: runs
                .iter()
                .map(|run| invocation(run, sequence, Output::Text(format!("text {sequence}"))))
                .collect(),
            stops: Vec::new(),
        };
        invocation_ids.extend(step.invocations.iter().map(|i| i.id.clone()));
        store.commit_step(&step).expect("commit");
    }
    invocation_ids.truncate(EMBEDDING_BATCH);
    let vector: Vec<f32> = (0..768).map(|i| (i as f32).sin()).collect();
    let mut round = 0u32;
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(EMBEDDING_BATCH as u64));
    group.bench_function("embeddings 768-d (batch of 256)", |b| {
        b.iter_batched(
            || {
                round += 1;
                invocation_ids
                    .iter()
                    .map(|invocation_id| EmbeddingRecord {
                        id: derived_id(invocation_id, &round.to_string()),
                        invocation_id: invocation_id.clone(),
                        embedding_model: format!("Model{round}"),
                        vector: vector.clone(),
                        started_at: 0,
                        completed_at: 1,
                    })
                    .collect::<Vec<_>>()
            },
            |records| store.insert_embeddings(&records).expect("insert"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, text_invocations, image_invocations, embeddings);
criterion_main!(benches);
