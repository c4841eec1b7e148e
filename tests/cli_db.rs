//! The database commands through the binary: exit codes, JSON output, files written.

mod common;

use std::process::Command;

use common::{experiment, run, write_steps};
use panic_tda::store::Store;

fn panic_tda(db: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_panic-tda"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run panic-tda");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn doctor_export_and_images_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite");
    let run_id = {
        let mut store = Store::open(&db).expect("open");
        experiment(&mut store, "abcdef");
        let runs = vec![run("abcdef", 0, 42, 4), run("abcdef", 1, 42, 4)];
        store.insert_runs(&runs).expect("runs");
        write_steps(&mut store, &runs, 0, 4);
        store
            .raw_connection_for_tests()
            .execute(
                "UPDATE invocation SET output_image = x'00' WHERE run_id = ?1 AND sequence_number = 2",
                [&runs[0].id],
            )
            .expect("corrupt");
        runs[1].id.clone()
    };

    let (code, text) = panic_tda(&db, &["doctor", "--json"]);
    assert_eq!(code, 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["report"]["issues"][0]["issue"], "corrupt_image");
    let (code, text) = panic_tda(&db, &["doctor", "--fix"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("incomplete"), "{text}");
    let (code, text) = panic_tda(&db, &["doctor", "--experiment", "abc"]);
    assert_eq!(code, 0, "{text}");

    let subset = dir.path().join("subset.sqlite");
    let (code, text) = panic_tda(
        &db,
        &[
            "db",
            "export",
            subset.to_str().expect("utf8"),
            "--experiment",
            "latest",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(subset.exists());

    let images = dir.path().join("images");
    let (code, text) = panic_tda(
        &db,
        &[
            "db",
            "export-images",
            images.to_str().expect("utf8"),
            "--run",
            &run_id[..10],
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(images.join("step-00000.png").exists() && images.join("run.json").exists());

    let parquet = dir.path().join("parquet");
    let (code, text) = panic_tda(
        &db,
        &[
            "db",
            "export-parquet",
            parquet.to_str().expect("utf8"),
            "--experiment",
            "abcdef",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(parquet.join("invocations.parquet").exists());

    let (code, text) = panic_tda(&dir.path().join("missing.sqlite"), &["doctor"]);
    assert_eq!(code, 1);
    assert!(text.contains("no database"), "{text}");
}

#[test]
fn bad_configs_get_a_message_naming_the_problem_and_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite");
    let good = r#"{"networks": [["DummyT2I", "DummyI2T"]], "prompts": ["a cat"],
        "seeds": [1], "embedding_models": ["DummyText"], "max_length": 10}"#;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "ten.json",
            good.replace(r#""max_length": 10"#, r#""max_length": "ten""#)
                .into_bytes(),
            "field `max_length`",
        ),
        ("empty.json", Vec::new(), "is empty"),
        (
            "latin1.json",
            b"{\"prompts\": [\"caf\xe9\"]}".to_vec(),
            "not UTF-8",
        ),
        (
            "unknown.json",
            good.replace("DummyI2T", "NoSuchModel").into_bytes(),
            "unknown model 'NoSuchModel'",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let (code, text) = panic_tda(&db, &["experiment", "run", path.to_str().expect("utf-8")]);
        assert_ne!(code, 0, "{name}: {text}");
        assert!(text.contains(expected), "{name}: {text}");
        assert!(!text.contains("panicked"), "{name}: {text}");
    }
    if db.exists() {
        let store = Store::open(&db).expect("open");
        assert!(store.list_experiments().expect("list").is_empty());
    }
}

#[test]
fn model_names_accept_hugging_face_ids_and_enum_values_any_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite");
    let config = dir.path().join("hf.json");
    std::fs::write(
        &config,
        r#"{"networks": [["DummyT2I", "DummyI2T"]], "prompts": ["a cat"], "seeds": [1],
            "embedding_models": ["sentence-transformers/all-MiniLM-L6-v2"], "max_length": 4}"#,
    )
    .expect("write");
    let (code, text) = panic_tda(
        &db,
        &[
            "experiment",
            "run",
            "--dry-run",
            config.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("MiniLM"), "{text}");
    // Upper-case enum values parse; the command then fails on the missing experiment, not on them.
    for resolution in ["HD", "4K", "hd"] {
        let (code, text) = panic_tda(
            &db,
            &[
                "export",
                "video",
                "nope",
                "--resolution",
                resolution,
                "--codec",
                "H264",
            ],
        );
        assert_ne!(code, 0, "{text}");
        assert!(!text.contains("invalid value"), "{resolution}: {text}");
    }
}
