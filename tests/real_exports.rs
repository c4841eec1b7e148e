//! The pipelines on tiny random-weight models exported by the real exporters (Optimum /
//! torch.onnx) in the catalog repos' layouts, checked against the Python pipelines' outputs on
//! the same weights: `tests/fixtures/make_real_exports.py` made `tests/fixtures/real/` and
//! documents each `reference/reference.json`. Every model is loaded as a user's local model
//! directory would be, through the catalog entry's spec; the config files in each directory
//! (tokenizer, scheduler, VAE, preprocessor, generation) are read by the pipelines, and the
//! edited-copy tests below check each of those readings.
//!
//! `PANIC_TDA_TEST_DEVICE` (`cpu`, `cuda` or `auto`; unset is `auto`, the app's default) chooses
//! the device every model here is loaded on. With `cuda`, every test that loads a model fails
//! (it does not fall back to the CPU) unless the loaded ONNX Runtime has the CUDA provider and it registers for a
//! session; the captioners' decoders and the UNets then run through I/O bindings on the device.
//! `PANIC_TDA_REAL_FIXTURES` points at a copy of `tests/fixtures/real/` when the binary runs
//! elsewhere than where it was built (`scripts/gpu-check.sh` sets it). The ignored
//! `lock_step_batch_throughput_per_model` prints items per second per model and batch size.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use image::RgbImage;
use image::imageops::FilterType;
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use panic_tda::models::catalog::{CLIP_MEAN, CLIP_STD, DiffusionSpec, Runtime};
use panic_tda::models::onnx::binding::Placement;
use panic_tda::models::onnx::diffusion::ReferenceNoise;
use panic_tda::models::onnx::pixels::{ImagePreprocess, Resize};
use panic_tda::models::onnx::text::load_tokenizer;
use panic_tda::models::onnx::{
    ClipEmbedder, DevicePreference, EncoderDecoderCaptioner, Florence2, SessionOptions,
    StableDiffusion, TextEncoder, runtime, session,
};
use panic_tda::models::{
    CatalogProvider, GenerativeModel, ModelError, ModelProvider, ProviderOptions, lookup,
};
use panic_tda::paths::AppPaths;
use serde_json::Value;

// --- helpers -----------------------------------------------------------------------------------

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("PANIC_TDA_REAL_FIXTURES").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real"),
    }
}

fn fixture(model: &str) -> PathBuf {
    let dir = fixtures_dir().join(model);
    assert!(
        dir.join("reference/reference.json").is_file(),
        "{} is missing; regenerate with tests/fixtures/make_real_exports.py (or point \
         PANIC_TDA_REAL_FIXTURES at a copy of tests/fixtures/real)",
        dir.display()
    );
    dir
}

fn reference(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("reference/reference.json")).expect("reference");
    serde_json::from_str(&text).expect("reference.json")
}

fn npy(dir: &Path, name: &str) -> ArrayD<f32> {
    let file = std::fs::File::open(dir.join("reference").join(name)).expect(name);
    ArrayD::<f32>::read_npy(file).expect(name)
}

fn png(dir: &Path, name: &str) -> RgbImage {
    image::open(dir.join("reference").join(name))
        .expect(name)
        .to_rgb8()
}

fn ids(value: &Value) -> Vec<u32> {
    serde_json::from_value(value.clone()).expect("token ids")
}

fn paths() -> AppPaths {
    AppPaths::from_env().expect("app paths")
}

fn options() -> SessionOptions {
    SessionOptions {
        device: device(),
        threads: 2,
    }
}

// --- device ------------------------------------------------------------------------------------

const DEVICE_VARIABLE: &str = "PANIC_TDA_TEST_DEVICE";

/// `PANIC_TDA_TEST_DEVICE`'s value as a device; unset or empty is the app's default, `auto`.
fn parse_device(value: Option<&str>) -> Result<DevicePreference, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(DevicePreference::default()),
        Some("auto") => Ok(DevicePreference::Auto),
        Some("cpu") => Ok(DevicePreference::Cpu),
        Some("cuda") => Ok(DevicePreference::Cuda),
        Some(other) => Err(format!(
            "{DEVICE_VARIABLE}={other:?} is not a device here; use cpu, cuda or auto"
        )),
    }
}

/// The device the tests load models on. A `cuda` that cannot be honoured panics in every test
/// with the reason ([`require_device`]), so a run meant for the GPU never passes on the CPU.
fn device() -> DevicePreference {
    static DEVICE: OnceLock<Result<DevicePreference, String>> = OnceLock::new();
    let device = DEVICE.get_or_init(|| {
        let value = std::env::var(DEVICE_VARIABLE).ok();
        let device = parse_device(value.as_deref())?;
        require_device(device)?;
        Ok(device)
    });
    match device {
        Ok(device) => *device,
        Err(message) => panic!("{message}"),
    }
}

