//! Runs, invocations and embeddings: the engine's reads and writes.

use rusqlite::{OptionalExtension, params};

use super::codec::{decode_image, decode_vector, encode_image, encode_vector, output_hash};
use super::{Result, Store, StoreError, Timestamp};
use crate::models::{Modality, Output};

/// Why a run stopped. A run without one is unfinished (resume continues it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "lowercase")]
pub enum StopReason {
    /// Reached `max_length` invocations.
    Length,
    /// A seeded run produced an output equal to one `loop_length` steps earlier.
    Duplicate { loop_length: u32 },
    /// A model failed on this run; resume retries it.
    Failed { message: String },
    /// The user cancelled before the run finished; resume continues it.
    Cancelled,
}

impl StopReason {
    /// Whether resume should continue this run.
    pub fn is_resumable(&self) -> bool {
        matches!(self, StopReason::Failed { .. } | StopReason::Cancelled)
    }

    fn columns(&self) -> (&'static str, Option<u32>, Option<&str>) {
        match self {
            StopReason::Length => ("length", None, None),
            StopReason::Duplicate { loop_length } => ("duplicate", Some(*loop_length), None),
            StopReason::Failed { message } => ("failed", None, Some(message)),
            StopReason::Cancelled => ("cancelled", None, None),
        }
    }

    /// The stop columns of a run that may be open (`None`: all NULL).
    fn optional_columns(stop: Option<&Self>) -> (Option<&'static str>, Option<u32>, Option<&str>) {
        match stop {
            Some(stop) => {
                let (reason, loop_length, failure) = stop.columns();
                (Some(reason), loop_length, failure)
            }
            None => (None, None, None),
        }
    }

