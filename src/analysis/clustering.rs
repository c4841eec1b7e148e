//! Clustering stored embeddings: load one model's vectors (all of them, or those of chosen
//! experiments), run HDBSCAN, and store the result — parameters as used, clusters with medoid and
//! centroid, one assignment per embedding — in one transaction. Also list, show and delete.
//! Reads and writes go through the store's clustering API.

use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::hdbscan::{Clustering, Control, HdbscanError, HdbscanParams, Selection, hdbscan};
use super::knn::Points;
use crate::store::{
    ClusterAssignment, ClusterRecord, ClusteringRecord, ExperimentFilter, Store, StoreError,
    Timestamp,
};

pub const ALGORITHM: &str = "hdbscan";

#[derive(Debug, Error)]
pub enum ClusteringError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hdbscan(#[from] HdbscanError),
    #[error(transparent)]
    Points(#[from] super::knn::KnnError),
    #[error("clustering was cancelled")]
    Cancelled(#[from] crate::progress::Cancelled),
    #[error("no embeddings to cluster{}", .model.as_ref().map(|m| format!(" for model '{m}'")).unwrap_or_default())]
    NoEmbeddings { model: Option<String> },
    #[error("embeddings of '{model}' have different dimensions ({first} and {other})")]
    MixedDimensions {
        model: String,
        first: usize,
        other: usize,
    },
    #[error("stored clustering JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, ClusteringError>;

/// Which embeddings to cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", content = "experiments", rename_all = "lowercase")]
pub enum ClusteringScope {
    /// Every embedding of the model in the database.
    All,
    /// The embeddings of these experiments' invocations (full ids).
    Experiments(Vec<String>),
}

/// What the caller chose; unset values get [`HdbscanParams::defaults_for`] the clustered count.
#[derive(Debug, Clone, Default)]
pub struct ClusterRequest {
    pub model: Option<String>,
    /// Experiment ids or unique prefixes; empty = all embeddings of the model.
    pub experiments: Vec<String>,
    pub min_cluster_size: Option<usize>,
    pub min_samples: Option<usize>,
    pub epsilon: Option<f64>,
    pub selection: Option<Selection>,
    pub allow_single_cluster: bool,
    /// Cluster a seeded random sample of at most this many embeddings.
    pub downsample: Option<usize>,
    pub seed: Option<u64>,
}

/// Everything that decided the result, stored as `parameters_json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredParameters {
    #[serde(flatten)]
    pub hdbscan: HdbscanParams,
    pub downsample: Option<usize>,
    /// Embeddings in scope before downsampling, and clustered.
    pub available: usize,
    pub clustered: usize,
}

/// A stored clustering result with its counts.
#[derive(Debug, Clone, Serialize)]
pub struct ClusteringOverview {
    pub id: String,
    pub embedding_model: String,
    pub algorithm: String,
    pub parameters: serde_json::Value,
    pub scope: serde_json::Value,
    pub created_at: Timestamp,
    pub duration_ms: i64,
    pub cluster_count: u64,
    pub assignments: u64,
    pub outliers: u64,
}

impl ClusteringOverview {
    pub fn outlier_fraction(&self) -> f64 {
        if self.assignments == 0 {
            0.0
        } else {
            self.outliers as f64 / self.assignments as f64
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredCluster {
    pub label: i32,
    pub size: u64,
    pub medoid_embedding_id: Option<String>,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusteringDetail {
    #[serde(flatten)]
    pub summary: ClusteringOverview,
    /// Largest first.
    pub clusters: Vec<StoredCluster>,
}

/// The vectors of one model in scope, L2-normalised, ordered by embedding id.
pub struct LoadedEmbeddings {
    pub model: String,
    pub ids: Vec<String>,
    pub dim: usize,
    pub data: Vec<f32>,
    pub experiments: Vec<String>,
}

/// The model with the most embeddings (ties by name), if any.
pub fn default_model(store: &Store) -> Result<Option<String>> {
    Ok(store
        .embedding_model_counts(ExperimentFilter::All)?
        .into_iter()
        .next()
        .map(|(model, _)| model))
}

/// Loads and normalises the embeddings of `model` in `scope`.
pub fn load_embeddings(
    store: &Store,
    model: &str,
    scope: &ClusteringScope,
) -> Result<LoadedEmbeddings> {
    let filter = match scope {
        ClusteringScope::All => ExperimentFilter::All,
        ClusteringScope::Experiments(ids) => ExperimentFilter::Only(ids),
    };
    let mut loaded = LoadedEmbeddings {
        model: model.to_owned(),
        ids: Vec::new(),
        dim: 0,
        data: Vec::new(),
        experiments: Vec::new(),
    };
    for row in store.scoped_embeddings(model, filter)? {
        let mut vector = row.vector;
        if loaded.ids.is_empty() {
            loaded.dim = vector.len();
        } else if vector.len() != loaded.dim {
            return Err(ClusteringError::MixedDimensions {
                model: model.to_owned(),
                first: loaded.dim,
                other: vector.len(),
            });
        }
        // Unit length makes Euclidean distance equivalent to cosine distance.
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        loaded.data.extend_from_slice(&vector);
        loaded.ids.push(row.id);
        if !loaded.experiments.contains(&row.experiment_id) {
            loaded.experiments.push(row.experiment_id);
        }
    }
    loaded.experiments.sort();
    Ok(loaded)
}

/// Outcome of [`run_clustering`].
#[derive(Debug, Clone)]
pub struct ClusteringOutcome {
    pub id: String,
    pub model: String,
    pub parameters: StoredParameters,
    pub clustering: Clustering,
    /// Embedding id of each clustered point, in the order of `clustering.labels`.
    pub embedding_ids: Vec<String>,
    pub duration_ms: i64,
}

/// Loads, clusters and stores; returns the new result's id and what was computed.
pub fn run_clustering(
    store: &mut Store,
    request: &ClusterRequest,
    control: &Control<'_>,
) -> Result<ClusteringOutcome> {
    let started = std::time::Instant::now();
    let model = match &request.model {
        Some(model) => model.clone(),
        None => default_model(store)?.ok_or(ClusteringError::NoEmbeddings { model: None })?,
    };
    let scope = if request.experiments.is_empty() {
        ClusteringScope::All
    } else {
        let mut ids = request
            .experiments
            .iter()
            .map(|prefix| store.resolve_experiment(prefix))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        ids.sort();
        ids.dedup();
        ClusteringScope::Experiments(ids)
    };
    let mut loaded = load_embeddings(store, &model, &scope)?;
    let available = loaded.ids.len();
    if available == 0 {
        return Err(ClusteringError::NoEmbeddings { model: Some(model) });
    }
    let seed = request.seed.unwrap_or(42);
    if let Some(limit) = request.downsample.filter(|&limit| limit < available) {
        downsample(&mut loaded, limit, seed);
    }
    let n = loaded.ids.len();
    let mut params = HdbscanParams::defaults_for(n);
    if let Some(size) = request.min_cluster_size {
        params.min_cluster_size = size;
    }
    if let Some(samples) = request.min_samples {
        params.min_samples = samples;
    }
    if let Some(epsilon) = request.epsilon {
        params.cluster_selection_epsilon = epsilon;
    }
    if let Some(selection) = request.selection {
        params.selection = selection;
    }
    params.allow_single_cluster = request.allow_single_cluster;
    params.seed = seed;

    let points = Points::new(&loaded.data, loaded.dim)?;
    let clustering = hdbscan(points, &params, control)?;
    control.check()?;
    let parameters = StoredParameters {
        hdbscan: clustering.params.clone(),
        downsample: request.downsample,
        available,
        clustered: n,
    };
    let names = display_names(store, &clustering, &loaded.ids)?;
    let duration_ms = started.elapsed().as_millis() as i64;
    let id = crate::store::new_id();
    let parameters_json = serde_json::to_string(&parameters)?;
    let scope_json = serde_json::to_string(&scope)?;
    let record = ClusteringRecord {
        id: id.clone(),
        embedding_model: model.clone(),
        algorithm: ALGORITHM.to_owned(),
        parameters_json,
        scope_json,
        created_at: crate::store::now(),
        duration_ms,
        experiment_ids: loaded.experiments.clone(),
    };
    let clusters: Vec<ClusterRecord> = clustering
        .clusters
        .iter()
        .zip(names)
        .map(|(summary, display_name)| ClusterRecord {
            label: summary.label,
            size: summary.size as u64,
            medoid_embedding_id: Some(loaded.ids[summary.medoid].clone()),
            centroid: summary.centroid.clone(),
            display_name,
        })
        .collect();
    let assignments: Vec<ClusterAssignment> = loaded
        .ids
        .iter()
        .zip(&clustering.labels)
        .map(|(embedding_id, &label)| ClusterAssignment {
            embedding_id: embedding_id.clone(),
            label,
        })
        .collect();
    store.insert_clustering(&record, &clusters, &assignments)?;
    Ok(ClusteringOutcome {
        id,
        model,
        parameters,
        clustering,
        embedding_ids: loaded.ids,
        duration_ms,
    })
}

/// Keeps a seeded random sample of `limit` embeddings, in their original order.
fn downsample(loaded: &mut LoadedEmbeddings, limit: usize, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut keep: Vec<usize> =
        rand::seq::index::sample(&mut rng, loaded.ids.len(), limit).into_vec();
    keep.sort_unstable();
    let dim = loaded.dim;
    let mut data = Vec::with_capacity(limit * dim);
    let mut ids = Vec::with_capacity(limit);
    for i in keep {
        data.extend_from_slice(&loaded.data[i * dim..(i + 1) * dim]);
        ids.push(std::mem::take(&mut loaded.ids[i]));
    }
    loaded.data = data;
    loaded.ids = ids;
}

/// The medoid's output text, or "image step N of run X" for image medoids.
fn display_names(store: &Store, clustering: &Clustering, ids: &[String]) -> Result<Vec<String>> {
    clustering
        .clusters
        .iter()
        .map(|cluster| {
            Ok(match store.embedded_output(&ids[cluster.medoid])? {
                Some(crate::store::EmbeddedOutput {
                    output_type,
                    output_text: Some(text),
                    ..
                }) if output_type == "text" => text,
                Some(output) => format!(
                    "image step {} of run {}",
                    output.sequence_number,
                    crate::store::short_id(&output.run_id, 8)
                ),
                None => format!("cluster {}", cluster.label),
            })
        })
        .collect()
}

fn summary_of(stored: crate::store::ClusteringSummary) -> Result<ClusteringOverview> {
    let record = stored.record;
    Ok(ClusteringOverview {
        parameters: serde_json::from_str(&record.parameters_json)?,
        scope: serde_json::from_str(&record.scope_json)?,
        id: record.id,
        embedding_model: record.embedding_model,
        algorithm: record.algorithm,
        created_at: record.created_at,
        duration_ms: record.duration_ms,
        cluster_count: stored.clusters,
        assignments: stored.assignments,
        outliers: stored.outliers,
    })
}

/// All stored clustering results, newest first.
pub fn list_clusterings(store: &Store) -> Result<Vec<ClusteringOverview>> {
    store
        .list_clusterings(None)?
        .into_iter()
        .map(summary_of)
        .collect()
}

/// The results that cover `experiment_id` (it was in their scope when they were computed),
/// optionally of one embedding model only, newest first. The explorer, figures, videos and
/// reports all pick clusterings by this rule.
pub fn covering(
    store: &Store,
    experiment_id: &str,
    model: Option<&str>,
) -> Result<Vec<ClusteringOverview>> {
    store
        .list_clusterings(Some(experiment_id))?
        .into_iter()
        .filter(|stored| model.is_none_or(|model| stored.record.embedding_model == model))
        .map(summary_of)
        .collect()
}

/// One result (id or unique prefix) with its `limit` largest clusters (all if `None`).
pub fn show_clustering(
    store: &Store,
    id_or_prefix: &str,
    limit: Option<usize>,
) -> Result<ClusteringDetail> {
    let id = store.resolve_clustering(id_or_prefix)?;
    let summary = summary_of(store.clustering_summary(&id)?)?;
    let mut clusters: Vec<StoredCluster> = store
        .clusters(&id)?
        .into_iter()
        .map(|c| StoredCluster {
            label: c.label,
            size: c.size,
            medoid_embedding_id: c.medoid_embedding_id,
            display_name: c.display_name,
        })
        .collect();
    clusters.sort_by(|a, b| b.size.cmp(&a.size).then(a.label.cmp(&b.label)));
    if let Some(limit) = limit {
        clusters.truncate(limit);
    }
    Ok(ClusteringDetail { summary, clusters })
}

/// The stored centroid of one cluster.
pub fn cluster_centroid(
    store: &Store,
    clustering_id: &str,
    label: i32,
) -> Result<Option<Vec<f32>>> {
    Ok(store
        .clusters(clustering_id)?
        .into_iter()
        .find(|c| c.label == label)
        .map(|c| c.centroid))
}

/// Deletes one result (id or unique prefix) and only its rows; returns its full id.
pub fn delete_clustering(store: &mut Store, id_or_prefix: &str) -> Result<String> {
    let id = store.resolve_clustering(id_or_prefix)?;
    store.delete_clustering(&id)?;
    Ok(id)
}

/// Deletes every clustering result; returns how many there were.
pub fn delete_all_clusterings(store: &mut Store) -> Result<usize> {
    Ok(store.delete_all_clusterings()?)
}
