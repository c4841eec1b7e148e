//! Store round trips, cascades and unique keys, through the public API.

mod common;

use common::{count, embed_texts, experiment, run, write_steps};
use panic_tda::models::Output;
use panic_tda::store::{
    ClusterAssignment, ClusterRecord, ClusteringRecord, DiagramRecord, EmbeddingRecord,
    PersistencePair, ProjectionPoint, ProjectionRecord, StepWrite, StopReason, Store, derived_id,
};

fn clustering(id: &str, experiments: &[&str]) -> ClusteringRecord {
    ClusteringRecord {
        id: id.into(),
        embedding_model: "DummyText".into(),
        algorithm: "hdbscan".into(),
        parameters_json: r#"{"min_cluster_size":2}"#.into(),
        scope_json: "{}".into(),
        created_at: 5,
        duration_ms: 12,
        experiment_ids: experiments.iter().map(|s| s.to_string()).collect(),
    }
}

fn projection(id: &str, experiments: &[&str]) -> ProjectionRecord {
    ProjectionRecord {
        id: id.into(),
        embedding_model: "DummyText".into(),
        method: "tsne".into(),
        parameters_json: r#"{"perplexity":30}"#.into(),
        scope_json: "{}".into(),
        created_at: 6,
        experiment_ids: experiments.iter().map(|s| s.to_string()).collect(),
    }
}

fn diagram(run_id: &str, model: &str) -> DiagramRecord {
    DiagramRecord {
        id: derived_id(run_id, model),
        run_id: run_id.into(),
        embedding_model: model.into(),
        pairs: vec![
            PersistencePair {
                dimension: 0,
                birth: 0.0,
                death: f32::INFINITY,
            },
            PersistencePair {
                dimension: 0,
                birth: 0.0,
                death: 0.75,
            },
            PersistencePair {
                dimension: 1,
                birth: 0.5,
                death: 0.625,
            },
        ],
        entropy: vec![0.5, 0.0],
        started_at: 7,
        completed_at: 8,
    }
}

/// Experiment `id` with two runs of 6 steps, text embeddings, prompt embeddings, a clustering,
/// a projection and a diagram per run. Returns the runs' embedding ids.
fn populate(store: &mut Store, id: &str) -> Vec<String> {
    experiment(store, id);
    let runs = vec![run(id, 0, 42, 6), run(id, 1, 43, 6)];
    store.insert_runs(&runs).expect("runs");
    write_steps(store, &runs, 0, 6);
    let mut embeddings = Vec::new();
    for r in &runs {
        embeddings.extend(embed_texts(store, r, "DummyText", 8));
        store
            .insert_prompt_embeddings(&[(r.id.clone(), "DummyText".into(), vec![1.0; 8])])
            .expect("prompt embedding");
        store
            .insert_diagrams(&[diagram(&r.id, "DummyText")])
            .expect("diagram");
    }
    let assignments: Vec<ClusterAssignment> = embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| ClusterAssignment {
            embedding_id: e.clone(),
            label: if i == 0 { -1 } else { (i % 2) as i32 },
        })
        .collect();
    let clusters = vec![
        ClusterRecord {
            label: 0,
            size: 2,
            medoid_embedding_id: Some(embeddings[2].clone()),
            centroid: vec![0.5; 8],
            display_name: "zero".into(),
        },
        ClusterRecord {
            label: 1,
            size: 3,
            medoid_embedding_id: Some(embeddings[1].clone()),
            centroid: vec![-0.5; 8],
            display_name: "one".into(),
        },
    ];
    store
        .insert_clustering(
            &clustering(&format!("c-{id}"), &[id]),
            &clusters,
            &assignments,
        )
        .expect("clustering");
    let points: Vec<ProjectionPoint> = embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| ProjectionPoint {
            embedding_id: e.clone(),
            x: i as f32,
            y: -(i as f32),
        })
        .collect();
    store
        .insert_projection(&projection(&format!("p-{id}"), &[id]), &points)
        .expect("projection");
    embeddings
}

