//! Stored 2-D projections: the t-SNE of one embedding model's vectors over a scope (experiments,
//! or a clustering result's experiments), kept in `projection` / `projection_point` so the
//! explorer can reopen a layout instantly and reuse it for the same scope and parameters.

use std::sync::atomic::AtomicBool;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::tsne::{self, Progress, TsneError, TsneParams};
use crate::store::{self, Store, StoreError, Timestamp};

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
}

impl From<rusqlite::Error> for ProjectionError {
    fn from(error: rusqlite::Error) -> Self {
        ProjectionError::Store(StoreError::Sqlite(error))
    }
}

pub type Result<T> = std::result::Result<T, ProjectionError>;

/// Which points a projection covers; stored as `scope_json`. Experiment ids are full, sorted and
/// unique, so equal scopes serialise identically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    Experiments {
        experiments: Vec<String>,
    },
    /// The experiments of a clustering result (listed, so the scope is self-describing).
    Clustering {
        clustering: String,
        experiments: Vec<String>,
    },
}

impl Scope {
    pub fn experiments(&self) -> &[String] {
        match self {
            Scope::Experiments { experiments } | Scope::Clustering { experiments, .. } => {
                experiments
            }
        }
    }

    /// Experiments by id or unique prefix; none means every experiment in the database now.
    pub fn for_experiments(store: &Store, ids: &[String]) -> Result<Self> {
        let mut experiments = if ids.is_empty() {
            let mut statement = store
                .connection()
                .prepare("SELECT id FROM experiment ORDER BY id")?;
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
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
        Ok(Scope::Experiments { experiments })
    }

    /// The experiments a clustering result was computed over.
    pub fn for_clustering(store: &Store, clustering_id: &str) -> Result<Self> {
        let conn = store.connection();
        let exists: Option<String> = conn
            .query_row(
                "SELECT id FROM clustering_result WHERE id = ?1",
                [clustering_id],
                |row| row.get(0),
            )
            .optional()?;
        let Some(clustering) = exists else {
            return Err(StoreError::NotFound {
                what: "clustering result",
                id: clustering_id.to_string(),
            }
            .into());
        };
        let mut statement = conn.prepare(
            "SELECT experiment_id FROM clustering_experiment WHERE clustering_id = ?1 ORDER BY experiment_id",
        )?;
        let experiments = statement
            .query_map([&clustering], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if experiments.is_empty() {
            return Err(ProjectionError::EmptyScope);
        }
        Ok(Scope::Clustering {
            clustering,
            experiments,
        })
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn experiments_json(&self) -> String {
        serde_json::to_string(self.experiments()).unwrap_or_default()
    }
}

/// A stored projection (without its points).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionRecord {
    pub id: String,
    pub embedding_model: String,
    pub method: String,
    pub parameters: TsneParams,
    pub scope: Scope,
    pub created_at: Timestamp,
    pub points: u64,
}

/// One projected embedding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionPoint {
    pub embedding_id: String,
    pub x: f32,
    pub y: f32,
}

const EMBEDDINGS_IN_SCOPE: &str = "
    FROM embedding e
    JOIN invocation i ON i.id = e.invocation_id
    JOIN run r ON r.id = i.run_id
    WHERE r.experiment_id IN (SELECT value FROM json_each(?1))";

/// Embedding models present in the scope, with their counts, most embeddings first.
pub fn models_in_scope(store: &Store, scope: &Scope) -> Result<Vec<(String, u64)>> {
    let sql = format!(
        "SELECT e.embedding_model, COUNT(*) {EMBEDDINGS_IN_SCOPE}
         GROUP BY e.embedding_model ORDER BY COUNT(*) DESC, e.embedding_model"
    );
    let mut statement = store.connection().prepare(&sql)?;
    let models = statement
        .query_map([scope.experiments_json()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?.max(0) as u64,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(models)
}

/// The model to project when none is named: the one with most embeddings in the scope.
pub fn default_model(store: &Store, scope: &Scope) -> Result<String> {
    models_in_scope(store, scope)?
        .into_iter()
        .next()
        .map(|(model, _)| model)
        .ok_or(ProjectionError::NothingEmbedded)
}

fn count_in_scope(store: &Store, model: &str, scope: &Scope) -> Result<u64> {
    let sql = format!("SELECT COUNT(*) {EMBEDDINGS_IN_SCOPE} AND e.embedding_model = ?2");
    let count: i64 =
        store
            .connection()
            .query_row(&sql, params![scope.experiments_json(), model], |row| {
                row.get(0)
            })?;
    Ok(count.max(0) as u64)
}

/// Embedding ids and vectors of `model` in the scope, ordered by id (a fixed input order keeps
/// the layout reproducible).
pub fn load_vectors(
    store: &Store,
    model: &str,
    scope: &Scope,
) -> Result<(Vec<String>, Vec<Vec<f32>>)> {
    let sql = format!(
        "SELECT e.id, e.vector {EMBEDDINGS_IN_SCOPE} AND e.embedding_model = ?2 ORDER BY e.id"
    );
    let mut statement = store.connection().prepare(&sql)?;
    let mut rows = statement.query(params![scope.experiments_json(), model])?;
    let (mut ids, mut vectors) = (Vec::new(), Vec::new());
    while let Some(row) = rows.next()? {
        ids.push(row.get::<_, String>(0)?);
        let blob: Vec<u8> = row.get(1)?;
        vectors.push(store::decode_vector(&blob)?);
    }
    Ok((ids, vectors))
}

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(ProjectionRow, u64)> {
    Ok((
        ProjectionRow {
            id: row.get(0)?,
            embedding_model: row.get(1)?,
            method: row.get(2)?,
            parameters_json: row.get(3)?,
            scope_json: row.get(4)?,
            created_at: row.get(5)?,
        },
        row.get::<_, i64>(6)?.max(0) as u64,
    ))
}

struct ProjectionRow {
    id: String,
    embedding_model: String,
    method: String,
    parameters_json: String,
    scope_json: String,
    created_at: Timestamp,
}

impl ProjectionRow {
    fn into_record(self, points: u64) -> Result<ProjectionRecord> {
        let parameters =
            serde_json::from_str(&self.parameters_json).map_err(|source| StoreError::Json {
                what: "projection.parameters_json",
                source,
            })?;
        let scope = serde_json::from_str(&self.scope_json).map_err(|source| StoreError::Json {
            what: "projection.scope_json",
            source,
        })?;
        Ok(ProjectionRecord {
            id: self.id,
            embedding_model: self.embedding_model,
            method: self.method,
            parameters,
            scope,
            created_at: self.created_at,
            points,
        })
    }
}

const SELECT_PROJECTION: &str = "
    SELECT p.id, p.embedding_model, p.method, p.parameters_json, p.scope_json, p.created_at,
           (SELECT COUNT(*) FROM projection_point pp WHERE pp.projection_id = p.id)
    FROM projection p";

/// A stored t-SNE of `model` over `scope` with exactly `params`, if one is still complete (it
/// has a point for every embedding now in the scope).
pub fn find(
    store: &Store,
    model: &str,
    scope: &Scope,
    params: &TsneParams,
) -> Result<Option<ProjectionRecord>> {
    let parameters_json = parameters_json(params);
    let sql = format!(
        "{SELECT_PROJECTION} WHERE p.embedding_model = ?1 AND p.method = ?2
         AND p.parameters_json = ?3 AND p.scope_json = ?4 ORDER BY p.created_at DESC"
    );
    let found = store
        .connection()
        .query_row(
            &sql,
            params![model, METHOD_TSNE, parameters_json, scope.to_json()],
            record_from_row,
        )
        .optional()?;
    let Some((row, points)) = found else {
        return Ok(None);
    };
    if points != count_in_scope(store, model, scope)? {
        return Ok(None);
    }
    row.into_record(points).map(Some)
}

/// Every stored projection, newest first.
pub fn list(store: &Store) -> Result<Vec<ProjectionRecord>> {
    let sql = format!("{SELECT_PROJECTION} ORDER BY p.created_at DESC, p.id");
    let mut statement = store.connection().prepare(&sql)?;
    let rows = statement
        .query_map([], record_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(row, points)| row.into_record(points))
        .collect()
}

/// One stored projection by id or unique id prefix.
pub fn get(store: &Store, id_or_prefix: &str) -> Result<ProjectionRecord> {
    let id = resolve(store, id_or_prefix)?;
    let sql = format!("{SELECT_PROJECTION} WHERE p.id = ?1");
    let (row, points) = store.connection().query_row(&sql, [&id], record_from_row)?;
    row.into_record(points)
}

/// The points of a stored projection, ordered by embedding id.
pub fn points(store: &Store, projection_id: &str) -> Result<Vec<ProjectionPoint>> {
    let mut statement = store.connection().prepare(
        "SELECT embedding_id, x, y FROM projection_point WHERE projection_id = ?1 ORDER BY embedding_id",
    )?;
    let points = statement
        .query_map([projection_id], |row| {
            Ok(ProjectionPoint {
                embedding_id: row.get(0)?,
                x: row.get::<_, f64>(1)? as f32,
                y: row.get::<_, f64>(2)? as f32,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(points)
}

fn resolve(store: &Store, id_or_prefix: &str) -> Result<String> {
    let prefix = id_or_prefix.trim().to_lowercase();
    let not_found = || StoreError::NotFound {
        what: "projection",
        id: prefix.clone(),
    };
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(not_found().into());
    }
    let mut statement = store
        .connection()
        .prepare("SELECT id FROM projection WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 6")?;
    let matches = statement
        .query_map([&prefix, &format!("{prefix}g")], |row| {
            row.get::<_, String>(0)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    match matches.as_slice() {
        [] => Err(not_found().into()),
        [id] => Ok(id.clone()),
        _ => Err(StoreError::Ambiguous {
            what: "projection",
            prefix,
            matches,
        }
        .into()),
    }
}

/// Deletes a projection (by id or unique prefix) and its points; returns its full id.
pub fn delete(store: &mut Store, id_or_prefix: &str) -> Result<String> {
    let id = resolve(store, id_or_prefix)?;
    store.write(|tx| {
        tx.execute(
            "DELETE FROM projection_point WHERE projection_id = ?1",
            [&id],
        )?;
        tx.execute("DELETE FROM projection WHERE id = ?1", [&id])?;
        Ok(())
    })?;
    Ok(id)
}

fn parameters_json(params: &TsneParams) -> String {
    serde_json::to_string(params).unwrap_or_default()
}

/// Stores a finished layout (one transaction: the projection and all its points, or nothing).
pub fn save(
    store: &mut Store,
    model: &str,
    scope: &Scope,
    params: &TsneParams,
    embedding_ids: &[String],
    layout: &[[f32; 2]],
) -> Result<ProjectionRecord> {
    let id = store::new_id();
    let created_at = store::now();
    let (parameters_json, scope_json) = (parameters_json(params), scope.to_json());
    store.write(|tx| {
        tx.execute(
            "INSERT INTO projection (id, embedding_model, method, parameters_json, scope_json, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, model, METHOD_TSNE, parameters_json, scope_json, created_at],
        )?;
        // The experiment rows too, so exports find the layout by experiment and deleting an
        // experiment deletes the layouts of it alone.
        let mut experiment = tx.prepare_cached(
            "INSERT OR IGNORE INTO projection_experiment (projection_id, experiment_id) VALUES (?1, ?2)",
        )?;
        for experiment_id in scope.experiments() {
            experiment.execute(params![id, experiment_id])?;
        }
        let mut insert = tx.prepare_cached(
            "INSERT INTO projection_point (projection_id, embedding_id, x, y) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (embedding_id, point) in embedding_ids.iter().zip(layout) {
            insert.execute(params![
                id,
                embedding_id,
                f64::from(point[0]),
                f64::from(point[1])
            ])?;
        }
        Ok(())
    })?;
    Ok(ProjectionRecord {
        id,
        embedding_model: model.to_string(),
        method: METHOD_TSNE.to_string(),
        parameters: *params,
        scope: scope.clone(),
        created_at,
        points: embedding_ids.len().min(layout.len()) as u64,
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
    scope: &Scope,
    params: &TsneParams,
    cancel: &AtomicBool,
    snapshot_every: usize,
    on_progress: impl FnMut(Progress<'_>),
) -> Result<(ProjectionRecord, Origin)> {
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
    scope: &Scope,
    params: &TsneParams,
    cancel: &AtomicBool,
    snapshot_every: usize,
    on_progress: impl FnMut(Progress<'_>),
) -> Result<ProjectionRecord> {
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
