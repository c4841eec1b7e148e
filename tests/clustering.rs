//! HDBSCAN on synthetic blobs on the sphere, and clustering stored embeddings end to end.

use panic_tda::analysis::agreement::adjusted_rand_index;
use panic_tda::analysis::clustering::{
    ClusterRequest, StoredParameters, cluster_centroid, delete_all_clusterings, delete_clustering,
    list_clusterings, run_clustering, show_clustering,
};
use panic_tda::analysis::hdbscan::{Control, HdbscanParams, NeighbourSearch, hdbscan};
use panic_tda::analysis::knn::{NnDescentSettings, Points};
use panic_tda::models::Output;
use panic_tda::store::{
    EmbeddingRecord, ExperimentRecord, ExperimentStatus, InvocationRecord, RunRecord, StepWrite,
    Store,
};
use rand::{Rng, SeedableRng};

const DIM: usize = 32;

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn gaussian(rng: &mut impl Rng) -> f32 {
    // Box–Muller.
    let u1: f32 = rng.random::<f32>().max(1e-7);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// `sizes[c]` points around random unit centres plus `noise` uniform points; truth −1 = noise.
fn sphere_blobs(sizes: &[usize], noise: usize, seed: u64) -> (Vec<f32>, Vec<i32>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::new();
    let mut truth = Vec::new();
    for (label, &size) in sizes.iter().enumerate() {
        let centre = unit((0..DIM).map(|_| gaussian(&mut rng)).collect());
        for _ in 0..size {
            let point: Vec<f32> = centre
                .iter()
                .map(|c| c + 0.08 * gaussian(&mut rng))
                .collect();
            data.extend(unit(point));
            truth.push(label as i32);
        }
    }
    for _ in 0..noise {
        data.extend(unit((0..DIM).map(|_| gaussian(&mut rng)).collect()));
        truth.push(-1);
    }
    (data, truth)
}

fn params(n: usize) -> HdbscanParams {
    let mut params = HdbscanParams::defaults_for(n);
    params.min_cluster_size = 20;
    params
}

fn check_found(labels: &[i32], truth: &[i32]) {
    let ari = adjusted_rand_index(labels, truth);
    assert!(ari >= 0.95, "ARI vs truth {ari}");
    let noise: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] == -1).collect();
    let as_noise = noise.iter().filter(|&&i| labels[i] == -1).count();
    assert!(
        as_noise * 10 >= noise.len() * 8,
        "only {as_noise} of {} noise points are −1",
        noise.len()
    );
}

#[test]
fn blobs_on_the_sphere_are_found_exactly() {
    let (data, truth) = sphere_blobs(&[150, 300, 80, 220, 120], 150, 1);
    let points = Points::new(&data, DIM).expect("points");
    let result = hdbscan(points, &params(truth.len()), &Control::default()).expect("hdbscan");
    assert_eq!(result.params.neighbours, NeighbourSearch::Exact);
    assert_eq!(result.clusters.len(), 5);
    check_found(&result.labels, &truth);

    for cluster in &result.clusters {
        assert_eq!(
            result.labels[cluster.medoid], cluster.label,
            "medoid is a member"
        );
        let members: Vec<usize> = (0..truth.len())
            .filter(|&i| result.labels[i] == cluster.label)
            .collect();
        assert_eq!(members.len(), cluster.size);
        for d in 0..DIM {
            let mean = members
                .iter()
                .map(|&i| f64::from(data[i * DIM + d]))
                .sum::<f64>()
                / members.len() as f64;
            assert!(
                (mean - f64::from(cluster.centroid[d])).abs() < 1e-5,
                "centroid is the mean"
            );
        }
    }
    assert!(result.labels.iter().all(|&l| (-1..5).contains(&l)));

    let again = hdbscan(points, &params(truth.len()), &Control::default()).expect("again");
    assert_eq!(
        again.labels, result.labels,
        "same input and seed, same labels"
    );
    assert_eq!(again.clusters, result.clusters);
}