    fn from_columns(
        reason: Option<String>,
        loop_length: Option<u32>,
        failure: Option<String>,
    ) -> Result<Option<Self>> {
        Ok(match reason.as_deref() {
            None => None,
            Some("length") => Some(StopReason::Length),
            Some("duplicate") => Some(StopReason::Duplicate {
                loop_length: loop_length.unwrap_or(0),
            }),
            Some("failed") => Some(StopReason::Failed {
                message: failure.unwrap_or_default(),
            }),
            Some("cancelled") => Some(StopReason::Cancelled),
            Some(other) => {
                return Err(StoreError::Corrupt {
                    what: "run stop reason".into(),
                    detail: other.into(),
                });
            }
        })
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Length => f.write_str("length"),
            StopReason::Duplicate { loop_length } => write!(f, "duplicate (loop of {loop_length})"),
            StopReason::Failed { message } => write!(f, "failed: {message}"),
            StopReason::Cancelled => f.write_str("cancelled"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    pub id: String,
    pub experiment_id: String,
    /// Position of the network in the config.
    pub network_index: u32,
    pub network: Vec<String>,
    /// Position of the prompt in the config (prompt order is kept everywhere).
    pub prompt_index: u32,
    pub initial_prompt: String,
    /// Position in the seed list, or the run number for `num_runs`.
    pub seed_index: u32,
    /// The seed given to every invocation; -1 = unseeded.
    pub seed: i64,
    pub max_length: u32,
    pub stop: Option<StopReason>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvocationRecord {
    pub id: String,
    pub run_id: String,
    pub sequence_number: u32,
    pub model: String,
    pub input_invocation_id: Option<String>,
    pub seed: i64,
    pub output: Output,
    /// How many invocations shared the model call; `started_at`/`completed_at` are that call's.
    pub batch_size: u32,
    pub started_at: Timestamp,
    pub completed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRecord {
    pub id: String,
    pub invocation_id: String,
    pub embedding_model: String,
    pub vector: Vec<f32>,
    pub started_at: Timestamp,
    pub completed_at: Timestamp,
}

/// One lock-step batch: the invocations it produced and the runs it stopped, written together.
#[derive(Debug, Default)]
pub struct StepWrite {
    pub invocations: Vec<InvocationRecord>,
    pub stops: Vec<(String, StopReason)>,
}

/// Where a run stands, for resuming it.
#[derive(Debug, Clone)]
pub struct RunTail {
    pub run_id: String,
    /// The sequence number the next invocation gets (= number of stored invocations when the
    /// run has no gaps).
    pub next_sequence: u32,
    pub last_invocation_id: Option<String>,
    pub last_output: Option<Output>,
    /// Output hashes of every stored invocation, for loop detection.
    pub output_hashes: Vec<[u8; 32]>,
}

/// How far one run has got, for status reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunProgress {
    pub max_length: u32,
    /// The stored stop reason (`length`, `duplicate`, `failed`, `cancelled`), `None` while open.
    pub stop_reason: Option<String>,
    pub failure: Option<String>,
    pub network_json: String,
    pub invocations: u32,
}

/// An output waiting to be embedded by one model.
#[derive(Debug, Clone)]
pub struct PendingEmbedding {
    pub invocation_id: String,
    pub output: Output,
}

pub(super) const TAIL_HASHES: &str = "SELECT sequence_number, output_hash FROM invocation WHERE run_id = ?1 ORDER BY sequence_number";
pub(super) const TAIL_LAST: &str =
    "SELECT id, output_type, output_text, output_image FROM invocation
     WHERE run_id = ?1 ORDER BY sequence_number DESC LIMIT 1";
pub(super) const INVOCATIONS_OF_RUN: &str =
    "SELECT id, run_id, sequence_number, model, input_invocation_id, seed, output_type,
            output_text, output_image, started_at, completed_at, batch_size
     FROM invocation WHERE run_id = ?1 ORDER BY sequence_number";
pub(super) const INVOCATION_BY_ID: &str =
    "SELECT id, run_id, sequence_number, model, input_invocation_id, seed, output_type,
            output_text, output_image, started_at, completed_at, batch_size
     FROM invocation WHERE id = ?1";
pub(super) const PENDING_EMBEDDINGS: &str = "SELECT i.id, i.output_type, i.output_text, i.output_image
     FROM invocation i JOIN run r ON i.run_id = r.id
     WHERE r.experiment_id = ?1 AND (?2 IS NULL OR r.network_index = ?2)
       AND i.output_type = ?3
       AND NOT EXISTS (SELECT 1 FROM embedding m WHERE m.invocation_id = i.id AND m.embedding_model = ?4)
     ORDER BY r.network_index, r.prompt_index, r.seed_index, i.sequence_number
     LIMIT ?5";
pub(super) const EMBEDDING_VECTOR: &str =
    "SELECT vector FROM embedding WHERE invocation_id = ?1 AND embedding_model = ?2";
pub(super) const RECENT_DURATIONS: &str =
    "SELECT completed_at - started_at, batch_size FROM invocation WHERE model = ?1
     ORDER BY completed_at DESC LIMIT ?2";

const SET_STOP: &str =
    "UPDATE run SET stop_reason = ?2, loop_length = ?3, failure = ?4 WHERE id = ?1";

pub(super) const RUNS_FOR_CELL_WHERE: &str =
    "WHERE experiment_id = ?1 AND prompt_index = ?2 AND network_index = ?3 ORDER BY seed_index";

const RUN_COLUMNS: &str = "id, experiment_id, network_index, network_json, prompt_index, initial_prompt, seed_index, seed, max_length, stop_reason, loop_length, failure";

/// A run row before its JSON and stop columns are parsed: (run, network_json, stop_reason,
/// loop_length, failure).
type RunRow = (
    RunRecord,
    String,
    Option<String>,
    Option<u32>,
    Option<String>,
);

fn run_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok((
        RunRecord {
            id: row.get(0)?,
            experiment_id: row.get(1)?,
            network_index: row.get(2)?,
            network: Vec::new(),
            prompt_index: row.get(4)?,
            initial_prompt: row.get(5)?,
            seed_index: row.get(6)?,
            seed: row.get(7)?,
            max_length: row.get(8)?,
            stop: None,
        },
        row.get(3)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
    ))
}

fn finish_run((mut run, network_json, reason, loop_length, failure): RunRow) -> Result<RunRecord> {
    run.network = serde_json::from_str(&network_json).map_err(|source| StoreError::Json {
        what: "run.network_json",
        source,
    })?;
    run.stop = StopReason::from_columns(reason, loop_length, failure)?;
    Ok(run)
}

fn output_from_columns(
    output_type: &str,
    text: Option<String>,
    image: Option<Vec<u8>>,
    invocation_id: &str,
) -> Result<Output> {
    match (output_type, text, image) {
        ("text", Some(text), _) => Ok(Output::Text(text)),
        ("image", _, Some(bytes)) => Ok(Output::Image(decode_image(&bytes)?)),
        (kind, _, _) => Err(StoreError::Corrupt {
            what: format!("invocation {invocation_id}"),
            detail: format!("output of type '{kind}' is missing"),
        }),
    }
}

/// PNG-encodes the image outputs (text gives `None`), spread over the CPU cores: lossless
/// encoding of a 256×256 image takes ~15 ms, far more than writing the row.
fn encode_outputs(invocations: &[InvocationRecord]) -> Result<Vec<Option<Vec<u8>>>> {
    let encode = |invocation: &InvocationRecord| match &invocation.output {
        Output::Image(image) => encode_image(image).map(Some),
        Output::Text(_) => Ok(None),
    };
    let images = invocations
        .iter()
        .filter(|invocation| matches!(invocation.output, Output::Image(_)))
        .count();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if images < 2 || threads < 2 {
        return invocations.iter().map(encode).collect();
    }
    let chunk = invocations.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = invocations
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(encode).collect::<Result<Vec<_>>>()))
            .collect();
        let mut encoded = Vec::with_capacity(invocations.len());
        for worker in workers {
            match worker.join() {
                Ok(part) => encoded.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(encoded)
    })
}

