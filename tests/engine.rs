//! Engine behaviour: planning, validation, lock-step batching, determinism, loop detection,
//! failures, cancellation and resume.

mod common;

use std::sync::mpsc;

use common::{TestProvider, calls_of};
use panic_tda::config::{self, ConfigError, ExperimentConfig};
use panic_tda::engine::{self, CancelToken, EngineOptions, ProgressEvent, RunOutcome};
use panic_tda::models::Output;
use panic_tda::store::{ExperimentStatus, StopReason, Store};

fn config(seeds: Vec<i64>, max_length: i64) -> ExperimentConfig {
    ExperimentConfig {
        networks: vec![
            vec!["DummyT2I".into(), "DummyI2T".into()],
            vec!["DummyT2I2".into(), "DummyI2T2".into()],
        ],
        prompts: vec!["a red apple".into(), "a blue car".into(), "violet".into()],
        seeds: Some(seeds),
        num_runs: None,
        embedding_models: vec!["DummyText".into()],
        max_length,
        image_size: Some(32),
    }
}

/// Creates and runs the experiment whatever its outcome; returns its id and the outcome.
fn create_and_run(
    store: &mut Store,
    provider: &TestProvider,
    raw: &ExperimentConfig,
    options: EngineOptions,
) -> (String, RunOutcome) {
    let validated = config::validate(raw, provider).expect("valid config");
    let id = engine::create_experiment(store, &validated).expect("create");
    let (sender, _receiver) = mpsc::channel();
    let outcome =
        engine::run_experiment(store, provider, &id, options, &sender, &CancelToken::new())
            .expect("run");
    (id, outcome)
}

/// [`create_and_run`] for an experiment that must complete.
fn run(
    store: &mut Store,
    provider: &TestProvider,
    raw: &ExperimentConfig,
    options: EngineOptions,
) -> String {
    let (id, outcome) = create_and_run(store, provider, raw, options);
    assert_eq!(outcome.status, ExperimentStatus::Completed);
    id
}

fn problems(raw: &ExperimentConfig) -> Vec<String> {
    match config::validate(raw, &TestProvider::default()) {
        Err(ConfigError::Invalid(problems)) => problems.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => Vec::new(),
    }
}

#[test]
fn runs_are_networks_by_prompts_by_seeds_in_config_order() {
    let raw = config(vec![7, -1], 4);
    let validated = config::validate(&raw, &TestProvider::default()).expect("valid");
    let runs = engine::plan_runs("e", &validated);
    assert_eq!(runs.len(), 2 * 3 * 2);
    let order: Vec<(u32, u32, u32)> = runs
        .iter()
        .map(|r| (r.network_index, r.prompt_index, r.seed_index))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(runs[0].initial_prompt, "a red apple");
    assert_eq!(runs[2].initial_prompt, "a blue car");
    assert_eq!(runs[1].seed, -1);
    assert_eq!(
        runs[6].network,
        vec!["DummyT2I2".to_string(), "DummyI2T2".to_string()]
    );
    // Same plan, same ids: shards and resumes agree.
    assert_eq!(engine::plan_runs("e", &validated), runs);
}

#[test]
fn num_runs_expands_to_unseeded_runs() {
    let mut raw = config(vec![], 4);
    raw.seeds = None;
    raw.num_runs = Some(3);
    let validated = config::validate(&raw, &TestProvider::default()).expect("valid");
    assert_eq!(validated.seeds(), &[-1, -1, -1]);
    assert_eq!(validated.run_count(), 18);
}

