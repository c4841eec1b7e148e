//! The generative ONNX pipelines (SD-Turbo / SDXL-Turbo text→image, ViT-GPT2 captioning) run end
//! to end on tiny graphs with the real exports' signatures, made by
//! `tests/fixtures/make_tiny_onnx.py` (run by `make test` / `make fixtures`); the schedulers
//! against numbers computed independently by `tests/fixtures/scheduler_reference.py`.

use std::path::PathBuf;

use image::RgbImage;
use panic_tda::models::catalog::{Runtime, SchedulerConfig};
use panic_tda::models::onnx::scheduler::Schedule;
use panic_tda::models::onnx::{
    EncoderDecoderCaptioner, Florence2, SessionOptions, StableDiffusion,
};
use panic_tda::models::{
    CatalogProvider, GenerativeModel, Input, ModelError, ModelProvider, Output, ProviderOptions,
    Seed, lookup,
};
use panic_tda::paths::AppPaths;

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("PANIC_TDA_TEST_FIXTURES")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-fixtures"));
    assert!(
        dir.join("sd-turbo/unet/model.onnx").is_file(),
        "tiny ONNX test fixtures are missing in {}; run `make test` (or `make fixtures`) to generate them",
        dir.display()
    );
    dir
}

fn paths() -> AppPaths {
    AppPaths::from_env().expect("app paths")
}

fn options() -> SessionOptions {
    SessionOptions {
        threads: 1,
        ..SessionOptions::default()
    }
}

fn load(model: &str, dir: &str) -> GenerativeModel {
    let options = ProviderOptions {
        offline: true,
        threads: 1,
        ..ProviderOptions::default()
    };
    CatalogProvider::new(paths(), options)
        .with_model_dir(model, fixtures().join(dir))
        .load_generative(model)
        .unwrap_or_else(|e| panic!("loading {model} from the fixtures: {e}"))
}

// --- scheduler ---------------------------------------------------------------------------------

fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} vs expected {expected}"
    );
}

/// Numbers printed by tests/fixtures/scheduler_reference.py (numpy, the published formulas).
#[test]
fn trailing_euler_ancestral_schedule_matches_the_reference() {
    type Case = (
        &'static [f64],
        &'static [f64],
        &'static [f64],
        &'static [f64],
    );
    let cases: [Case; 4] = [
        (&[999.0], &[14.614641229333639, 0.0], &[0.0], &[0.0]),
        (
            &[999.0, 499.0],
            &[14.614641229333639, 1.612886194303876, 0.0],
            &[1.603033992035118, 0.0],
            &[0.17799970830311362, 0.0],
        ),
        (
            &[999.0, 666.0, 332.0],
            &[
                14.614641229333639,
                2.9183071154268285,
                0.9292144332132185,
                0.0,
            ],
            &[2.859533541715944, 0.8808520981623668, 0.0],
            &[0.5827386581927841, 0.2958699782923557, 0.0],
        ),
        (
            &[999.0, 749.0, 499.0, 249.0],
            &[
                14.614641229333639,
                4.081729363724308,
                1.612886194303876,
                0.6932048996386885,
                0.0,
            ],
            &[
                3.9193037798533163,
                1.4816256069112863,
                0.6259142010907794,
                0.0,
            ],
            &[
                1.1399879297241489,
                0.6373283586353291,
                0.2979336264270543,
                0.0,
            ],
        ),
    ];
    let ancestral = SchedulerConfig::stable_diffusion(true);
    let euler = SchedulerConfig::stable_diffusion(false);
    for (count, (timesteps, sigmas, ups, downs)) in (1..).zip(cases) {
        let schedule = Schedule::new(&ancestral, count).expect("schedule");
        assert_eq!(schedule.steps.len(), count);
        assert_close(schedule.init_noise_sigma, sigmas[0], "init_noise_sigma");
        for (i, step) in schedule.steps.iter().enumerate() {
            let what = format!("{count} steps, step {i}");
            assert_close(step.timestep, timesteps[i], &format!("{what} timestep"));
            assert_close(step.sigma, sigmas[i], &format!("{what} sigma"));
            assert_close(step.sigma_up, ups[i], &format!("{what} sigma_up"));
            assert_close(step.sigma_down, downs[i], &format!("{what} sigma_down"));
            assert_close(
                step.input_scale(),
                1.0 / (sigmas[i] * sigmas[i] + 1.0).sqrt(),
                "scale",
            );
        }
        // Plain Euler: no fresh noise, the step lands on the next sigma.
        let plain = Schedule::new(&euler, count).expect("schedule");
        for (i, step) in plain.steps.iter().enumerate() {
            assert_close(step.sigma_up, 0.0, "euler sigma_up");
            assert_close(step.sigma_down, sigmas[i + 1], "euler sigma_down");
        }
    }
    assert!(Schedule::new(&ancestral, 0).is_err());
    assert!(Schedule::new(&ancestral, 1001).is_err());
}

