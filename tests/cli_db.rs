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
            .connection()
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