#[test]
fn blobs_on_the_sphere_are_found_with_nn_descent() {
    let (data, truth) = sphere_blobs(&[400, 700, 250, 500, 350], 400, 2);
    let points = Points::new(&data, DIM).expect("points");
    let mut params = params(truth.len());
    params.neighbours = NeighbourSearch::NnDescent(NnDescentSettings::default());
    let fractions = std::sync::Mutex::new(Vec::new());
    let progress = |phase, fraction| fractions.lock().expect("lock").push((phase, fraction));
    let control = Control::new(None, Some(&progress));
    let result = hdbscan(points, &params, &control).expect("hdbscan");
    assert_eq!(result.clusters.len(), 5);
    check_found(&result.labels, &truth);
    let fractions = fractions.into_inner().expect("lock");
    assert!(fractions.iter().all(|(_, f)| (0.0..=1.0).contains(f)));
    assert!(fractions.len() >= 4);
}

// ---- store wiring ----

fn experiment(store: &mut Store, id: &str) {
    store
        .insert_experiment(&ExperimentRecord {
            id: id.into(),
            config_json: "{}".into(),
            created_at: 0,
            started_at: None,
            completed_at: None,
            status: ExperimentStatus::Completed,
        })
        .expect("experiment");
}

/// One run in `experiment_id` whose text invocations carry `vectors` (embedded by `model`).
fn run_with_embeddings(
    store: &mut Store,
    experiment_id: &str,
    run_id: &str,
    model: &str,
    vectors: &[Vec<f32>],
    texts: &[String],
) -> Vec<String> {
    store
        .insert_runs(&[RunRecord {
            id: run_id.into(),
            experiment_id: experiment_id.into(),
            network_index: 0,
            network: vec!["DummyI2T".into()],
            prompt_index: 0,
            initial_prompt: "a prompt".into(),
            // Runs of one experiment differ by seed index (unique with network and prompt).
            seed_index: run_id.bytes().last().map_or(0, u32::from),
            seed: 1,
            max_length: vectors.len() as u32 + 1,
            stop: None,
        }])
        .expect("run");
    let invocations: Vec<InvocationRecord> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| InvocationRecord {
            id: format!("{run_id}i{i:05}"),
            run_id: run_id.into(),
            sequence_number: i as u32,
            model: "DummyI2T".into(),
            input_invocation_id: None,
            seed: 1,
            output: Output::Text(text.clone()),
            batch_size: 1,
            started_at: 0,
            completed_at: 0,
        })
        .collect();
    store
        .commit_step(&StepWrite {
            invocations,
            stops: Vec::new(),
        })
        .expect("step");
    let embeddings: Vec<EmbeddingRecord> = vectors
        .iter()
        .enumerate()
        .map(|(i, vector)| EmbeddingRecord {
            id: format!("{run_id}e{i:05}"),
            invocation_id: format!("{run_id}i{i:05}"),
            embedding_model: model.into(),
            vector: vector.clone(),
            started_at: 0,
            completed_at: 0,
        })
        .collect();
    store.insert_embeddings(&embeddings).expect("embeddings");
    embeddings.into_iter().map(|e| e.id).collect()
}

/// Two experiments of blob embeddings by "minilm" (and a few by "other").
fn populated_store() -> (Store, Vec<i32>) {
    let mut store = Store::open_in_memory().expect("store");
    let (data, truth) = sphere_blobs(&[120, 200, 90], 80, 3);
    let vectors: Vec<Vec<f32>> = data.chunks(DIM).map(<[f32]>::to_vec).collect();
    let texts: Vec<String> = truth
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            if t < 0 {
                format!("noise {i}")
            } else {
                format!("topic {t} caption {i}")
            }
        })
        .collect();
    let half = vectors.len() / 2;
    experiment(&mut store, "aaaa0001");
    experiment(&mut store, "bbbb0002");
    run_with_embeddings(
        &mut store,
        "aaaa0001",
        "aaaa0001r1",
        "minilm",
        &vectors[..half],
        &texts[..half],
    );
    run_with_embeddings(
        &mut store,
        "bbbb0002",
        "bbbb0002r1",
        "minilm",
        &vectors[half..],
        &texts[half..],
    );
    run_with_embeddings(
        &mut store,
        "bbbb0002",
        "bbbb0002r2",
        "other",
        &vectors[..10],
        &texts[..10],
    );
    (store, truth)
}