fn modality_str(modality: Modality) -> &'static str {
    match modality {
        Modality::Text => "text",
        Modality::Image => "image",
    }
}

impl Store {
    /// Inserts runs; runs that already exist (same id) are left as they are, so creating the
    /// runs of an interrupted experiment again fills in only the missing ones.
    pub fn insert_runs(&mut self, runs: &[RunRecord]) -> Result<usize> {
        self.write(|tx| {
            let mut statement = tx.prepare_cached(&format!(
                "INSERT OR IGNORE INTO run ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?;
            let mut inserted = 0;
            for run in runs {
                let network_json = serde_json::to_string(&run.network).map_err(|source| StoreError::Json {
                    what: "run.network_json",
                    source,
                })?;
                let (reason, loop_length, failure) = StopReason::optional_columns(run.stop.as_ref());
                inserted += statement.execute(params![
                    run.id,
                    run.experiment_id,
                    run.network_index,
                    network_json,
                    run.prompt_index,
                    run.initial_prompt,
                    run.seed_index,
                    run.seed,
                    run.max_length,
                    reason,
                    loop_length,
                    failure
                ])?;
            }
            Ok(inserted)
        })
    }

    /// The runs of an experiment in config order: network, prompt, seed.
    pub fn runs(&self, experiment_id: &str) -> Result<Vec<RunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM run WHERE experiment_id = ?1
             ORDER BY network_index, prompt_index, seed_index"
        );
        let rows = self.rows(&sql, [experiment_id], run_from_row)?;
        rows.into_iter().map(finish_run).collect()
    }

    /// The runs of one (prompt, network) cell of an experiment, in seed order.
    pub fn runs_for_cell(
        &self,
        experiment_id: &str,
        prompt_index: u32,
        network_index: u32,
    ) -> Result<Vec<RunRecord>> {
        let rows = self.rows(
            &format!("SELECT {RUN_COLUMNS} FROM run {RUNS_FOR_CELL_WHERE}"),
            params![experiment_id, prompt_index, network_index],
            run_from_row,
        )?;
        rows.into_iter().map(finish_run).collect()
    }

    pub fn run(&self, run_id: &str) -> Result<RunRecord> {
        finish_run(self.row_by_id(
            &format!("SELECT {RUN_COLUMNS} FROM run WHERE id = ?1"),
            "run",
            run_id,
            run_from_row,
        )?)
    }

