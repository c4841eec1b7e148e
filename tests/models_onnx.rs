//! The ONNX embedding pipelines (tokenizer → graph → pooling → normalisation, CLIP preprocessing)
//! run on tiny graphs with the real exports' signatures, made by
//! `tests/fixtures/make_tiny_onnx.py` (run by `make test` / `make fixtures`).

use std::path::PathBuf;

use image::{Rgb, RgbImage};
use panic_tda::models::catalog::{Runtime, TextEncoderSpec};
use panic_tda::models::onnx::{SessionOptions, TextEncoder};
use panic_tda::models::{
    CatalogProvider, Embedder, Input, ModelError, ModelProvider, ProviderOptions, lookup,
};
use panic_tda::paths::AppPaths;

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("PANIC_TDA_TEST_FIXTURES")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-fixtures"));
    assert!(
        dir.join("nomic-text/onnx/model.onnx").is_file()
            && dir.join("clip/onnx/model.onnx").is_file(),
        "tiny ONNX test fixtures are missing in {}; run `make test` (or `make fixtures`) to generate them",
        dir.display()
    );
    dir
}

fn paths() -> AppPaths {
    AppPaths::from_env().expect("app paths")
}

fn provider(model: &str, dir: &str) -> CatalogProvider {
    let options = ProviderOptions {
        offline: true,
        threads: 1,
        ..ProviderOptions::default()
    };
    CatalogProvider::new(paths(), options).with_model_dir(model, fixtures().join(dir))
}

fn load(model: &str, dir: &str) -> Box<dyn Embedder> {
    provider(model, dir)
        .load_embedder(model)
        .unwrap_or_else(|e| panic!("loading {model} from the fixtures: {e}"))
}

fn texts<'a>(items: &[&'a str]) -> Vec<Input<'a>> {
    items.iter().map(|text| Input::Text(text)).collect()
}

fn norm(vector: &[f32]) -> f32 {
    vector.iter().map(|v| v * v).sum::<f32>().sqrt()
}

fn assert_close(a: &[f32], b: &[f32], tolerance: f32) {
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst <= tolerance, "vectors differ by {worst}");
}

