//! doctor: what it flags, what it leaves alone, and what `fix` repairs.

mod common;

use common::{count, embed_texts, experiment, run, write_steps};
use panic_tda::store::doctor::{self, FixAction, IssueKind, Severity, VectorProblem};
use panic_tda::store::{RunRecord, StepWrite, StopReason, Store, derived_id};

const EMBEDDER: &str = "TestEmbedder";

/// Four runs: complete (length), stopped early by duplicate, unfinished, and a spare complete
/// one to break. Embeddings of dimension 8 for every text output.
fn healthy() -> (Store, Vec<RunRecord>) {
    let mut store = Store::open_in_memory().expect("open");
    experiment(&mut store, "aa");
    let runs: Vec<RunRecord> = (0..4).map(|i| run("aa", i, 42, 8)).collect();
    store.insert_runs(&runs).expect("runs");
    write_steps(&mut store, &runs[..1], 0, 8);
    write_steps(&mut store, &runs[1..2], 0, 5);
    store
        .set_run_stops(&[(
            runs[1].id.clone(),
            Some(StopReason::Duplicate { loop_length: 2 }),
        )])
        .expect("stop");
    write_steps(&mut store, &runs[2..3], 0, 3);
    write_steps(&mut store, &runs[3..4], 0, 8);
    for r in &runs {
        embed_texts(&mut store, r, EMBEDDER, 8);
    }
    store
        .insert_prompt_embeddings(&[(runs[0].id.clone(), EMBEDDER.into(), vec![0.5; 8])])
        .expect("prompt embedding");
    (store, runs)
}

fn problems(store: &Store) -> Vec<IssueKind> {
    doctor::check(store, None)
        .expect("check")
        .problems()
        .map(|issue| issue.kind.clone())
        .collect()
}

fn sql(store: &Store, statement: &str) {
    store
        .raw_connection_for_tests()
        .execute_batch(statement)
        .expect("sql");
}

#[test]
fn a_healthy_database_has_only_incomplete_runs() {
    let (store, runs) = healthy();
    let report = doctor::check(&store, None).expect("check");
    assert!(report.is_healthy(), "{:#?}", report.issues);
    assert_eq!(report.runs_checked, 4);
    assert_eq!(report.invocations_checked, 8 + 5 + 3 + 8);
    assert_eq!(report.issues.len(), 1, "{:#?}", report.issues);
    assert_eq!(report.issues[0].severity, Severity::Info);
    assert!(matches!(
        &report.issues[0].kind,
        IssueKind::IncompleteRun { run_id, invocations: 3, max_length: 8, stop: None } if *run_id == runs[2].id
    ));
    let text = report.issues[0].kind.to_string();
    assert!(text.contains("resume will continue it"), "{text}");
    // The same, scoped to the experiment; an unknown one has nothing.
    assert_eq!(
        doctor::check(&store, Some("aa"))
            .expect("check")
            .issues
            .len(),
        1
    );
    assert_eq!(
        doctor::check(&store, Some("zz"))
            .expect("check")
            .runs_checked,
        0
    );
}

#[test]
fn a_gap_truncates_the_run_from_the_gap() {
    let (mut store, runs) = healthy();
    let target = &runs[3].id;
    sql(
        &store,
        &format!("DELETE FROM invocation WHERE run_id = '{target}' AND sequence_number = 5"),
    );
    assert_eq!(
        problems(&store),
        vec![IssueKind::SequenceGap {
            run_id: target.clone(),
            sequence_number: 5
        }]
    );
    let fixed = doctor::fix(&mut store, None).expect("fix");
    assert!(fixed.after.is_healthy(), "{:#?}", fixed.after.issues);
    assert!(fixed.actions.iter().any(|a| matches!(
        a,
        FixAction::TruncatedRun {
            from_sequence: 5,
            invocations_deleted: 2,
            ..
        }
    )));
    assert_eq!(store.invocations(target).expect("invocations").len(), 5);
    assert_eq!(store.run(target).expect("run").stop, None);
    // Embeddings of the deleted steps went with them; the others stay.
    assert_eq!(
        count(
            &store,
            &format!(
                "SELECT count(*) FROM embedding m JOIN invocation i ON m.invocation_id = i.id WHERE i.run_id = '{target}'"
            )
        ),
        2
    );
    // The truncated run now reads as incomplete (resume regenerates steps 5..8).
    assert_eq!(fixed.after.issues.len(), 2);
    // Other runs are untouched.
    assert_eq!(
        store.invocations(&runs[0].id).expect("invocations").len(),
        8
    );
}