/// Fails unless `device` is what sessions will really run on: for `cuda`, the loaded ONNX
/// Runtime must have the CUDA provider and a session opened with it must have a CUDA allocator
/// (a provider that fails to register, e.g. for a missing cuDNN, leaves the session on the CPU).
fn require_device(device: DevicePreference) -> Result<(), String> {
    if device != DevicePreference::Cuda {
        return Ok(());
    }
    let name = "cuda";
    let paths = paths();
    let info = runtime::init(&paths).map_err(|e| format!("{DEVICE_VARIABLE}={name}: {e}"))?;
    runtime::choose_device(info, device).map_err(|e| format!("{DEVICE_VARIABLE}={name}: {e}"))?;
    let Runtime::TextEncoder(spec) = lookup("NomicText").expect("catalog").runtime else {
        panic!("NomicText is a text encoder");
    };
    let probe = fixture("bert-text").join(spec.model);
    let session = session::open(&paths, &probe, SessionOptions { device, threads: 1 })
        .map_err(|e| format!("{DEVICE_VARIABLE}={name}: {e}"))?;
    if Placement::of(&session) != Placement::Cuda {
        return Err(format!(
            "{DEVICE_VARIABLE}={name}: the CUDA execution provider of the ONNX Runtime at {} did not \
             register for {} (the session fell back to the CPU); check that the CUDA 13 and \
             cuDNN 9 libraries are in its gpu/cuda/ directory (`make setup-gpu`) and that \
             `nvidia-smi` sees a GPU",
            info.path.display(),
            probe.display()
        ));
    }
    Ok(())
}

#[test]
fn test_device_values_are_parsed_and_unknown_ones_refused() {
    assert_eq!(parse_device(None), Ok(DevicePreference::Auto));
    assert_eq!(parse_device(Some("")), Ok(DevicePreference::Auto));
    assert_eq!(parse_device(Some("cpu")), Ok(DevicePreference::Cpu));
    assert_eq!(parse_device(Some(" cuda ")), Ok(DevicePreference::Cuda));
    let message = parse_device(Some("gpu")).expect_err("gpu is not a device name");
    assert!(
        message.contains(DEVICE_VARIABLE) && message.contains("cpu, cuda or auto"),
        "{message}"
    );
}

#[test]
fn a_cuda_request_without_a_cuda_provider_fails_with_the_reason() {
    let info = runtime::init(&paths()).expect("ONNX Runtime");
    if info.has_provider("CUDAExecutionProvider") {
        eprintln!(
            "skipped: the ONNX Runtime at {} has CUDA",
            info.path.display()
        );
        return;
    }
    let message = require_device(DevicePreference::Cuda).expect_err("no CUDA provider here");
    eprintln!("expected error: {message}");
    for part in [
        "PANIC_TDA_TEST_DEVICE=cuda",
        "execution provider cuda was requested but is not available",
        "make setup-gpu",
    ] {
        assert!(message.contains(part), "{message}");
    }
    assert!(require_device(DevicePreference::Cpu).is_ok());
}