#[test]
fn validation_reports_every_problem_with_the_offending_value() {
    let mut raw = config(vec![1], 0);
    raw.networks = vec![
        vec![],
        vec!["DummyT2I".into(), "NoSuchModel".into()],
        vec!["DummyT2I".into(), "DummyT2I2".into()],
        vec!["DummyI2T".into(), "DummyT2I".into()],
        vec!["DummyT2I".into(), "DummyI2T".into(), "DummyT2I".into()],
    ];
    raw.prompts = vec!["cat".into(), "dog".into(), "cat".into()];
    raw.embedding_models = vec!["NoSuchEmbedder".into(), "DummyT2I".into()];
    let found = problems(&raw);
    let expect = |needle: &str| {
        assert!(
            found.iter().any(|p| p.contains(needle)),
            "no problem mentions {needle:?}: {found:#?}"
        );
    };
    expect("networks[0]: is empty");
    expect("networks[1][1]: unknown model 'NoSuchModel'; valid choices: DummyT2I");
    expect(
        "networks[2][1]: 'DummyT2I2' takes text but the model before it, 'DummyT2I', outputs image",
    );
    expect("networks[3][0]: 'DummyI2T' takes image input");
    expect("networks[4]: does not close the cycle");
    expect("prompts[2]: 'cat' duplicates prompts[0]");
    expect("embedding_models[0]: unknown embedding model 'NoSuchEmbedder'; valid choices:");
    expect("embedding_models[1]: 'DummyT2I' is a generative model");
    expect("max_length: 0 must be at least 1");

    let mut empty = config(vec![], 5);
    empty.networks.clear();
    empty.prompts.clear();
    empty.embedding_models.clear();
    let found = problems(&empty);
    for needle in [
        "networks: must list",
        "prompts: must list",
        "seeds: must list",
        "embedding_models: must list",
    ] {
        assert!(
            found.iter().any(|p| p.contains(needle)),
            "{needle}: {found:#?}"
        );
    }
    let mut both = config(vec![1], 5);
    both.num_runs = Some(2);
    assert!(problems(&both).iter().any(|p| p.contains("not both")));
    let mut negative = config(vec![-5], 5);
    negative.image_size = Some(30);
    let found = problems(&negative);
    assert!(
        found
            .iter()
            .any(|p| p.contains("seeds[0]: -5 is not a valid seed")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p.contains("image_size: 30")),
        "{found:#?}"
    );
}

#[test]
fn unreadable_json_names_line_and_column() {
    let err = config::parse("{\n  \"networks\": [[\"DummyT2I\",]],\n}", "broken.json")
        .expect_err("bad json");
    let message = err.to_string();
    assert!(message.contains("broken.json"), "{message}");
    assert!(message.contains("line 2"), "{message}");
    let err = config::parse("{\"netwroks\": []}", "typo.json").expect_err("unknown field");
    assert!(err.to_string().contains("netwroks"), "{err}");
}

#[test]
fn each_step_is_one_batched_call_per_model_not_one_call_per_run() {
    let provider = TestProvider::default();
    let mut store = Store::open_in_memory().expect("store");
    let mut raw = config(vec![-1, -1], 6);
    raw.networks.truncate(1);
    run(&mut store, &provider, &raw, EngineOptions::default());
    // 3 prompts × 2 seeds = 6 runs in lock step: steps 0, 2, 4 call the T2I model once each.
    assert_eq!(calls_of(&provider.calls, "DummyT2I"), vec![6, 6, 6]);
    assert_eq!(calls_of(&provider.calls, "DummyI2T"), vec![6, 6, 6]);
    // Each model is loaded once for the network.
    assert_eq!(provider.loads.load(std::sync::atomic::Ordering::SeqCst), 2);

    let provider = TestProvider::default();
    let mut store = Store::open_in_memory().expect("store");
    run(
        &mut store,
        &provider,
        &raw,
        EngineOptions {
            batch_size: 4,
            ..EngineOptions::default()
        },
    );
    assert_eq!(
        calls_of(&provider.calls, "DummyT2I"),
        vec![4, 2, 4, 2, 4, 2]
    );
}