    /// Sets (or clears, with `None`) the stop reasons of runs in one transaction.
    pub fn set_run_stops(&mut self, stops: &[(String, Option<StopReason>)]) -> Result<()> {
        self.write(|tx| {
            let mut statement = tx.prepare_cached(SET_STOP)?;
            for (run_id, stop) in stops {
                let (reason, loop_length, failure) = StopReason::optional_columns(stop.as_ref());
                statement.execute(params![run_id, reason, loop_length, failure])?;
            }
            Ok(())
        })
    }

    /// Writes one lock-step batch atomically.
    pub fn commit_step(&mut self, step: &StepWrite) -> Result<()> {
        // Encode images before taking the write lock: it is the slow part.
        let encoded = encode_outputs(&step.invocations)?;
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO invocation (id, run_id, sequence_number, model, output_type, input_invocation_id,
                    seed, output_text, output_image, output_hash, batch_size, started_at, completed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for (invocation, image) in step.invocations.iter().zip(&encoded) {
                let text = match &invocation.output {
                    Output::Text(text) => Some(text.as_str()),
                    Output::Image(_) => None,
                };
                insert.execute(params![
                    invocation.id,
                    invocation.run_id,
                    invocation.sequence_number,
                    invocation.model,
                    modality_str(invocation.output.modality()),
                    invocation.input_invocation_id,
                    invocation.seed,
                    text,
                    image,
                    output_hash(&invocation.output).as_slice(),
                    invocation.batch_size,
                    invocation.started_at,
                    invocation.completed_at
                ])?;
            }
            let mut stop = tx.prepare_cached(SET_STOP)?;
            for (run_id, reason) in &step.stops {
                let (reason, loop_length, failure) = reason.columns();
                stop.execute(params![run_id, reason, loop_length, failure])?;
            }
            Ok(())
        })
    }

    /// Where each run of an experiment stands (for resume), in config order.
    /// Every run of an experiment with its invocation count.
    pub fn run_progress(&self, experiment_id: &str) -> Result<Vec<RunProgress>> {
        self.rows(
            "SELECT r.max_length, r.stop_reason, r.failure, r.network_json,
                (SELECT count(*) FROM invocation i WHERE i.run_id = r.id)
             FROM run r WHERE r.experiment_id = ?1",
            [experiment_id],
            |row| {
                Ok(RunProgress {
                    max_length: row.get(0)?,
                    stop_reason: row.get(1)?,
                    failure: row.get(2)?,
                    network_json: row.get(3)?,
                    invocations: row.get(4)?,
                })
            },
        )
    }

    pub fn run_tails(&self, experiment_id: &str) -> Result<Vec<RunTail>> {
        let mut tails = Vec::new();
        let mut hashes = self.conn.prepare_cached(TAIL_HASHES)?;
        let mut last = self.conn.prepare_cached(TAIL_LAST)?;
        for run in self.runs(experiment_id)? {
            let rows = hashes
                .query_map([&run.id], |row| {
                    Ok((row.get::<_, u32>(0)?, row.get::<_, Vec<u8>>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let next_sequence = rows.last().map_or(0, |(sequence, _)| sequence + 1);
            let output_hashes = rows
                .into_iter()
                .map(|(_, hash)| {
                    <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| StoreError::Corrupt {
                        what: format!("output hash in run {}", run.id),
                        detail: format!("{} bytes", hash.len()),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let last_row = last
                .query_row([&run.id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, Option<Vec<u8>>>(3)?,
                    ))
                })
                .optional()?;
            let (last_invocation_id, last_output) = match last_row {
                Some((id, kind, text, image)) => {
                    let output = output_from_columns(&kind, text, image, &id)?;
                    (Some(id), Some(output))
                }
                None => (None, None),
            };
            tails.push(RunTail {
                run_id: run.id,
                next_sequence,
                last_invocation_id,
                last_output,
                output_hashes,
            });
        }
        Ok(tails)
    }

    /// Every invocation of a run in sequence order, with outputs.
    pub fn invocations(&self, run_id: &str) -> Result<Vec<InvocationRecord>> {
        let rows = self.rows(INVOCATIONS_OF_RUN, [run_id], invocation_columns)?;
        rows.into_iter().map(invocation_record).collect()
    }

    /// A run's image steps, in order, with the caption generated from each (the next step's
    /// text, when it exists); images are not read.
    pub fn image_steps(&self, run_id: &str) -> Result<Vec<(u32, Option<String>)>> {
        let rows = self.rows(
            "SELECT sequence_number, output_type, output_text FROM invocation
             WHERE run_id = ?1 ORDER BY sequence_number",
            [run_id],
            |row| {
                Ok((
                    row.get::<_, u32>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            },
        )?;
        let mut steps: Vec<(u32, Option<String>)> = Vec::new();
        for (sequence, kind, text) in rows {
            if kind == "image" {
                steps.push((sequence, None));
            } else if let Some(last) = steps.last_mut()
                && last.0 + 1 == sequence
            {
                last.1 = text;
            }
        }
        Ok(steps)
    }

    /// The encoded image of one image step.
    pub fn image_blob(&self, run_id: &str, sequence: u32) -> Result<Vec<u8>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT output_image FROM invocation WHERE run_id = ?1 AND sequence_number = ?2",
        )?;
        statement
            .query_row(params![run_id, sequence], |row| {
                row.get::<_, Option<Vec<u8>>>(0)
            })
            .optional()?
            .flatten()
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("run {run_id}"),
                detail: format!("image of step {sequence} is missing"),
            })
    }

    /// One invocation by id, with its output (the explorer's inspector and hover thumbnails).
    pub fn invocation(&self, id: &str) -> Result<InvocationRecord> {
        invocation_record(self.row_by_id(INVOCATION_BY_ID, "invocation", id, invocation_columns)?)
    }

    /// Outputs of `modality` in an experiment (optionally one network) that have no embedding
    /// from `model` yet, oldest first, at most `limit`.
    pub fn pending_embeddings(
        &self,
        experiment_id: &str,
        network_index: Option<u32>,
        model: &str,
        modality: Modality,
        limit: usize,
    ) -> Result<Vec<PendingEmbedding>> {
        let rows = self.rows(
            PENDING_EMBEDDINGS,
            params![
                experiment_id,
                network_index,
                modality_str(modality),
                model,
                limit as i64
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<Vec<u8>>>(3)?,
                ))
            },
        )?;
        rows.into_iter()
            .map(|(id, kind, text, image)| {
                let output = output_from_columns(&kind, text, image, &id)?;
                Ok(PendingEmbedding {
                    invocation_id: id,
                    output,
                })
            })
            .collect()
    }

    /// How many outputs of `modality` in the experiment (optionally one network) exist, and how
    /// many of them have an embedding from `model`.
    pub fn embedding_progress(
        &self,
        experiment_id: &str,
        model: &str,
        modality: Modality,
    ) -> Result<(u64, u64)> {
        let (total, done): (i64, i64) = self.conn.query_row(
            "SELECT count(*), count(m.id) FROM invocation i JOIN run r ON i.run_id = r.id
             LEFT JOIN embedding m ON m.invocation_id = i.id AND m.embedding_model = ?3
             WHERE r.experiment_id = ?1 AND i.output_type = ?2",
            params![experiment_id, modality_str(modality), model],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok((total as u64, done as u64))
    }

    pub fn insert_embeddings(&mut self, embeddings: &[EmbeddingRecord]) -> Result<()> {
        self.write(|tx| {
            let mut statement = tx.prepare_cached(
                "INSERT INTO embedding (id, invocation_id, embedding_model, dimension, vector, started_at, completed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for embedding in embeddings {
                statement.execute(params![
                    embedding.id,
                    embedding.invocation_id,
                    embedding.embedding_model,
                    embedding.vector.len() as i64,
                    encode_vector(&embedding.vector),
                    embedding.started_at,
                    embedding.completed_at
                ])?;
            }
            Ok(())
        })
    }

    /// The stored vector of one invocation's embedding by `model`.
    pub fn embedding_vector(&self, invocation_id: &str, model: &str) -> Result<Option<Vec<f32>>> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row(EMBEDDING_VECTOR, [invocation_id, model], |row| row.get(0))
            .optional()?;
        bytes.map(|bytes| decode_vector(&bytes)).transpose()
    }

    /// Runs whose initial prompt has no embedding from `model` yet: (run id, prompt).
    pub fn runs_missing_prompt_embedding(
        &self,
        experiment_id: &str,
        model: &str,
    ) -> Result<Vec<(String, String)>> {
        self.rows(
            "SELECT r.id, r.initial_prompt FROM run r
             WHERE r.experiment_id = ?1
               AND NOT EXISTS (SELECT 1 FROM prompt_embedding p WHERE p.run_id = r.id AND p.embedding_model = ?2)
             ORDER BY r.network_index, r.prompt_index, r.seed_index",
            [experiment_id, model],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
    }

    pub fn insert_prompt_embeddings(&mut self, rows: &[(String, String, Vec<f32>)]) -> Result<()> {
        self.write(|tx| {
            let mut statement = tx.prepare_cached(
                "INSERT OR REPLACE INTO prompt_embedding (run_id, embedding_model, dimension, vector) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (run_id, model, vector) in rows {
                statement.execute(params![run_id, model, vector.len() as i64, encode_vector(vector)])?;
            }
            Ok(())
        })
    }

    pub fn prompt_embedding(&self, run_id: &str, model: &str) -> Result<Option<Vec<f32>>> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT vector FROM prompt_embedding WHERE run_id = ?1 AND embedding_model = ?2",
                [run_id, model],
                |row| row.get(0),
            )
            .optional()?;
        bytes.map(|bytes| decode_vector(&bytes)).transpose()
    }

    /// Seconds per item of the most recent `limit` invocations of `model` (the model call's
    /// duration divided by its batch size), newest first.
    pub fn recent_durations(&self, model: &str, limit: usize) -> Result<Vec<f64>> {
        self.rows(RECENT_DURATIONS, params![model, limit as i64], |row| {
            let (micros, batch) = (row.get::<_, i64>(0)?, row.get::<_, i64>(1)?);
            Ok(micros as f64 / 1e6 / batch.max(1) as f64)
        })
    }
}

