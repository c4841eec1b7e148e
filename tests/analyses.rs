//! The trajectory analyses over a database built by hand, where every answer is known.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use common::{clustering_record, embed_texts, experiment, invocation, run, write_steps};
use panic_tda::analysis::report::{AnalysisOptions, Report, analyse_experiment};
use panic_tda::export::analysis_files::{Analysis, write_report};
use panic_tda::store::{ClusterAssignment, ClusterRecord, OUTLIER, RunRecord, Store};

const EXPERIMENT: &str = "a1a1a1a1b2b2c3c3d4d4e5e5e5e5e5e5";
const A: i32 = 0;
const B: i32 = 1;
const C: i32 = 2;
const O: i32 = OUTLIER;

/// Labels of the six text outputs (steps 1, 3, …, 11) of each run.
const RUN0: [i32; 6] = [A, A, B, B, B, A];
const RUN1: [i32; 6] = [C, C, A, O, A, A];

fn clustering(
    store: &mut Store,
    id: &str,
    model: &str,
    embeddings: &[Vec<String>],
    rename: impl Fn(i32) -> i32,
    names: [&str; 3],
) {
    let clusters: Vec<ClusterRecord> = [A, B, C]
        .iter()
        .map(|&label| ClusterRecord {
            label: rename(label),
            size: 1,
            medoid_embedding_id: None,
            centroid: vec![0.0; 8],
            display_name: names[label as usize].into(),
        })
        .collect();
    let mut assignments = Vec::new();
    for (ids, labels) in embeddings.iter().zip([RUN0, RUN1]) {
        for (id, label) in ids.iter().zip(labels) {
            assignments.push(ClusterAssignment {
                embedding_id: id.clone(),
                label: if label == OUTLIER {
                    OUTLIER
                } else {
                    rename(label)
                },
            });
        }
    }
    store
        .insert_clustering(
            &clustering_record(id, model, EXPERIMENT),
            &clusters,
            &assignments,
        )
        .expect("insert clustering");
}

fn database() -> (Store, Vec<RunRecord>) {
    fill(Store::open_in_memory().expect("store"))
}

fn fill(mut store: Store) -> (Store, Vec<RunRecord>) {
    experiment(&mut store, EXPERIMENT);
    let runs = vec![run(EXPERIMENT, 0, 1, 12), run(EXPERIMENT, 1, 2, 12)];
    store.insert_runs(&runs).expect("runs");
    write_steps(&mut store, &runs, 0, 12);
    let by_m: Vec<Vec<String>> = runs
        .iter()
        .map(|r| embed_texts(&mut store, r, "M", 8))
        .collect();
    let by_n: Vec<Vec<String>> = runs
        .iter()
        .map(|r| embed_texts(&mut store, r, "N", 8))
        .collect();
    clustering(
        &mut store,
        "clu-m",
        "M",
        &by_m,
        |l| l,
        ["alpha", "beta", "gamma"],
    );
    // The same partition under other labels and names: perfect agreement.
    clustering(
        &mut store,
        "clu-n",
        "N",
        &by_n,
        |l| 2 - l,
        ["uno", "dos", "tres"],
    );
    // Run 0's prompt embedding equals its first caption's embedding (step 1), so its drift
    // starts at exactly 0; only model M has prompt embeddings.
    let first = store
        .embedding_vector(&invocation(&runs[0], 1).id, "M")
        .expect("query")
        .expect("vector");
    let other: Vec<f32> = first.iter().map(|v| -v).collect();
    store
        .insert_prompt_embeddings(&[
            (runs[0].id.clone(), "M".into(), first),
            (runs[1].id.clone(), "M".into(), other),
        ])
        .expect("prompt embeddings");
    (store, runs)
}

fn analyse(store: &Store, include_outliers: bool) -> Report {
    let options = AnalysisOptions {
        include_outliers,
        ..AnalysisOptions::default()
    };
    let mut steps = Vec::new();
    let report = analyse_experiment(
        store,
        EXPERIMENT,
        &options,
        &mut |step| steps.push(step),
        &AtomicBool::new(false),
    )
    .expect("analyse");
    assert_eq!(
        steps,
        vec![0, 1, 2, 3, 4, 5],
        "every part reports progress in order"
    );
    report
}