/// Every `.onnx` file under `dir`, `reference/` excepted.
fn graphs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "reference") {
                found.extend(graphs(&path));
            }
        } else if path.extension().is_some_and(|ext| ext == "onnx") {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn every_fixture_graph_opens_on_the_test_device() {
    let device = device();
    let paths = paths();
    let info = runtime::init(&paths).expect("ONNX Runtime");
    let chosen = runtime::choose_device(info, device).expect("device");
    let all = graphs(&fixtures_dir());
    assert!(all.len() >= 17, "{} graphs", all.len());
    for graph in all {
        let session = session::open(&paths, &graph, options()).expect("open");
        let placement = Placement::of(&session);
        eprintln!("{}: {placement:?} ({})", graph.display(), chosen.provider);
        match device {
            DevicePreference::Cpu => assert_eq!(placement, Placement::Host),
            DevicePreference::Cuda | DevicePreference::Tensorrt => {
                assert_eq!(placement, Placement::Cuda, "{}", graph.display());
            }
            DevicePreference::Auto => {}
        }
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// Each row of `vectors` against the same row of `expected` `[rows, width]`.
fn assert_cosines(what: &str, vectors: &[Vec<f32>], expected: &ArrayD<f32>) {
    let width = expected.shape()[1];
    let flat: Vec<f32> = expected.iter().copied().collect();
    assert_eq!(vectors.len(), expected.shape()[0], "{what}: rows");
    for (row, (vector, want)) in vectors.iter().zip(flat.chunks_exact(width)).enumerate() {
        let similarity = cosine(vector, want);
        eprintln!(
            "{what} row {row}: cosine {similarity:.9} (1 - cosine = {:.1e})",
            1.0 - similarity
        );
        assert!(
            similarity >= 0.9999,
            "{what} row {row}: cosine {similarity}"
        );
    }
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// `preprocessor_config.json` as read: the steps exactly, the constants to f32 precision.
fn assert_preprocess(
    got: &ImagePreprocess,
    resize: Resize,
    filter: FilterType,
    crop: Option<(u32, u32)>,
    mean: [f32; 3],
    std: [f32; 3],
) {
    assert_eq!((got.resize, got.filter, got.crop), (resize, filter, crop));
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-6 * b.abs().max(1e-3);
    assert!((got.rescale - 1.0 / 255.0).abs() <= 1e-12, "{got:?}");
    for channel in 0..3 {
        assert!(close(got.mean[channel], mean[channel]), "{got:?}");
        assert!(close(got.std[channel], std[channel]), "{got:?}");
    }
}

/// A copy of `dir` (without `reference/`) to edit.
fn copy_fixture(dir: &Path) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                if entry.file_name() != "reference" {
                    copy(&entry.path(), &target);
                }
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }
    let temp = tempfile::tempdir().expect("tempdir");
    copy(dir, temp.path());
    temp
}

/// Sets (or with `None` removes) `field` of the JSON file at `path`.
fn edit_json(path: &Path, field: &str, value: Option<Value>) {
    let text = std::fs::read_to_string(path).expect("config");
    let mut json: Value = serde_json::from_str(&text).expect("json");
    let object = json.as_object_mut().expect("object");
    match value {
        Some(value) => object.insert(field.to_owned(), value),
        None => object.remove(field),
    };
    std::fs::write(path, serde_json::to_string_pretty(&json).expect("json")).expect("write");
}

/// Asserts `result` is a config error naming `file` and `field`.
fn assert_config_error<T>(result: Result<T, ModelError>, file: &str, field: &str) {
    match result {
        Err(error @ ModelError::Config(_)) => {
            let message = error.to_string();
            assert!(
                message.contains(file) && message.contains(field),
                "{message}"
            );
            eprintln!("expected error: {message}");
        }
        Err(other) => panic!("expected a config error about {file} {field}, got {other}"),
        Ok(_) => panic!("expected a config error about {file} {field}"),
    }
}

// --- ViT-GPT2 ----------------------------------------------------------------------------------

fn vit_gpt2(dir: &Path) -> Result<EncoderDecoderCaptioner, ModelError> {
    let Runtime::EncoderDecoder(spec) = lookup("VitGpt2").expect("catalog").runtime else {
        panic!("VitGpt2 is an encoder-decoder captioner");
    };
    EncoderDecoderCaptioner::load("VitGpt2", dir, spec, &paths(), options())
}

#[test]
fn vit_gpt2_greedy_captions_equal_the_reference_tokens() {
    let dir = fixture("vit-gpt2");
    let reference = reference(&dir);
    // generate(max_new_tokens=20) as in the reference.
    let mut model = vit_gpt2(&dir).expect("load").with_max_new_tokens(20);
    assert_eq!(model.start_and_end_ids(), (356, 356));
    let images = [png(&dir, "image.png"), png(&dir, "image_resized.png")];
    let got = model
        .generate_ids(&[&images[0], &images[1]], &[None, None])
        .expect("generate");
    for (row, expected) in [&reference, &reference["resized"]].into_iter().enumerate() {
        // The reference starts with the decoder start token; ours excludes it (and the end).
        let want: Vec<u32> = ids(&expected["token_ids"])[1..]
            .iter()
            .copied()
            .take_while(|&id| id != 356)
            .collect();
        assert_eq!(got[row], want, "image {row}");
        assert_eq!(
            model.caption_from_ids(&got[row]).expect("caption"),
            expected["text"].as_str().expect("text").trim()
        );
    }
}

#[test]
fn vit_gpt2_reads_its_preprocessor_and_generation_configs() {
    let dir = fixture("vit-gpt2");
    let model = vit_gpt2(&dir).expect("load");
    // generation_config.json gives no max_length: the catalog's 20 new tokens.
    assert_eq!(model.max_new_tokens(), 20);
    assert_preprocess(
        model.preprocess(),
        Resize::Exact {
            width: 224,
            height: 224,
        },
        FilterType::Triangle,
        None,
        [0.5; 3],
        [0.5; 3],
    );

    let copy = copy_fixture(&dir);
    let generation = copy.path().join("generation_config.json");
    edit_json(&generation, "decoder_start_token_id", Some(7.into()));
    edit_json(&generation, "max_length", Some(5.into()));
    let model = vit_gpt2(copy.path()).expect("load");
    assert_eq!(model.start_and_end_ids(), (7, 356));
    // max_length counts the start token.
    assert_eq!(model.max_new_tokens(), 4);
    // Without the file, the catalog's tokens and 20 new tokens.
    std::fs::remove_file(&generation).expect("rm");
    let model = vit_gpt2(copy.path()).expect("load");
    assert_eq!(model.start_and_end_ids(), (356, 356));
    assert_eq!(model.max_new_tokens(), 20);
    std::fs::copy(dir.join("generation_config.json"), &generation).expect("copy");
    edit_json(&generation, "eos_token_id", Some(99_999.into()));
    assert_config_error(
        vit_gpt2(copy.path()),
        "generation_config.json",
        "eos_token_id",
    );
    edit_json(&generation, "eos_token_id", Some(serde_json::json!([1, 2])));
    assert_config_error(
        vit_gpt2(copy.path()),
        "generation_config.json",
        "eos_token_id",
    );

    let preprocessor = copy.path().join("preprocessor_config.json");
    edit_json(&preprocessor, "resample", Some(3.into()));
    edit_json(
        &preprocessor,
        "image_mean",
        Some(serde_json::json!([0.1, 0.2, 0.3])),
    );
    edit_json(&preprocessor, "do_rescale", Some(false.into()));
    std::fs::copy(dir.join("generation_config.json"), &generation).expect("copy");
    let model = vit_gpt2(copy.path()).expect("load");
    assert_eq!(model.preprocess().filter, FilterType::CatmullRom);
    assert_eq!(model.preprocess().mean, [0.1, 0.2, 0.3]);
    assert_eq!(model.preprocess().rescale, 1.0);
    edit_json(&preprocessor, "resample", Some(0.into()));
    assert_config_error(
        vit_gpt2(copy.path()),
        "preprocessor_config.json",
        "resample",
    );
    edit_json(&preprocessor, "resample", Some(2.into()));
    edit_json(&preprocessor, "do_resize", Some(false.into()));
    assert_config_error(
        vit_gpt2(copy.path()),
        "preprocessor_config.json",
        "do_resize",
    );
}

#[test]
fn vit_gpt2_loads_through_the_provider_from_a_model_directory() {
    let dir = fixture("vit-gpt2");
    let reference = reference(&dir);
    let provider = CatalogProvider::new(
        paths(),
        ProviderOptions {
            device: device(),
            offline: true,
            threads: 2,
        },
    )
    .with_model_dir("VitGpt2", &dir);
    let GenerativeModel::ImageToText(mut model) =
        provider.load_generative("VitGpt2").expect("load")
    else {
        panic!("VitGpt2 captions images");
    };
    let image = png(&dir, "image.png");
    let caption = model.caption(&[&image], &[None]).expect("caption");
    // The catalog's 20 new tokens, as the reference's max_new_tokens.
    assert_eq!(caption[0], reference["text"].as_str().expect("text").trim());
}

// --- Florence-2 --------------------------------------------------------------------------------

fn florence(dir: &Path, no_repeat_ngram: usize) -> Result<Florence2, ModelError> {
    let Runtime::Florence2(mut spec) = lookup("Florence2").expect("catalog").runtime else {
        panic!("Florence2 is a Florence-2 captioner");
    };
    spec.sampling.no_repeat_ngram = no_repeat_ngram;
    Florence2::load("Florence2", dir, spec, &paths(), options())
}

#[test]
fn florence2_greedy_captions_equal_the_reference_tokens() {
    let dir = fixture("florence-2");
    let reference = reference(&dir);
    let image = png(&dir, "image.png");
    for (ngram, key) in [(0, "token_ids"), (3, "token_ids_no_repeat_ngram_3")] {
        let mut model = florence(&dir, ngram).expect("load").with_max_new_tokens(20);
        assert_eq!(model.special_ids(), (2, 0, 2));
        let prompt: Vec<i64> =
            serde_json::from_value(reference["prompt_ids"].clone()).expect("prompt ids");
        assert_eq!(model.prompt_ids(), prompt.as_slice());
        let got = model.generate_ids(&[&image], &[None]).expect("generate");
        // The reference starts with decoder start 2; ours with the forced 0, without the end.
        let want: Vec<u32> = ids(&reference[key])[1..]
            .iter()
            .copied()
            .take_while(|&id| id != 2)
            .collect();
        assert_eq!(got[0], want, "{key}");
    }
}

#[test]
fn florence2_reads_its_generation_config() {
    let dir = fixture("florence-2");
    let model = florence(&dir, 3).expect("load");
    // max_length 1025 leaves the catalog's 64.
    assert_eq!(model.max_new_tokens(), 64);
    let copy = copy_fixture(&dir);
    let generation = copy.path().join("generation_config.json");
    edit_json(&generation, "forced_bos_token_id", Some(5.into()));
    edit_json(&generation, "eos_token_id", Some(serde_json::json!([3])));
    let model = florence(copy.path(), 3).expect("load");
    assert_eq!(model.special_ids(), (2, 5, 3));
    edit_json(&generation, "decoder_start_token_id", Some("x".into()));
    assert_config_error(
        florence(copy.path(), 3),
        "generation_config.json",
        "decoder_start_token_id",
    );
}

// --- CLIP --------------------------------------------------------------------------------------

fn clip(dir: &Path) -> Result<ClipEmbedder, ModelError> {
    let Runtime::Clip(spec) = lookup("ClipB32").expect("catalog").runtime else {
        panic!("ClipB32 is a CLIP embedder");
    };
    ClipEmbedder::load("ClipB32", dir, spec, &paths(), options())
}

fn assert_clip_matches(model: &mut ClipEmbedder, dir: &Path, what: &str) {
    let reference = reference(dir);
    let texts: Vec<&str> = reference["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| t.as_str().expect("text"))
        .collect();
    let vectors = model.embed_texts(&texts).expect("texts");
    assert_cosines(
        &format!("{what} text"),
        &vectors,
        &npy(dir, "text_embeds.npy"),
    );
    let images = [png(dir, "image.png"), png(dir, "image_resized.png")];
    let vectors = model
        .embed_images(&[&images[0], &images[1]])
        .expect("images");
    assert_cosines(
        &format!("{what} image"),
        &vectors,
        &npy(dir, "image_embeds.npy"),
    );
}

#[test]
fn clip_towers_embed_as_the_reference() {
    let dir = fixture("clip");
    let mut model = clip(&dir).expect("load");
    assert_clip_matches(&mut model, &dir, "towers");
    assert_preprocess(
        model.preprocess(),
        Resize::ShortestEdge(224),
        FilterType::CatmullRom,
        Some((224, 224)),
        CLIP_MEAN,
        CLIP_STD,
    );
}

#[test]
fn clip_combined_graph_embeds_as_the_reference() {
    let dir = fixture("clip");
    let copy = copy_fixture(&dir);
    for tower in ["onnx/text_model.onnx", "onnx/vision_model.onnx"] {
        std::fs::remove_file(copy.path().join(tower)).expect("rm");
    }
    std::fs::create_dir_all(copy.path().join("reference")).expect("mkdir");
    for file in [
        "reference.json",
        "text_embeds.npy",
        "image_embeds.npy",
        "image.png",
        "image_resized.png",
    ] {
        std::fs::copy(
            dir.join("reference").join(file),
            copy.path().join("reference").join(file),
        )
        .expect("copy");
    }
    let mut model = clip(copy.path()).expect("load");
    assert_clip_matches(&mut model, copy.path(), "combined");
}

#[test]
fn clip_tokenizer_cases_equal_the_reference() {
    let dir = fixture("clip");
    let reference = reference(&dir);
    let tokenizer = load_tokenizer("ClipB32", &dir.join("tokenizer.json"), 77, "<|endoftext|>")
        .expect("tokenizer");
    for case in reference["tokenizer_cases"].as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        let got = tokenizer.encode(text, true).expect("encode");
        assert_eq!(got.get_ids(), ids(&case["ids"]).as_slice(), "{text:?}");
    }
}

// --- BERT-style text encoder -------------------------------------------------------------------

fn bert(dir: &Path) -> Result<TextEncoder, ModelError> {
    let Runtime::TextEncoder(spec) = lookup("NomicText").expect("catalog").runtime else {
        panic!("NomicText is a text encoder");
    };
    TextEncoder::load("NomicText", dir, spec, &paths(), options())
}

#[test]
fn bert_text_embeds_as_the_reference() {
    let dir = fixture("bert-text");
    let reference = reference(&dir);
    // The reference texts carry the task prefix the catalog entry adds itself.
    let texts: Vec<&str> = reference["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| {
            let text = t.as_str().expect("text");
            text.strip_prefix("search_document: ").expect("prefixed")
        })
        .collect();
    let mut model = bert(&dir).expect("load");
    let vectors = model.embed_texts(&texts).expect("embed");
    assert_cosines("bert-text", &vectors, &npy(&dir, "embeddings.npy"));

    let tokenizer =
        load_tokenizer("NomicText", &dir.join("tokenizer.json"), 512, "[PAD]").expect("tokenizer");
    for case in reference["tokenizer_cases"].as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        let got = tokenizer.encode(text, true).expect("encode");
        assert_eq!(got.get_ids(), ids(&case["ids"]).as_slice(), "{text:?}");
    }
}

