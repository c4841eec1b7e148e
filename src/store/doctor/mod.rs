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
//!
//! This module owns the issue and report types, the public entry points and the repair plan;
//! `check` walks the database and `fix` applies the plan.

mod check;
mod fix;

use std::collections::BTreeMap;

use self::check::Checker;
use self::fix::apply;
use super::{Result, Store};

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
