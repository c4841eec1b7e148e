//! MiniLM sentences/s of the Rust pipeline at batch 1, 32 and 256 over the sentences in
//! `$EMBED_BENCH_SENTENCES` (one per line); run by `benches/run_embed_bench.sh`, which compares it
//! with `benches/embed_python.py` on the same file. Prints one JSON line per batch size.
//! `EMBED_BENCH_THREADS` sets ONNX Runtime's intra-op threads (default: one per core).

use std::time::Instant;

use panic_tda::models::{CatalogProvider, Embedder, Input, ModelProvider, ProviderOptions};
use panic_tda::paths::AppPaths;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(file) = std::env::var_os("EMBED_BENCH_SENTENCES") else {
        eprintln!(
            "set EMBED_BENCH_SENTENCES to a file of sentences (benches/run_embed_bench.sh does)"
        );
        return Ok(());
    };
    let text = std::fs::read_to_string(file)?;
    let sentences: Vec<&str> = text.lines().collect();
    let threads = std::env::var("EMBED_BENCH_THREADS")
        .ok()
        .and_then(|threads| threads.parse().ok())
        .unwrap_or(0);
    let options = ProviderOptions {
        offline: true,
        threads,
        ..ProviderOptions::default()
    };
    let mut model = CatalogProvider::new(AppPaths::from_env()?, options).load_embedder("MiniLM")?;
    let embed =
        |model: &mut Box<dyn Embedder>, batch: &[&str]| -> Result<(), Box<dyn std::error::Error>> {
            let inputs: Vec<Input<'_>> = batch.iter().map(|text| Input::Text(text)).collect();
            model.embed(&inputs)?;
            Ok(())
        };
    embed(&mut model, &sentences[..64.min(sentences.len())])?; // warm-up
    let batches: Vec<usize> = std::env::var("EMBED_BENCH_BATCHES")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|b| b.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1, 32, 256]);
    for batch in batches {
        let mut best = f64::INFINITY;
        for _ in 0..2 {
            let start = Instant::now();
            for chunk in sentences.chunks(batch.max(1)) {
                embed(&mut model, chunk)?;
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!(
            "{{\"impl\": \"rust\", \"batch\": {batch}, \"sentences\": {}, \"seconds\": {best:.4}, \"per_second\": {:.1}}}",
            sentences.len(),
            sentences.len() as f64 / best
        );
    }
    Ok(())
}
