//! Import a database written by the old Python panic-tda (schema: spec Appendix B).
//!
//! Kept: ids (32-hex UUIDs), model names, texts, image bytes (already lossless WebP), vectors.
//! Converted: experiment configs → `config_json` (the old file format's keys), run positions
//! (network/prompt/seed index) from the config lists, `'TEXT'`/`'IMAGE'` → `text`/`image`.
//! Derived: output hashes (exact pixels, not the old JPEG re-encode), input links (step
//! seq−1), stop reasons (`length` when complete; `duplicate` with its loop length when a
//! seeded run repeated an output; otherwise unfinished, so resume continues it).
//!
//! Timestamps: the old tool wrote naive local time; we read them as UTC (the old machine's
//! zone is unknown, and durations, the only use, are exact either way).
//!
//! Skipped (and counted): runs without an experiment, steps after a gap, a duplicated
//! sequence number, a missing or undecodable output, or past `max_length`; embeddings with a
//! null, malformed or non-finite vector, of a skipped step, or duplicated per model.
//! Persistence diagrams (NumPy archives) and clusterings are not imported: recompute them.
//!
//! Idempotent: every row keeps its id and is inserted only if absent, so importing again
//! adds nothing; an interrupted import is completed by running it again.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use thiserror::Error;

use super::codec::{decode_image, output_hash};
use super::{Store, StoreError, Timestamp, collect_rows};
use crate::models::Output;

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path} is not an old panic-tda database (no table '{table}')")]
    NotOldDatabase { path: PathBuf, table: &'static str },
    #[error("reading the old database: {0}")]
    Read(#[from] rusqlite::Error),
    #[error("experiment {id} has an unreadable {field}: {source}")]
    Config {
        id: String,
        field: &'static str,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import added (rows already present from an earlier import are not counted) and
/// what it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub experiments: u64,
    pub runs: u64,
    pub invocations: u64,
    pub embeddings: u64,
    pub skipped_runs_without_experiment: u64,
    pub skipped_invocations: u64,
    pub skipped_null_vectors: u64,
    pub skipped_bad_vectors: u64,
    pub skipped_other_embeddings: u64,
    pub not_imported_diagrams: u64,
    pub not_imported_clusterings: u64,
    /// Timestamps present in the old database but not readable as a date; the row is kept
    /// with the other of its two times (or 0, the epoch, when both are unreadable).
    pub unreadable_timestamps: u64,
}

/// Progress: runs done out of the total.
#[derive(Debug, Clone, Copy)]
pub struct ImportProgress {
    pub runs_done: u64,
    pub runs_total: u64,
}

struct OldConfig {
    id: String,
    networks: Vec<Vec<String>>,
    seeds: Vec<i64>,
    prompts: Vec<String>,
}

struct OldRun {
    id: String,
    network: Vec<String>,
    seed: i64,
    max_length: u32,
    initial_prompt: String,
}

pub fn import_old_database(
    store: &mut Store,
    old_path: &Path,
    progress: &mut dyn FnMut(ImportProgress),
) -> Result<ImportSummary, ImportError> {
    let old = Connection::open_with_flags(old_path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
        |source| ImportError::Open {
            path: old_path.to_path_buf(),
            source,
        },
    )?;
    for table in ["experimentconfig", "run", "invocation", "embedding"] {
        let exists: Option<i64> = old
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .optional()
            .map_err(|source| ImportError::Open {
                path: old_path.to_path_buf(),
                source,
            })?;
        if exists.is_none() {
            return Err(ImportError::NotOldDatabase {
                path: old_path.to_path_buf(),
                table,
            });
        }
    }
    let mut summary = ImportSummary {
        skipped_runs_without_experiment: count(
            &old,
            "SELECT count(*) FROM run WHERE experiment_id IS NULL
                OR experiment_id NOT IN (SELECT id FROM experimentconfig)",
        )?,
        not_imported_diagrams: count_if_table(&old, "persistencediagram")?,
        not_imported_clusterings: count_if_table(&old, "clusteringresult")?,
        ..ImportSummary::default()
    };
    let runs_total = count(
        &old,
        "SELECT count(*) FROM run WHERE experiment_id IN (SELECT id FROM experimentconfig)",
    )?;
    let mut runs_done = 0;
    progress(ImportProgress {
        runs_done,
        runs_total,
    });

    let configs = collect_rows(
        &old,
        "SELECT id, networks, seeds, prompts, embedding_models, max_length, started_at, completed_at
         FROM experimentconfig ORDER BY id",
        [],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, Option<String>>(7)?,
            ))
        },
    )?;

    for (id, networks, seeds, prompts, embedding_models, max_length, started, completed) in configs
    {
        let parse = |field: &'static str, text: &str| -> Result<serde_json::Value, ImportError> {
            serde_json::from_str(text).map_err(|source| ImportError::Config {
                id: id.clone(),
                field,
                source,
            })
        };
        let config = serde_json::json!({
            "networks": parse("networks", &networks)?,
            "seeds": parse("seeds", &seeds)?,
            "prompts": parse("prompts", &prompts)?,
            "embedding_models": parse("embedding_models", &embedding_models)?,
            "max_length": max_length,
        });
        let old_config = OldConfig {
            id: id.clone(),
            networks: typed(&id, "networks", &config["networks"])?,
            seeds: typed(&id, "seeds", &config["seeds"])?,
            prompts: typed(&id, "prompts", &config["prompts"])?,
        };
        let started_at = read_timestamp(started.as_deref(), &mut summary.unreadable_timestamps);
        let completed_at = read_timestamp(completed.as_deref(), &mut summary.unreadable_timestamps);
        let status = if completed_at.is_some() {
            "completed"
        } else if started_at.is_some() {
            "cancelled"
        } else {
            "pending"
        };
        let created_at = uuid_v7_time(&id).or(started_at).unwrap_or(0);
        summary.experiments += store.write(|tx| {
            Ok(tx.execute(
                "INSERT OR IGNORE INTO experiment (id, config_json, created_at, started_at, completed_at, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, config.to_string(), created_at, started_at, completed_at, status],
            )? as u64)
        })?;

        let runs = collect_rows(
            &old,
            "SELECT id, network, seed, max_length, initial_prompt FROM run
             WHERE experiment_id = ?1 ORDER BY id",
            [&id],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                ))
            },
        )?;
        let mut positions = Positions::new(&old_config);
        for (run_id, network_json, seed, run_max_length, initial_prompt) in runs {
            let network: Vec<String> =
                serde_json::from_str(&network_json).map_err(|source| ImportError::Config {
                    id: run_id.clone(),
                    field: "network",
                    source,
                })?;
            let run = OldRun {
                id: run_id,
                network,
                seed,
                max_length: run_max_length.clamp(1, u32::MAX as i64) as u32,
                initial_prompt,
            };
            let (network_index, prompt_index, seed_index) = positions.of(&run);
            import_run(
                store,
                &old,
                &old_config,
                &run,
                (network_index, prompt_index, seed_index),
                &mut summary,
            )?;
            runs_done += 1;
            progress(ImportProgress {
                runs_done,
                runs_total,
            });
        }
    }
    Ok(summary)
}