#[test]
fn training_sigmas_match_the_reference() {
    let table = SchedulerConfig::stable_diffusion(true).training_sigmas();
    assert_eq!(table.len(), 1000);
    assert_close(table[0], 0.029167158151720367, "sigma(0)");
    assert_close(table[499], 1.612886194303876, "sigma(499)");
    assert_close(table[999], 14.614641229333639, "sigma(999)");
}

// --- text→image --------------------------------------------------------------------------------

fn generate(
    model: &mut GenerativeModel,
    prompts: &[&str],
    seeds: &[Seed],
    size: u32,
) -> Vec<RgbImage> {
    let inputs: Vec<Input<'_>> = prompts.iter().map(|p| Input::Text(p)).collect();
    model
        .invoke_batch(&inputs, seeds, size)
        .expect("generate")
        .into_iter()
        .map(|output| match output {
            Output::Image(image) => image,
            Output::Text(text) => panic!("a text→image model returned text {text:?}"),
        })
        .collect()
}

/// Channels 0 and 1 of the tiny UNet's noise prediction cancel the noise exactly when the
/// pipeline's schedule matches the published one, so red and green end at VAE output 0.
fn assert_schedule_consistent(image: &RgbImage) {
    // 127.5 exactly in theory; float rounding may tip it to 127.
    for pixel in image.pixels() {
        assert!(
            (127..=128).contains(&pixel[0]) && (127..=128).contains(&pixel[1]),
            "noise left on the scheduled channels: {pixel:?}"
        );
    }
}

