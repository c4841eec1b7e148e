//! Persistence diagrams: one per (run, embedding model).
//!
//! `pairs` blob layout (version-free, little-endian, 12 bytes per pair, no header):
//! `u32 homology dimension | f32 birth | f32 death`, repeated; an essential class (never dies)
//! has death = +∞. Pairs are stored in the order given (the writer sorts by dimension, then
//! birth). `entropy_json` is a JSON array with the persistent entropy of dimension 0, 1, …;
//! a non-finite entropy (empty dimension) is stored as `null` and read back as NaN.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, StoreError, Timestamp};

/// Bytes per stored pair.
pub const PAIR_BYTES: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PersistencePair {
    pub dimension: u32,
    pub birth: f32,
    /// `f32::INFINITY` for an essential class.
    pub death: f32,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DiagramRecord {
    pub id: String,
    pub run_id: String,
    pub embedding_model: String,
    pub pairs: Vec<PersistencePair>,
    /// Persistent entropy per homology dimension (index = dimension).
    pub entropy: Vec<f64>,
    pub started_at: Timestamp,
    pub completed_at: Timestamp,
}

pub fn encode_pairs(pairs: &[PersistencePair]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(pairs.len() * PAIR_BYTES);
    for pair in pairs {
        bytes.extend_from_slice(&pair.dimension.to_le_bytes());
        bytes.extend_from_slice(&pair.birth.to_le_bytes());
        bytes.extend_from_slice(&pair.death.to_le_bytes());
    }
    bytes
}

pub fn decode_pairs(bytes: &[u8]) -> Result<Vec<PersistencePair>> {
    if !bytes.len().is_multiple_of(PAIR_BYTES) {
        return Err(StoreError::Corrupt {
            what: "persistence pairs".into(),
            detail: format!("{} bytes is not a whole number of pairs", bytes.len()),
        });
    }
    let word = |chunk: &[u8], at: usize| [chunk[at], chunk[at + 1], chunk[at + 2], chunk[at + 3]];
    Ok(bytes
        .chunks_exact(PAIR_BYTES)
        .map(|chunk| PersistencePair {
            dimension: u32::from_le_bytes(word(chunk, 0)),
            birth: f32::from_le_bytes(word(chunk, 4)),
            death: f32::from_le_bytes(word(chunk, 8)),
        })
        .collect())
}

fn encode_entropy(entropy: &[f64]) -> Result<String> {
    let values: Vec<Option<f64>> = entropy
        .iter()
        .map(|value| value.is_finite().then_some(*value))
        .collect();
    serde_json::to_string(&values).map_err(|source| StoreError::Json {
        what: "persistence_diagram.entropy_json",
        source,
    })
}

fn decode_entropy(json: &str) -> Result<Vec<f64>> {
    let values: Vec<Option<f64>> =
        serde_json::from_str(json).map_err(|source| StoreError::Json {
            what: "persistence_diagram.entropy_json",
            source,
        })?;
    Ok(values
        .into_iter()
        .map(|value| value.unwrap_or(f64::NAN))
        .collect())
}

const COLUMNS: &str = "id, run_id, embedding_model, pairs, entropy_json, started_at, completed_at";

type DiagramRow = (String, String, String, Vec<u8>, String, i64, i64);

fn row_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<DiagramRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn finish(
    (id, run_id, embedding_model, pairs, entropy, started_at, completed_at): DiagramRow,
) -> Result<DiagramRecord> {
    Ok(DiagramRecord {
        id,
        run_id,
        embedding_model,
        pairs: decode_pairs(&pairs)?,
        entropy: decode_entropy(&entropy)?,
        started_at,
        completed_at,
    })
}

/// A run of an experiment as the persistence stage sees it for one embedding model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagramCandidate {
    pub run_id: String,
    /// The stored stop reason (`length`, `duplicate`, …), `None` while the run is open.
    pub stop_reason: Option<String>,
    pub text_outputs: u64,
    /// Text outputs embedded by the model.
    pub embedded: u64,
    pub has_diagram: bool,
}

impl Store {
    /// Text-embedding models of an experiment, by name.
    pub fn text_embedding_models(&self, experiment_id: &str) -> Result<Vec<String>> {
        self.strings(
            "SELECT DISTINCT e.embedding_model FROM embedding e
             JOIN invocation i ON e.invocation_id = i.id JOIN run r ON i.run_id = r.id
             WHERE r.experiment_id = ?1 AND i.output_type = 'text' ORDER BY 1",
            [experiment_id],
        )
    }

