//! Sketch model throughput on one thread: images drawn per second (`SketchT2I`, 256×256) and
//! captions per second (`SketchI2T`). Run: `cargo bench --bench sketch` (see BENCHMARKS.md).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use panic_tda::models::sketch::{SKETCH_I2T, SKETCH_T2I, SketchImageToText, SketchTextToImage};
use panic_tda::models::{ImageToText, Seed, TextToImage};

const PROMPTS: [&str; 8] = [
    "a red apple on a wooden table",
    "a lighthouse in a storm",
    "a portrait of a smiling woman",
    "three yellow stars over the sea at night",
    "a pastel drawing of a pink flower in a meadow",
    "two grey mountains at sunset",
    "pixel art of a small blue car on the left and a green tree",
    "neon art of a cyan diamond",
];

fn sketch_throughput(c: &mut Criterion) {
    let mut t2i = SketchTextToImage::new(SKETCH_T2I);
    let mut i2t = SketchImageToText::new(SKETCH_I2T);
    let seeds: Vec<Seed> = (0..PROMPTS.len() as u64).map(Some).collect();
    let images = t2i.generate(&PROMPTS, &seeds, 256).expect("generate");
    let image_refs: Vec<_> = images.iter().collect();

    let mut group = c.benchmark_group("sketch");
    group.throughput(Throughput::Elements(PROMPTS.len() as u64));
    group.bench_function("SketchT2I 256x256 images", |b| {
        b.iter(|| t2i.generate(&PROMPTS, &seeds, 256).expect("generate"))
    });
    group.bench_function("SketchI2T captions of 256x256 images", |b| {
        b.iter(|| i2t.caption(&image_refs, &seeds).expect("caption"))
    });
    group.finish();
}

criterion_group!(benches, sketch_throughput);
criterion_main!(benches);
