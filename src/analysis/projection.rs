//! Stored 2-D projections: the t-SNE of one embedding model's vectors over a scope (experiments,
//! or a clustering result's experiments), kept in `projection` / `projection_point` so the
//! explorer can reopen a layout instantly and reuse it for the same scope and parameters.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::tsne::{self, Progress, TsneError, TsneParams};
use crate::store::{self, ExperimentFilter, ProjectionPoint, ProjectionRecord, Store, StoreError};

pub const METHOD_TSNE: &str = "tsne";

#[derive(Debug, Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tsne(#[from] TsneError),
    #[error("no '{model}' embeddings in this scope")]
    NoEmbeddings { model: String },
    #[error("no embeddings at all in this scope; embed the experiments first")]
    NothingEmbedded,
    #[error("the scope names no experiments")]
    EmptyScope,
    #[error("{what} could not be written as JSON: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, ProjectionError>;

/// Which points a projection covers; stored as `scope_json`. Experiment ids are full, sorted and
/// unique, so equal scopes serialise identically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProjectionScope {
    Experiments {
        experiments: Vec<String>,
    },
    /// The experiments of a clustering result (listed, so the scope is self-describing).
    Clustering {
        clustering: String,
        experiments: Vec<String>,
    },
}

impl ProjectionScope {
    pub fn experiments(&self) -> &[String] {
        match self {
            ProjectionScope::Experiments { experiments }
            | ProjectionScope::Clustering { experiments, .. } => experiments,
        }
    }

    fn filter(&self) -> ExperimentFilter<'_> {
        ExperimentFilter::Only(self.experiments())
    }

    /// Experiments by id or unique prefix; none means every experiment in the database now.
    pub fn for_experiments(store: &Store, ids: &[String]) -> Result<Self> {
        let mut experiments = if ids.is_empty() {
            store.experiment_ids()?
        } else {
            ids.iter()
                .map(|id| store.resolve_experiment(id))
                .collect::<std::result::Result<Vec<_>, _>>()?
        };
        experiments.sort();
        experiments.dedup();
        if experiments.is_empty() {
            return Err(ProjectionError::EmptyScope);
        }
        Ok(ProjectionScope::Experiments { experiments })
    }

    /// The experiments a clustering result was computed over.
    pub fn for_clustering(store: &Store, clustering_id: &str) -> Result<Self> {
        let record = store.clustering(clustering_id)?;
        if record.experiment_ids.is_empty() {
            return Err(ProjectionError::EmptyScope);
        }
        Ok(ProjectionScope::Clustering {
            clustering: record.id,
            experiments: record.experiment_ids,
        })
    }

    fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|source| ProjectionError::Json {
            what: "projection scope",
            source,
        })
    }
}

/// A stored projection read back with its parameters and scope parsed (points not loaded).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    pub id: String,
    pub embedding_model: String,
    pub method: String,
    pub parameters: TsneParams,
    pub scope: ProjectionScope,
    pub created_at: store::Timestamp,
    pub points: u64,
}

impl Projection {
    fn from_record(store: &Store, record: ProjectionRecord) -> Result<Self> {
        let parameters =
            serde_json::from_str(&record.parameters_json).map_err(|source| StoreError::Json {
                what: "projection.parameters_json",
                source,
            })?;
        let scope =
            serde_json::from_str(&record.scope_json).map_err(|source| StoreError::Json {
                what: "projection.scope_json",
                source,
            })?;
        let points = store.projection_point_count(&record.id)?;
        Ok(Projection {
            id: record.id,
            embedding_model: record.embedding_model,
            method: record.method,
            parameters,
            scope,
            created_at: record.created_at,
            points,
        })
    }
}

/// Embedding models present in the scope, with their counts, most embeddings first.
pub fn models_in_scope(store: &Store, scope: &ProjectionScope) -> Result<Vec<(String, u64)>> {
    Ok(store.embedding_model_counts(scope.filter())?)
}

/// The model to project when none is named: the one with most embeddings in the scope.
pub fn default_model(store: &Store, scope: &ProjectionScope) -> Result<String> {
    models_in_scope(store, scope)?
        .into_iter()
        .next()
        .map(|(model, _)| model)
        .ok_or(ProjectionError::NothingEmbedded)
}

/// Embedding ids and vectors of `model` in the scope, ordered by id (a fixed input order keeps
/// the layout reproducible).
pub fn load_vectors(
    store: &Store,
    model: &str,
    scope: &ProjectionScope,
) -> Result<(Vec<String>, Vec<Vec<f32>>)> {
    Ok(store
        .scoped_embeddings(model, scope.filter())?
        .into_iter()
        .map(|row| (row.id, row.vector))
        .unzip())
}

