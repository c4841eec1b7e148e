//! The hot queries must be answered from indexes: a full `SCAN` of a big table turns a GUI
//! frame or a resume step into seconds once an experiment has a million invocations.

use super::Store;
use super::clustering::{CLUSTER_MEMBERS, RUN_CLUSTER_LABELS};
use super::runs::{
    EMBEDDING_VECTOR, INVOCATIONS_OF_RUN, PENDING_EMBEDDINGS, RECENT_DURATIONS,
    RUNS_FOR_CELL_WHERE, TAIL_HASHES, TAIL_LAST,
};

const BIG_TABLES: &[&str] = &[
    "run",
    "invocation",
    "embedding",
    "cluster_assignment",
    "projection_point",
    "persistence_diagram",
];

/// The plan lines of `sql` (parameters bound to NULL; plans do not depend on the values).
fn plan(store: &Store, sql: &str) -> Vec<String> {
    let mut statement = store
        .connection()
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("prepare");
    let nulls = vec![rusqlite::types::Null; statement.parameter_count()];
    statement
        .query_map(rusqlite::params_from_iter(nulls), |row| {
            row.get::<_, String>(3)
        })
        .expect("plan")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("plan rows")
}

/// The `SCAN <big table>` lines of a plan (tables are matched by name or by the aliases the
/// queries use); a scan of any of them, even through an index, reads the whole table.
fn full_scans(lines: &[String]) -> Vec<&String> {
    const ALIASES: &[&str] = &["i", "r", "m", "a", "p", "d"];
    lines
        .iter()
        .filter(|line| {
            line.strip_prefix("SCAN ")
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|table| BIG_TABLES.contains(&table) || ALIASES.contains(&table))
        })
        .collect()
}

fn assert_indexed(store: &Store, name: &str, sql: &str) {
    let lines = plan(store, sql);
    assert!(
        full_scans(&lines).is_empty(),
        "{name} scans a big table:\n{}",
        lines.join("\n")
    );
}

#[test]
fn hot_queries_use_indexes() {
    let store = Store::open_in_memory().expect("open");
    // Empty tables get no statistics, so the planner falls back to its index heuristics, which
    // is what a fresh database uses too.
    let cases = [
        ("run tail hashes (run+sequence)", TAIL_HASHES.to_owned()),
        ("run tail last (run+sequence)", TAIL_LAST.to_owned()),
        ("invocations of a run", INVOCATIONS_OF_RUN.to_owned()),
        ("pending embeddings", PENDING_EMBEDDINGS.to_owned()),
        ("embedding of invocation+model", EMBEDDING_VECTOR.to_owned()),
        ("recent durations", RECENT_DURATIONS.to_owned()),
        (
            "runs of experiment+prompt+network",
            format!("SELECT id FROM run {RUNS_FOR_CELL_WHERE}"),
        ),
        (
            "runs of an experiment",
            "SELECT id FROM run WHERE experiment_id = ?1 ORDER BY network_index, prompt_index, seed_index".to_owned(),
        ),
        ("cluster members (clustering+label)", CLUSTER_MEMBERS.to_owned()),
        ("run cluster labels", RUN_CLUSTER_LABELS.to_owned()),
        (
            "clusters of a clustering",
            "SELECT label FROM cluster WHERE clustering_id = ?1 ORDER BY label".to_owned(),
        ),
        (
            "diagram of run+model",
            "SELECT id FROM persistence_diagram WHERE run_id = ?1 AND embedding_model = ?2".to_owned(),
        ),
        (
            "projection points",
            "SELECT embedding_id FROM projection_point WHERE projection_id = ?1".to_owned(),
        ),
        (
            "assignments of an embedding (cascade)",
            "SELECT 1 FROM cluster_assignment WHERE embedding_id = ?1".to_owned(),
        ),
    ];
    for (name, sql) in &cases {
        assert_indexed(&store, name, sql);
    }
}

#[test]
fn run_labels_start_from_the_run() {
    let store = Store::open_in_memory().expect("open");
    let lines = plan(&store, RUN_CLUSTER_LABELS);
    assert!(lines[0].contains("(run_id=?)"), "{lines:?}");
}

#[test]
fn the_check_catches_a_full_scan() {
    let store = Store::open_in_memory().expect("open");
    let lines = plan(&store, "SELECT id FROM invocation WHERE output_text = ?1");
    assert_eq!(full_scans(&lines).len(), 1, "{lines:?}");
}
