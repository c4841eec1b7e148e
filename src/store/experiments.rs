//! Experiments: insert, look up (by id, prefix or "latest"), list with counts, status, delete.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, StoreError, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentStatus {
    Pending,
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl ExperimentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentStatus::Pending => "pending",
            ExperimentStatus::Running => "running",
            ExperimentStatus::Completed => "completed",
            ExperimentStatus::Cancelled => "cancelled",
            ExperimentStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "pending" => ExperimentStatus::Pending,
            "running" => ExperimentStatus::Running,
            "completed" => ExperimentStatus::Completed,
            "cancelled" => ExperimentStatus::Cancelled,
            "failed" => ExperimentStatus::Failed,
            other => {
                return Err(StoreError::Corrupt {
                    what: "experiment status".into(),
                    detail: other.into(),
                });
            }
        })
    }
}

impl std::fmt::Display for ExperimentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExperimentRecord {
    pub id: String,
    /// The validated config exactly as given, as JSON.
    pub config_json: String,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub status: ExperimentStatus,
}

/// An experiment with its progress counts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExperimentSummary {
    #[serde(flatten)]
    pub record: ExperimentRecord,
    pub runs: u64,
    pub runs_stopped: u64,
    pub invocations: u64,
    pub embeddings: u64,
}

/// What deleting an experiment removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeleteSummary {
    pub runs: u64,
    pub invocations: u64,
    pub embeddings: u64,
    pub cluster_assignments: u64,
    /// Clusterings and projections that covered only this experiment (removed with it).
    pub clusterings: u64,
    pub projections: u64,
}

/// Clusterings (`r`) that cover experiment ?1 and no other.
const SOLE_CLUSTERING: &str = "EXISTS (SELECT 1 FROM clustering_experiment e WHERE e.clustering_id = r.id AND e.experiment_id = ?1)
    AND NOT EXISTS (SELECT 1 FROM clustering_experiment e WHERE e.clustering_id = r.id AND e.experiment_id <> ?1)";
/// Projections (`p`) that cover experiment ?1 and no other.
const SOLE_PROJECTION: &str = "EXISTS (SELECT 1 FROM projection_experiment e WHERE e.projection_id = p.id AND e.experiment_id = ?1)
    AND NOT EXISTS (SELECT 1 FROM projection_experiment e WHERE e.projection_id = p.id AND e.experiment_id <> ?1)";

const COLUMNS: &str = "id, config_json, created_at, started_at, completed_at, status";

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(ExperimentRecord, String)> {
    let status: String = row.get(5)?;
    Ok((
        ExperimentRecord {
            id: row.get(0)?,
            config_json: row.get(1)?,
            created_at: row.get(2)?,
            started_at: row.get(3)?,
            completed_at: row.get(4)?,
            status: ExperimentStatus::Pending,
        },
        status,
    ))
}

fn with_status((mut record, status): (ExperimentRecord, String)) -> Result<ExperimentRecord> {
    record.status = ExperimentStatus::parse(&status)?;
    Ok(record)
}

