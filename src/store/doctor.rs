//! `doctor`: finds what is inconsistent in a database and repairs what can be repaired without
//! losing good data.
//!
//! What it checks, per run: sequence numbers contiguous from 0 (duplicates cannot exist: the
//! schema makes (run, sequence) unique), nothing at or past `max_length`, the model at each step
//! is `network[seq % len]`, the output has the type that model produces (catalog kinds) and is
//! present and decodable, its stored hash matches, and `input_invocation_id` points at step
//! seq−1; a `length` stop has exactly `max_length` steps. Per embedding: byte length = 4 ×
//! dimension, one dimension per model (the catalog's when the model is known), no NaN or ±∞.
//! Without an experiment filter it also finds orphans (rows whose parent is gone, possible only
//! when foreign keys were off, e.g. in hand-edited or imported files).
//!
//! A run stopped by `duplicate` (or cut short by `failed`/`cancelled`) may have fewer than
//! `max_length` steps; an unfinished run with steps 0..n is incomplete, which resume handles,
//! so it is reported as information, not as a problem.
//!
//! `fix`: truncates a run at its first broken step (deleting that step, everything after it
//! and their embeddings, and the run's now stale diagrams, and clearing its stop reason) so
//! resume regenerates them; relinks inputs and rehashes outputs (no data lost); clears wrong
//! `length` stops; deletes bad embeddings (resume re-embeds them) and orphans.

use std::collections::{BTreeMap, HashMap};

use rusqlite::params;

use super::codec::{decode_image, decode_vector, output_hash};
use super::{Result, Store};
use crate::models::{ModelKind, Output, lookup};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing is wrong; resume will carry on (incomplete runs).
    Info,
    /// Inconsistent data; `fix` repairs it where it can.
    Problem,
}

/// Why a stored vector is unusable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum VectorProblem {
    /// The blob is not 4 × `dimension` bytes.
    Length {
        bytes: usize,
        dimension: i64,
    },
    /// Differs from the model's dimension (catalog, or the most common one stored).
    Dimension {
        dimension: i64,
        expected: i64,
    },
    NotFinite,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "issue", rename_all = "snake_case")]
pub enum IssueKind {
    /// An unfinished (or failed/cancelled) run whose steps are contiguous: resume continues it.
    IncompleteRun {
        run_id: String,
        invocations: u32,
        max_length: u32,
        stop: Option<String>,
    },
    /// Step `sequence_number` is missing (0 when the run does not start at 0).
    SequenceGap {
        run_id: String,
        sequence_number: u32,
    },
    /// Steps at or past `max_length`.
    TooLong {
        run_id: String,
        sequence_number: u32,
        max_length: u32,
    },
    WrongModel {
        run_id: String,
        invocation_id: String,
        sequence_number: u32,
        expected: String,
        found: String,
    },
    WrongOutputType {
        run_id: String,
        invocation_id: String,
        sequence_number: u32,
        model: String,
        expected: String,
        found: String,
    },
    MissingOutput {
        run_id: String,
        invocation_id: String,
        sequence_number: u32,
    },
    CorruptImage {
        run_id: String,
        invocation_id: String,
        sequence_number: u32,
        detail: String,
    },
    /// The stored output hash does not match the output (loop detection would be wrong).
    WrongHash {
        run_id: String,
        invocation_id: String,
        sequence_number: u32,
    },
    /// `input_invocation_id` is not the previous step (or not null at step 0).
    WrongInput {
        run_id: String,
        invocation_id: String,
        sequence_number: u32,
        expected: Option<String>,
        found: Option<String>,
    },
    /// Stopped for `length` but does not have exactly `max_length` contiguous steps.
    WrongLengthStop {
        run_id: String,
        invocations: u32,
        max_length: u32,
    },
    BadEmbedding {
        embedding_id: String,
        invocation_id: String,
        embedding_model: String,
        #[serde(flatten)]
        problem: VectorProblem,
    },
    BadPromptEmbedding {
        run_id: String,
        embedding_model: String,
        #[serde(flatten)]
        problem: VectorProblem,
    },
    /// Rows of `table` whose `parent` is gone.
    Orphans {
        table: &'static str,
        parent: &'static str,
        count: u64,
        examples: Vec<String>,
    },
}