#[test]
fn text_tokenizers_pad_with_the_token_their_directory_declares() {
    let dir = fixture("bert-text");
    let copy = copy_fixture(&dir);
    let config = copy.path().join("tokenizer_config.json");
    let pad_ids = |fallback: &str| {
        let tokenizer = load_tokenizer(
            "NomicText",
            &copy.path().join("tokenizer.json"),
            512,
            fallback,
        )
        .expect("tokenizer");
        let encodings = tokenizer
            .encode_batch(vec!["a cat", "a dog running on the beach"], true)
            .expect("encode");
        *encodings[0].get_ids().last().expect("padded")
    };
    // The declared [PAD] (id 0) wins over a catalog fallback this vocabulary lacks.
    assert_eq!(pad_ids("<no-such-token>"), 0);
    edit_json(&config, "pad_token", Some("[MASK]".into()));
    assert_eq!(pad_ids("[PAD]"), 4);
    edit_json(&config, "pad_token", Some("<nope>".into()));
    assert_config_error(
        load_tokenizer(
            "NomicText",
            &copy.path().join("tokenizer.json"),
            512,
            "[PAD]",
        ),
        "tokenizer_config.json",
        "pad_token",
    );
    // special_tokens_map.json is the next place to look.
    edit_json(&config, "pad_token", None);
    edit_json(
        &copy.path().join("special_tokens_map.json"),
        "pad_token",
        Some("[SEP]".into()),
    );
    assert_eq!(pad_ids("[PAD]"), 3);
    // Declared nowhere but in tokenizer.json's own padding.
    edit_json(
        &copy.path().join("special_tokens_map.json"),
        "pad_token",
        None,
    );
    edit_json(
        &copy.path().join("tokenizer.json"),
        "padding",
        Some(
            serde_json::json!({"strategy": "BatchLongest", "direction": "Right",
            "pad_to_multiple_of": null, "pad_id": 2, "pad_type_id": 0, "pad_token": "[CLS]"}),
        ),
    );
    assert_eq!(pad_ids("<no-such-token>"), 2);
}