fn request() -> ClusterRequest {
    ClusterRequest {
        min_cluster_size: Some(20),
        ..ClusterRequest::default()
    }
}

fn count(store: &Store, sql: &str) -> i64 {
    store
        .raw_connection_for_tests()
        .query_row(sql, [], |row| row.get(0))
        .expect("count")
}

#[test]
fn stored_result_has_parameters_clusters_and_assignments() {
    let (mut store, truth) = populated_store();
    let outcome = run_clustering(&mut store, &request(), &Control::default()).expect("cluster");
    assert_eq!(
        outcome.model, "minilm",
        "default model has the most embeddings"
    );
    assert_eq!(outcome.embedding_ids.len(), truth.len());

    // Embeddings load in id order, which here is the order they were made in.
    let ari = adjusted_rand_index(&outcome.clustering.labels, &truth);
    assert!(ari >= 0.95, "ARI {ari}");
    assert_eq!(outcome.clustering.clusters.len(), 3);

    let stored: String = store
        .raw_connection_for_tests()
        .query_row(
            "SELECT parameters_json FROM clustering_result WHERE id = ?1",
            [&outcome.id],
            |row| row.get(0),
        )
        .expect("parameters");
    let stored: StoredParameters = serde_json::from_str(&stored).expect("json");
    assert_eq!(stored, outcome.parameters);
    assert_eq!(stored.hdbscan, outcome.clustering.params);
    assert_eq!(stored.hdbscan.min_cluster_size, 20);
    assert_eq!(stored.hdbscan.min_samples, 15, "the default floor");
    assert_eq!(stored.hdbscan.cluster_selection_epsilon, 0.4);

    assert_eq!(
        count(&store, "SELECT count(*) FROM cluster_assignment"),
        truth.len() as i64
    );
    assert_eq!(count(&store, "SELECT count(*) FROM cluster"), 3);
    assert_eq!(
        count(&store, "SELECT count(*) FROM clustering_experiment"),
        2
    );
    let noise = outcome
        .clustering
        .labels
        .iter()
        .filter(|&&l| l == -1)
        .count() as i64;
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM cluster_assignment WHERE label = -1"
        ),
        noise
    );

    let detail = show_clustering(&store, &outcome.id[..10], None).expect("show");
    assert_eq!(detail.clusters.len(), 3);
    assert!(
        detail.clusters.windows(2).all(|w| w[0].size >= w[1].size),
        "largest first"
    );
    for cluster in &detail.clusters {
        assert!(
            cluster.display_name.starts_with("topic "),
            "{}",
            cluster.display_name
        );
        let medoid = cluster.medoid_embedding_id.as_deref().expect("medoid");
        let label: i32 = store
            .raw_connection_for_tests()
            .query_row(
                "SELECT label FROM cluster_assignment WHERE clustering_id = ?1 AND embedding_id = ?2",
                [&outcome.id, medoid],
                |row| row.get(0),
            )
            .expect("medoid assignment");
        assert_eq!(label, cluster.label, "medoid belongs to its cluster");
        let centroid = cluster_centroid(&store, &outcome.id, cluster.label)
            .expect("centroid")
            .expect("some");
        assert_eq!(centroid.len(), DIM);
    }
    let list = list_clusterings(&store).expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].cluster_count, 3);
    assert_eq!(list[0].assignments, truth.len() as u64);
    assert_eq!(list[0].outliers, noise as u64);
}

