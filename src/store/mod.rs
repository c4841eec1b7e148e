//! SQLite storage: schema and migrations, typed records, and every query the engine, GUI and
//! exports use. One `Store` is one connection; writes go through short IMMEDIATE transactions so
//! a crash at any point leaves either the whole batch or none of it.

mod analysis;
mod clustering;
mod codec;
mod diagrams;
pub mod doctor;
mod embeddings;
mod experiments;
pub mod export;
pub mod import;
mod merge;
#[cfg(test)]
mod plans;
mod projections;
mod runs;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use thiserror::Error;

pub use analysis::{EmbeddedStep, InvocationTiming, LabelledStep};
pub use clustering::{
    ClusterAssignment, ClusterRecord, ClusteringRecord, ClusteringSummary, OUTLIER, RunLabels,
};
pub use codec::{decode_image, decode_vector, encode_image, encode_vector, output_hash};
pub use diagrams::{
    DiagramCandidate, DiagramRecord, PAIR_BYTES, PersistencePair, decode_pairs, encode_pairs,
};
pub use embeddings::{EmbeddedOutput, ExperimentFilter, ScopedEmbedding};
pub use experiments::{DeleteSummary, ExperimentRecord, ExperimentStatus, ExperimentSummary};
pub use merge::MergeSummary;
pub use projections::{MapPointRow, ProjectedStep, ProjectionPoint, ProjectionRecord};
pub use runs::{
    EmbeddingRecord, InvocationRecord, PendingEmbedding, RunProgress, RunRecord, RunTail,
    StepWrite, StopReason,
};

/// Microseconds since the Unix epoch, UTC. Stored as INTEGER so durations are exact subtractions.
pub type Timestamp = i64;

pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_micros() as i64)
        .unwrap_or(0)
}

/// Formats a timestamp for people (UTC, second precision).
pub fn format_timestamp(timestamp: Timestamp) -> String {
    let seconds = timestamp.div_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), valid for all i64 days we can store.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60
    )
}

/// A new random, time-ordered id (UUID v7 as 32 lowercase hex digits, like the old tool).
/// The first `chars` characters of an id, for display. Imported ids are kept as the source wrote
/// them and need not be ASCII, so this cuts at a character boundary, never inside one.
pub fn short_id(id: &str, chars: usize) -> &str {
    match id.char_indices().nth(chars) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A deterministic id derived from its parent and a key, so the same plan gives the same ids on
/// every machine (shards merge exactly, resume never duplicates).
pub fn derived_id(parent: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(parent.as_bytes())
        .chain_update([0u8])
        .chain_update(key.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .simple()
        .to_string()
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database {path} is locked by another process (another panic-tda, or a tool holding a write lock); close it and try again"
    )]
    Locked { path: PathBuf },
    #[error(
        "database {path} could not be upgraded to this version's schema: {detail}. Your data is unchanged; use the panic-tda version that created it, or report this"
    )]
    Migration { path: PathBuf, detail: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("no {what} with id '{id}'")]
    NotFound { what: &'static str, id: String },
    #[error("'{prefix}' matches several {what}s: {}; give more characters", .matches.join(", "))]
    Ambiguous {
        what: &'static str,
        prefix: String,
        matches: Vec<String>,
    },
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    #[error("stored JSON in {what} is invalid: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl StoreError {
    fn from_sqlite(path: &Path, error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Locked {
                    path: path.to_path_buf(),
                }
            }
            _ => StoreError::Sqlite(error),
        }
    }
}