// --- Stable Diffusion --------------------------------------------------------------------------

fn diffusion(model: &str, dir: &Path, steps: usize) -> Result<StableDiffusion, ModelError> {
    let Runtime::Diffusion(spec) = lookup(model).expect("catalog").runtime else {
        panic!("{model} is a diffusion pipeline");
    };
    // The fixtures are 128² (16² latents); the real models 512².
    let spec = DiffusionSpec {
        native_size: 128,
        steps,
        ..spec
    };
    StableDiffusion::load(model, dir, spec, &paths(), options())
}

/// Token ids of `text` for encoder `index`, padding after the end token removed.
fn unpadded(model: &StableDiffusion, index: usize, text: &str, pad: i64) -> Vec<u32> {
    let mut row = model.token_ids(index, &[text]).expect("ids");
    let end = row.iter().position(|&id| id == 613).expect("end token");
    assert!(
        row[end + 1..].iter().all(|&id| id == pad),
        "{text:?}: {row:?}"
    );
    row.truncate(end + 1);
    row.into_iter().map(|id| id as u32).collect()
}

fn assert_tokenizer_cases(model: &StableDiffusion, index: usize, cases: &Value, pad: i64) {
    for case in cases.as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        assert_eq!(
            unpadded(model, index, text, pad),
            ids(&case["ids"]),
            "encoder {index}: {text:?}"
        );
    }
}

fn assert_schedule(model: &StableDiffusion, run: &Value, ancestral: bool) {
    let schedule = model.schedule();
    let timesteps: Vec<f64> = serde_json::from_value(run["timesteps"].clone()).expect("timesteps");
    let sigmas: Vec<f64> = serde_json::from_value(run["sigmas"].clone()).expect("sigmas");
    assert_eq!(schedule.steps.len(), timesteps.len());
    for (step, (t, sigma)) in schedule.steps.iter().zip(timesteps.iter().zip(&sigmas)) {
        assert_eq!(step.timestep, *t);
        // The reference is float32.
        assert!(
            (step.sigma - sigma).abs() <= 1e-5 * sigma,
            "{step:?} vs {sigma}"
        );
    }
    let init = run["init_noise_sigma"].as_f64().expect("init");
    assert!((schedule.init_noise_sigma - init).abs() <= 1e-5 * init);
    let last = schedule.steps.len() - 1;
    for (index, step) in schedule.steps.iter().enumerate() {
        assert_eq!(step.sigma_up > 0.0, ancestral && index < last, "{step:?}");
    }
}

