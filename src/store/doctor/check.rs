//! The checker: walks runs, invocations, embeddings and (for the whole database) orphan rows,
//! recording issues in the report and what `fix` should do in the repair plan.

use std::collections::HashMap;

use super::fix::ORPHANS;
use super::{DoctorReport, IssueKind, Repairs, VectorProblem};
use crate::models::{ModelKind, Output, lookup};
use crate::store::codec::{decode_image, decode_vector, output_hash};
use crate::store::{Result, Store, collect_rows};

pub(super) struct Checked {
    pub(super) report: DoctorReport,
    pub(super) repairs: Repairs,
}

pub(super) struct Checker<'a> {
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
    pub(super) fn new(store: &'a Store, experiment: Option<&str>) -> Result<Self> {
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

    pub(super) fn run(mut self) -> Result<Checked> {
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
        let runs = collect_rows(
            conn,
            "SELECT id, network_json, max_length, stop_reason FROM run
             WHERE ?1 IS NULL OR experiment_id = ?1
             ORDER BY experiment_id, network_index, prompt_index, seed_index",
            [&self.experiment],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u32>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            },
        )?;
        for (run_id, network_json, max_length, stop) in runs {
            self.report.runs_checked += 1;
            // An unreadable network only disables the model check.
            let network: Vec<String> = serde_json::from_str(&network_json).unwrap_or_default();
            let rows = collect_rows(
                conn,
                "SELECT id, sequence_number, model, output_type, output_text, output_image,
                        input_invocation_id, output_hash
                 FROM invocation WHERE run_id = ?1 ORDER BY sequence_number",
                [&run_id],
                |row| {
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
                },
            )?;
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
        let sql = format!(
            "SELECT embedding_model, dimension, count(*) AS n FROM {table}
             GROUP BY embedding_model, dimension ORDER BY embedding_model, n DESC, dimension"
        );
        let rows = collect_rows(conn, &sql, [], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let mut expected = HashMap::new();
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