fn parameters_json(params: &TsneParams) -> Result<String> {
    serde_json::to_string(params).map_err(|source| ProjectionError::Json {
        what: "t-SNE parameters",
        source,
    })
}

/// A stored t-SNE of `model` over `scope` with exactly `params`, if one is still complete (it
/// has a point for every embedding now in the scope).
pub fn find(
    store: &Store,
    model: &str,
    scope: &ProjectionScope,
    params: &TsneParams,
) -> Result<Option<Projection>> {
    let Some(record) = store.find_projection(
        model,
        METHOD_TSNE,
        &parameters_json(params)?,
        &scope.to_json()?,
    )?
    else {
        return Ok(None);
    };
    let projection = Projection::from_record(store, record)?;
    if projection.points != store.embedding_count(model, scope.filter())? {
        return Ok(None);
    }
    Ok(Some(projection))
}

/// Every stored projection, newest first.
pub fn list(store: &Store) -> Result<Vec<Projection>> {
    store
        .list_projections(None)?
        .into_iter()
        .map(|record| Projection::from_record(store, record))
        .collect()
}

/// One stored projection by id or unique id prefix.
pub fn get(store: &Store, id_or_prefix: &str) -> Result<Projection> {
    let id = store.resolve_projection(id_or_prefix)?;
    Projection::from_record(store, store.projection(&id)?)
}

/// The points of a stored projection, ordered by embedding id.
pub fn points(store: &Store, projection_id: &str) -> Result<Vec<ProjectionPoint>> {
    Ok(store.projection_points(projection_id)?)
}

/// Deletes a projection (by id or unique prefix) and its points; returns its full id.
pub fn delete(store: &mut Store, id_or_prefix: &str) -> Result<String> {
    let id = store.resolve_projection(id_or_prefix)?;
    store.delete_projection(&id)?;
    Ok(id)
}

/// Stores a finished layout (one transaction: the projection and all its points, or nothing).
pub fn save(
    store: &mut Store,
    model: &str,
    scope: &ProjectionScope,
    params: &TsneParams,
    embedding_ids: &[String],
    layout: &[[f32; 2]],
) -> Result<Projection> {
    let record = ProjectionRecord {
        id: store::new_id(),
        embedding_model: model.to_string(),
        method: METHOD_TSNE.to_string(),
        parameters_json: parameters_json(params)?,
        scope_json: scope.to_json()?,
        created_at: store::now(),
        // The experiment rows too, so exports find the layout by experiment and deleting an
        // experiment deletes the layouts of it alone.
        experiment_ids: scope.experiments().to_vec(),
    };
    let points: Vec<ProjectionPoint> = embedding_ids
        .iter()
        .zip(layout)
        .map(|(embedding_id, point)| ProjectionPoint {
            embedding_id: embedding_id.clone(),
            x: point[0],
            y: point[1],
        })
        .collect();
    store.insert_projection(&record, &points)?;
    Ok(Projection {
        id: record.id,
        embedding_model: record.embedding_model,
        method: record.method,
        parameters: *params,
        scope: scope.clone(),
        created_at: record.created_at,
        points: points.len() as u64,
    })
}

/// Whether `compute_or_reuse` found a stored layout or computed a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Reused,
    Computed,
}

/// Returns the stored projection for (model, scope, params) if there is a complete one;
/// otherwise computes the t-SNE (cancellable, streaming layouts through `on_progress`) and
/// stores it. The store is not borrowed while the layout is computed.
pub fn compute_or_reuse(
    store: &mut Store,
    model: &str,
    scope: &ProjectionScope,
    params: &TsneParams,
    cancel: &AtomicBool,
    snapshot_every: usize,
    on_progress: impl FnMut(Progress<'_>),
) -> Result<(Projection, Origin)> {
    if let Some(found) = find(store, model, scope, params)? {
        return Ok((found, Origin::Reused));
    }
    compute(
        store,
        model,
        scope,
        params,
        cancel,
        snapshot_every,
        on_progress,
    )
    .map(|record| (record, Origin::Computed))
}

/// Computes and stores a new projection, even if an equal one exists.
pub fn compute(
    store: &mut Store,
    model: &str,
    scope: &ProjectionScope,
    params: &TsneParams,
    cancel: &AtomicBool,
    snapshot_every: usize,
    on_progress: impl FnMut(Progress<'_>),
) -> Result<Projection> {
    let (ids, vectors) = load_vectors(store, model, scope)?;
    if ids.is_empty() {
        return Err(ProjectionError::NoEmbeddings {
            model: model.to_string(),
        });
    }
    let layout = tsne::layout_with_progress(&vectors, params, cancel, snapshot_every, on_progress)?;
    drop(vectors);
    save(store, model, scope, params, &ids, &layout)
}