/// Mean absolute difference, in [0, 1] units, between `image` and `expected` `[H, W, 3]`.
fn mean_absolute_difference(image: &RgbImage, expected: &ArrayD<f32>) -> f64 {
    assert_eq!(
        expected.shape(),
        [image.height() as usize, image.width() as usize, 3]
    );
    let total: f64 = image
        .as_raw()
        .iter()
        .zip(expected.iter())
        .map(|(&byte, &want)| (f64::from(byte) / 255.0 - f64::from(want)).abs())
        .sum();
    total / expected.len() as f64
}

fn run_diffusion(model: &str, fixture_name: &str, ancestral: bool) {
    let dir = fixture(fixture_name);
    let reference = reference(&dir);
    let prompt = reference["prompt"].as_str().expect("prompt");
    let noise: Vec<f32> = npy(&dir, "noise.npy").iter().copied().collect();
    for run in reference["runs"].as_array().expect("runs") {
        let steps = run["steps"].as_u64().expect("steps") as usize;
        let mut pipeline = diffusion(model, &dir, steps).expect("load");
        assert_schedule(&pipeline, run, ancestral);
        let per_step = if ancestral {
            let drawn = npy(&dir, &format!("ancestral_noise_{steps}step.npy"));
            let flat: Vec<f32> = drawn.iter().copied().collect();
            flat.chunks_exact(noise.len())
                .map(<[f32]>::to_vec)
                .collect()
        } else {
            Vec::new()
        };
        let given = ReferenceNoise {
            initial: noise.clone(),
            per_step,
        };
        let images = pipeline
            .generate_with_noise(&[prompt], &given, 128)
            .expect("generate");
        let expected = npy(&dir, &format!("image_{steps}step.npy"));
        let difference = mean_absolute_difference(&images[0], &expected);
        eprintln!(
            "{model} {steps} step(s): mean absolute difference {:.3}/255",
            difference * 255.0
        );
        assert!(
            difference <= 2.0 / 255.0,
            "{model} {steps} steps: {}",
            difference * 255.0
        );
    }
}

#[test]
fn sd_turbo_text_encoder_and_tokenizer_equal_the_reference() {
    let dir = fixture("sd-turbo");
    let reference = reference(&dir);
    let mut model = diffusion("SDTurbo", &dir, 1).expect("load");
    let prompt = reference["prompt"].as_str().expect("prompt");
    let row: Vec<u32> = model
        .token_ids(0, &[prompt])
        .expect("ids")
        .into_iter()
        .map(|id| id as u32)
        .collect();
    assert_eq!(row, ids(&reference["token_ids"]));
    assert_tokenizer_cases(&model, 0, &reference["tokenizer_cases"], 0);
    let (states, pooled) = model.encode_prompts(&[prompt]).expect("encode");
    assert!(pooled.is_empty());
    let expected: Vec<f32> = npy(&dir, "last_hidden_state.npy").iter().copied().collect();
    let difference = max_abs_difference(&states, &expected);
    eprintln!("sd-turbo last_hidden_state: max abs difference {difference:e}");
    assert!(difference <= 1e-4, "{difference}");
    assert_eq!(model.vae_scaling(), 0.18215);
}

#[test]
fn sd_turbo_images_equal_the_reference_given_its_noise() {
    // scheduler_config.json says EulerDiscreteScheduler: no noise between steps.
    run_diffusion("SDTurbo", "sd-turbo", false);
}

#[test]
fn sdxl_turbo_text_encoders_and_tokenizers_equal_the_reference() {
    let dir = fixture("sdxl-turbo");
    let reference = reference(&dir);
    let mut model = diffusion("SDXLTurbo", &dir, 1).expect("load");
    let prompt = reference["prompt"].as_str().expect("prompt");
    for (index, key) in [(0, "token_ids"), (1, "token_ids_2")] {
        let row: Vec<u32> = model
            .token_ids(index, &[prompt])
            .expect("ids")
            .into_iter()
            .map(|id| id as u32)
            .collect();
        assert_eq!(row, ids(&reference[key]), "{key}");
    }
    assert_tokenizer_cases(&model, 0, &reference["tokenizer_cases"], 613);
    assert_tokenizer_cases(&model, 1, &reference["tokenizer_2_cases"], 0);
    let (states, pooled) = model.encode_prompts(&[prompt]).expect("encode");
    for (what, got, file) in [
        (
            "encoder_hidden_states",
            &states,
            "encoder_hidden_states.npy",
        ),
        ("text_embeds", &pooled, "text_embeds.npy"),
    ] {
        let expected: Vec<f32> = npy(&dir, file).iter().copied().collect();
        let difference = max_abs_difference(got, &expected);
        eprintln!("sdxl-turbo {what}: max abs difference {difference:e}");
        assert!(difference <= 1e-4, "{what}: {difference}");
    }
    assert_eq!(model.vae_scaling(), 0.13025);
}

#[test]
fn sdxl_turbo_images_equal_the_reference_given_its_noise() {
    run_diffusion("SDXLTurbo", "sdxl-turbo", true);
}

