//! t-SNE engine and stored projections, end to end on synthetic data.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use panic_tda::analysis::projection::{self, Origin, ProjectionScope};
use panic_tda::analysis::tsne::{
    self, Stage, TsneError, TsneMethod, TsneParams, knn_preservation, layout_with_progress,
};
use panic_tda::store::{Store, encode_vector};
use rand::{Rng, SeedableRng};

/// `blobs` Gaussian blobs of `per_blob` points in `dim` dimensions; returns vectors and labels.
fn blobs(per_blob: usize, blobs: usize, dim: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..blobs)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let mut vectors = Vec::new();
    let mut labels = Vec::new();
    for (label, centre) in centres.iter().enumerate() {
        for _ in 0..per_blob {
            vectors.push(
                centre
                    .iter()
                    .map(|c| c + rng.random_range(-0.15..0.15))
                    .collect(),
            );
            labels.push(label);
        }
    }
    (vectors, labels)
}

fn quick_params() -> TsneParams {
    TsneParams {
        perplexity: 15.0,
        iterations: 250,
        early_exaggeration_iterations: 100,
        ..TsneParams::default()
    }
}

#[test]
fn blobs_stay_separated_and_neighbourhoods_are_kept() {
    let (vectors, labels) = blobs(100, 4, 24, 1);
    let points = tsne::layout(&vectors, &quick_params()).expect("layout");
    // Every point's nearest 2-D neighbour comes from its own blob.
    let mut same = 0;
    for (i, p) in points.iter().enumerate() {
        let nearest = points
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .min_by(|a, b| {
                let d = |q: &[f32; 2]| (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2);
                d(a.1).total_cmp(&d(b.1))
            })
            .map(|(j, _)| j)
            .expect("neighbour");
        same += usize::from(labels[nearest] == labels[i]);
    }
    assert_eq!(same, points.len(), "2-D neighbours across blobs");
    let kept = knn_preservation(&vectors, &points, 10).expect("metric");
    assert!(kept > 0.3, "10-NN preservation {kept}");
}

#[test]
fn same_seed_gives_the_same_layout() {
    let (vectors, _) = blobs(60, 3, 16, 2);
    let params = quick_params();
    let a = tsne::layout(&vectors, &params).expect("a");
    let b = tsne::layout(&vectors, &params).expect("b");
    assert_eq!(a, b);
    let c = tsne::layout(&vectors, &TsneParams { seed: 7, ..params }).expect("c");
    assert_ne!(a, c);
}

#[test]
fn callback_streams_intermediate_layouts() {
    let (vectors, _) = blobs(50, 2, 8, 3);
    let params = quick_params();
    let mut snapshots = Vec::new();
    let mut stages = Vec::new();
    let result = layout_with_progress(&vectors, &params, &AtomicBool::new(false), 50, |progress| {
        stages.push(progress.stage);
        if let Some(layout) = progress.layout {
            assert_eq!(layout.len(), vectors.len());
            snapshots.push((progress.done, layout.to_vec()));
        }
    })
    .expect("layout");
    let done: Vec<usize> = snapshots.iter().map(|s| s.0).collect();
    assert_eq!(done, vec![50, 100, 150, 200, 250, 300, 350]);
    assert_eq!(snapshots.last().map(|s| &s.1), Some(&result));
    assert_ne!(
        snapshots[0].1, result,
        "intermediate layouts differ from the final one"
    );
    assert_eq!(stages.first(), Some(&Stage::Neighbours));
}

#[test]
fn cancellation_returns_promptly() {
    let (vectors, _) = blobs(50, 2, 8, 4);
    // Cancelled from the progress callback: stops before the next iteration.
    let cancel = AtomicBool::new(false);
    let mut last = 0;
    let result = layout_with_progress(&vectors, &quick_params(), &cancel, 0, |progress| {
        if progress.stage == Stage::Optimising {
            last = progress.done;
            if progress.done == 10 {
                cancel.store(true, Ordering::Relaxed);
            }
        }
    });
    assert!(matches!(result, Err(TsneError::Cancelled)), "{result:?}");
    assert_eq!(last, 10);

    // Cancelled from another thread during a long run.
    let (vectors, _) = blobs(200, 4, 16, 5);
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.store(true, Ordering::Relaxed);
        Instant::now()
    });
    let params = TsneParams {
        iterations: 1_000_000,
        ..quick_params()
    };
    let result = layout_with_progress(&vectors, &params, &cancel, 0, |_| {});
    let returned = Instant::now();
    let cancelled_at = canceller.join().expect("thread");
    assert!(matches!(result, Err(TsneError::Cancelled)));
    assert!(
        returned.duration_since(cancelled_at) < Duration::from_secs(2),
        "took {:?} to stop",
        returned.duration_since(cancelled_at)
    );
}

