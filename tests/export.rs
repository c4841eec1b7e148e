//! Exports: SQLite subset, Parquet tables, run images as PNG with metadata.

mod common;

use common::{count, embed_texts, experiment, run, write_steps};
use panic_tda::models::Output;
use panic_tda::store::export::{ExportError, export_parquet, export_run_images, export_subset};
use panic_tda::store::{ClusterAssignment, ClusteringRecord, Store, doctor};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

fn clustering(id: &str, experiments: &[&str]) -> ClusteringRecord {
    ClusteringRecord {
        id: id.into(),
        embedding_model: "TestEmbedder".into(),
        algorithm: "hdbscan".into(),
        parameters_json: "{}".into(),
        scope_json: "{}".into(),
        created_at: 0,
        duration_ms: 0,
        experiment_ids: experiments.iter().map(|s| s.to_string()).collect(),
    }
}

/// Experiments aa and bb (two runs of 4 steps each, embedded), a clustering of each alone
/// and one of both.
fn source(dir: &std::path::Path) -> Store {
    let mut store = Store::open(&dir.join("source.sqlite")).expect("open");
    let mut all = Vec::new();
    for id in ["aa", "bb"] {
        experiment(&mut store, id);
        let runs = vec![run(id, 0, 42, 4), run(id, 1, 42, 4)];
        store.insert_runs(&runs).expect("runs");
        write_steps(&mut store, &runs, 0, 4);
        let mut embeddings = Vec::new();
        for r in &runs {
            embeddings.extend(embed_texts(&mut store, r, "TestEmbedder", 6));
        }
        let assignments: Vec<ClusterAssignment> = embeddings
            .iter()
            .map(|e| ClusterAssignment {
                embedding_id: e.clone(),
                label: -1,
            })
            .collect();
        store
            .insert_clustering(&clustering(&format!("c-{id}"), &[id]), &[], &assignments)
            .expect("clustering");
        all.extend(assignments);
    }
    store
        .insert_clustering(&clustering("both", &["aa", "bb"]), &[], &all)
        .expect("shared clustering");
    store
}