#[test]
fn diffusion_scheduler_and_vae_configs_are_read_and_unsupported_settings_refused() {
    let dir = fixture("sd-turbo");
    let copy = copy_fixture(&dir);
    let scheduler = copy.path().join("scheduler/scheduler_config.json");
    let load = |steps| diffusion("SDTurbo", copy.path(), steps);
    let ancestral = |model: &StableDiffusion| model.schedule().steps[0].sigma_up > 0.0;
    assert!(!ancestral(&load(2).expect("load")));
    edit_json(
        &scheduler,
        "_class_name",
        Some("EulerAncestralDiscreteScheduler".into()),
    );
    assert!(ancestral(&load(2).expect("load")));
    // Linear betas give other sigmas.
    let scaled = load(2).expect("load").schedule().steps[1].sigma;
    edit_json(&scheduler, "beta_schedule", Some("linear".into()));
    let linear = load(2).expect("load").schedule().steps[1].sigma;
    assert!((scaled - linear).abs() > 0.1, "{scaled} {linear}");
    for (field, value) in [
        ("_class_name", Value::from("DDIMScheduler")),
        ("beta_schedule", "squaredcos_cap_v2".into()),
        ("prediction_type", "v_prediction".into()),
        ("timestep_spacing", "leading".into()),
        ("use_karras_sigmas", true.into()),
        ("trained_betas", serde_json::json!([0.1, 0.2])),
    ] {
        let original = std::fs::read(&scheduler).expect("read");
        edit_json(&scheduler, field, Some(value));
        assert_config_error(load(1), "scheduler_config.json", field);
        std::fs::write(&scheduler, original).expect("restore");
    }
    // Without the file, the catalog's (ancestral) schedule.
    std::fs::remove_file(&scheduler).expect("rm");
    assert!(ancestral(&load(2).expect("load")));

    let vae = copy.path().join("vae_decoder/config.json");
    edit_json(&vae, "scaling_factor", Some(0.5.into()));
    assert_eq!(load(1).expect("load").vae_scaling(), 0.5);
    edit_json(
        &vae,
        "latents_mean",
        Some(serde_json::json!([0.0, 0.0, 0.0, 0.0])),
    );
    assert_config_error(load(1), "vae_decoder/config.json", "latents_mean");
    std::fs::remove_file(&vae).expect("rm");
    assert_eq!(load(1).expect("load").vae_scaling(), 0.18215);
}

#[test]
fn diffusion_tokenizers_use_the_pad_token_their_directory_declares() {
    let dir = fixture("sd-turbo");
    let reference = reference(&dir);
    let copy = copy_fixture(&dir);
    let tokenizer = copy.path().join("tokenizer");
    // A tokenizer padding with <|endoftext|> whose vocabulary has no "!" at all: the catalog's
    // "!" must not be required.
    let vocab_path = tokenizer.join("vocab.json");
    let mut vocab: Value =
        serde_json::from_str(&std::fs::read_to_string(&vocab_path).expect("vocab")).expect("json");
    vocab.as_object_mut().expect("object").remove("!");
    std::fs::write(&vocab_path, vocab.to_string()).expect("write");
    let config = tokenizer.join("tokenizer_config.json");
    let mut added = serde_json::from_str::<Value>(&std::fs::read_to_string(&config).expect("read"))
        .expect("json")["added_tokens_decoder"]
        .clone();
    added.as_object_mut().expect("object").remove("0");
    edit_json(&config, "added_tokens_decoder", Some(added));
    edit_json(&config, "pad_token", Some("<|endoftext|>".into()));
    edit_json(
        &tokenizer.join("special_tokens_map.json"),
        "pad_token",
        Some("<|endoftext|>".into()),
    );
    let model = diffusion("SDTurbo", copy.path(), 1).expect("load");
    let row = model.token_ids(0, &["a cat"]).expect("ids");
    assert!(row[3..].iter().all(|&id| id == 613), "{row:?}");

    // Only vocab.json and merges.txt (what the catalog downloads): the catalog's pad token "!"
    // is still a special token, as in Python.
    let copy = copy_fixture(&dir);
    for file in ["tokenizer_config.json", "special_tokens_map.json"] {
        std::fs::remove_file(copy.path().join("tokenizer").join(file)).expect("rm");
    }
    let model = diffusion("SDTurbo", copy.path(), 1).expect("load");
    assert_tokenizer_cases(&model, 0, &reference["tokenizer_cases"], 0);

    // A declared pad token the vocabulary lacks is an error naming the file.
    let copy = copy_fixture(&dir);
    edit_json(
        &copy.path().join("tokenizer/tokenizer_config.json"),
        "pad_token",
        Some("<nope>".into()),
    );
    assert_config_error(
        diffusion("SDTurbo", copy.path(), 1),
        "tokenizer_config.json",
        "pad_token",
    );
}

// --- lock-step batch throughput ----------------------------------------------------------------

/// Batch sizes to time: `PANIC_TDA_THROUGHPUT_BATCHES` (comma-separated), else 1, 4 and 16.
fn throughput_batches() -> Vec<usize> {
    match std::env::var("PANIC_TDA_THROUGHPUT_BATCHES") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|size| {
                size.trim()
                    .parse()
                    .ok()
                    .filter(|&size| size > 0)
                    .unwrap_or_else(|| panic!("PANIC_TDA_THROUGHPUT_BATCHES: {size:?}"))
            })
            .collect(),
        _ => vec![1, 4, 16],
    }
}

/// One untimed run (the first on a device also allocates and tunes), then runs until at least
/// three and half a second: the mean time of one batch.
fn time_batch(mut run: impl FnMut()) -> (usize, Duration) {
    run();
    let start = Instant::now();
    let mut runs = 0;
    while runs < 3 || start.elapsed() < Duration::from_millis(500) {
        run();
        runs += 1;
    }
    (runs, start.elapsed() / runs as u32)
}

