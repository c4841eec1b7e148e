//! Reads of one embedding model's vectors over a set of experiments (or the whole database),
//! for clustering and projections: which models are present, how many vectors, the vectors
//! themselves in id order, and what each embedded output was.

use rusqlite::{OptionalExtension, params};

use super::codec::decode_vector;
use super::{Result, Store, StoreError};

/// Which experiments' embeddings a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentFilter<'a> {
    /// Every embedding in the database.
    All,
    /// Only those of these experiments (full ids).
    Only(&'a [String]),
}

impl ExperimentFilter<'_> {
    /// The SQL condition on `r.experiment_id` (bound as ?1 when present) and its parameter.
    fn condition(&self) -> Result<(&'static str, Option<String>)> {
        Ok(match self {
            ExperimentFilter::All => ("1", None),
            ExperimentFilter::Only(ids) => (
                "r.experiment_id IN (SELECT value FROM json_each(?1))",
                Some(
                    serde_json::to_string(ids).map_err(|source| StoreError::Json {
                        what: "experiment id list",
                        source,
                    })?,
                ),
            ),
        })
    }
}

const EMBEDDINGS: &str = "FROM embedding e
     JOIN invocation i ON i.id = e.invocation_id
     JOIN run r ON r.id = i.run_id";

/// One stored vector with the experiment it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedEmbedding {
    pub id: String,
    pub experiment_id: String,
    pub vector: Vec<f32>,
}

/// What an embedding was computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOutput {
    /// `text` or `image`.
    pub output_type: String,
    pub output_text: Option<String>,
    pub run_id: String,
    pub sequence_number: u32,
}

impl Store {
    /// Embedding models with their counts in the filter, most embeddings first (ties by name).
    pub fn embedding_model_counts(
        &self,
        filter: ExperimentFilter<'_>,
    ) -> Result<Vec<(String, u64)>> {
        let (condition, experiments) = filter.condition()?;
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT e.embedding_model, COUNT(*) {EMBEDDINGS} WHERE {condition}
             GROUP BY e.embedding_model ORDER BY COUNT(*) DESC, e.embedding_model"
        ))?;
        let map = |row: &rusqlite::Row<'_>| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?.max(0) as u64,
            ))
        };
        let rows = match experiments {
            Some(json) => statement.query_map([json], map)?,
            None => statement.query_map([], map)?,
        };
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// How many embeddings of `model` the filter covers.
    pub fn embedding_count(&self, model: &str, filter: ExperimentFilter<'_>) -> Result<u64> {
        Ok(self
            .embedding_model_counts(filter)?
            .into_iter()
            .find(|(name, _)| name == model)
            .map_or(0, |(_, count)| count))
    }

    /// Every embedding of `model` in the filter, ordered by embedding id (a fixed order keeps
    /// clusterings and layouts reproducible).
    pub fn scoped_embeddings(
        &self,
        model: &str,
        filter: ExperimentFilter<'_>,
    ) -> Result<Vec<ScopedEmbedding>> {
        let (condition, experiments) = filter.condition()?;
        let condition = condition.replace("?1", "?2");
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT e.id, e.vector, r.experiment_id {EMBEDDINGS}
             WHERE e.embedding_model = ?1 AND {condition} ORDER BY e.id"
        ))?;
        let mut rows = match experiments {
            Some(json) => statement.query(params![model, json])?,
            None => statement.query(params![model])?,
        };
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let blob: Vec<u8> = row.get(1)?;
            out.push(ScopedEmbedding {
                id: row.get(0)?,
                vector: decode_vector(&blob)?,
                experiment_id: row.get(2)?,
            });
        }
        Ok(out)
    }

    /// The output an embedding was computed from, if the embedding exists.
    pub fn embedded_output(&self, embedding_id: &str) -> Result<Option<EmbeddedOutput>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT i.output_type, i.output_text, i.run_id, i.sequence_number
                 FROM embedding e JOIN invocation i ON e.invocation_id = i.id WHERE e.id = ?1",
            )?
            .query_row([embedding_id], |row| {
                Ok(EmbeddedOutput {
                    output_type: row.get(0)?,
                    output_text: row.get(1)?,
                    run_id: row.get(2)?,
                    sequence_number: row.get(3)?,
                })
            })
            .optional()?)
    }

    /// Every experiment id, sorted.
    pub fn experiment_ids(&self) -> Result<Vec<String>> {
        self.strings("SELECT id FROM experiment ORDER BY id", [])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_store_has_no_models_and_no_embeddings() {
        let store = Store::open_in_memory().expect("store");
        assert!(
            store
                .embedding_model_counts(ExperimentFilter::All)
                .expect("counts")
                .is_empty()
        );
        let none: [String; 0] = [];
        assert_eq!(
            store
                .embedding_count("MiniLM", ExperimentFilter::Only(&none))
                .expect("count"),
            0
        );
        assert!(
            store
                .scoped_embeddings("MiniLM", ExperimentFilter::All)
                .expect("rows")
                .is_empty()
        );
        assert!(store.embedded_output("missing").expect("output").is_none());
        assert!(store.experiment_ids().expect("ids").is_empty());
    }
}
