//! The fixer: the orphan-row table (shared with the checker) and applying a repair plan in
//! one transaction.

use rusqlite::params;

use super::{FixAction, Repairs};
use crate::store::Result;

/// A kind of orphan row: `table` rows matching `condition` lost their `parent`.
pub(super) struct Orphan {
    pub(super) table: &'static str,
    pub(super) parent: &'static str,
    pub(super) key: &'static str,
    pub(super) condition: &'static str,
    /// How `fix` repairs it; `None` deletes the rows.
    pub(super) repair: Option<&'static str>,
}

/// Parents before children: deleting an orphan run first cascades to its invocations.
pub(super) const ORPHANS: &[Orphan] = &[
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

/// Reopens a run: resume continues it.
const CLEAR_STOP: &str =
    "UPDATE run SET stop_reason = NULL, loop_length = NULL, failure = NULL WHERE id = ?1";

pub(super) fn apply(tx: &rusqlite::Transaction<'_>, plan: &Repairs) -> Result<Vec<FixAction>> {
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
        tx.execute(CLEAR_STOP, [run_id])?;
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
        tx.execute(CLEAR_STOP, [run_id])?;
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
