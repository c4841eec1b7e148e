//! Sharding one experiment over several machines and merging the shard databases exactly.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use common::TestProvider;
use panic_tda::config::{self, ExperimentConfig, ValidatedConfig};
use panic_tda::engine::{self, CancelToken, EngineOptions, Shard};
use panic_tda::store::Store;

fn config() -> ValidatedConfig {
    let raw = ExperimentConfig {
        networks: vec![
            vec!["DummyT2I".into(), "DummyI2T".into()],
            vec!["DummyT2I2".into(), "DummyI2T2".into()],
        ],
        prompts: vec!["one".into(), "two".into(), "three".into()],
        seeds: Some(vec![1, 2, 3]),
        num_runs: None,
        embedding_models: vec!["DummyText".into()],
        max_length: 8,
        image_size: Some(32),
    };
    config::validate(&raw, &TestProvider::default()).expect("valid")
}

#[test]
fn shards_are_disjoint_cover_every_run_and_are_balanced() {
    let validated = config();
    let plan = engine::plan_runs("e", &validated);
    for count in [1, 2, 3, 4, 7, 18, 25] {
        let mut seen = BTreeSet::new();
        let mut sizes = Vec::new();
        for index in 0..count {
            let part = Shard { index, count }.select(plan.clone());
            sizes.push(part.len());
            for run in part {
                assert!(
                    seen.insert(run.id.clone()),
                    "run in two shards (N = {count})"
                );
            }
        }
        assert_eq!(seen.len(), plan.len(), "N = {count}");
        let (min, max) = (
            sizes.iter().min().copied().unwrap_or(0),
            sizes.iter().max().copied().unwrap_or(0),
        );
        assert!(
            max - min <= validated.networks().len(),
            "unbalanced for N = {count}: {sizes:?}"
        );
    }
}

fn run_shard(path: &Path, validated: &ValidatedConfig, id: &str, shard: Shard) {
    let provider = TestProvider::default();
    let mut store = Store::open(path).expect("open shard");
    engine::create_shard(&mut store, validated, id, shard).expect("create shard");
    let (sender, _receiver) = mpsc::channel();
    engine::run_experiment(
        &mut store,
        &provider,
        id,
        EngineOptions::default(),
        &sender,
        &CancelToken::new(),
    )
    .expect("run shard");
}

type Rows = BTreeSet<(String, String, i64, Vec<u8>)>;
/// (invocations, embeddings, runs) of a database, comparable across databases.
type Content = (
    Rows,
    BTreeSet<(String, Vec<u8>)>,
    BTreeSet<(String, Option<String>)>,
);

fn content(path: &Path) -> Content {
    let store = Store::open(path).expect("open");
    let conn = store.raw_connection_for_tests();
    let invocations = conn
        .prepare("SELECT id, run_id, sequence_number, output_hash FROM invocation")
        .expect("prepare")
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let embeddings = conn
        .prepare("SELECT id, vector FROM embedding")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let runs = conn
        .prepare("SELECT id, stop_reason FROM run")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    (invocations, embeddings, runs)
}

#[test]
fn merged_shards_equal_a_single_machine_run_and_merging_again_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let validated = config();
    let id = engine::shared_experiment_id(&validated);
    let single = dir.path().join("single.sqlite");
    run_shard(&single, &validated, &id, Shard { index: 0, count: 1 });

    let shards: Vec<PathBuf> = (0..3)
        .map(|index| {
            let path = dir.path().join(format!("shard_{index}.sqlite"));
            run_shard(&path, &validated, &id, Shard { index, count: 3 });
            path
        })
        .collect();
    let merged = dir.path().join("merged.sqlite");
    let summary = Store::open(&merged)
        .expect("open")
        .merge_shards(&shards)
        .expect("merge");
    assert_eq!(summary.runs, 18);
    assert_eq!(summary.runs_finished, 18);
    let expected = content(&single);
    assert_eq!(content(&merged), expected);
    assert!(!expected.0.is_empty() && !expected.1.is_empty());

    let again = Store::open(&merged)
        .expect("open")
        .merge_shards(&shards)
        .expect("merge again");
    assert!(
        again.added.iter().all(|(_, rows)| *rows == 0),
        "{:?}",
        again.added
    );
    assert_eq!(content(&merged), expected);
    let store = Store::open(&merged).expect("open");
    assert_eq!(store.experiment_shard(&id).expect("shard"), None);
    assert_eq!(
        store
            .experiment(&id)
            .expect("experiment")
            .status
            .to_string(),
        "completed"
    );
}

#[test]
fn conflicting_or_foreign_shards_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let validated = config();
    let id = engine::shared_experiment_id(&validated);
    let shard = dir.path().join("shard.sqlite");
    run_shard(&shard, &validated, &id, Shard { index: 0, count: 2 });
    let merged = dir.path().join("merged.sqlite");
    Store::open(&merged)
        .expect("open")
        .merge_shards(std::slice::from_ref(&shard))
        .expect("merge");
    // Tamper with a merged row: merging the shard again must refuse, naming the table.
    Store::open(&merged)
        .expect("open")
        .raw_connection_for_tests()
        .execute(
            "UPDATE invocation SET output_text = 'tampered' WHERE id = (SELECT id FROM invocation WHERE output_type = 'text' LIMIT 1)",
            [],
        )
        .expect("tamper");
    let err = Store::open(&merged)
        .expect("open")
        .merge_shards(std::slice::from_ref(&shard))
        .expect_err("conflict");
    assert!(err.to_string().contains("invocation"), "{err}");

    // A shard of another experiment is refused too.
    let mut other_raw = validated.raw().clone();
    other_raw.max_length = 4;
    let other = config::validate(&other_raw, &TestProvider::default()).expect("valid");
    let other_shard = dir.path().join("other.sqlite");
    run_shard(
        &other_shard,
        &other,
        &engine::shared_experiment_id(&other),
        Shard { index: 1, count: 2 },
    );
    let err = Store::open(&dir.path().join("fresh.sqlite"))
        .expect("open")
        .merge_shards(&[shard, other_shard])
        .expect_err("different experiments");
    assert!(
        err.to_string().contains("one experiment at a time"),
        "{err}"
    );
}
