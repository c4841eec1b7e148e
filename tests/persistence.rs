//! Vietoris–Rips persistence on shapes with known homology, against ripser/giotto-ph answers
//! (tests/fixtures/persistence_ripser.json, made by make_pd_fixtures.py), and persistent entropy.

use std::sync::atomic::AtomicBool;

use panic_tda::analysis::persistence::{
    PersistenceError, RipsParams, persistent_entropy, vietoris_rips,
};
use panic_tda::store::PersistencePair;
use rand::{Rng, SeedableRng};

fn diagram(points: &[f32], dim: usize) -> Vec<PersistencePair> {
    vietoris_rips(points, dim, &RipsParams::default(), None).expect("diagram")
}

fn of_dimension(pairs: &[PersistencePair], dimension: u32) -> Vec<PersistencePair> {
    pairs
        .iter()
        .copied()
        .filter(|p| p.dimension == dimension)
        .collect()
}

fn circle(n: usize) -> Vec<f32> {
    (0..n)
        .flat_map(|i| {
            let angle = std::f32::consts::TAU * i as f32 / n as f32;
            [angle.cos(), angle.sin()]
        })
        .collect()
}

#[test]
fn a_circle_has_one_long_h1_bar() {
    let pairs = diagram(&circle(100), 2);
    let h0 = of_dimension(&pairs, 0);
    assert_eq!(h0.len(), 100, "every point is its own component at 0");
    assert_eq!(h0.iter().filter(|p| p.death.is_infinite()).count(), 1);
    let long: Vec<_> = of_dimension(&pairs, 1)
        .into_iter()
        .filter(|p| p.death - p.birth > 0.5)
        .collect();
    assert_eq!(long.len(), 1, "{pairs:?}");
    // Born when neighbours connect (chord of 1/100 turn); dies with the first triangle around
    // the centre, arcs of 33, 33 and 34 hundredths (longest chord: 34/100 of a turn).
    let bar = long[0];
    let chord = |steps: f32| 2.0 * (std::f32::consts::PI * steps / 100.0).sin();
    assert!((bar.birth - chord(1.0)).abs() < 1e-5, "{bar:?}");
    assert!((bar.death - chord(34.0)).abs() < 1e-5, "{bar:?}");
    assert!(
        pairs.iter().all(|p| p.death > p.birth),
        "no zero-length bars"
    );
    assert!(
        of_dimension(&pairs, 1)
            .iter()
            .chain(&of_dimension(&pairs, 2))
            .all(|p| p.death.is_finite()),
        "nothing survives the enclosing radius above H0"
    );
}

#[test]
fn two_clusters_merge_at_the_gap() {
    // Two tight clusters of 10 points, 10 apart along x.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut points = Vec::new();
    for centre in [0.0f32, 10.0] {
        for _ in 0..10 {
            points.extend([
                centre + rng.random_range(-0.1..0.1),
                rng.random_range(-0.1..0.1),
                rng.random_range(-0.1..0.1),
            ]);
        }
    }
    let pairs = diagram(&points, 3);
    let h0 = of_dimension(&pairs, 0);
    assert_eq!(h0.len(), 20);
    let mut finite: Vec<f32> = h0
        .iter()
        .map(|p| p.death)
        .filter(|d| d.is_finite())
        .collect();
    finite.sort_by(f32::total_cmp);
    let longest = *finite.last().expect("finite bars");
    assert!((9.6..=10.4).contains(&longest), "gap bar dies at {longest}");
    assert!(finite[..finite.len() - 1].iter().all(|&d| d < 0.4));
    // The gap is the smallest distance between the clusters.
    let mut gap = f32::INFINITY;
    for a in 0..10 {
        for b in 10..20 {
            let d: f32 = (0..3)
                .map(|k| (points[a * 3 + k] - points[b * 3 + k]).powi(2))
                .sum::<f32>()
                .sqrt();
            gap = gap.min(d);
        }
    }
    assert!((longest - gap).abs() < 1e-5, "{longest} vs {gap}");
}