/// Assigns each run its config positions. Runs of the same (network, prompt, seed) take the
/// positions of that seed value in the seed list in id (= creation) order; anything not in
/// the config gets positions after the configured ones, so the unique key always holds.
struct Positions<'a> {
    config: &'a OldConfig,
    extra_networks: Vec<Vec<String>>,
    extra_prompts: Vec<String>,
    used: HashMap<(u32, u32), HashSet<u32>>,
}

impl<'a> Positions<'a> {
    fn new(config: &'a OldConfig) -> Self {
        Self {
            config,
            extra_networks: Vec::new(),
            extra_prompts: Vec::new(),
            used: HashMap::new(),
        }
    }

    fn of(&mut self, run: &OldRun) -> (u32, u32, u32) {
        let network = position_or_extra(
            &self.config.networks,
            &mut self.extra_networks,
            &run.network,
        );
        let prompt = position_or_extra(
            &self.config.prompts,
            &mut self.extra_prompts,
            &run.initial_prompt,
        );
        let used = self.used.entry((network, prompt)).or_default();
        let configured = self
            .config
            .seeds
            .iter()
            .enumerate()
            .filter(|(_, seed)| **seed == run.seed)
            .map(|(index, _)| index as u32)
            .find(|index| !used.contains(index));
        let seed = configured.unwrap_or_else(|| {
            (self.config.seeds.len() as u32..)
                .find(|index| !used.contains(index))
                .unwrap_or(u32::MAX)
        });
        used.insert(seed);
        (network, prompt, seed)
    }
}

fn position_or_extra<T: PartialEq + Clone>(configured: &[T], extra: &mut Vec<T>, value: &T) -> u32 {
    if let Some(index) = configured.iter().position(|item| item == value) {
        return index as u32;
    }
    let index = match extra.iter().position(|item| item == value) {
        Some(index) => index,
        None => {
            extra.push(value.clone());
            extra.len() - 1
        }
    };
    (configured.len() + index) as u32
}

struct NewStep {
    id: String,
    sequence: u32,
    model: String,
    output_type: &'static str,
    text: Option<String>,
    image: Option<Vec<u8>>,
    hash: [u8; 32],
    seed: i64,
    started_at: Timestamp,
    completed_at: Timestamp,
}