/// An invocation row as read, before its output is decoded (decoding can fail with a typed
/// error, which a row-mapping closure cannot return).
struct InvocationColumns {
    id: String,
    run_id: String,
    sequence_number: u32,
    model: String,
    input: Option<String>,
    seed: i64,
    kind: String,
    text: Option<String>,
    image: Option<Vec<u8>>,
    started_at: Timestamp,
    completed_at: Timestamp,
    batch_size: u32,
}

/// Reads the columns of `INVOCATIONS_OF_RUN` / `INVOCATION_BY_ID`, in their order.
fn invocation_columns(row: &rusqlite::Row<'_>) -> rusqlite::Result<InvocationColumns> {
    Ok(InvocationColumns {
        id: row.get(0)?,
        run_id: row.get(1)?,
        sequence_number: row.get(2)?,
        model: row.get(3)?,
        input: row.get(4)?,
        seed: row.get(5)?,
        kind: row.get(6)?,
        text: row.get(7)?,
        image: row.get(8)?,
        started_at: row.get(9)?,
        completed_at: row.get(10)?,
        batch_size: row.get(11)?,
    })
}

fn invocation_record(columns: InvocationColumns) -> Result<InvocationRecord> {
    let output = output_from_columns(&columns.kind, columns.text, columns.image, &columns.id)?;
    Ok(InvocationRecord {
        id: columns.id,
        run_id: columns.run_id,
        sequence_number: columns.sequence_number,
        model: columns.model,
        input_invocation_id: columns.input,
        seed: columns.seed,
        output,
        batch_size: columns.batch_size,
        started_at: columns.started_at,
        completed_at: columns.completed_at,
    })
}
