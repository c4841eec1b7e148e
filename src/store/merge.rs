//! `db merge`: combines the shard databases of one experiment into one database, exactly.
//! Rows are keyed by ids that every shard derives the same way, so a row present in both places
//! must be identical: anything else is a conflict and nothing of that shard is merged. Merging
//! the same shard twice changes nothing.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{Result, Store, StoreError, collect_rows};

/// Tables copied from shards, parents first, with their key columns. Clusterings and
/// projections are computed after merging, over the whole experiment, so they are not copied.
const TABLES: &[(&str, &str)] = &[
    ("run", "id"),
    ("invocation", "id"),
    ("embedding", "id"),
    ("prompt_embedding", "run_id, embedding_model"),
    ("persistence_diagram", "id"),
];

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeSummary {
    pub experiment_id: String,
    pub shards: usize,
    /// Rows added per table (0 everywhere when merging again).
    pub added: Vec<(String, u64)>,
    /// Runs in the merged database, and how many of them have finished.
    pub runs: u64,
    pub runs_finished: u64,
}

fn invalid(message: String) -> StoreError {
    StoreError::Invalid {
        what: "merge",
        detail: message,
    }
}

/// The single experiment a shard holds: (id, config JSON).
fn shard_experiment(path: &Path) -> Result<(String, String)> {
    if !path.is_file() {
        return Err(invalid(format!(
            "shard database {} does not exist",
            path.display()
        )));
    }
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| {
            StoreError::Open {
                path: path.to_path_buf(),
                source,
            }
        })?;
    let experiments = collect_rows(&conn, "SELECT id, config_json FROM experiment", [], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    match experiments.len() {
        1 => Ok(experiments.into_iter().next().unwrap_or_default()),
        n => Err(invalid(format!(
            "{} holds {n} experiments; a shard database holds exactly one",
            path.display()
        ))),
    }
}

impl Store {
    /// Merges shard databases of one experiment into this one.
    pub fn merge_shards(&mut self, shards: &[PathBuf]) -> Result<MergeSummary> {
        let Some(first) = shards.first() else {
            return Err(invalid("no shard databases given".into()));
        };
        let (experiment_id, config_json) = shard_experiment(first)?;
        for shard in &shards[1..] {
            let (id, config) = shard_experiment(shard)?;
            if id != experiment_id || config != config_json {
                return Err(invalid(format!(
                    "{} holds experiment {id}, but {} holds experiment {experiment_id}; merge shards of one experiment at a time",
                    shard.display(),
                    first.display()
                )));
            }
        }
        let existing: Option<String> = self
            .conn
            .query_row(
                "SELECT config_json FROM experiment WHERE id = ?1",
                [&experiment_id],
                |row| row.get(0),
            )
            .optional()?;
        if existing
            .as_ref()
            .is_some_and(|config| *config != config_json)
        {
            return Err(invalid(format!(
                "{} already holds experiment {experiment_id} with a different config",
                self.path.display()
            )));
        }
        let our_version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))?;

        let mut added: Vec<(String, u64)> = TABLES
            .iter()
            .map(|(table, _)| ((*table).to_owned(), 0))
            .collect();
        for shard in shards {
            self.conn
                .execute("ATTACH DATABASE ?1 AS shard", [shard.to_string_lossy()])?;
            let result = self.merge_attached(shard, &experiment_id, our_version, &mut added);
            let detached = self.conn.execute("DETACH DATABASE shard", []);
            result?;
            detached?;
        }
        let (runs, runs_finished): (i64, i64) = self.conn.query_row(
            "SELECT count(*), count(*) FILTER (WHERE stop_reason IN ('length', 'duplicate')) FROM run WHERE experiment_id = ?1",
            [&experiment_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(MergeSummary {
            experiment_id,
            shards: shards.len(),
            added,
            runs: runs as u64,
            runs_finished: runs_finished as u64,
        })
    }

    fn merge_attached(
        &mut self,
        shard: &Path,
        experiment_id: &str,
        our_version: i64,
        added: &mut [(String, u64)],
    ) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA shard.user_version", [], |row| row.get(0))?;
        if version != our_version {
            return Err(invalid(format!(
                "{} has schema version {version}, this database {our_version}; open it once with this panic-tda version to upgrade it",
                shard.display()
            )));
        }
        self.write(|tx| {
            // The merged experiment holds the whole plan: not a shard any more.
            tx.execute(
                "INSERT OR IGNORE INTO main.experiment (id, config_json, created_at, started_at, completed_at, status)
                 SELECT id, config_json, created_at, started_at, completed_at, 'pending' FROM shard.experiment WHERE id = ?1",
                [experiment_id],
            )?;
            tx.execute(
                "UPDATE main.experiment SET shard_index = NULL, shard_count = NULL,
                    started_at = min(coalesce(started_at, ?2), coalesce((SELECT started_at FROM shard.experiment WHERE id = ?1), ?2))
                 WHERE id = ?1",
                params![experiment_id, i64::MAX],
            )?;
            for ((table, key), count) in TABLES.iter().zip(added.iter_mut()) {
                let conflict: Option<String> = tx
                    .query_row(
                        &format!(
                            "SELECT {key} FROM (SELECT * FROM shard.{table} WHERE ({key}) IN (SELECT {key} FROM main.{table})
                             EXCEPT SELECT * FROM main.{table}) LIMIT 1"
                        ),
                        [],
                        |row| row.get::<_, rusqlite::types::Value>(0).map(|value| format!("{value:?}")),
                    )
                    .optional()?;
                if let Some(key_value) = conflict {
                    return Err(invalid(format!(
                        "{} conflicts with this database: {table} row {key_value} differs; nothing of this shard was merged",
                        shard.display()
                    )));
                }
                let inserted = tx.execute(&format!("INSERT OR IGNORE INTO main.{table} SELECT * FROM shard.{table}"), [])?;
                count.1 += inserted as u64;
            }
            let unfinished: i64 = tx.query_row(
                "SELECT count(*) FROM main.run WHERE experiment_id = ?1
                   AND (stop_reason IS NULL OR stop_reason IN ('failed', 'cancelled'))",
                [experiment_id],
                |row| row.get(0),
            )?;
            let status = if unfinished == 0 { "completed" } else { "pending" };
            tx.execute("UPDATE main.experiment SET status = ?2 WHERE id = ?1", params![experiment_id, status])?;
            Ok(())
        })
    }
}