#[test]
fn a_subset_keeps_referential_integrity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = source(dir.path());
    let out = dir.path().join("subset.sqlite");
    let summary = export_subset(&store, &out, &["aa".to_owned()]).expect("export");
    let rows = |table: &str| {
        summary
            .tables
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, n)| *n)
    };
    assert_eq!(rows("run"), Some(2));
    assert_eq!(rows("invocation"), Some(8));
    assert_eq!(rows("embedding"), Some(4));
    assert_eq!(rows("clustering_result"), Some(1));

    let subset = Store::open(&out).expect("open subset");
    assert_eq!(count(&subset, "SELECT count(*) FROM experiment"), 1);
    assert!(subset.clustering("c-aa").is_ok());
    assert!(
        subset.clustering("both").is_err(),
        "a clustering of a left-out experiment is not copied"
    );
    assert_eq!(
        count(&subset, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    assert!(doctor::check(&subset, None).expect("doctor").is_healthy());
    let runs = subset.runs("aa").expect("runs");
    assert_eq!(
        subset.invocations(&runs[0].id).expect("steps"),
        store.invocations(&runs[0].id).expect("steps")
    );

    // The source is unchanged and usable; the file is never overwritten.
    assert_eq!(count(&store, "SELECT count(*) FROM experiment"), 2);
    assert!(matches!(
        export_subset(&store, &out, &["aa".to_owned()]),
        Err(ExportError::Exists { .. })
    ));
    assert!(export_subset(&store, &dir.path().join("x.sqlite"), &["zz".to_owned()]).is_err());

    // Both experiments: the shared clustering comes along.
    let both = dir.path().join("both.sqlite");
    export_subset(&store, &both, &["aa".to_owned(), "bb".to_owned()]).expect("export both");
    let both = Store::open(&both).expect("open");
    assert_eq!(
        both.cluster_assignments("both").expect("assignments").len(),
        8
    );
}

#[test]
fn parquet_tables_hold_the_rows_and_vectors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = source(dir.path());
    let out = dir.path().join("parquet");
    let files = export_parquet(&store, &out, &["bb".to_owned()]).expect("export");
    let rows = |name: &str| {
        files
            .iter()
            .find(|(path, _)| path.ends_with(format!("{name}.parquet")))
            .map(|(_, n)| *n)
    };
    assert_eq!(rows("runs"), Some(2));
    assert_eq!(rows("invocations"), Some(8));
    assert_eq!(rows("embeddings"), Some(4));
    assert_eq!(rows("cluster_assignments"), Some(8));

    let reader = SerializedFileReader::new(
        std::fs::File::open(out.join("embeddings.parquet")).expect("file"),
    )
    .expect("reader");
    assert_eq!(reader.metadata().file_metadata().num_rows(), 4);
    let first = reader
        .get_row_iter(None)
        .expect("rows")
        .next()
        .expect("a row")
        .expect("row");
    let vector = first
        .get_column_iter()
        .find(|(name, _)| name.as_str() == "vector")
        .map(|(_, field)| field.clone())
        .expect("vector column");
    let Field::ListInternal(list) = vector else {
        panic!("vector is not a list: {vector:?}");
    };
    let values: Vec<f32> = list
        .elements()
        .iter()
        .map(|f| match f {
            Field::Float(v) => *v,
            other => panic!("not a float: {other:?}"),
        })
        .collect();
    assert_eq!(
        values,
        (0..6).map(|i| (i as f32 + 1.0).sin()).collect::<Vec<_>>()
    );

    let reader = SerializedFileReader::new(
        std::fs::File::open(out.join("invocations.parquet")).expect("file"),
    )
    .expect("reader");
    let texts: Vec<Option<String>> = reader
        .get_row_iter(None)
        .expect("rows")
        .map(|row| {
            let row = row.expect("row");
            row.get_column_iter()
                .find(|(name, _)| name.as_str() == "output_text")
                .and_then(|(_, field)| match field {
                    Field::Str(text) => Some(text.clone()),
                    _ => None,
                })
        })
        .collect();
    assert_eq!(texts[0], None, "image steps have no text");
    assert_eq!(texts[1].as_deref(), Some("caption 1 of 0"));
}

#[test]
fn run_images_are_pngs_with_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = source(dir.path());
    let runs = store.runs("aa").expect("runs");
    let out = dir.path().join("images");
    let files = export_run_images(&store, &runs[1].id, &out).expect("export");
    assert_eq!(files.len(), 3, "two images and the sidecar");
    let steps = store.invocations(&runs[1].id).expect("steps");
    let Output::Image(expected) = &steps[2].output else {
        panic!("step 2 is an image");
    };
    let png_path = out.join("step-00002.png");
    let decoded = image::open(&png_path).expect("png").to_rgb8();
    assert_eq!(&decoded, expected);
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).expect("file"),
    ));
    let reader = decoder.read_info().expect("info");
    let texts: Vec<(String, String)> = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .map(|chunk| (chunk.keyword.clone(), chunk.text.clone()))
        .collect();
    assert!(
        texts.contains(&("Prompt".into(), "prompt 1".into())),
        "{texts:?}"
    );
    assert!(texts.contains(&("Model".into(), "DummyT2I".into())));
    assert!(texts.contains(&("Step".into(), "2".into())));
    assert!(texts.contains(&("Seed".into(), "42".into())));
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).expect("sidecar"))
            .expect("json");
    assert_eq!(sidecar["steps"].as_array().map(Vec::len), Some(4));
    assert_eq!(sidecar["steps"][1]["text"], "caption 1 of 1");
    assert_eq!(sidecar["run"]["initial_prompt"], "prompt 1");
}