#[test]
fn an_octahedron_encloses_one_void() {
    let mut points = Vec::new();
    for axis in 0..3 {
        for sign in [1.0f32, -1.0] {
            let mut p = [0.0f32; 3];
            p[axis] = sign;
            points.extend(p);
        }
    }
    let pairs = diagram(&points, 3);
    let h2 = of_dimension(&pairs, 2);
    assert_eq!(h2.len(), 1, "{pairs:?}");
    // Born with the edges (√2), dies with the diagonals (2).
    assert!((h2[0].birth - 2f32.sqrt()).abs() < 1e-6);
    assert!((h2[0].death - 2.0).abs() < 1e-6);
    assert!(of_dimension(&pairs, 1).is_empty(), "{pairs:?}");
    assert_eq!(of_dimension(&pairs, 0).len(), 6);
}

#[test]
fn points_on_a_sphere_have_one_long_h2_bar() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut points = Vec::new();
    for _ in 0..80 {
        let v: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.0f32..1.0));
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        points.extend(v.map(|x| x / norm));
    }
    let pairs = diagram(&points, 3);
    let long: Vec<_> = of_dimension(&pairs, 2)
        .into_iter()
        .filter(|p| p.death - p.birth > 0.3)
        .collect();
    assert_eq!(long.len(), 1, "{:?}", of_dimension(&pairs, 2));
}

#[test]
fn tiny_and_degenerate_clouds() {
    assert!(diagram(&[], 3).is_empty());
    let one = diagram(&[1.0, 2.0], 2);
    assert_eq!(
        one,
        vec![PersistencePair {
            dimension: 0,
            birth: 0.0,
            death: f32::INFINITY
        }]
    );
    // Duplicates merge at 0: zero-length bars are not reported.
    let twice = diagram(&[1.0, 2.0, 1.0, 2.0, 4.0, 6.0], 2);
    assert_eq!(twice.len(), 2, "{twice:?}");
    assert_eq!(twice[0].death, 5.0);
    assert!(twice[1].death.is_infinite());
    assert!(matches!(
        vietoris_rips(&[1.0, 2.0, 3.0], 2, &RipsParams::default(), None),
        Err(PersistenceError::Shape { .. })
    ));
    assert!(matches!(
        vietoris_rips(&[1.0, f32::NAN], 1, &RipsParams::default(), None),
        Err(PersistenceError::NonFinite { index: 1 })
    ));
    let params = RipsParams {
        max_dimension: 3,
        threshold: None,
    };
    assert!(vietoris_rips(&[0.0, 1.0], 1, &params, None).is_err());
}

#[test]
fn a_threshold_below_the_loop_leaves_it_essential() {
    let params = RipsParams {
        max_dimension: 1,
        threshold: Some(1.0),
    };
    let pairs = vietoris_rips(&circle(100), 2, &params, None).expect("diagram");
    let h1 = of_dimension(&pairs, 1);
    assert_eq!(h1.len(), 1, "{h1:?}");
    assert!(h1[0].death.is_infinite());
}

#[test]
fn a_set_cancel_flag_stops_the_computation() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let points: Vec<f32> = (0..200 * 8).map(|_| rng.random::<f32>()).collect();
    let cancel = AtomicBool::new(true);
    assert!(matches!(
        vietoris_rips(&points, 8, &RipsParams::default(), Some(&cancel)),
        Err(PersistenceError::Cancelled)
    ));
}

#[derive(serde::Deserialize)]
struct Fixtures {
    clouds: Vec<Cloud>,
}

#[derive(serde::Deserialize)]
struct Cloud {
    name: String,
    dim: usize,
    points: Vec<f32>,
    /// [dimension, birth, death or null for +∞]
    pairs: Vec<(u32, f32, Option<f32>)>,
}

#[test]
fn diagrams_match_ripser() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/persistence_ripser.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let fixtures: Fixtures = serde_json::from_str(&text).expect("fixture json");
    assert!(fixtures.clouds.len() >= 5);
    for cloud in &fixtures.clouds {
        let ours = diagram(&cloud.points, cloud.dim);
        let mut expected: Vec<PersistencePair> = cloud
            .pairs
            .iter()
            .map(|&(dimension, birth, death)| PersistencePair {
                dimension,
                birth,
                death: death.unwrap_or(f32::INFINITY),
            })
            .collect();
        expected.sort_by(|a, b| {
            a.dimension
                .cmp(&b.dimension)
                .then(a.birth.total_cmp(&b.birth))
                .then(a.death.total_cmp(&b.death))
        });
        assert_eq!(
            ours.len(),
            expected.len(),
            "{}: {ours:?}\nvs\n{expected:?}",
            cloud.name
        );
        for (a, b) in ours.iter().zip(&expected) {
            let close = |x: f32, y: f32| x == y || (x - y).abs() <= 1e-5 * x.abs().max(1.0);
            assert!(
                a.dimension == b.dimension && close(a.birth, b.birth) && close(a.death, b.death),
                "{}: {a:?} vs {b:?}",
                cloud.name
            );
        }
    }
}

