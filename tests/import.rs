//! Importing a database written by the old Python tool (DDL from spec Appendix B).

mod common;

use image::RgbImage;
use panic_tda::models::Output;
use panic_tda::store::import::import_old_database;
use panic_tda::store::{StopReason, Store, doctor};
use rusqlite::{Connection, params};

const OLD_DDL: &str = "
CREATE TABLE experimentconfig (
  id CHAR(32) NOT NULL, networks JSON NOT NULL, seeds JSON NOT NULL, prompts JSON NOT NULL,
  embedding_models JSON NOT NULL, max_length INTEGER NOT NULL, started_at DATETIME,
  completed_at DATETIME, PRIMARY KEY (id));
CREATE TABLE run (
  id CHAR(32) NOT NULL, network JSON NOT NULL, seed INTEGER NOT NULL, max_length INTEGER NOT NULL,
  initial_prompt VARCHAR NOT NULL, experiment_id CHAR(32), PRIMARY KEY (id),
  FOREIGN KEY(experiment_id) REFERENCES experimentconfig (id));
CREATE TABLE invocation (
  id CHAR(32) NOT NULL, started_at DATETIME, completed_at DATETIME, model VARCHAR NOT NULL,
  type VARCHAR(5) NOT NULL, seed INTEGER NOT NULL, run_id CHAR(32) NOT NULL,
  sequence_number INTEGER NOT NULL, input_invocation_id CHAR(32), output_text VARCHAR,
  output_image_data BLOB, PRIMARY KEY (id), FOREIGN KEY(run_id) REFERENCES run (id),
  FOREIGN KEY(input_invocation_id) REFERENCES invocation (id));
CREATE TABLE embedding (
  id CHAR(32) NOT NULL, started_at DATETIME, completed_at DATETIME, invocation_id CHAR(32) NOT NULL,
  embedding_model VARCHAR NOT NULL, vector BLOB, PRIMARY KEY (id),
  FOREIGN KEY(invocation_id) REFERENCES invocation (id));
CREATE TABLE persistencediagram (
  id CHAR(32) NOT NULL, started_at DATETIME, completed_at DATETIME, diagram_data BLOB,
  run_id CHAR(32) NOT NULL, embedding_model VARCHAR NOT NULL, PRIMARY KEY (id),
  FOREIGN KEY(run_id) REFERENCES run (id));
CREATE TABLE clusteringresult (
  id CHAR(32) NOT NULL, created_at DATETIME NOT NULL, embedding_model VARCHAR NOT NULL,
  algorithm VARCHAR NOT NULL, parameters JSON NOT NULL, clusters JSON NOT NULL, PRIMARY KEY (id));
CREATE TABLE embeddingcluster (
  id CHAR(32) NOT NULL, embedding_id CHAR(32) NOT NULL, clustering_result_id CHAR(32) NOT NULL,
  cluster_id INTEGER NOT NULL, PRIMARY KEY (id),
  FOREIGN KEY(embedding_id) REFERENCES embedding (id),
  FOREIGN KEY(clustering_result_id) REFERENCES clusteringresult (id));
CREATE INDEX ix_run_experiment_id ON run (experiment_id);
CREATE INDEX ix_invocation_run_id ON invocation (run_id);
CREATE INDEX ix_invocation_input_invocation_id ON invocation (input_invocation_id);
CREATE INDEX ix_embedding_invocation_id ON embedding (invocation_id);
CREATE INDEX ix_persistencediagram_run_id ON persistencediagram (run_id);
CREATE INDEX ix_embeddingcluster_embedding_id ON embeddingcluster (embedding_id);
CREATE INDEX ix_embeddingcluster_clustering_result_id ON embeddingcluster (clustering_result_id);
";

const EXPERIMENT: &str = "06b0a68cad52791daad8906d902ac606";

fn webp(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut bytes)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("webp");
    bytes
}