impl IssueKind {
    pub fn severity(&self) -> Severity {
        match self {
            IssueKind::IncompleteRun { .. } => Severity::Info,
            _ => Severity::Problem,
        }
    }
}

impl std::fmt::Display for IssueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |id: &str| id.chars().take(8).collect::<String>();
        match self {
            IssueKind::IncompleteRun {
                run_id,
                invocations,
                max_length,
                stop,
            } => {
                write!(
                    f,
                    "run {} incomplete ({invocations}/{max_length}",
                    short(run_id)
                )?;
                if let Some(stop) = stop {
                    write!(f, ", {stop}")?;
                }
                f.write_str("); resume will continue it")
            }
            IssueKind::SequenceGap {
                run_id,
                sequence_number,
            } => write!(
                f,
                "run {}: step {sequence_number} is missing",
                short(run_id)
            ),
            IssueKind::TooLong {
                run_id,
                sequence_number,
                max_length,
            } => write!(
                f,
                "run {}: step {sequence_number} is past max_length {max_length}",
                short(run_id)
            ),
            IssueKind::WrongModel {
                run_id,
                sequence_number,
                expected,
                found,
                ..
            } => write!(
                f,
                "run {}: step {sequence_number} was made by {found}, the network says {expected}",
                short(run_id)
            ),
            IssueKind::WrongOutputType {
                run_id,
                sequence_number,
                model,
                expected,
                found,
                ..
            } => write!(
                f,
                "run {}: step {sequence_number} ({model}) has a {found} output, expected {expected}",
                short(run_id)
            ),
            IssueKind::MissingOutput {
                run_id,
                sequence_number,
                ..
            } => write!(
                f,
                "run {}: step {sequence_number} has no output",
                short(run_id)
            ),
            IssueKind::CorruptImage {
                run_id,
                sequence_number,
                detail,
                ..
            } => write!(
                f,
                "run {}: step {sequence_number} image does not decode: {detail}",
                short(run_id)
            ),
            IssueKind::WrongHash {
                run_id,
                sequence_number,
                ..
            } => write!(
                f,
                "run {}: step {sequence_number} output hash does not match its output",
                short(run_id)
            ),
            IssueKind::WrongInput {
                run_id,
                sequence_number,
                ..
            } => write!(
                f,
                "run {}: step {sequence_number} input is not step {}",
                short(run_id),
                sequence_number.saturating_sub(1)
            ),
            IssueKind::WrongLengthStop {
                run_id,
                invocations,
                max_length,
            } => write!(
                f,
                "run {} is marked complete (length) with {invocations}/{max_length} steps",
                short(run_id)
            ),
            IssueKind::BadEmbedding {
                embedding_id,
                embedding_model,
                problem,
                ..
            } => write!(
                f,
                "embedding {} ({embedding_model}): {problem}",
                short(embedding_id)
            ),
            IssueKind::BadPromptEmbedding {
                run_id,
                embedding_model,
                problem,
            } => write!(
                f,
                "prompt embedding of run {} ({embedding_model}): {problem}",
                short(run_id)
            ),
            IssueKind::Orphans {
                table,
                parent,
                count,
                ..
            } => write!(f, "{count} {table} row(s) whose {parent} is missing"),
        }
    }
}

