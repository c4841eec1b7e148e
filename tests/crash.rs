//! Crash safety: a writer killed with SIGKILL mid-write leaves every batch whole or absent,
//! every run contiguous from step 0, and nothing for doctor to complain about.
//!
//! The writer is this test binary re-run with `CHILD_DB` set (see `child_writer`).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{count, experiment, run};
use panic_tda::store::{RunRecord, StepWrite, StopReason, Store, doctor};

const CHILD_DB: &str = "PANIC_TDA_CRASH_TEST_DB";
const EXPERIMENT: &str = "crash";
/// Run 0 stops by length early; the others never finish.
const SHORT: u32 = 40;
const RUNS: u32 = 12;

fn runs() -> Vec<RunRecord> {
    (0..RUNS)
        .map(|i| run(EXPERIMENT, i, 42, if i == 0 { SHORT } else { 1_000_000 }))
        .collect()
}

/// The writer: resumes every run from where the database says it is and writes lock-step
/// batches until killed. Does nothing in a normal test run.
#[test]
fn child_writer() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let mut store = Store::open(Path::new(&path)).expect("open");
    let runs = runs();
    let tails = store.run_tails(EXPERIMENT).expect("tails");
    let mut next: Vec<u32> = tails.iter().map(|tail| tail.next_sequence).collect();
    let stopped: Vec<bool> = store
        .runs(EXPERIMENT)
        .expect("runs")
        .iter()
        .map(|r| r.stop.is_some())
        .collect();
    let mut stopped = stopped;
    loop {
        let mut step = StepWrite::default();
        for (index, r) in runs.iter().enumerate() {
            if stopped[index] {
                continue;
            }
            step.invocations.push(common::invocation(r, next[index]));
            if next[index] + 1 == r.max_length {
                step.stops.push((r.id.clone(), StopReason::Length));
                stopped[index] = true;
            }
            next[index] += 1;
        }
        store.commit_step(&step).expect("commit");
    }
}

#[test]
fn a_killed_writer_leaves_whole_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.sqlite");
    let mut store = Store::open(&path).expect("open");
    experiment(&mut store, EXPERIMENT);
    store.insert_runs(&runs()).expect("runs");

    let exe = std::env::current_exe().expect("test binary");
    for round in 0..4u64 {
        let before = count(&store, "SELECT count(*) FROM invocation");
        let mut child = Command::new(&exe)
            .args(["child_writer", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DB, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        let deadline = Instant::now() + Duration::from_secs(60);
        // Let it write a while (a different amount each round), then kill it mid-stream.
        let target = before + 200 + 150 * round as i64;
        while count(&store, "SELECT count(*) FROM invocation") < target {
            assert!(Instant::now() < deadline, "the writer made no progress");
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the writer exited early: {status}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(3 * round));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
    drop(store);

    let store = Store::open(&path).expect("reopen");
    let report = doctor::check(&store, None).expect("doctor");
    assert!(report.is_healthy(), "{:#?}", report.issues);

    let runs = store.runs(EXPERIMENT).expect("runs");
    let lengths: Vec<usize> = runs
        .iter()
        .map(|r| {
            let invocations = store.invocations(&r.id).expect("invocations");
            for (position, invocation) in invocations.iter().enumerate() {
                assert_eq!(
                    invocation.sequence_number as usize, position,
                    "run {} has a gap",
                    r.id
                );
            }
            invocations.len()
        })
        .collect();
    // Every batch wrote one step of every live run: all long runs have the same length, and
    // the short run has min(that, SHORT) steps with its stop written in the same batch.
    let long = lengths[1];
    assert!(long > SHORT as usize, "{lengths:?}");
    assert!(lengths[1..].iter().all(|&n| n == long), "{lengths:?}");
    assert_eq!(lengths[0], SHORT as usize);
    assert_eq!(runs[0].stop, Some(StopReason::Length));
    assert!(runs[1..].iter().all(|r| r.stop.is_none()));
}