/// The models of the fixtures with every item of a batch stepped together, as the engine runs
/// them: items per second per batch size on the test device, printed as a Markdown table
/// (`scripts/gpu-check.sh` collects it). Sessions use ONNX Runtime's default thread count.
#[test]
#[ignore = "measures throughput; run by scripts/gpu-check.sh"]
fn lock_step_batch_throughput_per_model() {
    let device = device();
    let paths = paths();
    let info = runtime::init(&paths).expect("ONNX Runtime");
    let chosen = runtime::choose_device(info, device).expect("device");
    let options = SessionOptions { device, threads: 0 };
    let batches = throughput_batches();
    let mut rows: Vec<(String, usize, usize, Duration)> = Vec::new();
    let mut measure = |model: &str, run: &mut dyn FnMut(usize)| {
        for &batch in &batches {
            let (runs, per_batch) = time_batch(|| run(batch));
            eprintln!("{model} batch {batch}: {per_batch:?} per batch over {runs} runs");
            rows.push((model.to_owned(), batch, runs, per_batch));
        }
    };

    let dir = fixture("vit-gpt2");
    let Runtime::EncoderDecoder(spec) = lookup("VitGpt2").expect("catalog").runtime else {
        panic!("VitGpt2 is an encoder-decoder captioner");
    };
    let mut model = EncoderDecoderCaptioner::load("VitGpt2", &dir, spec, &paths, options)
        .expect("load")
        .with_max_new_tokens(20);
    let image = png(&dir, "image.png");
    measure("vit-gpt2 caption (≤ 20 tokens)", &mut |batch| {
        let images = vec![&image; batch];
        let got = model
            .generate_ids(&images, &vec![None; batch])
            .expect("caption");
        assert_eq!(got.len(), batch);
    });

    let dir = fixture("florence-2");
    let Runtime::Florence2(spec) = lookup("Florence2").expect("catalog").runtime else {
        panic!("Florence2 is a Florence-2 captioner");
    };
    let mut model = Florence2::load("Florence2", &dir, spec, &paths, options)
        .expect("load")
        .with_max_new_tokens(20);
    let image = png(&dir, "image.png");
    measure("florence-2 caption (≤ 20 tokens)", &mut |batch| {
        let images = vec![&image; batch];
        let got = model
            .generate_ids(&images, &vec![None; batch])
            .expect("caption");
        assert_eq!(got.len(), batch);
    });

    let dir = fixture("clip");
    let Runtime::Clip(spec) = lookup("ClipB32").expect("catalog").runtime else {
        panic!("ClipB32 is a CLIP embedder");
    };
    let mut model = ClipEmbedder::load("ClipB32", &dir, spec, &paths, options).expect("load");
    let image = png(&dir, "image.png");
    measure("clip image embedding", &mut |batch| {
        let got = model.embed_images(&vec![&image; batch]).expect("embed");
        assert_eq!(got.len(), batch);
    });
    measure("clip text embedding", &mut |batch| {
        let got = model
            .embed_texts(&vec!["a photo of a cat sitting on a red sofa"; batch])
            .expect("embed");
        assert_eq!(got.len(), batch);
    });

    let dir = fixture("bert-text");
    let Runtime::TextEncoder(spec) = lookup("NomicText").expect("catalog").runtime else {
        panic!("NomicText is a text encoder");
    };
    let mut model = TextEncoder::load("NomicText", &dir, spec, &paths, options).expect("load");
    measure("bert-text embedding", &mut |batch| {
        let got = model
            .embed_texts(&vec!["a photo of a cat sitting on a red sofa"; batch])
            .expect("embed");
        assert_eq!(got.len(), batch);
    });

    for (name, fixture_name) in [("SDTurbo", "sd-turbo"), ("SDXLTurbo", "sdxl-turbo")] {
        let dir = fixture(fixture_name);
        let Runtime::Diffusion(spec) = lookup(name).expect("catalog").runtime else {
            panic!("{name} is a diffusion pipeline");
        };
        // One step (no ancestral draws), at the fixtures' 128².
        let spec = DiffusionSpec {
            native_size: 128,
            steps: 1,
            ..spec
        };
        let mut model = StableDiffusion::load(name, &dir, spec, &paths, options).expect("load");
        let prompt = reference(&dir)["prompt"]
            .as_str()
            .expect("prompt")
            .to_owned();
        let noise: Vec<f32> = npy(&dir, "noise.npy").iter().copied().collect();
        measure(
            &format!("{fixture_name} image (1 step, 128²)"),
            &mut |batch| {
                let given = ReferenceNoise {
                    initial: noise.repeat(batch),
                    per_step: Vec::new(),
                };
                let got = model
                    .generate_with_noise(&vec![prompt.as_str(); batch], &given, 128)
                    .expect("generate");
                assert_eq!(got.len(), batch);
            },
        );
    }

    println!(
        "\nlock-step batch throughput on {} ({}), ONNX Runtime {} at {}\n",
        format!("{device:?}").to_lowercase(),
        chosen.provider,
        info.version,
        info.path.display()
    );
    println!("| model | device | batch | runs | ms / batch | items / s |");
    println!("|---|---|---:|---:|---:|---:|");
    for (model, batch, runs, per_batch) in rows {
        let seconds = per_batch.as_secs_f64();
        println!(
            "| {model} | {} | {batch} | {runs} | {:.2} | {:.1} |",
            format!("{device:?}").to_lowercase(),
            seconds * 1e3,
            batch as f64 / seconds
        );
    }
}