fn import_run(
    store: &mut Store,
    old: &Connection,
    config: &OldConfig,
    run: &OldRun,
    (network_index, prompt_index, seed_index): (u32, u32, u32),
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    let rows = collect_rows(
        old,
        "SELECT id, sequence_number, model, type, seed, output_text, output_image_data, started_at, completed_at
         FROM invocation WHERE run_id = ?1 ORDER BY sequence_number, id",
        [&run.id],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<Vec<u8>>>(6)?,
                row.get::<_, Option<String>>(7)?,
                row.get::<_, Option<String>>(8)?,
            ))
        },
    )?;
    let total_rows = rows.len() as u64;
    let mut steps: Vec<NewStep> = Vec::new();
    for (id, sequence, model, kind, seed, text, image, started, completed) in rows {
        let next = steps.len() as i64;
        if sequence < next {
            continue; // a duplicated step: keep the first
        }
        if sequence > next || next >= run.max_length as i64 {
            break;
        }
        // A missing or undecodable output ends the importable part of the run.
        let (output_type, text, image, hash) =
            match (kind.to_ascii_lowercase().as_str(), text, image) {
                ("text", Some(text), _) => {
                    let hash = output_hash(&Output::Text(text.clone()));
                    ("text", Some(text), None, hash)
                }
                ("image", _, Some(bytes)) => match decode_image(&bytes) {
                    Ok(pixels) => (
                        "image",
                        None,
                        Some(bytes),
                        output_hash(&Output::Image(pixels)),
                    ),
                    Err(_) => break,
                },
                _ => break,
            };
        let started_at = read_timestamp(started.as_deref(), &mut summary.unreadable_timestamps);
        let completed_at = read_timestamp(completed.as_deref(), &mut summary.unreadable_timestamps);
        steps.push(NewStep {
            id,
            sequence: sequence as u32,
            model,
            output_type,
            text,
            image,
            hash,
            seed,
            started_at: started_at.or(completed_at).unwrap_or(0),
            completed_at: completed_at.or(started_at).unwrap_or(0),
        });
    }
    summary.skipped_invocations += total_rows - steps.len() as u64;

    let stop: (Option<&str>, Option<u32>) = if steps.len() as u32 == run.max_length {
        (Some("length"), None)
    } else if run.seed != -1 {
        let mut first_seen: HashMap<[u8; 32], u32> = HashMap::new();
        steps
            .iter()
            .find_map(|step| match first_seen.get(&step.hash) {
                Some(first) => Some((Some("duplicate"), Some(step.sequence - first))),
                None => {
                    first_seen.insert(step.hash, step.sequence);
                    None
                }
            })
            .unwrap_or((None, None))
    } else {
        (None, None)
    };

    let embeddings = collect_rows(
        old,
        "SELECT e.id, e.invocation_id, e.embedding_model, e.vector, e.started_at, e.completed_at
         FROM embedding e JOIN invocation i ON e.invocation_id = i.id
         WHERE i.run_id = ?1 ORDER BY e.id",
        [&run.id],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<Vec<u8>>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
            ))
        },
    )?;

    let network_json =
        serde_json::to_string(&run.network).map_err(|source| ImportError::Config {
            id: run.id.clone(),
            field: "network",
            source,
        })?;
    let imported: HashSet<&str> = steps.iter().map(|step| step.id.as_str()).collect();
    let counts = store.write(|tx| {
        let mut counts = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        counts.0 = tx.execute(
            "INSERT OR IGNORE INTO run (id, experiment_id, network_index, network_json, prompt_index,
                initial_prompt, seed_index, seed, max_length, stop_reason, loop_length, failure)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL)",
            params![
                run.id,
                config.id,
                network_index,
                network_json,
                prompt_index,
                run.initial_prompt,
                seed_index,
                run.seed,
                run.max_length,
                stop.0,
                stop.1
            ],
        )? as u64;
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO invocation (id, run_id, sequence_number, model, output_type,
                input_invocation_id, seed, output_text, output_image, output_hash, started_at, completed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        let mut previous: Option<&str> = None;
        for step in &steps {
            counts.1 += insert.execute(params![
                step.id,
                run.id,
                step.sequence,
                step.model,
                step.output_type,
                previous,
                step.seed,
                step.text,
                step.image,
                step.hash.as_slice(),
                step.started_at,
                step.completed_at
            ])? as u64;
            previous = Some(&step.id);
        }
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO embedding (id, invocation_id, embedding_model, dimension, vector, started_at, completed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        for (id, invocation_id, model, vector, started, completed) in &embeddings {
            let Some(vector) = vector else {
                counts.3 += 1;
                continue;
            };
            let finite = vector.len().is_multiple_of(4)
                && !vector.is_empty()
                && vector
                    .chunks_exact(4)
                    .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite());
            if !finite {
                counts.4 += 1;
                continue;
            }
            if !imported.contains(invocation_id.as_str())
                || !seen.insert((invocation_id.as_str(), model.as_str()))
            {
                counts.5 += 1;
                continue;
            }
            let started_at = read_timestamp(started.as_deref(), &mut counts.6);
            let completed_at = read_timestamp(completed.as_deref(), &mut counts.6);
            counts.2 += insert.execute(params![
                id,
                invocation_id,
                model,
                (vector.len() / 4) as i64,
                vector,
                started_at.or(completed_at).unwrap_or(0),
                completed_at.or(started_at).unwrap_or(0)
            ])? as u64;
        }
        Ok(counts)
    })?;
    summary.runs += counts.0;
    summary.invocations += counts.1;
    summary.embeddings += counts.2;
    summary.skipped_null_vectors += counts.3;
    summary.skipped_bad_vectors += counts.4;
    summary.skipped_other_embeddings += counts.5;
    summary.unreadable_timestamps += counts.6;
    Ok(())
}