#[test]
fn broken_outputs_are_found_and_cut() {
    let (mut store, runs) = healthy();
    let step = |run: &RunRecord, seq: u32| derived_id(&run.id, &seq.to_string());
    // Wrong type at run 0 step 3, corrupt image at run 3 step 2, missing text at run 1 step 1.
    sql(
        &store,
        &format!(
            "UPDATE invocation SET output_type = 'image' WHERE id = '{}'",
            step(&runs[0], 3)
        ),
    );
    sql(
        &store,
        &format!(
            "UPDATE invocation SET output_image = x'00ff' WHERE id = '{}'",
            step(&runs[3], 2)
        ),
    );
    sql(
        &store,
        &format!(
            "UPDATE invocation SET output_text = NULL WHERE id = '{}'",
            step(&runs[1], 1)
        ),
    );
    let found = problems(&store);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        matches!(&found[0], IssueKind::WrongOutputType { sequence_number: 3, expected, found, .. }
        if expected == "text" && found == "image")
    );
    assert!(matches!(
        &found[1],
        IssueKind::MissingOutput {
            sequence_number: 1,
            ..
        }
    ));
    assert!(matches!(
        &found[2],
        IssueKind::CorruptImage {
            sequence_number: 2,
            ..
        }
    ));
    let fixed = doctor::fix(&mut store, None).expect("fix");
    assert!(fixed.after.is_healthy(), "{:#?}", fixed.after.issues);
    assert_eq!(store.invocations(&runs[0].id).expect("run 0").len(), 3);
    assert_eq!(store.invocations(&runs[1].id).expect("run 1").len(), 1);
    assert_eq!(store.invocations(&runs[3].id).expect("run 3").len(), 2);
    // The duplicate stop of run 1 is cleared: resume continues it.
    assert_eq!(store.run(&runs[1].id).expect("run").stop, None);
}

#[test]
fn links_hashes_and_models_are_checked() {
    let (mut store, runs) = healthy();
    let step = |seq: u32| derived_id(&runs[0].id, &seq.to_string());
    sql(
        &store,
        &format!(
            "UPDATE invocation SET input_invocation_id = NULL WHERE id = '{}'",
            step(2)
        ),
    );
    sql(
        &store,
        &format!(
            "UPDATE invocation SET output_hash = x'00' WHERE id = '{}'",
            step(4)
        ),
    );
    sql(
        &store,
        &format!(
            "UPDATE invocation SET model = 'DummyI2T2' WHERE id = '{}'",
            step(7)
        ),
    );
    let found = problems(&store);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(matches!(
        &found[0],
        IssueKind::WrongInput {
            sequence_number: 2,
            found: None,
            ..
        }
    ));
    assert!(matches!(
        &found[1],
        IssueKind::WrongHash {
            sequence_number: 4,
            ..
        }
    ));
    assert!(matches!(
        &found[2],
        IssueKind::WrongModel {
            sequence_number: 7,
            ..
        }
    ));
    let fixed = doctor::fix(&mut store, None).expect("fix");
    assert!(fixed.after.is_healthy(), "{:#?}", fixed.after.issues);
    let invocations = store.invocations(&runs[0].id).expect("invocations");
    // Relinking and rehashing keep the data; only the wrong-model step 7 is cut.
    assert_eq!(invocations.len(), 7);
    assert_eq!(
        invocations[2].input_invocation_id.as_deref(),
        Some(step(1).as_str())
    );
}

#[test]
fn a_wrong_length_stop_is_cleared() {
    let (mut store, runs) = healthy();
    store
        .set_run_stops(&[(runs[2].id.clone(), Some(StopReason::Length))])
        .expect("stop");
    assert_eq!(
        problems(&store),
        vec![IssueKind::WrongLengthStop {
            run_id: runs[2].id.clone(),
            invocations: 3,
            max_length: 8
        }]
    );
    let fixed = doctor::fix(&mut store, None).expect("fix");
    assert!(fixed.after.is_healthy());
    assert_eq!(store.run(&runs[2].id).expect("run").stop, None);
    assert_eq!(
        store.invocations(&runs[2].id).expect("invocations").len(),
        3
    );
}