/// The largest per-channel difference between two images of one size.
fn max_difference(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// Equal up to float rounding between differently batched runs (a pixel may land on the other
/// side of a .5 boundary).
fn assert_same_image(a: &RgbImage, b: &RgbImage, what: &str) {
    let worst = max_difference(a, b);
    assert!(worst <= 1, "{what}: images differ by up to {worst}");
}

fn distinct_blue(image: &RgbImage) -> usize {
    let mut values: Vec<u8> = image.pixels().map(|p| p[2]).collect();
    values.sort_unstable();
    values.dedup();
    values.len()
}

#[test]
fn sd_turbo_generates_seeded_images_of_the_requested_size() {
    let mut model = load("SDTurbo", "sd-turbo");
    let prompts = ["a red cat", "a dog", "a red cat"];
    let images = generate(&mut model, &prompts, &[Some(1), Some(1), Some(2)], 64);
    assert_eq!(images.len(), 3);
    for image in &images {
        assert_eq!(image.dimensions(), (64, 64));
        assert_schedule_consistent(image);
        assert!(distinct_blue(image) > 10, "the noise should show");
    }
    // Same seed, different prompt: different; same prompt, different seed: different.
    assert!(max_difference(&images[0], &images[1]) > 10);
    assert!(max_difference(&images[0], &images[2]) > 10);
    // Same seed and prompt, same batch shape: the same image on every call.
    let again = generate(&mut model, &prompts, &[Some(1), Some(1), Some(2)], 64);
    assert_eq!(again, images);
    // Unseeded: a fresh draw each call.
    let a = generate(&mut model, &["a red cat"], &[None], 64);
    let b = generate(&mut model, &["a red cat"], &[None], 64);
    assert!(max_difference(&a[0], &b[0]) > 10);
    // The native size comes back unresized.
    let native = generate(&mut model, &["a dog"], &[Some(3)], 512);
    assert_eq!(native[0].dimensions(), (512, 512));
}

#[test]
fn sd_turbo_batch_equals_one_by_one() {
    let mut model = load("SDTurbo", "sd-turbo");
    // Six prompts: more than one VAE decoder chunk.
    let prompts = [
        "a red cat",
        "the dog and the man",
        "",
        "sky",
        "a man",
        "red",
    ];
    let seeds = [Some(11), Some(12), Some(13), Some(11), Some(14), Some(15)];
    let batch = generate(&mut model, &prompts, &seeds, 32);
    for ((prompt, seed), batched) in prompts.iter().zip(seeds).zip(&batch) {
        let single = generate(&mut model, &[prompt], &[seed], 32);
        assert_same_image(&single[0], batched, prompt);
    }
    assert!(generate(&mut model, &[], &[], 32).is_empty());
}

#[test]
fn older_export_dtypes_give_the_same_images() {
    // int32 input_ids and an int64 [steps] timestep instead of int64 ids and a float scalar.
    let mut current = load("SDTurbo", "sd-turbo");
    let mut legacy = load("SDTurbo", "sd-turbo-legacy");
    let prompts = ["a red cat", "a man"];
    let seeds = [Some(5), Some(6)];
    let a = generate(&mut current, &prompts, &seeds, 48);
    let b = generate(&mut legacy, &prompts, &seeds, 48);
    for (x, y) in a.iter().zip(&b) {
        assert_same_image(x, y, "current vs legacy export");
    }
}

#[test]
fn clip_tokens_from_vocab_and_merges_match_tokenizer_json() {
    let Runtime::Diffusion(spec) = lookup("SDTurbo").expect("catalog").runtime else {
        panic!("SDTurbo is a diffusion model");
    };
    let model = StableDiffusion::load(
        "SDTurbo",
        &fixtures().join("sd-turbo"),
        spec,
        &paths(),
        options(),
    )
    .expect("load");
    let long = "the cat and the dog ".repeat(30);
    let prompts = ["A  Red CAT!", "the dog and the man", "", long.as_str()];
    let ids = model.token_ids(0, &prompts).expect("ids");
    assert_eq!(ids.len(), prompts.len() * 77);
    // The same text through the CLIP tokenizer.json fixture (same vocabulary and merges).
    let json = panic_tda::models::onnx::diffusion::clip_tokenizer(
        "clip",
        &fixtures().join("clip"),
        77,
        "!",
    )
    .expect("tokenizer.json");
    let vocab: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("sd-turbo/tokenizer/vocab.json")).expect("vocab"),
    )
    .expect("json");
    let id = |token: &str| vocab[token].as_i64().expect("token id");
    let (bos, eos, pad) = (id("<|startoftext|>"), id("<|endoftext|>"), id("!"));
    assert_eq!(pad, 0, "\"!\" is id 0 in CLIP vocabularies");
    for (row, prompt) in ids.chunks_exact(77).zip(prompts) {
        let expected: Vec<i64> = json
            .encode(prompt, true)
            .expect("encode")
            .get_ids()
            .iter()
            .map(|&i| i64::from(i))
            .collect();
        assert_eq!(row, expected.as_slice(), "{prompt:?}");
        assert_eq!(row[0], bos);
        let end = row
            .iter()
            .position(|&t| t == eos)
            .expect("an end-of-text token");
        assert!(row[end + 1..].iter().all(|&t| t == pad), "{prompt:?}");
    }
    // Lower-cased and whitespace-collapsed; the long prompt is cut to 77 keeping its EOS.
    assert_eq!(
        ids[..77],
        model.token_ids(0, &["a red cat!"]).expect("ids")[..]
    );
    assert_eq!(ids[3 * 77 + 76], eos);
}