fn typed<T: serde::de::DeserializeOwned>(
    id: &str,
    field: &'static str,
    value: &serde_json::Value,
) -> Result<T, ImportError> {
    serde_json::from_value(value.clone()).map_err(|source| ImportError::Config {
        id: id.to_owned(),
        field,
        source,
    })
}

fn count(conn: &Connection, sql: &str) -> rusqlite::Result<u64> {
    conn.query_row(sql, [], |row| row.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
}

fn count_if_table(conn: &Connection, table: &str) -> rusqlite::Result<u64> {
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |row| row.get(0),
        )
        .optional()?;
    match exists {
        Some(_) => count(conn, &format!("SELECT count(*) FROM {table}")),
        None => Ok(0),
    }
}

/// The creation time in a UUID v7 (its first 48 bits are Unix milliseconds).
fn uuid_v7_time(id: &str) -> Option<Timestamp> {
    let uuid = uuid::Uuid::try_parse(id).ok()?;
    let (seconds, nanos) = uuid.get_timestamp()?.to_unix();
    Some(seconds as i64 * 1_000_000 + i64::from(nanos / 1000))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (or with `T`) read as UTC, in µs since the epoch.
/// Parses an optional old timestamp, counting one that is present but unreadable.
fn read_timestamp(text: Option<&str>, unreadable: &mut u64) -> Option<Timestamp> {
    let text = text?;
    let parsed = parse_timestamp(text);
    if parsed.is_none() {
        *unreadable += 1;
    }
    parsed
}

pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let (date, time) = text.split_once([' ', 'T'])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let time = time.trim_end_matches('Z');
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock_parts = clock.splitn(3, ':');
    let hour: i64 = clock_parts.next()?.parse().ok()?;
    let minute: i64 = clock_parts.next()?.parse().ok()?;
    let second: i64 = clock_parts.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let micros: i64 = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().take(6).collect();
        let value: i64 = digits.parse().ok()?;
        value * 10i64.pow(6 - digits.len() as u32)
    };
    // Days from civil (proleptic Gregorian).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000) + micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::format_timestamp;

    #[test]
    fn old_timestamps_parse_as_utc() {
        let t = parse_timestamp("2025-11-28 05:40:09.673510").expect("parse");
        assert_eq!(format_timestamp(t), "2025-11-28 05:40:09");
        assert_eq!(t % 1_000_000, 673_510);
        assert_eq!(parse_timestamp("1970-01-01T00:00:01"), Some(1_000_000));
        assert_eq!(
            parse_timestamp("2024-02-29 00:00:00.5"),
            parse_timestamp("2024-02-29 00:00:00.500000")
        );
        assert_eq!(parse_timestamp("garbage"), None);
    }

    #[test]
    fn uuid_v7_times_are_read() {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let t = uuid_v7_time(&id).expect("v7");
        assert!((crate::store::now() - t).abs() < 10_000_000);
        assert_eq!(uuid_v7_time("not-a-uuid"), None);
    }

    #[test]
    fn repeated_seeds_take_successive_positions() {
        let config = OldConfig {
            id: "e".into(),
            networks: vec![vec!["A".into(), "B".into()]],
            seeds: vec![-1, -1, 7],
            prompts: vec!["p".into()],
        };
        let mut positions = Positions::new(&config);
        let run = |seed, prompt: &str| OldRun {
            id: String::new(),
            network: vec!["A".into(), "B".into()],
            seed,
            max_length: 4,
            initial_prompt: prompt.into(),
        };
        assert_eq!(positions.of(&run(-1, "p")), (0, 0, 0));
        assert_eq!(positions.of(&run(-1, "p")), (0, 0, 1));
        assert_eq!(positions.of(&run(7, "p")), (0, 0, 2));
        assert_eq!(positions.of(&run(-1, "p")), (0, 0, 3));
        assert_eq!(positions.of(&run(7, "q")), (0, 1, 2));
    }
}
