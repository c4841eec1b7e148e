//! 2-D projections (t-SNE and the like) of embeddings: one row per projection, the experiments
//! it covered and one point per embedding, written and deleted as a whole.

use rusqlite::{OptionalExtension, params};

use super::{ExperimentLink, Result, Store, StoreError, Timestamp};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProjectionRecord {
    pub id: String,
    pub embedding_model: String,
    pub method: String,
    pub parameters_json: String,
    pub scope_json: String,
    pub created_at: Timestamp,
    /// The experiments whose embeddings were projected, sorted.
    pub experiment_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProjectionPoint {
    pub embedding_id: String,
    pub x: f32,
    pub y: f32,
}

/// A projected point with where it sits in its run, for drawing trajectories.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProjectedStep {
    pub run_id: String,
    pub sequence_number: u32,
    pub embedding_id: String,
    pub x: f32,
    pub y: f32,
}

/// One projected point joined with its invocation, its run and (optionally) a cluster label, in
/// run order (network, prompt, seed) then step order: what the explorer and figures draw.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPointRow {
    pub x: f32,
    pub y: f32,
    pub run_id: String,
    pub sequence_number: u32,
    pub invocation_id: String,
    pub output_text: Option<String>,
    /// Label in the chosen clustering; `None` when not clustered (or no clustering chosen).
    pub label: Option<i32>,
    pub experiment_id: String,
    pub initial_prompt: String,
    pub network_json: String,
    pub seed: i64,
}

const LINK: ExperimentLink = ExperimentLink {
    table: "projection_experiment",
    key: "projection_id",
};

const COLUMNS: &str = "id, embedding_model, method, parameters_json, scope_json, created_at";

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectionRecord> {
    Ok(ProjectionRecord {
        id: row.get(0)?,
        embedding_model: row.get(1)?,
        method: row.get(2)?,
        parameters_json: row.get(3)?,
        scope_json: row.get(4)?,
        created_at: row.get(5)?,
        experiment_ids: Vec::new(),
    })
}

impl Store {
    /// Writes a projection, its experiment set and its points in one transaction.
    pub fn insert_projection(
        &mut self,
        record: &ProjectionRecord,
        points: &[ProjectionPoint],
    ) -> Result<()> {
        if let Some(bad) = points.iter().find(|p| !p.x.is_finite() || !p.y.is_finite()) {
            return Err(StoreError::Invalid {
                what: "projection point",
                detail: format!(
                    "embedding {} has non-finite coordinates ({}, {})",
                    bad.embedding_id, bad.x, bad.y
                ),
            });
        }
        self.write(|tx| {
            tx.execute(
                &format!("INSERT INTO projection ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    record.id,
                    record.embedding_model,
                    record.method,
                    record.parameters_json,
                    record.scope_json,
                    record.created_at
                ],
            )?;
            LINK.insert(tx, &record.id, &record.experiment_ids)?;
            let mut point = tx.prepare_cached(
                "INSERT INTO projection_point (projection_id, embedding_id, x, y) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for p in points {
                point.execute(params![record.id, p.embedding_id, p.x, p.y])?;
            }
            Ok(())
        })
    }

    pub fn projection(&self, id: &str) -> Result<ProjectionRecord> {
        let sql = format!("SELECT {COLUMNS} FROM projection WHERE id = ?1");
        let mut record = self.row_by_id(&sql, "projection", id, record_from_row)?;
        record.experiment_ids = LINK.experiments(self, id)?;
        Ok(record)
    }

