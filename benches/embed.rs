//! Criterion benchmark of text embedding: MiniLM (when `make setup` has installed it) and the
//! dummy text embedder, on a batch of 32 sentences.

use criterion::{Criterion, criterion_group, criterion_main};
use panic_tda::models::{CatalogProvider, Input, ModelProvider, ProviderOptions};
use panic_tda::paths::AppPaths;

fn sentences() -> Vec<String> {
    (0..32)
        .map(|i| format!("A photograph of {i} red boats drifting under a bright evening sky near the old harbour."))
        .collect()
}

fn bench_embed(c: &mut Criterion) {
    let Ok(paths) = AppPaths::from_env() else {
        eprintln!("no app paths; skipping");
        return;
    };
    let options = ProviderOptions {
        offline: true,
        ..ProviderOptions::default()
    };
    let provider = CatalogProvider::new(paths, options);
    let texts = sentences();
    let inputs: Vec<Input<'_>> = texts.iter().map(|text| Input::Text(text)).collect();
    for name in ["MiniLM", "DummyText"] {
        let mut model = match provider.load_embedder(name) {
            Ok(model) => model,
            Err(error) => {
                eprintln!("skipping {name}: {error}");
                continue;
            }
        };
        c.bench_function(&format!("{name} batch 32"), |b| {
            b.iter(|| {
                model
                    .embed(&inputs)
                    .map(|vectors| vectors.len())
                    .unwrap_or(0)
            })
        });
    }
}

criterion_group!(benches, bench_embed);
criterion_main!(benches);