fn vector(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn id(n: u32) -> String {
    format!("{n:032x}")
}

/// Inserts run `run` with steps given as (sequence, output) where `None` is a null output.
fn old_run(conn: &Connection, run: u32, seed: i64, prompt: &str, steps: &[(i64, Option<Output>)]) {
    conn.execute(
        "INSERT INTO run VALUES (?1, '[\"DummyT2I\", \"DummyI2T\"]', ?2, 4, ?3, ?4)",
        params![id(run), seed, prompt, EXPERIMENT],
    )
    .expect("run");
    for (n, (sequence, output)) in steps.iter().enumerate() {
        let invocation = id(run * 100 + n as u32);
        let (kind, model) = if sequence % 2 == 0 {
            ("IMAGE", "DummyT2I")
        } else {
            ("TEXT", "DummyI2T")
        };
        let (text, image) = match output {
            Some(Output::Text(text)) => (Some(text.clone()), None),
            Some(Output::Image(image)) => (None, Some(webp(image))),
            None => (None, None),
        };
        conn.execute(
            "INSERT INTO invocation VALUES (?1, '2025-11-28 05:40:09.673510', '2025-11-28 05:40:10.000000',
                ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8)",
            params![invocation, model, kind, seed, id(run), sequence, text, image],
        )
        .expect("invocation");
        if kind == "TEXT" {
            conn.execute(
                "INSERT INTO embedding VALUES (?1, NULL, NULL, ?2, 'OldEmbedder', ?3)",
                params![
                    id(run * 100 + 50 + n as u32),
                    invocation,
                    vector(&[*sequence as f32, 0.5, -1.0])
                ],
            )
            .expect("embedding");
        }
    }
}

fn build_old(path: &std::path::Path) -> RgbImage {
    let conn = Connection::open(path).expect("old db");
    conn.execute_batch(OLD_DDL).expect("ddl");
    conn.execute(
        "INSERT INTO experimentconfig VALUES (?1, '[[\"DummyT2I\", \"DummyI2T\"]]', '[42, -1, -1]',
            '[\"a red apple\", \"a blue car\"]', '[\"OldEmbedder\"]', 4, '2025-11-28 05:40:00.000000', NULL)",
        [EXPERIMENT],
    )
    .expect("experiment");
    let red = RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([200, (x * 8) as u8, (y * 8) as u8])
    });
    let blue = RgbImage::from_fn(32, 32, |x, _| image::Rgb([0, 0, (x * 8) as u8]));
    let text = |s: &str| Some(Output::Text(s.into()));
    // 1: complete (length).
    old_run(
        &conn,
        1,
        42,
        "a red apple",
        &[
            (0, Some(Output::Image(red.clone()))),
            (1, text("an apple")),
            (2, Some(Output::Image(blue.clone()))),
            (3, text("a car")),
        ],
    );
    // 2: seeded, repeats step 0's image at step 2 → duplicate, loop length 2.
    old_run(
        &conn,
        2,
        42,
        "a blue car",
        &[
            (0, Some(Output::Image(red.clone()))),
            (1, text("an apple")),
            (2, Some(Output::Image(red.clone()))),
        ],
    );
    // 3 and 4: unseeded, same prompt: seed positions 1 and 2. Run 3 is unfinished; run 4 has a
    // null output at step 1 (cut there) and a duplicated step 0.
    old_run(
        &conn,
        3,
        -1,
        "a blue car",
        &[(0, Some(Output::Image(blue.clone()))), (1, text("blue"))],
    );
    old_run(
        &conn,
        4,
        -1,
        "a blue car",
        &[
            (0, Some(Output::Image(blue.clone()))),
            (0, Some(Output::Image(red.clone()))),
            (1, None),
            (2, None),
        ],
    );
    // A run without experiment, and a null vector.
    conn.execute("INSERT INTO run VALUES ('ff', '[]', 1, 4, 'x', NULL)", [])
        .expect("orphan run");
    conn.execute(
        "INSERT INTO embedding VALUES ('ee', NULL, NULL, ?1, 'OldEmbedder2', NULL)",
        [id(101)],
    )
    .expect("null vector");
    red
}