impl std::fmt::Display for VectorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VectorProblem::Length { bytes, dimension } => {
                write!(f, "{bytes} bytes for dimension {dimension}")
            }
            VectorProblem::Dimension {
                dimension,
                expected,
            } => write!(f, "dimension {dimension}, expected {expected}"),
            VectorProblem::NotFinite => f.write_str("contains NaN or infinity"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Issue {
    pub severity: Severity,
    #[serde(flatten)]
    pub kind: IssueKind,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DoctorReport {
    pub experiment: Option<String>,
    pub runs_checked: u64,
    pub invocations_checked: u64,
    pub embeddings_checked: u64,
    pub issues: Vec<Issue>,
}

impl DoctorReport {
    /// Issues that are real problems (not incomplete runs).
    pub fn problems(&self) -> impl Iterator<Item = &Issue> {
        self.issues
            .iter()
            .filter(|issue| issue.severity == Severity::Problem)
    }

    pub fn is_healthy(&self) -> bool {
        self.problems().next().is_none()
    }

    fn push(&mut self, kind: IssueKind) {
        self.issues.push(Issue {
            severity: kind.severity(),
            kind,
        });
    }
}

/// One repair `fix` made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FixAction {
    /// Deleted steps `from_sequence..` (and their embeddings) and the run's diagrams, and
    /// cleared its stop reason, so resume regenerates them.
    TruncatedRun {
        run_id: String,
        from_sequence: u32,
        invocations_deleted: u64,
        diagrams_deleted: u64,
    },
    RelinkedInput {
        invocation_id: String,
    },
    RehashedOutput {
        invocation_id: String,
    },
    ClearedStop {
        run_id: String,
    },
    DeletedEmbedding {
        embedding_id: String,
    },
    DeletedPromptEmbedding {
        run_id: String,
        embedding_model: String,
    },
    DeletedOrphans {
        table: &'static str,
        count: u64,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FixReport {
    pub actions: Vec<FixAction>,
    /// The check after fixing.
    pub after: DoctorReport,
}

/// Checks the whole database, or one experiment (orphans are checked only for the whole).
pub fn check(store: &Store, experiment: Option<&str>) -> Result<DoctorReport> {
    Ok(Checker::new(store, experiment)?.run()?.report)
}

/// Repairs what [`check`] finds, in one transaction, and checks again.
pub fn fix(store: &mut Store, experiment: Option<&str>) -> Result<FixReport> {
    let plan = Checker::new(store, experiment)?.run()?.repairs;
    let actions = store.write(|tx| apply(tx, &plan))?;
    let after = check(store, experiment)?;
    Ok(FixReport { actions, after })
}

/// What `fix` will do, collected while checking.
#[derive(Debug, Default)]
struct Repairs {
    /// run id → first step to delete.
    truncate: BTreeMap<String, u32>,
    relink: Vec<(String, Option<String>)>,
    rehash: Vec<(String, [u8; 32])>,
    clear_stop: Vec<String>,
    embeddings: Vec<String>,
    prompt_embeddings: Vec<(String, String)>,
    orphans: bool,
}

struct Checked {
    report: DoctorReport,
    repairs: Repairs,
}

struct Checker<'a> {
    store: &'a Store,
    experiment: Option<String>,
    report: DoctorReport,
    repairs: Repairs,
}

/// A stored invocation row as doctor reads it.
struct Step {
    id: String,
    sequence: u32,
    model: String,
    output_type: String,
    text: Option<String>,
    image: Option<Vec<u8>>,
    input: Option<String>,
    hash: Vec<u8>,
}

impl<'a> Checker<'a> {
    fn new(store: &'a Store, experiment: Option<&str>) -> Result<Self> {
        let experiment = experiment.map(str::to_owned);
        Ok(Self {
            store,
            report: DoctorReport {
                experiment: experiment.clone(),
                ..DoctorReport::default()
            },
            experiment,
            repairs: Repairs::default(),
        })
    }

    fn run(mut self) -> Result<Checked> {
        self.check_runs()?;
        self.check_embeddings()?;
        self.check_prompt_embeddings()?;
        if self.experiment.is_none() {
            self.check_orphans()?;
        }
        Ok(Checked {
            report: self.report,
            repairs: self.repairs,
        })
    }

    fn check_runs(&mut self) -> Result<()> {
        let conn = self.store.connection();
        let mut runs = conn.prepare(
            "SELECT id, network_json, max_length, stop_reason FROM run
             WHERE ?1 IS NULL OR experiment_id = ?1
             ORDER BY experiment_id, network_index, prompt_index, seed_index",
        )?;
        let runs = runs
            .query_map([&self.experiment], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u32>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut steps = conn.prepare_cached(
            "SELECT id, sequence_number, model, output_type, output_text, output_image,
                    input_invocation_id, output_hash
             FROM invocation WHERE run_id = ?1 ORDER BY sequence_number",
        )?;
        for (run_id, network_json, max_length, stop) in runs {
            self.report.runs_checked += 1;
            // An unreadable network only disables the model check.
            let network: Vec<String> = serde_json::from_str(&network_json).unwrap_or_default();
            let rows = steps
                .query_map([&run_id], |row| {
                    Ok(Step {
                        id: row.get(0)?,
                        sequence: row.get(1)?,
                        model: row.get(2)?,
                        output_type: row.get(3)?,
                        text: row.get(4)?,
                        image: row.get(5)?,
                        input: row.get(6)?,
                        hash: row.get(7)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            self.report.invocations_checked += rows.len() as u64;
            self.check_run(&run_id, &network, max_length, stop, &rows);
        }
        Ok(())
    }

    fn check_run(
        &mut self,
        run_id: &str,
        network: &[String],
        max_length: u32,
        stop: Option<String>,
        rows: &[Step],
    ) {
        let mut first_bad: Option<u32> = None;
        let mut previous: Option<&str> = None;
        for (position, step) in rows.iter().enumerate() {
            let expected_sequence = position as u32;
            if step.sequence != expected_sequence {
                self.report.push(IssueKind::SequenceGap {
                    run_id: run_id.into(),
                    sequence_number: expected_sequence,
                });
                first_bad = Some(expected_sequence);
                break;
            }
            if step.sequence >= max_length {
                self.report.push(IssueKind::TooLong {
                    run_id: run_id.into(),
                    sequence_number: step.sequence,
                    max_length,
                });
                first_bad = Some(step.sequence);
                break;
            }
            if let Some(issue) = self.check_step(run_id, network, step) {
                self.report.push(issue);
                first_bad = Some(step.sequence);
                break;
            }
            if step.input.as_deref() != previous {
                self.report.push(IssueKind::WrongInput {
                    run_id: run_id.into(),
                    invocation_id: step.id.clone(),
                    sequence_number: step.sequence,
                    expected: previous.map(str::to_owned),
                    found: step.input.clone(),
                });
                self.repairs
                    .relink
                    .push((step.id.clone(), previous.map(str::to_owned)));
            }
            previous = Some(&step.id);
        }
        let good = first_bad.unwrap_or(rows.len() as u32);
        if let Some(from) = first_bad {
            self.repairs.truncate.insert(run_id.to_owned(), from);
            return;
        }
        match stop.as_deref() {
            Some("length") if good != max_length => {
                self.report.push(IssueKind::WrongLengthStop {
                    run_id: run_id.into(),
                    invocations: good,
                    max_length,
                });
                self.repairs.clear_stop.push(run_id.to_owned());
            }
            Some("length" | "duplicate") => {}
            _ if good < max_length || stop.is_none() => {
                self.report.push(IssueKind::IncompleteRun {
                    run_id: run_id.into(),
                    invocations: good,
                    max_length,
                    stop,
                });
            }
            _ => {}
        }
    }

    /// The first thing wrong with one step's model and output, if any.
    fn check_step(&mut self, run_id: &str, network: &[String], step: &Step) -> Option<IssueKind> {
        if !network.is_empty() {
            let expected = &network[step.sequence as usize % network.len()];
            if *expected != step.model {
                return Some(IssueKind::WrongModel {
                    run_id: run_id.into(),
                    invocation_id: step.id.clone(),
                    sequence_number: step.sequence,
                    expected: expected.clone(),
                    found: step.model.clone(),
                });
            }
        }
        let expected_type = lookup(&step.model).and_then(|entry| match entry.kind {
            ModelKind::Embedding { .. } => None,
            kind => kind.generative_output(),
        });
        if let Some(expected) = expected_type
            && expected.to_string() != step.output_type
        {
            return Some(IssueKind::WrongOutputType {
                run_id: run_id.into(),
                invocation_id: step.id.clone(),
                sequence_number: step.sequence,
                model: step.model.clone(),
                expected: expected.to_string(),
                found: step.output_type.clone(),
            });
        }
        let missing = || IssueKind::MissingOutput {
            run_id: run_id.into(),
            invocation_id: step.id.clone(),
            sequence_number: step.sequence,
        };
        let output = match step.output_type.as_str() {
            "text" => match &step.text {
                Some(text) => Output::Text(text.clone()),
                None => return Some(missing()),
            },
            _ => {
                let Some(bytes) = &step.image else {
                    return Some(missing());
                };
                match decode_image(bytes) {
                    Ok(image) => Output::Image(image),
                    Err(error) => {
                        return Some(IssueKind::CorruptImage {
                            run_id: run_id.into(),
                            invocation_id: step.id.clone(),
                            sequence_number: step.sequence,
                            detail: error.to_string(),
                        });
                    }
                }
            }
        };
        let hash = output_hash(&output);
        if step.hash != hash {
            self.report.push(IssueKind::WrongHash {
                run_id: run_id.into(),
                invocation_id: step.id.clone(),
                sequence_number: step.sequence,
            });
            self.repairs.rehash.push((step.id.clone(), hash));
        }
        None
    }

    /// The dimension each model's vectors must have: the catalog's, else the most common one.
    fn expected_dimensions(&self, table: &str) -> Result<HashMap<String, i64>> {
        let conn = self.store.connection();
        let mut statement = conn.prepare(&format!(
            "SELECT embedding_model, dimension, count(*) AS n FROM {table}
             GROUP BY embedding_model, dimension ORDER BY embedding_model, n DESC, dimension"
        ))?;
        let mut expected = HashMap::new();
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (model, dimension) in rows {
            let catalog = lookup(&model).and_then(|entry| match entry.kind {
                ModelKind::Embedding { dimension, .. } => Some(dimension as i64),
                _ => None,
            });
            expected
                .entry(model)
                .or_insert(catalog.unwrap_or(dimension));
        }
        Ok(expected)
    }

    fn check_embeddings(&mut self) -> Result<()> {
        let expected = self.expected_dimensions("embedding")?;
        let conn = self.store.connection();
        let mut statement = conn.prepare(
            "SELECT m.id, m.invocation_id, m.embedding_model, m.dimension, m.vector
             FROM embedding m
             WHERE ?1 IS NULL OR m.invocation_id IN (
                SELECT i.id FROM invocation i JOIN run r ON i.run_id = r.id WHERE r.experiment_id = ?1)",
        )?;
        let mut rows = statement.query([&self.experiment])?;
        while let Some(row) = rows.next()? {
            self.report.embeddings_checked += 1;
            let model: String = row.get(2)?;
            let dimension: i64 = row.get(3)?;
            let vector: Vec<u8> = row.get(4)?;
            let Some(problem) = vector_problem(dimension, &vector, expected.get(&model)) else {
                continue;
            };
            let embedding_id: String = row.get(0)?;
            self.repairs.embeddings.push(embedding_id.clone());
            self.report.push(IssueKind::BadEmbedding {
                embedding_id,
                invocation_id: row.get(1)?,
                embedding_model: model,
                problem,
            });
        }
        Ok(())
    }

    fn check_prompt_embeddings(&mut self) -> Result<()> {
        let expected = self.expected_dimensions("prompt_embedding")?;
        let conn = self.store.connection();
        let mut statement = conn.prepare(
            "SELECT p.run_id, p.embedding_model, p.dimension, p.vector FROM prompt_embedding p
             WHERE ?1 IS NULL OR p.run_id IN (SELECT id FROM run WHERE experiment_id = ?1)",
        )?;
        let mut rows = statement.query([&self.experiment])?;
        while let Some(row) = rows.next()? {
            let model: String = row.get(1)?;
            let vector: Vec<u8> = row.get(3)?;
            let Some(problem) = vector_problem(row.get(2)?, &vector, expected.get(&model)) else {
                continue;
            };
            let run_id: String = row.get(0)?;
            self.repairs
                .prompt_embeddings
                .push((run_id.clone(), model.clone()));
            self.report.push(IssueKind::BadPromptEmbedding {
                run_id,
                embedding_model: model,
                problem,
            });
        }
        Ok(())
    }

    fn check_orphans(&mut self) -> Result<()> {
        let conn = self.store.connection();
        for orphan in ORPHANS {
            let sql = format!(
                "SELECT count(*), group_concat(k, ' ') FROM (SELECT {} AS k FROM {} WHERE {})",
                orphan.key, orphan.table, orphan.condition
            );
            let (count, keys): (i64, Option<String>) =
                conn.query_row(&sql, [], |row| Ok((row.get(0)?, row.get(1)?)))?;
            if count > 0 {
                self.repairs.orphans = true;
                self.report.push(IssueKind::Orphans {
                    table: orphan.table,
                    parent: orphan.parent,
                    count: count as u64,
                    examples: keys
                        .unwrap_or_default()
                        .split(' ')
                        .take(5)
                        .map(str::to_owned)
                        .collect(),
                });
            }
        }
        Ok(())
    }
}

fn vector_problem(dimension: i64, bytes: &[u8], expected: Option<&i64>) -> Option<VectorProblem> {
    if bytes.len() as i64 != 4 * dimension {
        return Some(VectorProblem::Length {
            bytes: bytes.len(),
            dimension,
        });
    }
    if let Some(&expected) = expected
        && expected != dimension
    {
        return Some(VectorProblem::Dimension {
            dimension,
            expected,
        });
    }
    match decode_vector(bytes) {
        Ok(vector) if vector.iter().all(|value| value.is_finite()) => None,
        _ => Some(VectorProblem::NotFinite),
    }
}

/// A kind of orphan row: `table` rows matching `condition` lost their `parent`.
struct Orphan {
    table: &'static str,
    parent: &'static str,
    key: &'static str,
    condition: &'static str,
    /// How `fix` repairs it; `None` deletes the rows.
    repair: Option<&'static str>,
}

/// Parents before children: deleting an orphan run first cascades to its invocations.
const ORPHANS: &[Orphan] = &[
    Orphan {
        table: "run",
        parent: "experiment",
        key: "id",
        condition: "experiment_id NOT IN (SELECT id FROM experiment)",
        repair: None,
    },
    Orphan {
        table: "invocation",
        parent: "run",
        key: "id",
        condition: "run_id NOT IN (SELECT id FROM run)",
        repair: None,
    },
    Orphan {
        table: "embedding",
        parent: "invocation",
        key: "id",
        condition: "invocation_id NOT IN (SELECT id FROM invocation)",
        repair: None,
    },
    Orphan {
        table: "prompt_embedding",
        parent: "run",
        key: "run_id || '/' || embedding_model",
        condition: "run_id NOT IN (SELECT id FROM run)",
        repair: None,
    },
    Orphan {
        table: "persistence_diagram",
        parent: "run",
        key: "id",
        condition: "run_id NOT IN (SELECT id FROM run)",
        repair: None,
    },
    Orphan {
        table: "clustering_experiment",
        parent: "clustering or experiment",
        key: "clustering_id || '/' || experiment_id",
        condition: "clustering_id NOT IN (SELECT id FROM clustering_result)
                    OR experiment_id NOT IN (SELECT id FROM experiment)",
        repair: None,
    },
    Orphan {
        table: "cluster",
        parent: "clustering",
        key: "clustering_id || '/' || label",
        condition: "clustering_id NOT IN (SELECT id FROM clustering_result)",
        repair: None,
    },
    Orphan {
        table: "cluster",
        parent: "medoid embedding",
        key: "clustering_id || '/' || label",
        condition: "medoid_embedding_id IS NOT NULL AND medoid_embedding_id NOT IN (SELECT id FROM embedding)",
        repair: Some("UPDATE cluster SET medoid_embedding_id = NULL WHERE"),
    },
    Orphan {
        table: "cluster_assignment",
        parent: "clustering or embedding",
        key: "clustering_id || '/' || embedding_id",
        condition: "clustering_id NOT IN (SELECT id FROM clustering_result)
                    OR embedding_id NOT IN (SELECT id FROM embedding)",
        repair: None,
    },
    Orphan {
        table: "projection_experiment",
        parent: "projection or experiment",
        key: "projection_id || '/' || experiment_id",
        condition: "projection_id NOT IN (SELECT id FROM projection)
                    OR experiment_id NOT IN (SELECT id FROM experiment)",
        repair: None,
    },
    Orphan {
        table: "projection_point",
        parent: "projection or embedding",
        key: "projection_id || '/' || embedding_id",
        condition: "projection_id NOT IN (SELECT id FROM projection)
                    OR embedding_id NOT IN (SELECT id FROM embedding)",
        repair: None,
    },
];

fn apply(tx: &rusqlite::Transaction<'_>, plan: &Repairs) -> Result<Vec<FixAction>> {
    let mut actions = Vec::new();
    if plan.orphans {
        for orphan in ORPHANS {
            let sql = match orphan.repair {
                Some(update) => format!("{update} {}", orphan.condition),
                None => format!("DELETE FROM {} WHERE {}", orphan.table, orphan.condition),
            };
            let count = tx.execute(&sql, [])? as u64;
            if count > 0 {
                actions.push(FixAction::DeletedOrphans {
                    table: orphan.table,
                    count,
                });
            }
        }
    }
    for (run_id, &from) in &plan.truncate {
        let invocations_deleted = tx.execute(
            "DELETE FROM invocation WHERE run_id = ?1 AND sequence_number >= ?2",
            params![run_id, from],
        )? as u64;
        let diagrams_deleted = tx.execute(
            "DELETE FROM persistence_diagram WHERE run_id = ?1",
            [run_id],
        )? as u64;
        tx.execute(
            "UPDATE run SET stop_reason = NULL, loop_length = NULL, failure = NULL WHERE id = ?1",
            [run_id],
        )?;
        actions.push(FixAction::TruncatedRun {
            run_id: run_id.clone(),
            from_sequence: from,
            invocations_deleted,
            diagrams_deleted,
        });
    }
    for (invocation_id, input) in &plan.relink {
        // The input may have gone with a truncation above; then so has this step.
        if tx.execute(
            "UPDATE invocation SET input_invocation_id = ?2 WHERE id = ?1",
            params![invocation_id, input],
        )? > 0
        {
            actions.push(FixAction::RelinkedInput {
                invocation_id: invocation_id.clone(),
            });
        }
    }
    for (invocation_id, hash) in &plan.rehash {
        if tx.execute(
            "UPDATE invocation SET output_hash = ?2 WHERE id = ?1",
            params![invocation_id, hash.as_slice()],
        )? > 0
        {
            actions.push(FixAction::RehashedOutput {
                invocation_id: invocation_id.clone(),
            });
        }
    }
    for run_id in &plan.clear_stop {
        tx.execute(
            "UPDATE run SET stop_reason = NULL, loop_length = NULL, failure = NULL WHERE id = ?1",
            [run_id],
        )?;
        actions.push(FixAction::ClearedStop {
            run_id: run_id.clone(),
        });
    }
    for embedding_id in &plan.embeddings {
        if tx.execute("DELETE FROM embedding WHERE id = ?1", [embedding_id])? > 0 {
            actions.push(FixAction::DeletedEmbedding {
                embedding_id: embedding_id.clone(),
            });
        }
    }
    for (run_id, model) in &plan.prompt_embeddings {
        if tx.execute(
            "DELETE FROM prompt_embedding WHERE run_id = ?1 AND embedding_model = ?2",
            [run_id, model],
        )? > 0
        {
            actions.push(FixAction::DeletedPromptEmbedding {
                run_id: run_id.clone(),
                embedding_model: model.clone(),
            });
        }
    }
    Ok(actions)
}