impl Store {
    pub fn insert_experiment(&mut self, record: &ExperimentRecord) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                &format!("INSERT INTO experiment ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    record.id,
                    record.config_json,
                    record.created_at,
                    record.started_at,
                    record.completed_at,
                    record.status.as_str()
                ],
            )?;
            Ok(())
        })
    }

    pub fn experiment(&self, id: &str) -> Result<ExperimentRecord> {
        with_status(self.row_by_id(
            &format!("SELECT {COLUMNS} FROM experiment WHERE id = ?1"),
            "experiment",
            id,
            record_from_row,
        )?)
    }

    /// A full id, a unique prefix, or `latest` (the most recently created experiment).
    pub fn resolve_experiment(&self, id_or_prefix: &str) -> Result<String> {
        if id_or_prefix == "latest" {
            return self
                .conn
                .query_row(
                    "SELECT id FROM experiment ORDER BY created_at DESC, id DESC LIMIT 1",
                    [],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::not_found("experiment", "latest"));
        }
        self.resolve_prefix("experiment", "experiment", id_or_prefix)
    }

    pub fn resolve_run(&self, id_or_prefix: &str) -> Result<String> {
        self.resolve_prefix("run", "run", id_or_prefix)
    }

    /// Every experiment, newest first, with counts.
    pub fn list_experiments(&self) -> Result<Vec<ExperimentSummary>> {
        let sql = format!(
            "SELECT {COLUMNS},
                (SELECT count(*) FROM run r WHERE r.experiment_id = e.id),
                (SELECT count(*) FROM run r WHERE r.experiment_id = e.id AND r.stop_reason IS NOT NULL),
                (SELECT count(*) FROM invocation i JOIN run r ON i.run_id = r.id WHERE r.experiment_id = e.id),
                (SELECT count(*) FROM embedding m JOIN invocation i ON m.invocation_id = i.id
                    JOIN run r ON i.run_id = r.id WHERE r.experiment_id = e.id)
             FROM experiment e ORDER BY created_at DESC, id DESC"
        );
        let rows = self.rows(&sql, [], |row| {
            Ok((
                record_from_row(row)?,
                row.get::<_, i64>(6)?,
                row.get::<_, i64>(7)?,
                row.get::<_, i64>(8)?,
                row.get::<_, i64>(9)?,
            ))
        })?;
        rows.into_iter()
            .map(|(record, runs, stopped, invocations, embeddings)| {
                Ok(ExperimentSummary {
                    record: with_status(record)?,
                    runs: runs as u64,
                    runs_stopped: stopped as u64,
                    invocations: invocations as u64,
                    embeddings: embeddings as u64,
                })
            })
            .collect()
    }

    pub fn set_experiment_status(
        &mut self,
        id: &str,
        status: ExperimentStatus,
        at: Timestamp,
    ) -> Result<()> {
        self.write(|tx| {
            let changed = match status {
                ExperimentStatus::Running => tx.execute(
                    "UPDATE experiment SET status = ?2, started_at = coalesce(started_at, ?3), completed_at = NULL WHERE id = ?1",
                    params![id, status.as_str(), at],
                )?,
                ExperimentStatus::Completed => tx.execute(
                    "UPDATE experiment SET status = ?2, completed_at = ?3 WHERE id = ?1",
                    params![id, status.as_str(), at],
                )?,
                _ => tx.execute(
                    "UPDATE experiment SET status = ?2 WHERE id = ?1",
                    params![id, status.as_str()],
                )?,
            };
            if changed == 0 {
                return Err(StoreError::not_found("experiment", id));
            }
            Ok(())
        })
    }

    /// Marks the experiment as holding only shard `index` of `count` of its plan (`None`: all).
    pub fn set_experiment_shard(&mut self, id: &str, shard: Option<(u32, u32)>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE experiment SET shard_index = ?2, shard_count = ?3 WHERE id = ?1",
                params![id, shard.map(|s| s.0), shard.map(|s| s.1)],
            )?;
            Ok(())
        })
    }

    /// Which shard of its plan this database holds, if it is a shard.
    pub fn experiment_shard(&self, id: &str) -> Result<Option<(u32, u32)>> {
        let row: Option<(Option<u32>, Option<u32>)> = self
            .conn
            .query_row(
                "SELECT shard_index, shard_count FROM experiment WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((Some(index), Some(count))) => Some((index, count)),
            _ => None,
        })
    }

    /// What [`Store::delete_experiment`] would remove.
    pub fn experiment_delete_preview(&self, id: &str) -> Result<DeleteSummary> {
        let count = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [id], |row| row.get::<_, i64>(0))? as u64)
        };
        Ok(DeleteSummary {
            runs: count("SELECT count(*) FROM run WHERE experiment_id = ?1")?,
            invocations: count(
                "SELECT count(*) FROM invocation i JOIN run r ON i.run_id = r.id WHERE r.experiment_id = ?1",
            )?,
            embeddings: count(
                "SELECT count(*) FROM embedding m JOIN invocation i ON m.invocation_id = i.id
                 JOIN run r ON i.run_id = r.id WHERE r.experiment_id = ?1",
            )?,
            cluster_assignments: count(
                "SELECT count(*) FROM cluster_assignment a JOIN embedding m ON a.embedding_id = m.id
                 JOIN invocation i ON m.invocation_id = i.id JOIN run r ON i.run_id = r.id
                 WHERE r.experiment_id = ?1",
            )?,
            clusterings: count(&format!("SELECT count(*) FROM clustering_result r WHERE {SOLE_CLUSTERING}"))?,
            projections: count(&format!("SELECT count(*) FROM projection p WHERE {SOLE_PROJECTION}"))?,
        })
    }

    /// Deletes an experiment and everything that belongs to it (SQLite cascades) in one
    /// transaction, and returns what was removed.
    pub fn delete_experiment(&mut self, id: &str) -> Result<DeleteSummary> {
        let summary = self.experiment_delete_preview(id)?;
        self.write(|tx| {
            // A clustering or projection of only this experiment would be left empty; one shared
            // with other experiments keeps their rows (this experiment's points cascade away).
            tx.execute(&format!("DELETE FROM clustering_result WHERE id IN (SELECT r.id FROM clustering_result r WHERE {SOLE_CLUSTERING})"), [id])?;
            tx.execute(&format!("DELETE FROM projection WHERE id IN (SELECT p.id FROM projection p WHERE {SOLE_PROJECTION})"), [id])?;
            let deleted = tx.execute("DELETE FROM experiment WHERE id = ?1", [id])?;
            if deleted == 0 {
                return Err(StoreError::not_found("experiment", id));
            }
            Ok(())
        })?;
        Ok(summary)
    }
}