fn outputs(store: &Store, experiment_id: &str) -> Vec<Vec<(String, Vec<u8>)>> {
    store
        .runs(experiment_id)
        .expect("runs")
        .iter()
        .map(|run| {
            store
                .invocations(&run.id)
                .expect("invocations")
                .into_iter()
                .map(|inv| match inv.output {
                    Output::Text(text) => (inv.model, text.into_bytes()),
                    Output::Image(image) => (inv.model, image.into_raw()),
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_seeded_config_gives_identical_outputs_and_stops_at_the_loop() {
    let provider = TestProvider::default();
    let mut store = Store::open_in_memory().expect("store");
    let raw = config(vec![42, 7], 50);
    let first = run(&mut store, &provider, &raw, EngineOptions::default());
    let second = run(&mut store, &provider, &raw, EngineOptions::default());
    let (a, b) = (outputs(&store, &first), outputs(&store, &second));
    assert_eq!(a, b);
    // Dummy models ignore their input, so a seeded run repeats its first image at step 2.
    for run in store.runs(&first).expect("runs") {
        assert_eq!(
            run.stop,
            Some(StopReason::Duplicate { loop_length: 2 }),
            "{run:?}"
        );
        let invocations = store.invocations(&run.id).expect("invocations");
        assert_eq!(invocations.len(), 3);
        assert_eq!(invocations[0].output, invocations[2].output);
        assert_eq!(
            invocations[1].input_invocation_id.as_deref(),
            Some(invocations[0].id.as_str())
        );
    }
    // Different seeds give different images.
    assert_ne!(a[0][0], a[1][0]);
}

#[test]
fn unseeded_runs_go_to_max_length_and_everything_is_embedded() {
    let provider = TestProvider::default();
    let mut store = Store::open_in_memory().expect("store");
    let id = run(
        &mut store,
        &provider,
        &config(vec![-1], 7),
        EngineOptions::default(),
    );
    let report = engine::status(&store, &id).expect("status");
    assert_eq!(report.runs, 6);
    assert_eq!(report.runs_length, 6);
    assert_eq!(report.invocations_done, 42);
    assert_eq!(report.invocations_expected, 42);
    for run in store.runs(&id).expect("runs") {
        let invocations = store.invocations(&run.id).expect("invocations");
        let sequence: Vec<u32> = invocations.iter().map(|inv| inv.sequence_number).collect();
        assert_eq!(sequence, (0..7).collect::<Vec<_>>());
        for invocation in &invocations {
            let vector = store
                .embedding_vector(&invocation.id, "DummyText")
                .expect("query");
            match invocation.output {
                Output::Text(_) => assert_eq!(vector.map(|v| v.len()), Some(768)),
                Output::Image(_) => {
                    assert!(vector.is_none(), "images are not embedded by a text model")
                }
            }
        }
        let prompt = store.prompt_embedding(&run.id, "DummyText").expect("query");
        assert_eq!(prompt.map(|v| v.len()), Some(768));
    }
}

#[test]
fn a_failing_model_fails_its_runs_and_the_others_finish_then_resume_retries() {
    let failing = TestProvider {
        fail_call: vec!["DummyI2T2".into()],
        ..TestProvider::default()
    };
    let mut store = Store::open_in_memory().expect("store");
    let raw = config(vec![-1], 6);
    let validated = config::validate(&raw, &failing).expect("valid");
    let id = engine::create_experiment(&mut store, &validated).expect("create");
    let (sender, receiver) = mpsc::channel();
    let outcome = engine::run_experiment(
        &mut store,
        &failing,
        &id,
        EngineOptions::default(),
        &sender,
        &CancelToken::new(),
    )
    .expect("run");
    assert_eq!(outcome.status, ExperimentStatus::Failed);
    assert_eq!(outcome.failed_runs, 3);
    let warnings: Vec<String> = receiver
        .try_iter()
        .filter_map(|event| match event {
            ProgressEvent::Warning(message) => Some(message),
            _ => None,
        })
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("planted failure")),
        "{warnings:?}"
    );
    for run in store.runs(&id).expect("runs") {
        match run.network_index {
            0 => assert_eq!(run.stop, Some(StopReason::Length)),
            _ => assert!(
                matches!(&run.stop, Some(StopReason::Failed { message }) if message.contains("DummyI2T2")),
                "{run:?}"
            ),
        }
    }
    // Resume with a working model: only the failed runs continue, from where they stopped.
    let before: Vec<_> = store
        .runs(&id)
        .expect("runs")
        .iter()
        .flat_map(|r| store.invocations(&r.id).expect("inv"))
        .collect();
    let healthy = TestProvider::default();
    let outcome = engine::run_experiment(
        &mut store,
        &healthy,
        &id,
        EngineOptions::default(),
        &sender,
        &CancelToken::new(),
    )
    .expect("resume");
    assert_eq!(outcome.status, ExperimentStatus::Completed);
    assert!(
        calls_of(&healthy.calls, "DummyT2I").is_empty(),
        "finished network must not be recomputed"
    );
    let after: Vec<_> = store
        .runs(&id)
        .expect("runs")
        .iter()
        .flat_map(|r| store.invocations(&r.id).expect("inv"))
        .collect();
    for old in &before {
        let same = after.iter().find(|new| new.id == old.id).expect("kept");
        assert_eq!(same.completed_at, old.completed_at);
    }
    assert_eq!(after.len(), 36);
}

#[test]
fn one_bad_item_fails_only_its_own_run_not_its_batch() {
    let provider = TestProvider {
        fail_prompt: Some(("DummyT2I".into(), "violet".into())),
        ..TestProvider::default()
    };
    let mut store = Store::open_in_memory().expect("store");
    let (id, outcome) = create_and_run(
        &mut store,
        &provider,
        &config(vec![-1], 6),
        EngineOptions::default(),
    );
    assert_eq!(outcome.failed_runs, 1);
    for run in store.runs(&id).expect("runs") {
        let invocations = store.invocations(&run.id).expect("invocations");
        if run.network_index == 0 && run.initial_prompt == "violet" {
            assert!(
                matches!(&run.stop, Some(StopReason::Failed { message }) if message.contains("planted failure on 'violet'")),
                "{run:?}"
            );
            assert!(invocations.is_empty());
        } else {
            assert_eq!(run.stop, Some(StopReason::Length), "{run:?}");
            assert_eq!(invocations.len(), 6);
            // The retried step records the one-item call that made it.
            let batch_sizes: Vec<u32> = invocations.iter().map(|i| i.batch_size).collect();
            let expected = match run.network_index {
                0 => [1, 2, 2, 2, 2, 2],
                _ => [3, 3, 3, 3, 3, 3],
            };
            assert_eq!(batch_sizes, expected, "{run:?}");
        }
    }
    // The batch of 3 failed, then each of its items ran alone; later steps batch the 2 left.
    let sizes = calls_of(&provider.calls, "DummyT2I");
    assert_eq!(&sizes[..4], &[3, 1, 1, 1], "{sizes:?}");
    assert!(sizes[4..].iter().all(|&size| size == 2), "{sizes:?}");
}

#[test]
fn a_model_that_cannot_load_fails_only_its_network() {
    let provider = TestProvider {
        fail_load: vec!["DummyT2I".into()],
        ..TestProvider::default()
    };
    let mut store = Store::open_in_memory().expect("store");
    let (id, outcome) = create_and_run(
        &mut store,
        &provider,
        &config(vec![-1], 4),
        EngineOptions::default(),
    );
    assert_eq!(outcome.failed_runs, 3);
    let report = engine::status(&store, &id).expect("status");
    assert_eq!(report.runs_length, 3);
    assert!(
        report.failures.iter().any(|f| f.contains("planted.onnx")),
        "{:?}",
        report.failures
    );
}

#[test]
fn cancelling_stops_after_a_batch_and_resume_finishes_without_duplicates() {
    let provider = TestProvider::default();
    let mut store = Store::open_in_memory().expect("store");
    let raw = config(vec![-1], 40);
    let validated = config::validate(&raw, &provider).expect("valid");
    let id = engine::create_experiment(&mut store, &validated).expect("create");
    let cancel = CancelToken::new();
    let (sender, receiver) = mpsc::channel();
    // Cancel from "another thread" once a few batches have been reported.
    let watcher = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            let mut batches = 0;
            for event in receiver {
                if let ProgressEvent::Invocations { .. } = event {
                    batches += 1;
                    if batches == 5 {
                        cancel.cancel();
                    }
                }
            }
        })
    };
    let outcome = engine::run_experiment(
        &mut store,
        &provider,
        &id,
        EngineOptions::default(),
        &sender,
        &cancel,
    )
    .expect("run");
    drop(sender);
    let _ = watcher.join();
    assert_eq!(outcome.status, ExperimentStatus::Cancelled);
    let report = engine::status(&store, &id).expect("status");
    assert!(
        report.invocations_done >= 15 && report.invocations_done < 240,
        "{}",
        report.invocations_done
    );
    assert!(report.runs_cancelled > 0);

    let (sender, _receiver) = mpsc::channel();
    let outcome = engine::run_experiment(
        &mut store,
        &provider,
        &id,
        EngineOptions::default(),
        &sender,
        &CancelToken::new(),
    )
    .expect("resume");
    assert_eq!(outcome.status, ExperimentStatus::Completed);
    let report = engine::status(&store, &id).expect("status");
    assert_eq!(report.invocations_done, 240);
    assert_eq!(report.runs_length, 6);
}