    /// A run's text-output vectors by `model`, in step order.
    pub fn run_text_vectors(&self, run_id: &str, model: &str) -> Result<Vec<Vec<f32>>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT e.vector FROM embedding e JOIN invocation i ON e.invocation_id = i.id
             WHERE i.run_id = ?1 AND e.embedding_model = ?2 AND i.output_type = 'text'
             ORDER BY i.sequence_number",
        )?;
        let mut rows = statement.query([run_id, model])?;
        let mut vectors = Vec::new();
        while let Some(row) = rows.next()? {
            vectors.push(super::decode_vector(&row.get::<_, Vec<u8>>(0)?)?);
        }
        Ok(vectors)
    }

    /// Every run of an experiment, in run order, with its text-output and embedding counts for
    /// `model` and whether it already has a diagram by it.
    pub fn diagram_candidates(
        &self,
        experiment_id: &str,
        model: &str,
    ) -> Result<Vec<DiagramCandidate>> {
        self.rows(
            "SELECT r.id, r.stop_reason, count(i.id), count(e.id),
                    EXISTS (SELECT 1 FROM persistence_diagram d WHERE d.run_id = r.id AND d.embedding_model = ?2)
             FROM run r
             LEFT JOIN invocation i ON i.run_id = r.id AND i.output_type = 'text'
             LEFT JOIN embedding e ON e.invocation_id = i.id AND e.embedding_model = ?2
             WHERE r.experiment_id = ?1
             GROUP BY r.id ORDER BY r.network_index, r.prompt_index, r.seed_index",
            [experiment_id, model],
            |row| {
                Ok(DiagramCandidate {
                    run_id: row.get(0)?,
                    stop_reason: row.get(1)?,
                    text_outputs: row.get::<_, i64>(2)?.max(0) as u64,
                    embedded: row.get::<_, i64>(3)?.max(0) as u64,
                    has_diagram: row.get(4)?,
                })
            },
        )
    }

    /// Inserts diagrams in one transaction; a second diagram for the same (run, model) is an
    /// error (delete the old one first to recompute).
    pub fn insert_diagrams(&mut self, diagrams: &[DiagramRecord]) -> Result<()> {
        let encoded = diagrams
            .iter()
            .map(|d| Ok((encode_pairs(&d.pairs), encode_entropy(&d.entropy)?)))
            .collect::<Result<Vec<_>>>()?;
        self.write(|tx| {
            let mut statement = tx.prepare_cached(&format!(
                "INSERT INTO persistence_diagram ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?;
            for (d, (pairs, entropy)) in diagrams.iter().zip(&encoded) {
                statement.execute(params![
                    d.id,
                    d.run_id,
                    d.embedding_model,
                    pairs,
                    entropy,
                    d.started_at,
                    d.completed_at
                ])?;
            }
            Ok(())
        })
    }

    pub fn diagram(&self, run_id: &str, embedding_model: &str) -> Result<Option<DiagramRecord>> {
        let row = self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM persistence_diagram WHERE run_id = ?1 AND embedding_model = ?2"
                ),
                [run_id, embedding_model],
                row_of,
            )
            .optional()?;
        row.map(finish).transpose()
    }

    /// The diagrams of an experiment (optionally of one model), in run config order.
    pub fn diagrams(
        &self,
        experiment_id: &str,
        embedding_model: Option<&str>,
    ) -> Result<Vec<DiagramRecord>> {
        let rows = self.rows(
            "SELECT d.id, d.run_id, d.embedding_model, d.pairs, d.entropy_json, d.started_at, d.completed_at
             FROM persistence_diagram d JOIN run r ON d.run_id = r.id
             WHERE r.experiment_id = ?1 AND (?2 IS NULL OR d.embedding_model = ?2)
             ORDER BY r.network_index, r.prompt_index, r.seed_index, d.embedding_model",
            params![experiment_id, embedding_model],
            row_of,
        )?;
        rows.into_iter().map(finish).collect()
    }

    /// Runs of an experiment with no diagram for `embedding_model`, in config order.
    pub fn runs_missing_diagram(
        &self,
        experiment_id: &str,
        embedding_model: &str,
    ) -> Result<Vec<String>> {
        self.strings(
            "SELECT r.id FROM run r
             WHERE r.experiment_id = ?1
               AND NOT EXISTS (SELECT 1 FROM persistence_diagram d WHERE d.run_id = r.id AND d.embedding_model = ?2)
             ORDER BY r.network_index, r.prompt_index, r.seed_index",
            [experiment_id, embedding_model],
        )
    }

    /// Deletes the diagram of (run, model); returns whether there was one.
    pub fn delete_diagram(&mut self, run_id: &str, embedding_model: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM persistence_diagram WHERE run_id = ?1 AND embedding_model = ?2",
                [run_id, embedding_model],
            )? > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_with_infinite_deaths() {
        let pairs = vec![
            PersistencePair {
                dimension: 0,
                birth: 0.0,
                death: f32::INFINITY,
            },
            PersistencePair {
                dimension: 1,
                birth: 0.25,
                death: 0.5,
            },
        ];
        let bytes = encode_pairs(&pairs);
        assert_eq!(bytes.len(), 2 * PAIR_BYTES);
        assert_eq!(decode_pairs(&bytes).expect("decode"), pairs);
        assert!(decode_pairs(&bytes[..13]).is_err());
    }

    #[test]
    fn non_finite_entropy_is_null_in_json() {
        let json = encode_entropy(&[1.5, f64::NAN]).expect("encode");
        assert_eq!(json, "[1.5,null]");
        let back = decode_entropy(&json).expect("decode");
        assert_eq!(back[0], 1.5);
        assert!(back[1].is_nan());
    }
}