#[test]
fn every_entity_round_trips() {
    let mut store = Store::open_in_memory().expect("open");
    let embeddings = populate(&mut store, "aa");
    let runs = store.runs("aa").expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].stop, Some(StopReason::Length));
    assert_eq!(runs[0].network, vec!["DummyT2I", "DummyI2T"]);

    let invocations = store.invocations(&runs[1].id).expect("invocations");
    assert_eq!(invocations.len(), 6);
    assert_eq!(invocations[0].output, common::output(&runs[1], 0));
    assert_eq!(invocations[3].output, Output::Text("caption 3 of 1".into()));
    assert_eq!(
        invocations[3].input_invocation_id.as_deref(),
        Some(invocations[2].id.as_str())
    );

    // One invocation by id reads the same record, image and text alike; an unknown id is named.
    assert_eq!(
        store.invocation(&invocations[3].id).expect("one"),
        invocations[3]
    );
    assert_eq!(
        store.invocation(&invocations[0].id).expect("one"),
        invocations[0]
    );
    let missing = store.invocation("nope").expect_err("unknown id");
    assert!(missing.to_string().contains("nope"), "{missing}");

    let vector = store
        .embedding_vector(&invocations[1].id, "DummyText")
        .expect("vector")
        .expect("present");
    assert_eq!(vector.len(), 8);
    assert_eq!(vector[2], (2.0f32 + 1.0).sin());
    assert_eq!(
        store
            .prompt_embedding(&runs[0].id, "DummyText")
            .expect("pe"),
        Some(vec![1.0; 8])
    );

    let record = store.clustering("c-aa").expect("clustering");
    assert_eq!(record, clustering("c-aa", &["aa"]));
    let clusters = store.clusters("c-aa").expect("clusters");
    assert_eq!(clusters.len(), 2);
    assert_eq!(clusters[1].display_name, "one");
    assert_eq!(clusters[1].centroid, vec![-0.5; 8]);
    assert_eq!(
        clusters[0].medoid_embedding_id.as_deref(),
        Some(embeddings[2].as_str())
    );
    let assignments = store.cluster_assignments("c-aa").expect("assignments");
    assert_eq!(assignments.len(), embeddings.len());
    assert_eq!(
        store.cluster_members("c-aa", -1).expect("outliers"),
        vec![embeddings[0].clone()]
    );
    let summary = store.list_clusterings(Some("aa")).expect("list");
    assert_eq!(
        (
            summary[0].clusters,
            summary[0].assignments,
            summary[0].outliers
        ),
        (2, 6, 1)
    );
    let labels = store
        .run_cluster_labels("c-aa", &runs[0].id)
        .expect("labels");
    assert_eq!(labels, vec![(1, -1), (3, 1), (5, 0)]);
    store
        .set_cluster_display_name("c-aa", 0, "renamed")
        .expect("rename");
    assert_eq!(
        store.clusters("c-aa").expect("clusters")[0].display_name,
        "renamed"
    );

    assert_eq!(
        store.projection("p-aa").expect("projection"),
        projection("p-aa", &["aa"])
    );
    let points = store.projection_points("p-aa").expect("points");
    assert_eq!(points.len(), embeddings.len());
    let trajectories = store.projection_trajectories("p-aa").expect("trajectories");
    assert_eq!(trajectories.len(), embeddings.len());
    assert_eq!(store.list_projections(Some("aa")).expect("list").len(), 1);

    let stored = store
        .diagram(&runs[0].id, "DummyText")
        .expect("diagram")
        .expect("present");
    assert_eq!(stored, diagram(&runs[0].id, "DummyText"));
    assert_eq!(store.diagrams("aa", None).expect("diagrams").len(), 2);
    assert!(
        store
            .runs_missing_diagram("aa", "DummyText")
            .expect("missing")
            .is_empty()
    );
    assert_eq!(
        store
            .runs_missing_diagram("aa", "Other")
            .expect("missing")
            .len(),
        2
    );
    assert!(
        store
            .delete_diagram(&runs[0].id, "DummyText")
            .expect("delete")
    );
    assert!(
        store
            .diagram(&runs[0].id, "DummyText")
            .expect("diagram")
            .is_none()
    );
}

#[test]
fn deleting_a_clustering_removes_only_its_rows() {
    let mut store = Store::open_in_memory().expect("open");
    populate(&mut store, "aa");
    populate(&mut store, "bb");
    store.delete_clustering("c-aa").expect("delete");
    assert!(store.clustering("c-aa").is_err());
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM cluster_assignment WHERE clustering_id = 'c-aa'"
        ),
        0
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM cluster WHERE clustering_id = 'c-aa'"
        ),
        0
    );
    assert_eq!(count(&store, "SELECT count(*) FROM cluster_assignment"), 6);
    assert_eq!(count(&store, "SELECT count(*) FROM embedding"), 12);
    assert!(store.delete_clustering("c-aa").is_err());
    store.delete_projection("p-aa").expect("delete");
    assert_eq!(count(&store, "SELECT count(*) FROM projection_point"), 6);
}

