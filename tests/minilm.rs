//! The real all-MiniLM-L6-v2 files installed by `make setup`: semantic sanity, batching,
//! normalisation and long inputs.

use panic_tda::models::files;
use panic_tda::models::{CatalogProvider, Embedder, Input, ModelProvider, ProviderOptions, lookup};
use panic_tda::paths::AppPaths;

fn minilm() -> Box<dyn Embedder> {
    let paths = AppPaths::from_env().expect("app paths");
    let entry = lookup("MiniLM").expect("catalog");
    let location = files::locate(&paths, entry, None);
    let status = files::status(entry, &location);
    assert!(
        status.is_complete(),
        "MiniLM files are missing ({}); run `make setup` (scripts/setup.sh) to install them",
        status.missing().join(", ")
    );
    let options = ProviderOptions {
        offline: true,
        ..ProviderOptions::default()
    };
    CatalogProvider::new(paths, options)
        .load_embedder("MiniLM")
        .unwrap_or_else(|e| panic!("loading MiniLM: {e}"))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn embed(model: &mut Box<dyn Embedder>, items: &[&str]) -> Vec<Vec<f32>> {
    let inputs: Vec<Input<'_>> = items.iter().map(|text| Input::Text(text)).collect();
    model.embed(&inputs).expect("embed")
}

#[test]
fn similar_sentences_are_close_and_unrelated_ones_far() {
    let mut model = minilm();
    assert_eq!(model.info().dimension, 384);
    let v = embed(
        &mut model,
        &[
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The girl is carrying a baby.",
        ],
    );
    let similar = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]);
    assert!(similar > 0.6, "similar sentences: cosine {similar}");
    assert!(unrelated < 0.2, "unrelated sentences: cosine {unrelated}");
}

#[test]
fn batch_equals_one_by_one_and_vectors_are_unit_length() {
    let mut model = minilm();
    let sentences = [
        "A man is eating food.",
        "",
        "Short.",
        "A considerably longer sentence, with punctuation; it pads the others in the batch a lot.",
        "The girl is carrying a baby.",
    ];
    let batch = embed(&mut model, &sentences);
    for (sentence, batched) in sentences.iter().zip(&batch) {
        let single = embed(&mut model, &[sentence]);
        let worst = single[0]
            .iter()
            .zip(batched)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            worst < 1e-5,
            "{sentence:?}: batch and single differ by {worst}"
        );
        let norm = batched.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{sentence:?}: norm {norm}");
    }
}

#[test]
fn empty_and_very_long_inputs_work() {
    let mut model = minilm();
    let long = (0..2000)
        .map(|i| format!("word{}", i % 97))
        .collect::<Vec<_>>()
        .join(" ");
    let longer = format!("{long} and then some more words at the end");
    let v = embed(&mut model, &["", &long, &longer]);
    assert!(
        v.iter()
            .all(|vector| vector.len() == 384 && vector.iter().all(|x| x.is_finite()))
    );
    // Truncated at 256 tokens, so the extra tail changes nothing.
    let worst = v[1]
        .iter()
        .zip(&v[2])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-6, "truncation: {worst}");
}