#[test]
fn bad_vectors_are_deleted() {
    let (mut store, runs) = healthy();
    let invocation = |seq: u32| derived_id(&runs[0].id, &seq.to_string());
    let nan = f32::NAN
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    sql(
        &store,
        &format!(
            "UPDATE embedding SET vector = x'{}' WHERE invocation_id = '{}'",
            nan.repeat(8),
            invocation(1)
        ),
    );
    sql(
        &store,
        &format!(
            "UPDATE embedding SET dimension = 2, vector = x'0000000000000000' WHERE invocation_id = '{}'",
            invocation(3)
        ),
    );
    sql(
        &store,
        &format!(
            "UPDATE prompt_embedding SET vector = x'{}' WHERE run_id = '{}'",
            nan.repeat(8),
            runs[0].id
        ),
    );
    let found = problems(&store);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().any(|issue| matches!(
        issue,
        IssueKind::BadEmbedding {
            problem: VectorProblem::NotFinite,
            ..
        }
    )));
    assert!(found.iter().any(|issue| matches!(
        issue,
        IssueKind::BadEmbedding {
            problem: VectorProblem::Dimension {
                dimension: 2,
                expected: 8
            },
            ..
        }
    )));
    assert!(
        found
            .iter()
            .any(|issue| matches!(issue, IssueKind::BadPromptEmbedding { .. }))
    );
    let before = count(&store, "SELECT count(*) FROM embedding");
    let fixed = doctor::fix(&mut store, None).expect("fix");
    assert!(fixed.after.is_healthy(), "{:#?}", fixed.after.issues);
    assert_eq!(count(&store, "SELECT count(*) FROM embedding"), before - 2);
    assert_eq!(count(&store, "SELECT count(*) FROM prompt_embedding"), 0);
    // Invocations are never touched for a bad embedding.
    assert_eq!(
        store.invocations(&runs[0].id).expect("invocations").len(),
        8
    );
}

#[test]
fn orphans_from_a_database_without_foreign_keys_are_removed() {
    let (mut store, runs) = healthy();
    experiment(&mut store, "bb");
    let other = run("bb", 0, 7, 4);
    store
        .insert_runs(std::slice::from_ref(&other))
        .expect("run");
    write_steps(&mut store, std::slice::from_ref(&other), 0, 4);
    embed_texts(&mut store, &other, EMBEDDER, 8);
    let embedding = derived_id(&derived_id(&other.id, "1"), EMBEDDER);
    sql(&store, "PRAGMA foreign_keys = OFF");
    sql(
        &store,
        &format!(
        "INSERT INTO clustering_result VALUES ('c1', '{EMBEDDER}', 'hdbscan', '{{}}', '{{}}', 0, 0);
         INSERT INTO cluster_assignment VALUES ('c1', '{embedding}', -1);
         INSERT INTO cluster_assignment VALUES ('c1', 'gone', -1);
         DELETE FROM experiment WHERE id = 'bb';"
    ),
    );
    sql(&store, "PRAGMA foreign_keys = ON");
    let found = problems(&store);
    assert!(
        matches!(
            &found[0],
            IssueKind::Orphans {
                table: "run",
                count: 1,
                ..
            }
        ),
        "{found:#?}"
    );
    assert!(found.iter().any(|issue| matches!(
        issue,
        IssueKind::Orphans {
            table: "cluster_assignment",
            count: 1,
            ..
        }
    )));
    // Scoped to an experiment, orphans are not looked for.
    assert!(
        doctor::check(&store, Some("aa"))
            .expect("check")
            .is_healthy()
    );

    let fixed = doctor::fix(&mut store, None).expect("fix");
    assert!(fixed.after.is_healthy(), "{:#?}", fixed.after.issues);
    assert_eq!(
        count(&store, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert_eq!(count(&store, "SELECT count(*) FROM run"), 4);
    assert_eq!(count(&store, "SELECT count(*) FROM cluster_assignment"), 0);
    assert_eq!(
        store.invocations(&runs[0].id).expect("invocations").len(),
        8
    );
}

#[test]
fn issues_serialise_with_their_kind() {
    let (store, _) = healthy();
    let report = doctor::check(&store, None).expect("check");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["issues"][0]["issue"], "incomplete_run");
    assert_eq!(json["issues"][0]["severity"], "info");
    // A step write after fixing works as usual.
    let mut store = store;
    store
        .commit_step(&StepWrite::default())
        .expect("empty step");
}