#[test]
fn deleting_an_experiment_cascades_and_spares_the_others() {
    let mut store = Store::open_in_memory().expect("open");
    let a_embeddings = populate(&mut store, "aa");
    let b_embeddings = populate(&mut store, "bb");
    // A clustering and a projection shared by both experiments.
    let all: Vec<String> = a_embeddings.iter().chain(&b_embeddings).cloned().collect();
    store
        .insert_clustering(
            &clustering("shared", &["aa", "bb"]),
            &[ClusterRecord {
                label: 0,
                size: 12,
                medoid_embedding_id: Some(a_embeddings[0].clone()),
                centroid: vec![0.0; 8],
                display_name: "all".into(),
            }],
            &all.iter()
                .map(|e| ClusterAssignment {
                    embedding_id: e.clone(),
                    label: 0,
                })
                .collect::<Vec<_>>(),
        )
        .expect("shared clustering");
    store
        .insert_projection(
            &projection("shared-p", &["aa", "bb"]),
            &all.iter()
                .map(|e| ProjectionPoint {
                    embedding_id: e.clone(),
                    x: 0.0,
                    y: 0.0,
                })
                .collect::<Vec<_>>(),
        )
        .expect("shared projection");

    let before = |table: &str| count(&store, &format!("SELECT count(*) FROM {table}"));
    let counts_before: Vec<i64> = [
        "run",
        "invocation",
        "embedding",
        "prompt_embedding",
        "persistence_diagram",
    ]
    .iter()
    .map(|t| before(t))
    .collect();

    let summary = store.delete_experiment("aa").expect("delete");
    assert_eq!(
        (summary.runs, summary.invocations, summary.embeddings),
        (2, 12, 6)
    );
    assert_eq!(summary.cluster_assignments, 12);
    assert_eq!((summary.clusterings, summary.projections), (1, 1));

    let after: Vec<i64> = [
        "run",
        "invocation",
        "embedding",
        "prompt_embedding",
        "persistence_diagram",
    ]
    .iter()
    .map(|t| count(&store, &format!("SELECT count(*) FROM {t}")))
    .collect();
    for (before, after) in counts_before.iter().zip(&after) {
        assert_eq!(*after, before / 2, "half the rows remain");
    }
    // Nothing of "aa" is left anywhere.
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM run WHERE experiment_id = 'aa'"
        ),
        0
    );
    assert!(store.clustering("c-aa").is_err());
    assert!(store.projection("p-aa").is_err());
    // "bb" and its clustering are intact; the shared clustering keeps bb's rows.
    assert_eq!(store.cluster_assignments("c-bb").expect("bb").len(), 6);
    assert_eq!(store.projection_points("p-bb").expect("bb").len(), 6);
    assert_eq!(
        store.clustering("shared").expect("shared").experiment_ids,
        vec!["bb"]
    );
    assert_eq!(
        store.cluster_assignments("shared").expect("shared").len(),
        6
    );
    assert_eq!(
        store.clusters("shared").expect("shared")[0].medoid_embedding_id,
        None
    );
    assert_eq!(
        store.projection_points("shared-p").expect("shared").len(),
        6
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
}

#[test]
fn unique_keys_reject_duplicates() {
    let mut store = Store::open_in_memory().expect("open");
    experiment(&mut store, "aa");
    let r = run("aa", 0, 42, 10);
    store.insert_runs(std::slice::from_ref(&r)).expect("runs");
    write_steps(&mut store, std::slice::from_ref(&r), 0, 2);

    // (run, sequence_number)
    let mut again = common::invocation(&r, 1);
    again.id = "other-id".into();
    let err = store
        .commit_step(&StepWrite {
            invocations: vec![again],
            stops: vec![],
        })
        .expect_err("duplicate sequence");
    assert!(err.to_string().contains("UNIQUE"), "{err}");
    assert_eq!(store.invocations(&r.id).expect("invocations").len(), 2);

    // (invocation, embedding_model)
    embed_texts(&mut store, &r, "DummyText", 4);
    let invocation_id = derived_id(&r.id, "1");
    let err = store
        .insert_embeddings(&[EmbeddingRecord {
            id: "another".into(),
            invocation_id,
            embedding_model: "DummyText".into(),
            vector: vec![0.0; 4],
            started_at: 0,
            completed_at: 0,
        }])
        .expect_err("duplicate embedding");
    assert!(err.to_string().contains("UNIQUE"), "{err}");

    // (run, embedding_model) for diagrams
    store
        .insert_diagrams(&[diagram(&r.id, "DummyText")])
        .expect("diagram");
    let mut second = diagram(&r.id, "DummyText");
    second.id = "another".into();
    let err = store
        .insert_diagrams(&[second])
        .expect_err("duplicate diagram");
    assert!(err.to_string().contains("UNIQUE"), "{err}");

    // An invalid clustering writes nothing.
    let bad = store.insert_clustering(
        &clustering("bad", &["aa"]),
        &[],
        &[ClusterAssignment {
            embedding_id: "x".into(),
            label: 3,
        }],
    );
    assert!(bad.is_err());
    // A clustering whose assignment points at a missing embedding is rolled back whole.
    let dangling = store.insert_clustering(
        &clustering("dangling", &["aa"]),
        &[],
        &[ClusterAssignment {
            embedding_id: "missing".into(),
            label: -1,
        }],
    );
    assert!(dangling.is_err());
    assert_eq!(count(&store, "SELECT count(*) FROM clustering_result"), 0);
}

#[test]
fn runs_of_a_cell_come_in_seed_order() {
    let mut store = Store::open_in_memory().expect("open");
    experiment(&mut store, "aa");
    let mut runs = vec![run("aa", 0, 1, 4), run("aa", 0, 2, 4), run("aa", 1, 3, 4)];
    runs[0].seed_index = 1;
    runs[1].id = "second".into();
    store.insert_runs(&runs).expect("runs");
    let cell = store.runs_for_cell("aa", 0, 0).expect("cell");
    assert_eq!(cell.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![2, 1]);
}