#[test]
fn resume_creates_runs_missing_from_an_interrupted_creation() {
    let provider = TestProvider::default();
    let mut store = Store::open_in_memory().expect("store");
    let raw = config(vec![-1], 4);
    let validated = config::validate(&raw, &provider).expect("valid");
    let id = engine::create_experiment(&mut store, &validated).expect("create");
    let victim = store.runs(&id).expect("runs")[4].id.clone();
    store
        .raw_connection_for_tests()
        .execute("DELETE FROM run WHERE id = ?1", [&victim])
        .expect("delete");
    let (sender, _receiver) = mpsc::channel();
    engine::run_experiment(
        &mut store,
        &provider,
        &id,
        EngineOptions::default(),
        &sender,
        &CancelToken::new(),
    )
    .expect("run");
    let runs = store.runs(&id).expect("runs");
    assert_eq!(runs.len(), 6);
    assert!(runs.iter().any(|run| run.id == victim));
}

/// Random and mutated configs taken the whole way a new experiment goes (parse, validate,
/// create): none panics, every refusal is a message, and a refused config stores nothing.
#[test]
fn mutated_configs_are_refused_with_a_message_and_store_nothing() {
    use rand::{Rng, SeedableRng};
    const GOOD: &str = r#"{"networks": [["DummyT2I", "DummyI2T"]], "prompts": ["a cat", "a dog"],
        "seeds": [1, -1], "embedding_models": ["DummyText"], "max_length": 10, "image_size": 16}"#;
    let replacements: [&str; 14] = [
        "",
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "-1",
        "0",
        "1e999",
        "null",
        "é",
        "\"DummyX\"",
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut store = Store::open_in_memory().expect("store");
    let provider = TestProvider::default();
    let (mut created, mut refused) = (0usize, 0usize);
    for _ in 0..2000 {
        let mut text = GOOD.to_owned();
        for _ in 0..rng.random_range(1..4) {
            let mut at = rng.random_range(0..text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + rng.random_range(0..6)).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(
                at..end,
                replacements[rng.random_range(0..replacements.len())],
            );
        }
        let before = store.list_experiments().expect("list").len();
        let outcome = config::parse(&text, "mutated.json")
            .and_then(|raw| config::validate(&raw, &provider))
            .map_err(|error| error.to_string());
        match outcome {
            Ok(validated) => {
                engine::create_experiment(&mut store, &validated).expect("create");
                created += 1;
            }
            Err(message) => {
                assert!(!message.trim().is_empty(), "an empty message for {text}");
                assert_eq!(
                    store.list_experiments().expect("list").len(),
                    before,
                    "a refused config stored something: {text}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(store.list_experiments().expect("list").len(), created);
    assert!(
        refused > 1000,
        "the mutations mostly break the config ({refused} refused)"
    );
}