#[test]
fn an_old_database_imports_once_and_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old.sqlite");
    let red = build_old(&old);
    let mut store = Store::open(&dir.path().join("new.sqlite")).expect("open");
    let mut reports = 0;
    let summary = import_old_database(&mut store, &old, &mut |_| reports += 1).expect("import");
    assert_eq!(reports, 5, "initial + one per run");
    assert_eq!(
        (summary.experiments, summary.runs, summary.invocations),
        (1, 4, 10)
    );
    assert_eq!(summary.embeddings, 4);
    assert_eq!(summary.skipped_runs_without_experiment, 1);
    assert_eq!(summary.skipped_invocations, 3);
    assert_eq!(summary.skipped_null_vectors, 1);

    let experiment = store.experiment(EXPERIMENT).expect("experiment");
    let config: serde_json::Value = serde_json::from_str(&experiment.config_json).expect("json");
    assert_eq!(config["seeds"], serde_json::json!([42, -1, -1]));
    assert_eq!(config["max_length"], 4);
    assert!(experiment.started_at.is_some());

    let runs = store.runs(EXPERIMENT).expect("runs");
    let by_id = |n: u32| runs.iter().find(|r| r.id == id(n)).expect("run");
    assert_eq!((by_id(1).prompt_index, by_id(1).seed_index), (0, 0));
    assert_eq!(by_id(1).stop, Some(StopReason::Length));
    assert_eq!((by_id(2).prompt_index, by_id(2).seed_index), (1, 0));
    assert_eq!(
        by_id(2).stop,
        Some(StopReason::Duplicate { loop_length: 2 })
    );
    assert_eq!((by_id(3).seed_index, by_id(4).seed_index), (1, 2));
    assert_eq!((by_id(3).stop.clone(), by_id(4).stop.clone()), (None, None));

    let steps = store.invocations(&id(1)).expect("invocations");
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[0].output, Output::Image(red.clone()));
    assert_eq!(steps[1].output, Output::Text("an apple".into()));
    assert_eq!(
        steps[1].input_invocation_id.as_deref(),
        Some(id(100).as_str())
    );
    assert_eq!(steps[1].completed_at - steps[1].started_at, 326_490);
    assert_eq!(store.invocations(&id(4)).expect("run 4").len(), 1);
    let vector = store
        .embedding_vector(&id(101), "OldEmbedder")
        .expect("vector")
        .expect("present");
    assert_eq!(vector, vec![1.0, 0.5, -1.0]);

    let report = doctor::check(&store, None).expect("doctor");
    assert!(report.is_healthy(), "{:#?}", report.issues);

    // Importing again adds nothing.
    let again = import_old_database(&mut store, &old, &mut |_| {}).expect("again");
    assert_eq!(
        (
            again.experiments,
            again.runs,
            again.invocations,
            again.embeddings
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(common::count(&store, "SELECT count(*) FROM invocation"), 10);
}

#[test]
fn import_db_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old.sqlite");
    build_old(&old);
    let new = dir.path().join("new.sqlite");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_panic-tda"))
        .arg("--db")
        .arg(&new)
        .args(["import-db", "--json"])
        .arg(&old)
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(summary["invocations"], 10);
    let store = Store::open(&new).expect("open");
    assert_eq!(common::count(&store, "SELECT count(*) FROM run"), 4);
}

#[test]
fn a_new_database_is_not_an_old_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.sqlite");
    drop(Store::open(&path).expect("create"));
    let mut store = Store::open_in_memory().expect("open");
    let err = import_old_database(&mut store, &path, &mut |_| {}).expect_err("not old");
    assert!(err.to_string().contains("experimentconfig"), "{err}");
}

#[test]
fn unreadable_old_timestamps_are_counted_not_silently_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old.sqlite");
    build_old(&old);
    {
        let conn = Connection::open(&old).expect("old db");
        conn.execute("UPDATE experimentconfig SET started_at = '28/11/2025'", [])
            .expect("damage another");
    }
    let mut store = Store::open_in_memory().expect("open");
    let summary = import_old_database(&mut store, &old, &mut |_| {}).expect("import");
    assert_eq!(summary.unreadable_timestamps, 1, "{summary:?}");
    assert_eq!(summary.invocations, 10, "the rows themselves are kept");
}
