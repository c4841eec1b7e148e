//! A real `kill -9` of the CLI in the middle of an experiment, then `experiment resume`: the
//! result is exactly the full experiment, with every invocation stored before the kill kept as
//! it was (same id, same timestamps) and nothing duplicated or recomputed.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use panic_tda::store::Store;

const MAX_LENGTH: u32 = 300;

fn invocation_count(db: &std::path::Path) -> i64 {
    let Ok(store) = Store::open(db) else { return 0 };
    store
        .raw_connection_for_tests()
        .query_row("SELECT count(*) FROM invocation", [], |row| row.get(0))
        .unwrap_or(0)
}

type Snapshot = HashMap<String, (String, u32, i64, i64)>;

fn snapshot(store: &Store) -> Snapshot {
    let mut statement = store
        .raw_connection_for_tests()
        .prepare("SELECT id, run_id, sequence_number, started_at, completed_at FROM invocation")
        .expect("prepare");
    statement
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?),
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn resume_after_kill_9_completes_exactly_without_recomputing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("exp.sqlite");
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"networks": [["DummyT2I", "DummyI2T"]], "prompts": ["one", "two"], "num_runs": 2,
                "embedding_models": ["DummyText"], "max_length": {MAX_LENGTH}, "image_size": 32}}"#
        ),
    )
    .expect("config");
    let binary = env!("CARGO_BIN_EXE_panic-tda");
    let mut child = Command::new(binary)
        .args(["experiment", "run"])
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .args(["--batch-size", "1"])
        .env("PANIC_TDA_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn panic-tda");
    let deadline = Instant::now() + Duration::from_secs(120);
    while invocation_count(&db) < 150 {
        assert!(Instant::now() < deadline, "the experiment never got going");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    let store = Store::open(&db).expect("open after kill");
    let before = snapshot(&store);
    assert!(
        before.len() >= 150 && before.len() < 4 * MAX_LENGTH as usize,
        "{}",
        before.len()
    );
    // Whatever was committed is a contiguous prefix of each run.
    let mut per_run: HashMap<&str, Vec<u32>> = HashMap::new();
    for (run, sequence, _, _) in before.values() {
        per_run.entry(run).or_default().push(*sequence);
    }
    for sequences in per_run.values_mut() {
        sequences.sort_unstable();
        assert_eq!(*sequences, (0..sequences.len() as u32).collect::<Vec<_>>());
    }
    drop(store);

    let status = Command::new(binary)
        .args(["experiment", "resume", "latest", "--db"])
        .arg(&db)
        .env("PANIC_TDA_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::null())
        .status()
        .expect("resume");
    assert!(status.success());

    let store = Store::open(&db).expect("open after resume");
    let after = snapshot(&store);
    assert_eq!(after.len(), 4 * MAX_LENGTH as usize);
    for (id, old) in &before {
        assert_eq!(
            after.get(id),
            Some(old),
            "invocation {id} changed on resume"
        );
    }
    let runs = store
        .runs(&store.resolve_experiment("latest").expect("latest"))
        .expect("runs");
    assert_eq!(runs.len(), 4);
    for run in &runs {
        let invocations = store.invocations(&run.id).expect("invocations");
        let sequences: Vec<u32> = invocations.iter().map(|inv| inv.sequence_number).collect();
        assert_eq!(sequences, (0..MAX_LENGTH).collect::<Vec<_>>());
    }
    let (texts, embedded): (i64, i64) = store
        .raw_connection_for_tests()
        .query_row(
            "SELECT (SELECT count(*) FROM invocation WHERE output_type = 'text'), (SELECT count(*) FROM embedding)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("counts");
    assert_eq!(texts, embedded);
}