#[test]
fn sdxl_turbo_runs_two_encoders_four_steps_and_micro_conditioning() {
    let mut model = load("SDXLTurbo", "sdxl-turbo");
    let prompts = ["a red cat", "a dog", "a red cat"];
    let seeds = [Some(1), Some(2), Some(1)];
    let images = generate(&mut model, &prompts, &seeds, 40);
    for image in &images {
        assert_eq!(image.dimensions(), (40, 40));
        // Four ancestral steps still end with no noise on the scheduled channels.
        assert_schedule_consistent(image);
    }
    assert_same_image(&images[0], &images[2], "same prompt and seed");
    assert!(max_difference(&images[0], &images[1]) > 10);
    let single = generate(&mut model, &["a dog"], &[Some(2)], 40);
    assert_same_image(&single[0], &images[1], "batched vs single");
}

#[test]
fn generative_models_reject_mismatched_batches_and_inputs() {
    let mut model = load("SDTurbo", "sd-turbo");
    assert!(matches!(
        model.invoke_batch(&[Input::Text("a")], &[Some(1), Some(2)], 32),
        Err(ModelError::BatchMismatch { .. })
    ));
    let image = RgbImage::new(4, 4);
    assert!(matches!(
        model.invoke_batch(&[Input::Image(&image)], &[Some(1)], 32),
        Err(ModelError::WrongInput { .. })
    ));
}

// --- image→text --------------------------------------------------------------------------------

/// The images `make_tiny_onnx.py` computes its reference captions for.
fn caption_images() -> Vec<RgbImage> {
    use image::Rgb;
    vec![
        RgbImage::from_pixel(224, 224, Rgb([200, 30, 90])),
        RgbImage::from_pixel(224, 224, Rgb([10, 220, 40])),
        RgbImage::from_fn(224, 224, |x, y| {
            Rgb([x as u8, y as u8, ((x + y) / 2) as u8])
        }),
        RgbImage::from_fn(224, 224, |x, y| {
            let v = if (x / 16 + y / 16) % 2 == 1 { 255 } else { 0 };
            Rgb([v, v, v])
        }),
        RgbImage::from_fn(224, 224, |x, y| Rgb([y as u8, (255 - y) as u8, x as u8])),
    ]
}

fn expected_greedy() -> Vec<Vec<u32>> {
    let text =
        std::fs::read_to_string(fixtures().join("vit-gpt2/expected.json")).expect("expected.json");
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    serde_json::from_value(value["greedy"].clone()).expect("greedy ids")
}

fn captioner() -> EncoderDecoderCaptioner {
    let Runtime::EncoderDecoder(spec) = lookup("VitGpt2").expect("catalog").runtime else {
        panic!("VitGpt2 is an encoder-decoder captioner");
    };
    EncoderDecoderCaptioner::load(
        "VitGpt2",
        &fixtures().join("vit-gpt2"),
        spec,
        &paths(),
        options(),
    )
    .expect("load")
}

#[test]
fn vit_gpt2_greedy_decoding_with_past_key_values_matches_the_reference() {
    let images = caption_images();
    let refs: Vec<&RgbImage> = images.iter().collect();
    let expected = expected_greedy();
    let mut model = captioner();
    // One batch: every row matches the one-image reference decode.
    let ids = model
        .generate_ids(&refs, &vec![None; refs.len()])
        .expect("generate");
    assert_eq!(ids, expected);
    // Each ended at its end token before the cap of 20 (the reference stops there too).
    assert!(ids.iter().all(|row| !row.is_empty() && row.len() < 20));
    // Through the trait: the same ids, detokenised, special tokens stripped.
    let mut model = load("VitGpt2", "vit-gpt2");
    let inputs: Vec<Input<'_>> = images.iter().map(Input::Image).collect();
    let captions = model
        .invoke_batch(&inputs, &vec![None; images.len()], 256)
        .expect("caption");
    let decoder = captioner();
    for (caption, row) in captions.iter().zip(&expected) {
        let Output::Text(text) = caption else {
            panic!("a captioner returned an image");
        };
        assert_eq!(text, &decoder.caption_from_ids(row).expect("caption"));
        assert!(!text.contains("<|endoftext|>") && text.trim() == text);
    }
}

