//! Engine overhead with dummy models: whole experiments (planning, lock-step batching, loop
//! detection, PNG encoding of images, SQLite writes, embedding with the dummy embedder) per second
//! of wall time. Run: `cargo bench --bench engine` (see BENCHMARKS.md).

use std::sync::mpsc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use panic_tda::config::{self, ExperimentConfig};
use panic_tda::engine::{self, CancelToken, EngineOptions};
use panic_tda::models::provider::{CatalogProvider, ProviderOptions};
use panic_tda::paths::AppPaths;
use panic_tda::store::Store;

fn experiment(image_size: i64, embed: bool) -> ExperimentConfig {
    ExperimentConfig {
        networks: vec![vec!["DummyT2I".into(), "DummyI2T".into()]],
        prompts: (0..8).map(|p| format!("prompt {p}")).collect(),
        seeds: None,
        num_runs: Some(8),
        embedding_models: if embed {
            vec!["DummyText".into()]
        } else {
            vec![]
        },
        max_length: 100,
        image_size: Some(image_size),
    }
}

fn engine_throughput(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let provider =
        CatalogProvider::new(AppPaths::rooted_at(dir.path()), ProviderOptions::default());
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    for (label, size) in [("64x64 images", 64), ("256x256 images", 256)] {
        let raw = experiment(size, true);
        let validated = config::validate(&raw, &provider).expect("valid");
        // 64 runs × 100 steps; half are images, half texts (which are also embedded).
        group.throughput(Throughput::Elements(64 * 100));
        let mut round = 0;
        group.bench_function(
            format!("dummy experiment, 64 runs x 100 steps, {label}"),
            |b| {
                b.iter(|| {
                    round += 1;
                    let mut store =
                        Store::open(&dir.path().join(format!("bench-{size}-{round}.sqlite")))
                            .expect("store");
                    let id = engine::create_experiment(&mut store, &validated).expect("create");
                    let (sender, _receiver) = mpsc::channel();
                    engine::run_experiment(
                        &mut store,
                        &provider,
                        &id,
                        EngineOptions::default(),
                        &sender,
                        &CancelToken::new(),
                    )
                    .expect("run")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, engine_throughput);
criterion_main!(benches);