/// One experiment with one run whose invocations each have one embedding per vector.
fn seed_store(store: &mut Store, experiment: &str, vectors: &[Vec<f32>], model: &str) {
    let tx = store.raw_connection_for_tests();
    (|| -> rusqlite::Result<()> {
            tx.execute(
                "INSERT INTO experiment (id, config_json, created_at, status) VALUES (?1, '{}', 0, 'completed')",
                [experiment],
            )?;
            let run = format!("{experiment}0001");
            tx.execute(
                "INSERT INTO run (id, experiment_id, network_index, network_json, prompt_index,
                 initial_prompt, seed_index, seed, max_length)
                 VALUES (?1, ?2, 0, '[]', 0, 'a prompt', 0, 1, 1000)",
                [&run, experiment],
            )?;
            for (i, vector) in vectors.iter().enumerate() {
                let invocation = format!("{experiment}{i:08x}");
                tx.execute(
                    "INSERT INTO invocation (id, run_id, sequence_number, model, output_type, seed,
                     output_text, output_hash, started_at, completed_at)
                     VALUES (?1, ?2, ?3, 'DummyT2I', 'text', 1, 'text', x'00', 0, 0)",
                    rusqlite::params![invocation, run, i as i64],
                )?;
                tx.execute(
                    "INSERT INTO embedding (id, invocation_id, embedding_model, dimension, vector,
                     started_at, completed_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0)",
                    rusqlite::params![
                        format!("e{invocation}"),
                        invocation,
                        model,
                        vector.len() as i64,
                        encode_vector(vector)
                    ],
                )?;
            }
            Ok(())
        })()
        .expect("seed store");
}

#[test]
fn stored_projection_round_trips_and_is_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("db.sqlite")).expect("store");
    let (vectors, _) = blobs(40, 3, 8, 6);
    seed_store(&mut store, "aaaa", &vectors[..60], "Nomic");
    seed_store(&mut store, "bbbb", &vectors[60..], "Nomic");
    let scope =
        ProjectionScope::for_experiments(&store, &["bbbb".into(), "aaaa".into()]).expect("scope");
    assert_eq!(scope.experiments(), ["aaaa", "bbbb"]);
    assert_eq!(
        projection::default_model(&store, &scope).expect("model"),
        "Nomic"
    );
    let params = quick_params();
    let cancel = AtomicBool::new(false);

    let (first, origin) =
        projection::compute_or_reuse(&mut store, "Nomic", &scope, &params, &cancel, 0, |_| {})
            .expect("compute");
    assert_eq!(origin, Origin::Computed);
    assert_eq!(first.points, 120);
    assert_eq!(first.parameters, params);
    // Found by experiment, as exports look layouts up.
    for experiment in ["aaaa", "bbbb"] {
        let stored = store
            .list_projections(Some(experiment))
            .expect("by experiment");
        assert_eq!(stored.len(), 1, "{experiment}");
        assert_eq!(stored[0].experiment_ids, ["aaaa", "bbbb"]);
    }

    let points = projection::points(&store, &first.id).expect("points");
    assert_eq!(points.len(), 120);
    let (ids, loaded) = projection::load_vectors(&store, "Nomic", &scope).expect("vectors");
    let expected = tsne::layout(&loaded, &params).expect("layout");
    for ((point, id), xy) in points.iter().zip(&ids).zip(&expected) {
        assert_eq!(&point.embedding_id, id);
        assert_eq!(
            [point.x, point.y],
            *xy,
            "stored coordinates are the computed ones"
        );
    }

    let (again, origin) =
        projection::compute_or_reuse(&mut store, "Nomic", &scope, &params, &cancel, 0, |_| {
            panic!("a reused projection computes nothing")
        })
        .expect("reuse");
    assert_eq!(origin, Origin::Reused);
    assert_eq!(again, first);

    // Other parameters or another scope are not reused.
    let other = TsneParams { seed: 9, ..params };
    assert!(
        projection::find(&store, "Nomic", &scope, &other)
            .expect("find")
            .is_none()
    );
    let narrower = ProjectionScope::for_experiments(&store, &["aaaa".into()]).expect("scope");
    assert!(
        projection::find(&store, "Nomic", &narrower, &params)
            .expect("find")
            .is_none()
    );

    // A scope that gained embeddings since is recomputed, not reused.
    let tx = store.raw_connection_for_tests();
    (|| -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO invocation (id, run_id, sequence_number, model, output_type, seed,
                 output_text, output_hash, started_at, completed_at)
                 VALUES ('aaaaffff', 'aaaa0001', 999, 'DummyT2I', 'text', 1, 't', x'00', 0, 0)",
            [],
        )?;
        tx.execute(
            "INSERT INTO embedding (id, invocation_id, embedding_model, dimension, vector,
                 started_at, completed_at) VALUES ('eaaaaffff', 'aaaaffff', 'Nomic', 8, ?1, 0, 0)",
            [encode_vector(&vectors[0])],
        )?;
        Ok(())
    })()
    .expect("add embedding");
    assert!(
        projection::find(&store, "Nomic", &scope, &params)
            .expect("find")
            .is_none()
    );

    let listed = projection::list(&store).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].scope, scope);
    let deleted = projection::delete(&mut store, &first.id[..10]).expect("delete");
    assert_eq!(deleted, first.id);
    assert!(projection::list(&store).expect("list").is_empty());
    assert!(
        projection::points(&store, &first.id)
            .expect("points")
            .is_empty()
    );
    assert!(projection::delete(&mut store, &first.id).is_err());
}