#[test]
fn vit_gpt2_stops_at_max_new_tokens() {
    let images = caption_images();
    let refs: Vec<&RgbImage> = images.iter().collect();
    let mut model = captioner().with_max_new_tokens(3);
    let ids = model
        .generate_ids(&refs, &vec![None; refs.len()])
        .expect("generate");
    for (row, full) in ids.iter().zip(expected_greedy()) {
        assert_eq!(row.as_slice(), &full[..full.len().min(3)]);
    }
}

#[test]
fn vit_gpt2_seeded_sampling_is_deterministic_per_seed_and_batch_independent() {
    let images = caption_images();
    let refs: Vec<&RgbImage> = images.iter().collect();
    let seeds: Vec<Seed> = (0..refs.len() as u64).map(|s| Some(100 + s)).collect();
    let mut model = captioner();
    let first = model.generate_ids(&refs, &seeds).expect("generate");
    assert_eq!(model.generate_ids(&refs, &seeds).expect("generate"), first);
    for ((image, seed), batched) in refs.iter().zip(&seeds).zip(&first) {
        let single = model.generate_ids(&[image], &[*seed]).expect("generate");
        assert_eq!(&single[0], batched);
    }
    // Different seeds give different samples for some image.
    let other: Vec<Seed> = (0..refs.len() as u64).map(|s| Some(900 + s)).collect();
    let mut differs = model.generate_ids(&refs, &other).expect("generate") != first;
    for seed in 0..20 {
        differs |= model
            .generate_ids(&refs[..1], &[Some(seed)])
            .expect("generate")[0]
            != first[0];
    }
    assert!(differs, "sampling ignored the seed");
    // Other sizes are resized to 224 first.
    let wide = RgbImage::from_pixel(300, 120, image::Rgb([20, 40, 60]));
    assert_eq!(
        model
            .generate_ids(&[&wide], &[None])
            .expect("generate")
            .len(),
        1
    );
}

#[test]
fn an_empty_caption_is_an_error_not_a_crash() {
    let model = captioner();
    for ids in [vec![], vec![270], vec![220, 220]] {
        // Nothing, only the end token, only a space ("Ġ").
        assert!(
            matches!(
                model.caption_from_ids(&ids),
                Err(ModelError::EmptyOutput { .. })
            ),
            "{ids:?}"
        );
    }
    assert_eq!(
        model.caption_from_ids(&[261, 259, 270]).expect("caption"),
        "dog cat"
    );
}

#[test]
fn configs_naming_the_generative_models_validate() {
    let provider = CatalogProvider::new(paths(), ProviderOptions::default());
    let json = r#"{
        "networks": [["SDTurbo", "VitGpt2"], ["SDXLTurbo", "Florence2"]],
        "prompts": ["a red apple"],
        "seeds": [1, -1],
        "embedding_models": ["MiniLM"],
        "max_length": 4
    }"#;
    let config = panic_tda::config::parse(json, "test").expect("parse");
    panic_tda::config::validate(&config, &provider).expect("a valid config");
    let shipped = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/configs/turbo.json"),
    )
    .expect("assets/configs/turbo.json");
    let config = panic_tda::config::parse(&shipped, "turbo.json").expect("parse");
    panic_tda::config::validate(&config, &provider).expect("the shipped turbo config is valid");
    let backwards = json.replace(r#"["SDTurbo", "VitGpt2"]"#, r#"["VitGpt2", "SDTurbo"]"#);
    let config = panic_tda::config::parse(&backwards, "test").expect("parse");
    assert!(panic_tda::config::validate(&config, &provider).is_err());
}

/// The images `make_tiny_onnx.py` computes its Florence-2 reference captions for.
fn florence_images() -> Vec<RgbImage> {
    use image::Rgb;
    vec![
        RgbImage::from_pixel(768, 768, Rgb([200, 30, 90])),
        RgbImage::from_pixel(768, 768, Rgb([10, 220, 40])),
        RgbImage::from_fn(768, 768, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x / 3) % 256) as u8])
        }),
        RgbImage::from_fn(768, 768, |x, y| {
            let v = if (x / 64 + y / 64) % 2 == 1 { 255 } else { 0 };
            Rgb([v, v, v])
        }),
        RgbImage::from_fn(768, 768, |x, y| {
            Rgb([(y / 3) as u8, (255 - y / 3) as u8, (x / 3) as u8])
        }),
    ]
}