#[test]
fn entropy_of_hand_built_bars() {
    let pair = |dimension, birth, death| PersistencePair {
        dimension,
        birth,
        death,
    };
    let pairs = [
        pair(0, 0.0, 1.0),
        pair(0, 0.0, 1.0),
        pair(0, 0.0, f32::INFINITY),
        pair(1, 0.5, 1.5),
        pair(1, 1.0, 4.0),
    ];
    let entropy = persistent_entropy(&pairs, 2);
    assert_eq!(entropy.len(), 3);
    // Two equal bars: ln 2; the essential bar is ignored.
    assert!((entropy[0] - 2f64.ln()).abs() < 1e-12);
    // Lengths 1 and 3: −(¼ ln ¼ + ¾ ln ¾).
    let expected = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
    assert!((entropy[1] - expected).abs() < 1e-12);
    assert_eq!(entropy[2], 0.0, "no bars: zero");
    let single = persistent_entropy(&[pair(1, 0.0, 2.0)], 1);
    assert_eq!(single, vec![0.0, 0.0]);
    assert!(single[1].is_sign_positive(), "one bar: +0, not −0");
}

// ---- the stored stage and the command ----

mod common;

use common::{count, embed_texts, experiment, run, write_steps};
use panic_tda::analysis::persistence::{
    PersistenceRequest, compute_persistence_diagrams, run_point_cloud,
};
use panic_tda::models::Output;
use panic_tda::store::{EmbeddingRecord, RunRecord, Store, derived_id};

/// Embeds a run's texts on a unit circle in 16 dimensions, in sequence order.
fn embed_on_circle(store: &mut Store, run: &RunRecord, model: &str) {
    let texts: Vec<_> = store
        .invocations(&run.id)
        .expect("invocations")
        .into_iter()
        .filter(|inv| matches!(inv.output, Output::Text(_)))
        .collect();
    let records: Vec<EmbeddingRecord> = texts
        .iter()
        .enumerate()
        .map(|(k, inv)| {
            let angle = std::f32::consts::TAU * k as f32 / texts.len() as f32;
            let mut vector = vec![0.0f32; 16];
            vector[0] = angle.cos();
            vector[1] = angle.sin();
            EmbeddingRecord {
                id: derived_id(&inv.id, model),
                invocation_id: inv.id.clone(),
                embedding_model: model.into(),
                vector,
                started_at: 1,
                completed_at: 2,
            }
        })
        .collect();
    store.insert_embeddings(&records).expect("embeddings");
}

/// Run 0 finished and embedded by both models, run 1 finished but not embedded, run 2
/// unfinished.
fn stage_store(path: &std::path::Path) -> Vec<RunRecord> {
    let mut store = Store::open(path).expect("store");
    experiment(&mut store, "feed0001");
    let runs = vec![
        run("feed0001", 0, 1, 41),
        run("feed0001", 1, 2, 41),
        run("feed0001", 2, 3, 41),
    ];
    store.insert_runs(&runs).expect("runs");
    write_steps(&mut store, &runs[..2], 0, 41);
    write_steps(&mut store, &runs[2..], 0, 20);
    embed_on_circle(&mut store, &runs[0], "circle");
    embed_texts(&mut store, &runs[0], "curve", 8);
    embed_texts(&mut store, &runs[2], "curve", 8);
    runs
}