#[test]
fn cluster_sequence_analyses_stay_within_runs() {
    let (store, runs) = database();
    let report = analyse(&store, false);
    assert_eq!(report.clusterings.len(), 2);

    let transitions: BTreeMap<(&str, &str), u64> = report
        .transitions
        .iter()
        .filter(|t| t.embedding_model == "M")
        .map(|t| ((t.from_name.as_str(), t.to_name.as_str()), t.count))
        .collect();
    // Run 0: alpha→beta, beta→alpha. Run 1 (outlier dropped): gamma→alpha. Run 0's last
    // alpha does not lead into run 1's gamma.
    let expected: BTreeMap<(&str, &str), u64> = [
        (("alpha", "beta"), 1),
        (("beta", "alpha"), 1),
        (("gamma", "alpha"), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(transitions, expected);
    assert!(
        report
            .transitions
            .iter()
            .all(|t| (t.probability - 1.0).abs() < 1e-12)
    );
    assert!(
        report
            .transitions
            .iter()
            .all(|t| t.network == "DummyT2I → DummyI2T")
    );

    let stable: BTreeMap<&str, (u32, u32, &str)> = report
        .stable_runs
        .iter()
        .filter(|s| s.embedding_model == "M")
        .map(|s| {
            (
                s.run_id.as_str(),
                (s.from_start, s.anywhere, s.anywhere_cluster.as_str()),
            )
        })
        .collect();
    assert_eq!(stable[runs[0].id.as_str()], (2, 3, "beta"));
    assert_eq!(stable[runs[1].id.as_str()], (2, 3, "alpha"));

    let returns: BTreeMap<&str, Option<u32>> = report
        .returns
        .iter()
        .filter(|r| r.embedding_model == "M")
        .map(|r| (r.run_id.as_str(), r.steps_to_return))
        .collect();
    assert_eq!(returns[runs[0].id.as_str()], Some(5));
    assert_eq!(returns[runs[1].id.as_str()], None);
    let run1 = report
        .returns
        .iter()
        .find(|r| r.run_id == runs[1].id && r.embedding_model == "M")
        .expect("run 1 row");
    assert!((run1.outlier_fraction - 1.0 / 6.0).abs() < 1e-12);

    // Stages over both runs: run 0 is [A A][B B][B A]; run 1 without its outlier is
    // C C A A A, split 2/2/1 into [C C][A A][A].
    let stage = |stage: &str, name: &str| {
        report
            .stages
            .iter()
            .find(|s| s.embedding_model == "M" && s.stage == stage && s.cluster_name == name)
            .map(|s| s.count)
            .unwrap_or(0)
    };
    assert_eq!(stage("beginning", "alpha"), 2);
    assert_eq!(stage("beginning", "gamma"), 2);
    assert_eq!(stage("middle", "beta"), 2);
    assert_eq!(stage("middle", "alpha"), 2);
    assert_eq!(stage("end", "beta"), 1);
    assert_eq!(stage("end", "alpha"), 2);

    let top = report
        .bigrams
        .iter()
        .find(|b| b.embedding_model == "M" && b.rank == 1)
        .expect("bigram");
    assert_eq!(top.count, 1);
}

#[test]
fn outliers_can_be_a_state() {
    let (store, _) = database();
    let report = analyse(&store, true);
    let names: Vec<(&str, &str)> = report
        .transitions
        .iter()
        .filter(|t| t.embedding_model == "M")
        .map(|t| (t.from_name.as_str(), t.to_name.as_str()))
        .collect();
    assert!(names.contains(&("alpha", "outlier")));
    assert!(names.contains(&("outlier", "alpha")));
}

#[test]
fn agreement_drift_and_timing() {
    let (store, runs) = database();
    let report = analyse(&store, false);
    let agreement = &report.agreement[0];
    assert_eq!(
        (agreement.model_a.as_str(), agreement.model_b.as_str()),
        ("M", "N")
    );
    assert_eq!(agreement.outputs, 12);
    assert!((agreement.adjusted_rand_index - 1.0).abs() < 1e-12);
    assert!((agreement.normalized_mutual_information - 1.0).abs() < 1e-12);

    // Only M has prompt embeddings: 12 drift rows, each against its own run's prompt.
    assert_eq!(report.drift.len(), 12);
    assert!(report.drift.iter().all(|d| d.embedding_model == "M"));
    let first = |run: &RunRecord| {
        report
            .drift
            .iter()
            .find(|d| d.run_id == run.id && d.sequence_number == 1)
            .expect("drift row")
    };
    assert_eq!(first(&runs[0]).cosine, 0.0);
    assert!(
        (first(&runs[1]).cosine - 2.0).abs() < 1e-6,
        "opposite prompt"
    );
    assert!(report.notes.iter().any(|n| n.contains("by N")));
    // 2 runs × 5 lagged rows for 4 coefficients (intercept, step, lag, prompt): fitted.
    let fit = report.drift_model.as_ref().expect("drift model fitted");
    assert_eq!(fit.observations, 10);
    assert!(fit.coefficient("prompt = prompt 1").is_some());

    // Fixture invocations take 1 µs each, batch size 1.
    let models: Vec<&str> = report.timing.iter().map(|t| t.model.as_str()).collect();
    assert_eq!(models, vec!["DummyI2T", "DummyT2I"]);
    for row in &report.timing {
        assert_eq!(row.invocations, 12);
        assert!((row.median_s - 1e-6).abs() < 1e-12);
    }
}

#[test]
fn report_files_and_charts_are_written() {
    let (store, _) = database();
    let report = analyse(&store, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = write_report(&report, Analysis::All, dir.path()).expect("write");
    for name in [
        "transitions.csv",
        "stable_runs.csv",
        "bigrams.csv",
        "stages.csv",
        "returns.csv",
        "agreement.csv",
        "drift.csv",
        "timing.csv",
        "report.json",
        "transitions.png",
        "transitions.svg",
        "transitions.pdf",
        "drift.png",
        "persistence.svg",
        "persistence.pdf",
    ] {
        assert!(dir.path().join(name).is_file(), "{name} missing");
    }
    assert!(files.len() >= 30);
    let csv = std::fs::read_to_string(dir.path().join("transitions.csv")).expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("embedding_model,network,from,to,from_name,to_name,count"));
    assert_eq!(
        lines.len(),
        1 + 6,
        "3 transitions for each of two clusterings"
    );
    let png = image::open(dir.path().join("transitions.png")).expect("png decodes");
    assert!(png.width() > 600 && png.height() > 400);
    let svg = std::fs::read_to_string(dir.path().join("transitions.svg")).expect("svg");
    assert!(svg.contains("alpha") && svg.contains("gamma"));
    let pdf = std::fs::read(dir.path().join("transitions.pdf")).expect("pdf");
    assert!(pdf.starts_with(b"%PDF") && pdf.len() > 5_000);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("json"),
    )
    .expect("valid json");
    assert_eq!(json["experiment_id"], EXPERIMENT);

    // One analysis only: its table, its chart, the JSON.
    let single = tempfile::tempdir().expect("tempdir");
    let files = write_report(&report, Analysis::Bigrams, single.path()).expect("write");
    let mut names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "bigrams.csv",
            "bigrams.pdf",
            "bigrams.png",
            "bigrams.svg",
            "report.json"
        ]
    );
}

