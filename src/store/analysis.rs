//! Read-only bulk queries for the trajectory analyses: one query per table per experiment,
//! in run and step order, so analyses never issue a query per run.

use std::collections::HashMap;

use rusqlite::params;

use super::codec::decode_vector;
use super::{Result, Store, Timestamp};

/// One clustered output: its run, step, invocation and cluster label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledStep {
    pub run_id: String,
    pub sequence_number: u32,
    pub invocation_id: String,
    pub label: i32,
}

/// One embedded output: its run, step and vector.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedStep {
    pub run_id: String,
    pub sequence_number: u32,
    pub vector: Vec<f32>,
}

/// When one invocation ran; the times are those of the batched model call it was part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationTiming {
    pub model: String,
    pub batch_size: u32,
    pub started_at: Timestamp,
    pub completed_at: Timestamp,
}

impl Store {
    /// The labels a clustering gave to an experiment's outputs, by run then step.
    pub fn labelled_steps(
        &self,
        clustering_id: &str,
        experiment_id: &str,
    ) -> Result<Vec<LabelledStep>> {
        self.rows(
            "SELECT i.run_id, i.sequence_number, i.id, a.label
             FROM run r
             CROSS JOIN invocation i ON i.run_id = r.id
             CROSS JOIN embedding e ON e.invocation_id = i.id
             CROSS JOIN cluster_assignment a ON a.embedding_id = e.id AND a.clustering_id = ?1
             WHERE r.experiment_id = ?2
             ORDER BY i.run_id, i.sequence_number",
            params![clustering_id, experiment_id],
            |row| {
                Ok(LabelledStep {
                    run_id: row.get(0)?,
                    sequence_number: row.get(1)?,
                    invocation_id: row.get(2)?,
                    label: row.get(3)?,
                })
            },
        )
    }

    /// An experiment's embeddings by one model, by run then step.
    pub fn embedded_steps(&self, experiment_id: &str, model: &str) -> Result<Vec<EmbeddedStep>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT i.run_id, i.sequence_number, e.vector
             FROM run r
             CROSS JOIN invocation i ON i.run_id = r.id
             CROSS JOIN embedding e ON e.invocation_id = i.id AND e.embedding_model = ?2
             WHERE r.experiment_id = ?1
             ORDER BY i.run_id, i.sequence_number",
        )?;
        let mut rows = statement.query(params![experiment_id, model])?;
        let mut steps = Vec::new();
        while let Some(row) = rows.next()? {
            let bytes: Vec<u8> = row.get(2)?;
            steps.push(EmbeddedStep {
                run_id: row.get(0)?,
                sequence_number: row.get(1)?,
                vector: decode_vector(&bytes)?,
            });
        }
        Ok(steps)
    }

    /// The embedding models that embedded any of an experiment's outputs, by name.
    pub fn experiment_embedding_models(&self, experiment_id: &str) -> Result<Vec<String>> {
        self.strings(
            "SELECT DISTINCT e.embedding_model
             FROM run r
             CROSS JOIN invocation i ON i.run_id = r.id
             CROSS JOIN embedding e ON e.invocation_id = i.id
             WHERE r.experiment_id = ?1
             ORDER BY e.embedding_model",
            [experiment_id],
        )
    }

    /// Each run's initial-prompt embedding by one model, keyed by run id.
    pub fn prompt_embeddings(
        &self,
        experiment_id: &str,
        model: &str,
    ) -> Result<HashMap<String, Vec<f32>>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT p.run_id, p.vector FROM run r
             CROSS JOIN prompt_embedding p ON p.run_id = r.id AND p.embedding_model = ?2
             WHERE r.experiment_id = ?1",
        )?;
        let mut rows = statement.query(params![experiment_id, model])?;
        let mut vectors = HashMap::new();
        while let Some(row) = rows.next()? {
            let bytes: Vec<u8> = row.get(1)?;
            vectors.insert(row.get(0)?, decode_vector(&bytes)?);
        }
        Ok(vectors)
    }

    /// Timing of every invocation of an experiment, by model.
    pub fn invocation_timings(&self, experiment_id: &str) -> Result<Vec<InvocationTiming>> {
        self.rows(
            "SELECT i.model, i.batch_size, i.started_at, i.completed_at
             FROM run r CROSS JOIN invocation i ON i.run_id = r.id
             WHERE r.experiment_id = ?1
             ORDER BY i.model, i.started_at",
            [experiment_id],
            |row| {
                Ok(InvocationTiming {
                    model: row.get(0)?,
                    batch_size: row.get(1)?,
                    started_at: row.get(2)?,
                    completed_at: row.get(3)?,
                })
            },
        )
    }
}