impl StoreError {
    /// `NotFound` for the `what` with `id`.
    pub(crate) fn not_found(what: &'static str, id: &str) -> Self {
        StoreError::NotFound {
            what,
            id: id.to_owned(),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Every row of a cached query on `conn`, read by `map` (also for connections that are not a
/// `Store`'s, such as an import source).
pub(crate) fn collect_rows<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    statement.query_map(params, map)?.collect()
}

/// How a clustering or projection is tied to the experiments it covers: rows of (`key`,
/// `experiment_id`) in a link table.
struct ExperimentLink {
    table: &'static str,
    key: &'static str,
}

impl ExperimentLink {
    /// Links `id` to each of `experiment_ids` (a repeated one once).
    fn insert(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &str,
        experiment_ids: &[String],
    ) -> rusqlite::Result<()> {
        let mut statement = tx.prepare_cached(&format!(
            "INSERT OR IGNORE INTO {} ({}, experiment_id) VALUES (?1, ?2)",
            self.table, self.key
        ))?;
        for experiment_id in experiment_ids {
            statement.execute([id, experiment_id])?;
        }
        Ok(())
    }

    /// The experiments `id` covers, sorted.
    fn experiments(&self, store: &Store, id: &str) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT experiment_id FROM {} WHERE {} = ?1 ORDER BY experiment_id",
            self.table, self.key
        );
        store.strings(&sql, [id])
    }
}

/// How long a statement waits for another connection's lock before failing with `Locked`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            let _ = std::fs::create_dir_all(parent);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::configure(conn, path.to_path_buf())
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory()?;
        Self::configure(conn, PathBuf::from(":memory:"))
    }

    fn configure(mut conn: Connection, path: PathBuf) -> Result<Self> {
        // The first statements are where a non-database file shows up: name the file.
        let sqlite = |error: rusqlite::Error| match StoreError::from_sqlite(&path, error) {
            StoreError::Sqlite(source) => StoreError::Open {
                path: path.clone(),
                source,
            },
            other => other,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // WAL: readers (the GUI) never block the writer (the engine) and a crash mid-write
        // leaves the last committed state. NORMAL sync is durable at checkpoints and
        // consistent always, which is the guarantee we need.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite)?;
        conn.pragma_update(None, "cache_size", -64_000)
            .map_err(sqlite)?;
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|error| match error {
                rusqlite_migration::Error::RusqliteError { err, .. }
                    if matches!(
                        err.sqlite_error_code(),
                        Some(
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                        )
                    ) =>
                {
                    StoreError::Locked { path: path.clone() }
                }
                other => StoreError::Migration {
                    path: path.clone(),
                    detail: other.to_string(),
                },
            })?;
        Ok(Self { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection, for the store's own submodules.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Raw SQL access for tests that must damage or inspect a database in ways the typed API
    /// forbids (corrupt blobs, deleted rows). Not API: everything else goes through `Store`.
    #[doc(hidden)]
    pub fn raw_connection_for_tests(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one IMMEDIATE transaction: all of its writes land, or none do. Crate-only:
    /// other modules write through the typed methods.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| StoreError::from_sqlite(&path, error))?;
        let value = f(&tx)?;
        tx.commit()
            .map_err(|error| StoreError::from_sqlite(&path, error))?;
        Ok(value)
    }

    /// Every row of a cached query, read by `map`.
    fn rows<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        Ok(collect_rows(&self.conn, sql, params, map)?)
    }

    /// The first column of every row of a cached query, as strings (id and name lists).
    fn strings<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<Vec<String>> {
        self.rows(sql, params, |row| row.get(0))
    }

    /// The one row a query on `id` (as ?1) gives, read by `map`; `NotFound` (as `what`) when
    /// there is none.
    fn row_by_id<T>(
        &self,
        sql: &str,
        what: &'static str,
        id: &str,
        map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.conn
            .prepare_cached(sql)?
            .query_row([id], map)
            .optional()?
            .ok_or_else(|| StoreError::not_found(what, id))
    }

    /// Deletes the row of `table` with `id`; `NotFound` (as `what`) when there is none.
    fn delete_by_id(&mut self, table: &str, what: &'static str, id: &str) -> Result<()> {
        self.write(|tx| {
            if tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])? == 0 {
                return Err(StoreError::not_found(what, id));
            }
            Ok(())
        })
    }

    /// Resolves a full id or a unique prefix of one in `table` (`experiment`, `run`, …).
    fn resolve_prefix(
        &self,
        table: &'static str,
        what: &'static str,
        prefix: &str,
    ) -> Result<String> {
        let prefix = prefix.trim().to_lowercase();
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::NotFound { what, id: prefix });
        }
        let sql = format!("SELECT id FROM {table} WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 6");
        let upper = format!("{prefix}g");
        let matches = self.strings(&sql, [&prefix, &upper])?;
        match matches.len() {
            0 => Err(StoreError::NotFound { what, id: prefix }),
            1 => Ok(matches.into_iter().next().unwrap_or_default()),
            _ => Err(StoreError::Ambiguous {
                what,
                prefix,
                matches,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_twice_migrates_once_and_sets_pragmas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.sqlite");
        drop(Store::open(&path).expect("first open"));
        let store = Store::open(&path).expect("second open");
        let fk: i64 = store
            .connection()
            .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
            .expect("pragma");
        assert_eq!(fk, 1);
        let mode: String = store
            .connection()
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("pragma");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(derived_id("a", "b"), derived_id("a", "b"));
        assert_ne!(derived_id("a", "b"), derived_id("a", "c"));
        assert_eq!(derived_id("a", "b").len(), 32);
        assert_eq!(new_id().len(), 32);
    }

    #[test]
    fn timestamps_format_as_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(
            format_timestamp(1_764_288_000_000_000),
            "2025-11-28 00:00:00"
        );
    }

    #[test]
    fn a_garbage_file_is_a_clear_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("garbage.sqlite");
        std::fs::write(&path, vec![7u8; 4096]).expect("write");
        let err = Store::open(&path).err().expect("must fail");
        assert!(err.to_string().contains("garbage.sqlite"), "{err}");
    }
}

#[cfg(test)]
mod short_id_tests {
    use super::short_id;

    #[test]
    fn short_ids_cut_at_character_boundaries() {
        assert_eq!(short_id("0123456789abcdef", 12), "0123456789ab");
        assert_eq!(short_id("abc", 12), "abc");
        assert_eq!(short_id("éééééééééééééé", 12), "éééééééééééé");
        assert_eq!(short_id("実験実験実験実験実験実験実験", 3), "実験実");
        assert_eq!(short_id("", 8), "");
    }
}