#[test]
fn a_clustering_of_another_experiment_is_refused() {
    let (mut store, _) = database();
    experiment(&mut store, "other");
    let options = AnalysisOptions {
        clusterings: vec!["clu-m".into()],
        ..AnalysisOptions::default()
    };
    // clu-m covers EXPERIMENT, not "other".
    let error = analyse_experiment(
        &store,
        "other",
        &options,
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .expect_err("refused");
    assert!(error.to_string().contains("clu-m"), "{error}");
    // Without clusterings, an experiment gets empty cluster tables and a note saying why.
    let report = analyse_experiment(
        &store,
        "other",
        &AnalysisOptions::default(),
        &mut |_| {},
        &AtomicBool::new(true),
    );
    assert!(matches!(
        report,
        Err(panic_tda::analysis::report::AnalysisError::Cancelled)
    ));
    let report = analyse_experiment(
        &store,
        "other",
        &AnalysisOptions::default(),
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .expect("analyse");
    assert!(report.transitions.is_empty());
    assert!(report.notes.iter().any(|n| n.contains("cluster run")));
}

#[test]
fn the_cli_writes_every_table_and_chart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite");
    drop(fill(Store::open(&db).expect("store")));
    let out = dir.path().join("analyses");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_panic-tda"))
        .args(["analyse", "all", "--experiment", "a1a1a1a1b2", "--out"])
        .arg(&out)
        .arg("--db")
        .arg(&db)
        .args(["--json"])
        .output()
        .expect("run panic-tda");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["experiment"], EXPERIMENT);
    assert!(out.join("stages.png").is_file());
    assert!(out.join("agreement.svg").is_file());
    // `all` computed the missing persistence diagrams first: 2 runs × 2 models, H0–H2 each.
    let entropy = std::fs::read_to_string(out.join("persistent_entropy.csv")).expect("csv");
    assert_eq!(entropy.lines().count(), 1 + 2 * 2 * 3);
    let store = Store::open(&db).expect("store");
    assert_eq!(store.diagrams(EXPERIMENT, None).expect("diagrams").len(), 4);
}

#[test]
fn the_cli_writes_one_self_contained_report_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite");
    drop(fill(Store::open(&db).expect("store")));
    let run = |out: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_panic-tda"))
            .args(["analyse", "report", "--experiment", "a1a1a1a1b2", "--out"])
            .arg(out)
            .arg("--db")
            .arg(&db)
            .output()
            .expect("run panic-tda")
    };
    let page_path = dir.path().join("report.html");
    let output = run(&page_path);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page = std::fs::read_to_string(&page_path).expect("page");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg").count(), 11, "every chart inline");
    assert!(
        page.contains("Persistent homology"),
        "persistence computed for the page"
    );
    // Another extension is refused before anything is computed or written.
    let wrong = dir.path().join("report.png");
    let output = run(&wrong);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains(".html"));
    assert!(!wrong.exists());
}