    /// Every projection (or those covering `experiment_id`), newest first.
    pub fn list_projections(&self, experiment_id: Option<&str>) -> Result<Vec<ProjectionRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM projection p
             WHERE ?1 IS NULL OR EXISTS (SELECT 1 FROM projection_experiment e
                                         WHERE e.projection_id = p.id AND e.experiment_id = ?1)
             ORDER BY created_at DESC, id DESC"
        );
        let rows = self.rows(&sql, [experiment_id], record_from_row)?;
        rows.into_iter()
            .map(|mut record| {
                record.experiment_ids = LINK.experiments(self, &record.id)?;
                Ok(record)
            })
            .collect()
    }

    /// The points of a projection, by embedding id.
    pub fn projection_points(&self, projection_id: &str) -> Result<Vec<ProjectionPoint>> {
        self.rows(
            "SELECT embedding_id, x, y FROM projection_point WHERE projection_id = ?1 ORDER BY embedding_id",
            [projection_id],
            |row| {
                Ok(ProjectionPoint {
                    embedding_id: row.get(0)?,
                    x: row.get::<_, f64>(1)? as f32,
                    y: row.get::<_, f64>(2)? as f32,
                })
            },
        )
    }

    /// The points of a projection grouped by run, in sequence order within each run.
    pub fn projection_trajectories(&self, projection_id: &str) -> Result<Vec<ProjectedStep>> {
        self.rows(
            "SELECT i.run_id, i.sequence_number, p.embedding_id, p.x, p.y
             FROM projection_point p
             JOIN embedding m ON m.id = p.embedding_id
             JOIN invocation i ON i.id = m.invocation_id
             WHERE p.projection_id = ?1
             ORDER BY i.run_id, i.sequence_number",
            [projection_id],
            |row| {
                Ok(ProjectedStep {
                    run_id: row.get(0)?,
                    sequence_number: row.get(1)?,
                    embedding_id: row.get(2)?,
                    x: row.get::<_, f64>(3)? as f32,
                    y: row.get::<_, f64>(4)? as f32,
                })
            },
        )
    }

    /// Every point of a projection with its run and step, labelled by `clustering_id` if given.
    pub fn projection_map(
        &self,
        projection_id: &str,
        clustering_id: Option<&str>,
    ) -> Result<Vec<MapPointRow>> {
        self.rows(
            "SELECT p.x, p.y, i.run_id, i.sequence_number, i.id, i.output_text,
                    (SELECT a.label FROM cluster_assignment a WHERE a.clustering_id = ?2 AND a.embedding_id = p.embedding_id),
                    r.experiment_id, r.initial_prompt, r.network_json, r.seed
             FROM projection_point p
             JOIN embedding e ON e.id = p.embedding_id
             JOIN invocation i ON i.id = e.invocation_id
             JOIN run r ON r.id = i.run_id
             WHERE p.projection_id = ?1
             ORDER BY r.network_index, r.prompt_index, r.seed_index, i.sequence_number",
            params![projection_id, clustering_id],
            |row| {
                Ok(MapPointRow {
                    x: row.get::<_, f64>(0)? as f32,
                    y: row.get::<_, f64>(1)? as f32,
                    run_id: row.get(2)?,
                    sequence_number: row.get(3)?,
                    invocation_id: row.get(4)?,
                    output_text: row.get(5)?,
                    label: row.get(6)?,
                    experiment_id: row.get(7)?,
                    initial_prompt: row.get(8)?,
                    network_json: row.get(9)?,
                    seed: row.get(10)?,
                })
            },
        )
    }

    /// The newest projection with exactly these model, method, parameters and scope, if any.
    pub fn find_projection(
        &self,
        model: &str,
        method: &str,
        parameters_json: &str,
        scope_json: &str,
    ) -> Result<Option<ProjectionRecord>> {
        let record = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM projection
                 WHERE embedding_model = ?1 AND method = ?2 AND parameters_json = ?3 AND scope_json = ?4
                 ORDER BY created_at DESC, id DESC LIMIT 1"
            ))?
            .query_row(
                params![model, method, parameters_json, scope_json],
                record_from_row,
            )
            .optional()?;
        record
            .map(|mut record| {
                record.experiment_ids = LINK.experiments(self, &record.id)?;
                Ok(record)
            })
            .transpose()
    }

    /// How many points a projection has.
    pub fn projection_point_count(&self, projection_id: &str) -> Result<u64> {
        let count: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM projection_point WHERE projection_id = ?1",
            [projection_id],
            |row| row.get(0),
        )?;
        Ok(count.max(0) as u64)
    }

    /// A projection's full id from the id or a unique prefix of it.
    pub fn resolve_projection(&self, id_or_prefix: &str) -> Result<String> {
        self.resolve_prefix("projection", "projection", id_or_prefix)
    }

    /// Deletes one projection and its points.
    pub fn delete_projection(&mut self, id: &str) -> Result<()> {
        self.delete_by_id("projection", "projection", id)
    }
}