#[test]
fn missing_model_is_a_typed_error() {
    let mut store = Store::open_in_memory().expect("store");
    let (vectors, _) = blobs(20, 3, 8, 8);
    seed_store(&mut store, "cccc", &vectors, "Nomic");
    let scope = ProjectionScope::for_experiments(&store, &[]).expect("all experiments");
    let result = projection::compute_or_reuse(
        &mut store,
        "Other",
        &scope,
        &quick_params(),
        &AtomicBool::new(false),
        0,
        |_| {},
    );
    assert!(matches!(
        result,
        Err(projection::ProjectionError::NoEmbeddings { .. })
    ));
}

/// Overlapping, elongated blobs: neighbourhoods that a layout can keep only in part, so the
/// two implementations' preservation scores say something.
fn hard_blobs() -> Vec<Vec<f32>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let centres: Vec<Vec<f32>> = (0..6)
        .map(|_| (0..24).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    (0..600)
        .map(|i| {
            let along = rng.random_range(-1.0f32..1.0);
            centres[i % 6]
                .iter()
                .enumerate()
                .map(|(d, c)| {
                    c + along * if d < 4 { 0.8 } else { 0.0 } + rng.random_range(-0.45..0.45)
                })
                .collect()
        })
        .collect()
}

#[test]
fn fitsne_keeps_neighbourhoods_as_well_as_linfas_barnes_hut() {
    let vectors = hard_blobs();
    let ours = tsne::layout(&vectors, &TsneParams::default()).expect("fitsne");
    let oracle = tsne::layout(
        &vectors,
        &TsneParams {
            method: TsneMethod::BarnesHut,
            ..TsneParams::default()
        },
    )
    .expect("barnes-hut");
    assert_eq!(oracle.len(), vectors.len());
    assert!(oracle.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    let ours_kept = knn_preservation(&vectors, &ours, 10).expect("metric");
    let oracle_kept = knn_preservation(&vectors, &oracle, 10).expect("metric");
    eprintln!("10-NN preservation: FIt-SNE {ours_kept:.3}, Barnes–Hut {oracle_kept:.3}");
    assert!(
        (ours_kept - oracle_kept).abs() <= 0.05 || ours_kept > oracle_kept,
        "10-NN preservation: FIt-SNE {ours_kept:.3}, Barnes–Hut {oracle_kept:.3}"
    );
    assert!(
        oracle_kept > 0.1,
        "the oracle itself works: {oracle_kept:.3}"
    );
}

#[test]
fn barnes_hut_refuses_more_points_than_it_can_lay_out_quickly() {
    let too_many = vec![vec![0.5f32, 0.25, 1.0]; tsne::barnes_hut::MAX_POINTS + 1];
    let error = tsne::layout(
        &too_many,
        &TsneParams {
            method: TsneMethod::BarnesHut,
            ..TsneParams::default()
        },
    )
    .expect_err("too many points");
    assert!(error.to_string().contains("fitsne"), "{error}");
}

#[test]
fn the_default_method_keeps_the_stored_parameters_json_unchanged() {
    let json = serde_json::to_string(&TsneParams::default()).expect("json");
    assert!(!json.contains("method"), "{json}");
    let bh = serde_json::to_string(&TsneParams {
        method: TsneMethod::BarnesHut,
        ..TsneParams::default()
    })
    .expect("json");
    assert!(bh.contains(r#""method":"barnes-hut""#), "{bh}");
    let back: TsneParams = serde_json::from_str(&bh).expect("parse");
    assert_eq!(back.method, TsneMethod::BarnesHut);
}
