//! `analyse all` over experiments at the edges (no runs, one run, one step, one cluster, only
//! outliers, identical embeddings): every chart is written in every format, nothing hangs.

mod common;

use std::sync::atomic::AtomicBool;

use common::{clustering_record, experiment, run, write_steps};
use panic_tda::analysis::report::{AnalysisOptions, analyse_experiment};
use panic_tda::export::analysis_charts;
use panic_tda::export::analysis_files::{Analysis, write_report};
use panic_tda::models::Output;
use panic_tda::store::{
    ClusterAssignment, ClusterRecord, EmbeddingRecord, OUTLIER, Store, derived_id,
};

const EXPERIMENT: &str = "d0d0d0d0e1e1f2f2a3a3b4b4c5c5c5c5";

/// How the runs' text outputs are embedded and clustered.
#[derive(Clone, Copy)]
enum Labels {
    NotClustered,
    OneCluster,
    AllOutliers,
}

/// `runs` runs of `steps` steps, every caption embedded (identical vectors when `equal`).
fn build(runs: u32, steps: u32, labels: Labels, equal: bool) -> Store {
    let mut store = Store::open_in_memory().expect("store");
    experiment(&mut store, EXPERIMENT);
    let records: Vec<_> = (0..runs)
        .map(|i| run(EXPERIMENT, i, i as i64, steps))
        .collect();
    store.insert_runs(&records).expect("runs");
    write_steps(&mut store, &records, 0, steps);
    let mut embeddings = Vec::new();
    for record in &records {
        for invocation in store.invocations(&record.id).expect("invocations") {
            if !matches!(invocation.output, Output::Text(_)) {
                continue;
            }
            let vector = (0..8)
                .map(|d| {
                    if equal {
                        1.0
                    } else {
                        (d as f32 + invocation.sequence_number as f32).sin()
                    }
                })
                .collect();
            embeddings.push(EmbeddingRecord {
                id: derived_id(&invocation.id, "M"),
                invocation_id: invocation.id.clone(),
                embedding_model: "M".into(),
                vector,
                started_at: 1,
                completed_at: 2,
            });
        }
    }
    store.insert_embeddings(&embeddings).expect("embeddings");
    let label = match labels {
        Labels::NotClustered => return store,
        Labels::OneCluster => 0,
        Labels::AllOutliers => OUTLIER,
    };
    let clusters = if label == OUTLIER {
        Vec::new()
    } else {
        vec![ClusterRecord {
            label,
            size: embeddings.len() as u64,
            medoid_embedding_id: None,
            centroid: vec![0.0; 8],
            display_name: "the only cluster".into(),
        }]
    };
    let assignments: Vec<ClusterAssignment> = embeddings
        .iter()
        .map(|e| ClusterAssignment {
            embedding_id: e.id.clone(),
            label,
        })
        .collect();
    store
        .insert_clustering(
            &clustering_record("c0c0c0c0", "M", EXPERIMENT),
            &clusters,
            &assignments,
        )
        .expect("clustering");
    store
}

#[test]
fn every_chart_renders_for_degenerate_experiments() {
    let cases = [
        ("no runs", build(0, 0, Labels::NotClustered, false)),
        (
            "one run, not clustered",
            build(1, 6, Labels::NotClustered, false),
        ),
        ("one step", build(1, 1, Labels::NotClustered, false)),
        (
            "one image and one caption",
            build(1, 2, Labels::OneCluster, false),
        ),
        ("one cluster", build(2, 12, Labels::OneCluster, false)),
        ("all outliers", build(2, 12, Labels::AllOutliers, false)),
        ("equal values", build(2, 12, Labels::OneCluster, true)),
    ];
    let charts = analysis_charts::all(&Default::default()).len();
    for (name, store) in cases {
        let started = std::time::Instant::now();
        let report = analyse_experiment(
            &store,
            EXPERIMENT,
            &AnalysisOptions::default(),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write_report(&report, Analysis::All, dir.path())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for extension in ["png", "svg", "pdf"] {
            let written = files
                .iter()
                .filter(|path| path.extension().is_some_and(|ext| ext == extension))
                .count();
            assert_eq!(written, charts, "{name}: {extension} charts");
        }
        for path in &files {
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            assert!(size > 0, "{name}: {} is empty", path.display());
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{name} took {:?}",
            started.elapsed()
        );
    }
}