fn florence_expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("florence-2/expected.json"))
        .expect("florence expected.json");
    serde_json::from_str(&text).expect("json")
}

fn florence() -> Florence2 {
    let Runtime::Florence2(spec) = lookup("Florence2").expect("catalog").runtime else {
        panic!("Florence2 is a Florence-2 captioner");
    };
    Florence2::load(
        "Florence2",
        &fixtures().join("florence-2"),
        spec,
        &paths(),
        options(),
    )
    .expect("load")
}

#[test]
fn florence2_greedy_decoding_with_both_caches_matches_the_reference() {
    let expected = florence_expected();
    let greedy: Vec<Vec<u32>> =
        serde_json::from_value(expected["greedy"].clone()).expect("greedy ids");
    let prompt: Vec<i64> =
        serde_json::from_value(expected["prompt_ids"].clone()).expect("prompt ids");
    assert_eq!(
        expected["the_no_repeat_rule_changed_some"],
        serde_json::Value::Bool(true),
        "the fixture should exercise the no-repeat rule"
    );
    let images = florence_images();
    let refs: Vec<&RgbImage> = images.iter().collect();
    let mut model = florence();
    assert_eq!(model.prompt_ids(), prompt.as_slice());
    let ids = model
        .generate_ids(&refs, &vec![None; refs.len()])
        .expect("generate");
    assert_eq!(ids, greedy);
    // The forced first token is <s>; it and the end token are stripped from the text.
    assert!(ids.iter().all(|row| row.first() == Some(&0)));
    let mut captioner = load("Florence2", "florence-2");
    let inputs: Vec<Input<'_>> = images.iter().map(Input::Image).collect();
    let captions = captioner
        .invoke_batch(&inputs, &vec![None; images.len()], 256)
        .expect("caption");
    for (caption, row) in captions.iter().zip(&greedy) {
        let Output::Text(text) = caption else {
            panic!("a captioner returned an image");
        };
        assert_eq!(text, &model.caption_from_ids(row).expect("caption"));
        assert!(!text.contains("<s>") && !text.contains("</s>"), "{text}");
    }
    // <s> alone is an empty caption.
    assert!(matches!(
        model.caption_from_ids(&[0]),
        Err(ModelError::EmptyOutput { .. })
    ));
}

#[test]
fn florence2_max_new_tokens_and_seeded_sampling() {
    let expected = florence_expected();
    let greedy: Vec<Vec<u32>> =
        serde_json::from_value(expected["greedy"].clone()).expect("greedy ids");
    let images = florence_images();
    let refs: Vec<&RgbImage> = images.iter().collect();
    let mut model = florence().with_max_new_tokens(3);
    let ids = model
        .generate_ids(&refs, &vec![None; refs.len()])
        .expect("generate");
    for (row, full) in ids.iter().zip(&greedy) {
        assert_eq!(row.as_slice(), &full[..full.len().min(3)]);
    }
    let mut model = florence();
    let seeds: Vec<Seed> = (0..refs.len() as u64).map(|s| Some(7 + s)).collect();
    let first = model.generate_ids(&refs, &seeds).expect("generate");
    assert_eq!(model.generate_ids(&refs, &seeds).expect("generate"), first);
    let single = model
        .generate_ids(&refs[1..2], &seeds[1..2])
        .expect("generate");
    assert_eq!(single[0], first[1]);
}

// --- through the engine ------------------------------------------------------------------------