fn words(count: usize) -> String {
    let vocabulary = [
        "man", "eating", "food", "cat", "dog", "red", "blue", "sky", "sea", "bread",
    ];
    (0..count)
        .map(|i| vocabulary[i * 7 % vocabulary.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

const SENTENCES: [&str; 5] = [
    "A man is eating food.",
    "the girl is carrying a baby",
    "",
    "red sky, blue sea",
    "hello world hello world hello world",
];

#[test]
fn nomic_text_shapes_unit_length_and_determinism() {
    let mut model = load("NomicText", "nomic-text");
    assert_eq!(model.info().dimension, 768);
    assert!(model.info().normalised);
    let first = model.embed(&texts(&SENTENCES)).expect("embed");
    assert_eq!(first.len(), SENTENCES.len());
    for vector in &first {
        assert_eq!(vector.len(), 768);
        assert!((norm(vector) - 1.0).abs() < 1e-5);
    }
    assert_ne!(first[0], first[1]);
    assert_eq!(model.embed(&texts(&SENTENCES)).expect("embed"), first);
}

#[test]
fn nomic_text_batch_equals_one_by_one() {
    let mut model = load("NomicText", "nomic-text");
    let batch = model.embed(&texts(&SENTENCES)).expect("embed");
    for (sentence, batched) in SENTENCES.iter().zip(&batch) {
        let single = model.embed(&texts(&[sentence])).expect("embed");
        assert_close(&single[0], batched, 1e-5);
    }
}

#[test]
fn nomic_text_truncates_long_input_at_512_tokens() {
    let mut model = load("NomicText", "nomic-text");
    let (long, longer) = (words(2000), words(3000));
    let (short, short_plus) = (words(100), words(101));
    let vectors = model
        .embed(&texts(&[&long, &longer, &short, &short_plus]))
        .expect("embed");
    assert_close(&vectors[0], &vectors[1], 1e-6);
    assert_ne!(vectors[2], vectors[3]);
}

#[test]
fn nomic_text_applies_the_search_document_prefix() {
    let Runtime::TextEncoder(spec) = lookup("NomicText").expect("catalog").runtime else {
        panic!("NomicText is a text encoder");
    };
    let dir = fixtures().join("nomic-text");
    let options = SessionOptions {
        threads: 1,
        ..SessionOptions::default()
    };
    let mut with_prefix =
        TextEncoder::load("NomicText", &dir, spec, &paths(), options).expect("load");
    let bare = TextEncoderSpec { prefix: "", ..spec };
    let mut without = TextEncoder::load("bare", &dir, bare, &paths(), options).expect("load");
    let prefixed = with_prefix.embed_texts(&["a red cat"]).expect("embed");
    let explicit = without
        .embed_texts(&["search_document: a red cat"])
        .expect("embed");
    let plain = without.embed_texts(&["a red cat"]).expect("embed");
    assert_close(&prefixed[0], &explicit[0], 1e-6);
    assert_ne!(prefixed[0], plain[0]);
}

#[test]
fn text_encoders_reject_images() {
    let mut model = load("NomicText", "nomic-text");
    let image = RgbImage::new(4, 4);
    assert!(matches!(
        model.embed(&[Input::Image(&image)]),
        Err(ModelError::WrongInput { .. })
    ));
    assert!(model.embed(&[]).expect("empty batch").is_empty());
}

fn test_images() -> Vec<RgbImage> {
    vec![
        RgbImage::from_pixel(256, 256, Rgb([10, 220, 230])),
        RgbImage::from_fn(320, 200, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        }),
        RgbImage::from_fn(64, 640, |x, y| Rgb([(x * 3) as u8, 0, (y / 3) as u8])),
        RgbImage::from_pixel(224, 224, Rgb([230, 40, 220])),
    ]
}

#[test]
fn clip_embeds_text_and_images_in_one_normalised_space() {
    let mut model = load("ClipB32", "clip");
    assert_eq!(model.info().dimension, 512);
    assert_eq!(model.info().modalities.len(), 2);
    let images = test_images();
    let mut inputs = texts(&SENTENCES);
    inputs.extend(images.iter().map(Input::Image));
    let vectors = model.embed(&inputs).expect("embed");
    assert_eq!(vectors.len(), SENTENCES.len() + images.len());
    for vector in &vectors {
        assert_eq!(vector.len(), 512);
        assert!((norm(vector) - 1.0).abs() < 1e-5);
    }
    assert_ne!(vectors[SENTENCES.len()], vectors[SENTENCES.len() + 1]);
    assert_ne!(vectors[0], vectors[1]);
    assert_eq!(model.embed(&inputs).expect("embed"), vectors);
}

#[test]
fn clip_batch_equals_one_by_one_in_any_order() {
    let mut model = load("ClipB32", "clip");
    let images = test_images();
    let mixed = [
        Input::Text(SENTENCES[0]),
        Input::Image(&images[1]),
        Input::Text(SENTENCES[3]),
        Input::Image(&images[2]),
        Input::Text(SENTENCES[2]),
    ];
    let batch = model.embed(&mixed).expect("embed");
    for (input, batched) in mixed.iter().zip(&batch) {
        let single = model.embed(&[*input]).expect("embed");
        assert_close(&single[0], batched, 1e-5);
    }
}

#[test]
fn clip_truncates_text_at_77_tokens() {
    let mut model = load("ClipB32", "clip");
    let (long, longer) = (words(200), words(300));
    let (short, short_plus) = (words(20), words(21));
    let vectors = model
        .embed(&texts(&[&long, &longer, &short, &short_plus]))
        .expect("embed");
    assert_close(&vectors[0], &vectors[1], 1e-6);
    assert_ne!(vectors[2], vectors[3]);
}

#[test]
fn clip_combined_graph_matches_the_separate_towers() {
    let mut towers = load("ClipB32", "clip");
    let mut combined = load("ClipB32", "clip-combined");
    let images = test_images();
    let mut inputs = texts(&SENTENCES);
    inputs.extend(images.iter().map(Input::Image));
    let a = towers.embed(&inputs).expect("towers");
    let b = combined.embed(&inputs).expect("combined");
    for (x, y) in a.iter().zip(&b) {
        assert_close(x, y, 1e-5);
    }
}

/// The models' image preprocessing against Pillow (what Hugging Face's image processors use):
/// CLIP's bicubic shortest-side resize and centre crop, ViT-GPT2's bilinear 224², Florence-2's
/// bicubic 768². The `image` crate's kernels are Pillow's, applied in Pillow's pass order; only
/// rounding may differ, by one level (one pass in the other order differed by up to 24).
#[test]
fn image_preprocessing_matches_pillow() {
    use image::imageops::FilterType;
    use panic_tda::models::onnx::caption::resized_pixels;
    use panic_tda::models::onnx::clip::clip_pixels;
    let folder = fixtures().join("preprocess");
    for name in ["landscape", "portrait"] {
        let image = image::open(folder.join(format!("{name}.png")))
            .expect("fixture image")
            .to_rgb8();
        let cases = [
            ("clip", 224, clip_pixels(&image, 224, [0.0; 3], [1.0; 3])),
            (
                "vit",
                224,
                resized_pixels(&image, 224, FilterType::Triangle, [0.0; 3], [1.0; 3]),
            ),
            (
                "florence",
                768,
                resized_pixels(&image, 768, FilterType::CatmullRom, [0.0; 3], [1.0; 3]),
            ),
        ];
        for (model, size, pixels) in cases {
            let pixels = pixels.expect("preprocess");
            let expected =
                std::fs::read(folder.join(format!("{name}.{model}.rgb"))).expect("reference");
            let plane = size * size;
            assert_eq!(expected.len(), 3 * plane);
            let mut worst = 0f32;
            let mut total = 0f64;
            for index in 0..plane {
                for channel in 0..3 {
                    let ours = pixels[channel * plane + index] * 255.0;
                    let theirs = f32::from(expected[index * 3 + channel]);
                    let difference = (ours - theirs).abs();
                    worst = worst.max(difference);
                    total += f64::from(difference);
                }
            }
            let mean = total / (3 * plane) as f64;
            eprintln!("{name} {model}: worst {worst}, mean {mean:.5}");
            assert!(
                worst <= 1.0,
                "{name} {model}: a pixel is {worst} levels from Pillow's"
            );
            // Measured: ≤ 0.0003 for the bicubic cases; bilinear ViT up to 0.064 (Pillow's
            // fixed-point weights round more often the other way).
            assert!(
                mean <= 0.1,
                "{name} {model}: {mean} levels from Pillow's on average"
            );
        }
    }
}