#[test]
fn the_stage_stores_one_diagram_per_finished_embedded_run_and_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let runs = stage_store(&path);
    let mut store = Store::open(&path).expect("store");
    let cancel = AtomicBool::new(false);
    let request = PersistenceRequest {
        threads: 2,
        ..PersistenceRequest::default()
    };
    let mut reports = Vec::new();
    let summary =
        compute_persistence_diagrams(&mut store, "feed", &request, &cancel, |p| reports.push(p))
            .expect("stage");
    assert_eq!(summary.experiment_id, "feed0001");
    assert_eq!(summary.embedding_models, vec!["circle", "curve"]);
    assert_eq!(summary.computed, 2, "{summary:?}");
    assert_eq!(summary.already_stored, 0);
    assert_eq!(summary.unfinished, 2, "run 2 under both models");
    assert_eq!(summary.not_embedded, 2, "run 1 under both models");
    assert!(summary.failed.is_empty() && !summary.cancelled);
    assert_eq!(reports.first().map(|p| (p.total, p.done)), Some((2, 0)));
    assert_eq!(reports.last().map(|p| (p.total, p.done)), Some((2, 2)));

    // The points are the run's texts in sequence order: 20 on a circle, one loop.
    let (points, dim) = run_point_cloud(&store, &runs[0].id, "circle").expect("cloud");
    assert_eq!((points.len() / dim, dim), (20, 16));
    let stored = store
        .diagram(&runs[0].id, "circle")
        .expect("read")
        .expect("stored");
    assert_eq!(stored.pairs, diagram(&points, dim));
    let loops: Vec<_> = of_dimension(&stored.pairs, 1)
        .into_iter()
        .filter(|p| p.death - p.birth > 0.5)
        .collect();
    assert_eq!(loops.len(), 1, "{:?}", stored.pairs);
    assert_eq!(stored.entropy, persistent_entropy(&stored.pairs, 2));
    assert!(stored.completed_at >= stored.started_at);
    assert!(store.diagram(&runs[1].id, "curve").expect("read").is_none());

    // Resumable: only what is missing is computed again.
    let again =
        compute_persistence_diagrams(&mut store, "feed", &request, &cancel, |_| {}).expect("again");
    assert_eq!((again.computed, again.already_stored), (0, 2));
    assert!(store.delete_diagram(&runs[0].id, "curve").expect("delete"));
    let one = PersistenceRequest {
        embedding_models: Some(vec!["curve".into()]),
        ..request.clone()
    };
    let third =
        compute_persistence_diagrams(&mut store, "feed", &one, &cancel, |_| {}).expect("third");
    assert_eq!((third.computed, third.already_stored), (1, 0));
    assert_eq!(count(&store, "SELECT count(*) FROM persistence_diagram"), 2);

    // Unfinished runs on request (run 2 has "curve" embeddings only).
    let unfinished = PersistenceRequest {
        include_unfinished: true,
        ..one
    };
    let fourth = compute_persistence_diagrams(&mut store, "feed", &unfinished, &cancel, |_| {})
        .expect("fourth");
    assert_eq!(fourth.computed, 1, "{fourth:?}");
}

#[test]
fn the_stage_names_missing_models_and_honours_cancel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    stage_store(&path);
    let mut store = Store::open(&path).expect("store");
    let cancel = AtomicBool::new(false);
    let request = PersistenceRequest {
        embedding_models: Some(vec!["nope".into()]),
        ..PersistenceRequest::default()
    };
    let error = compute_persistence_diagrams(&mut store, "feed0001", &request, &cancel, |_| {})
        .expect_err("unknown model");
    let message = error.to_string();
    assert!(
        message.contains("'nope'") && message.contains("circle, curve"),
        "{message}"
    );

    let cancelled = AtomicBool::new(true);
    let summary = compute_persistence_diagrams(
        &mut store,
        "feed0001",
        &PersistenceRequest::default(),
        &cancelled,
        |_| {},
    )
    .expect("cancelled");
    assert!(summary.cancelled);
    assert_eq!(summary.computed, 0);
    assert_eq!(count(&store, "SELECT count(*) FROM persistence_diagram"), 0);
}

fn panic_tda(db: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_panic-tda"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run panic-tda");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn the_command_computes_then_finds_everything_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite");
    let runs = stage_store(&db);
    let (code, text) = panic_tda(&db, &["persistence", "--json", "--threads", "1"]);
    assert_eq!(code, 0, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["computed"], 2, "{json}");
    assert_eq!(json["unfinished"], 2);
    let (code, text) = panic_tda(
        &db,
        &[
            "persistence",
            "--experiment",
            "feed0001",
            "--model",
            "circle",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("0 diagrams computed") && text.contains("1 already stored"),
        "{text}"
    );
    let (code, text) = panic_tda(
        &db,
        &["persistence", "--experiment", "feed", "--model", "nope"],
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no text embeddings by 'nope'"), "{text}");
    let store = Store::open(&db).expect("store");
    assert!(
        store
            .diagram(&runs[0].id, "circle")
            .expect("read")
            .is_some()
    );
}