#[test]
fn experiments_run_the_real_pipelines_end_to_end() {
    use panic_tda::engine::{self, CancelToken, EngineOptions};
    use panic_tda::store::{ExperimentStatus, StopReason, Store};

    let options = ProviderOptions {
        offline: true,
        threads: 1,
        ..ProviderOptions::default()
    };
    let provider = CatalogProvider::new(paths(), options)
        .with_model_dir("SDTurbo", fixtures().join("sd-turbo"))
        .with_model_dir("VitGpt2", fixtures().join("vit-gpt2"))
        .with_model_dir("Florence2", fixtures().join("florence-2"));
    let json = r#"{
        "networks": [["SDTurbo", "VitGpt2"], ["SDTurbo", "Florence2"]],
        "prompts": ["a red cat", "the dog"],
        "seeds": [3, -1],
        "embedding_models": ["DummyText"],
        "max_length": 4,
        "image_size": 48
    }"#;
    let raw = panic_tda::config::parse(json, "test").expect("parse");
    let validated = panic_tda::config::validate(&raw, &provider).expect("valid");
    let mut store = Store::open_in_memory().expect("store");
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let id = engine::create_experiment(&mut store, &validated).expect("create");
        let (sender, _receiver) = std::sync::mpsc::channel();
        let engine_options = EngineOptions {
            batch_size: 4,
            ..EngineOptions::default()
        };
        let outcome = engine::run_experiment(
            &mut store,
            &provider,
            &id,
            engine_options,
            &sender,
            &CancelToken::new(),
        )
        .expect("run");
        assert_eq!(outcome.status, ExperimentStatus::Completed);
        let mut seeded = Vec::new();
        for run in store.runs(&id).expect("runs") {
            assert!(
                matches!(
                    run.stop,
                    Some(StopReason::Length | StopReason::Duplicate { .. })
                ),
                "{run:?}"
            );
            let invocations = store.invocations(&run.id).expect("invocations");
            assert!(!invocations.is_empty());
            for invocation in &invocations {
                match &invocation.output {
                    Output::Image(image) => assert_eq!(image.dimensions(), (48, 48)),
                    Output::Text(text) => assert!(!text.trim().is_empty()),
                }
            }
            if run.seed >= 0 {
                seeded.push(
                    invocations
                        .into_iter()
                        .map(|invocation| invocation.output)
                        .collect::<Vec<_>>(),
                );
            }
        }
        outputs.push(seeded);
    }
    // Seeded runs are reproduced exactly by a second experiment.
    assert_eq!(outputs[0], outputs[1]);
}

// --- downloads ---------------------------------------------------------------------------------