#[test]
fn results_are_stable_for_a_seed_and_scopes_and_downsampling_apply() {
    let (mut store, _) = populated_store();
    let mut request = request();
    request.downsample = Some(300);
    request.seed = Some(7);
    let first = run_clustering(&mut store, &request, &Control::default()).expect("first");
    let second = run_clustering(&mut store, &request, &Control::default()).expect("second");
    assert_eq!(first.embedding_ids, second.embedding_ids);
    assert_eq!(first.clustering.labels, second.clustering.labels);
    assert_eq!(first.clustering.clusters, second.clustering.clusters);
    assert_eq!(first.parameters.clustered, 300);
    assert_eq!(first.parameters.downsample, Some(300));

    let mut scoped = self::request();
    scoped.experiments = vec!["bbbb".into()];
    scoped.model = Some("other".into());
    let other = run_clustering(&mut store, &scoped, &Control::default()).expect("scoped");
    assert_eq!(other.embedding_ids.len(), 10);
    assert!(
        other
            .embedding_ids
            .iter()
            .all(|id| id.starts_with("bbbb0002r2"))
    );
    let scope: String = store
        .raw_connection_for_tests()
        .query_row(
            "SELECT scope_json FROM clustering_result WHERE id = ?1",
            [&other.id],
            |row| row.get(0),
        )
        .expect("scope");
    assert!(scope.contains("bbbb0002"), "{scope}");
}

#[test]
fn delete_removes_only_its_own_rows() {
    let (mut store, truth) = populated_store();
    let keep = run_clustering(&mut store, &request(), &Control::default()).expect("keep");
    let drop = run_clustering(&mut store, &request(), &Control::default()).expect("drop");
    let embeddings = count(&store, "SELECT count(*) FROM embedding");
    delete_clustering(&mut store, &drop.id).expect("delete");
    assert_eq!(count(&store, "SELECT count(*) FROM clustering_result"), 1);
    assert_eq!(
        count(&store, "SELECT count(*) FROM cluster_assignment"),
        truth.len() as i64
    );
    let remaining: String = store
        .raw_connection_for_tests()
        .query_row("SELECT DISTINCT clustering_id FROM cluster", [], |row| {
            row.get(0)
        })
        .expect("remaining");
    assert_eq!(remaining, keep.id);
    assert_eq!(count(&store, "SELECT count(*) FROM embedding"), embeddings);
    assert!(
        delete_clustering(&mut store, &drop.id).is_err(),
        "already gone"
    );

    run_clustering(&mut store, &request(), &Control::default()).expect("another");
    assert_eq!(delete_all_clusterings(&mut store).expect("all"), 2);
    assert_eq!(count(&store, "SELECT count(*) FROM cluster_assignment"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM cluster"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM embedding"), embeddings);
}

#[test]
fn deleting_an_experiment_with_assignments_cascades() {
    let (mut store, truth) = populated_store();
    let outcome = run_clustering(&mut store, &request(), &Control::default()).expect("cluster");
    let summary = store
        .delete_experiment("aaaa0001")
        .expect("delete experiment");
    assert_eq!(summary.cluster_assignments, (truth.len() / 2) as u64);
    assert_eq!(
        count(&store, "SELECT count(*) FROM cluster_assignment"),
        (truth.len() - truth.len() / 2) as i64
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM clustering_experiment"),
        1
    );
    // The result itself stays, and still lists and shows.
    let detail = show_clustering(&store, &outcome.id, None).expect("show");
    assert_eq!(
        detail.summary.assignments,
        (truth.len() - truth.len() / 2) as u64
    );
}

#[test]
fn an_empty_database_is_a_clear_error() {
    let mut store = Store::open_in_memory().expect("store");
    let error = run_clustering(&mut store, &request(), &Control::default())
        .expect_err("nothing to cluster");
    assert!(error.to_string().contains("no embeddings"), "{error}");
}