/// A minimal HTTP server answering `GET /{repo}/resolve/{revision}/{path}` from `root/{path}`
/// (404 otherwise), recording the paths asked for.
fn serve_directory(
    root: PathBuf,
    prefix: String,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            if reader.read_line(&mut request).unwrap_or(0) == 0 {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            seen.lock().expect("lock").push(path.clone());
            let body = path
                .strip_prefix(&prefix)
                .and_then(|file| std::fs::read(root.join(file)).ok());
            let _ = match body {
                Some(body) => stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| stream.write_all(&body)),
                None => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    (endpoint, asked)
}

#[test]
fn a_missing_model_is_downloaded_from_its_catalog_repo_then_runs() {
    use panic_tda::models::catalog::FileSource;
    // Load ONNX Runtime from the real installation first; the temporary root below has none.
    panic_tda::models::onnx::runtime::init(&paths()).expect("ONNX Runtime");
    let entry = lookup("VitGpt2").expect("catalog");
    let FileSource::HuggingFace { repo, revision } = entry.files.source else {
        panic!("VitGpt2 comes from Hugging Face");
    };
    let (endpoint, asked) = serve_directory(
        fixtures().join("vit-gpt2"),
        format!("/{repo}/resolve/{revision}/"),
    );
    let root = tempfile::tempdir().expect("tempdir");
    let options = ProviderOptions {
        threads: 1,
        ..ProviderOptions::default()
    };
    let provider =
        CatalogProvider::new(AppPaths::rooted_at(root.path()), options).with_endpoint(endpoint);
    let mut model = provider
        .load_generative("VitGpt2")
        .expect("download and load");
    let image = caption_images().remove(0);
    let captions = model
        .invoke_batch(&[Input::Image(&image)], &[None], 256)
        .expect("caption");
    assert_eq!(captions.len(), 1);
    let mut asked = asked.lock().expect("lock").clone();
    asked.sort();
    let mut expected: Vec<String> = entry
        .files
        .files
        .iter()
        .map(|file| format!("/{repo}/resolve/{revision}/{}", file.path))
        .collect();
    expected.sort();
    assert_eq!(asked, expected);
}

// --- I/O binding --------------------------------------------------------------------------------

#[test]
fn bound_runs_equal_plain_runs_and_a_failed_gpu_step_falls_back_to_the_host() {
    use panic_tda::models::onnx::binding::{BoundSession, Placement};
    use panic_tda::models::onnx::runtime::DevicePreference;
    let file = fixtures().join("sd-turbo/unet/model.onnx");
    let cpu = SessionOptions {
        device: DevicePreference::Cpu,
        ..options()
    };
    let mut plain = panic_tda::models::onnx::session::open(&paths(), &file, cpu).expect("open");
    assert_eq!(Placement::of(&plain), Placement::Host);
    let mut bound_session =
        panic_tda::models::onnx::session::open(&paths(), &file, cpu).expect("open");
    let inputs: Vec<(String, ort::value::DynValue)> = plain
        .inputs()
        .iter()
        .map(|input| {
            let shape: Vec<usize> = match input.name() {
                "sample" => vec![2, 4, 8, 8],
                "encoder_hidden_states" => vec![2, 77, 1024],
                _ => Vec::new(),
            };
            let count: usize = shape.iter().product();
            let value = match input.dtype().tensor_type() {
                Some(ort::value::TensorElementType::Int64) => {
                    ort::value::Tensor::from_array((shape, vec![3i64; count]))
                        .expect("tensor")
                        .into_dyn()
                }
                _ => ort::value::Tensor::from_array((
                    shape,
                    (0..count)
                        .map(|i| (i % 7) as f32 * 0.1)
                        .collect::<Vec<f32>>(),
                ))
                .expect("tensor")
                .into_dyn(),
            };
            (input.name().to_owned(), value)
        })
        .collect();
    let expected: Vec<f32> = {
        let run_inputs: Vec<(String, ort::session::SessionInputValue<'_>)> = inputs
            .iter()
            .map(|(name, value)| (name.clone(), value.into()))
            .collect();
        let outputs = plain.run(run_inputs).expect("plain run");
        outputs["out_sample"]
            .try_extract_tensor::<f32>()
            .expect("f32")
            .1
            .to_vec()
    };
    let mut bound = BoundSession::new(
        "unet",
        &bound_session,
        &["out_sample"],
        Vec::new(),
        Placement::of(&bound_session),
    )
    .expect("binding");
    bound.bind_all(&inputs).expect("bind");
    let output = |outputs: &panic_tda::models::onnx::binding::BoundOutputs| {
        outputs
            .get("out_sample")
            .expect("out_sample")
            .try_extract_tensor::<f32>()
            .expect("f32")
            .1
            .to_vec()
    };
    // Twice: outputs are re-bound at every run, constant inputs stay bound.
    for _ in 0..2 {
        let outputs = bound.run(&mut bound_session).expect("bound run");
        assert_eq!(output(&outputs), expected);
    }
    // A step with outputs on the GPU that fails is retried with host outputs and gives the same
    // result; later steps stay on the host. (Binding CUDA memory on a CPU session does not fail
    // by itself — ONNX Runtime keeps such outputs where they are made — so the failure is
    // injected.)
    let mut forced = BoundSession::new(
        "unet",
        &bound_session,
        &[],
        vec!["out_sample".into()],
        Placement::Cuda,
    )
    .expect("binding");
    forced.bind_all(&inputs).expect("bind");
    let outputs = forced
        .run(&mut bound_session)
        .expect("run with outputs bound to CUDA");
    assert_eq!(forced.placement(), Placement::Cuda);
    assert_eq!(output(&outputs), expected);
    forced.fail_next_gpu_step();
    let outputs = forced.run(&mut bound_session).expect("fallback run");
    assert_eq!(forced.placement(), Placement::Host);
    assert_eq!(output(&outputs), expected);
    let outputs = forced
        .run(&mut bound_session)
        .expect("next run on the host");
    assert_eq!(output(&outputs), expected);
}
