//! `cluster vectors` and `project vectors` through the binary: good files give labels and
//! layouts; bad files give a message naming the problem and leave no output behind.

use std::path::Path;
use std::process::Command;

use ndarray::{Array1, Array2};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

fn panic_tda(dir: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_panic-tda"))
        .arg("--db")
        .arg(dir.join("unused.sqlite"))
        .args(args)
        .output()
        .expect("run panic-tda");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

/// Three well-separated groups of 40 points in 8-d, plus two far-away loners.
fn groups() -> Array2<f64> {
    let mut rows = Vec::new();
    for group in 0..3 {
        for i in 0..40 {
            let mut row = vec![0.0f64; 8];
            row[group] = 10.0;
            row[3 + i % 5] += 0.05 * (i as f64 / 40.0);
            row[7] = 0.01 * i as f64;
            rows.extend(row);
        }
    }
    rows.extend([100.0, -100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    rows.extend([-100.0, 100.0, 50.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    Array2::from_shape_vec((122, 8), rows).expect("shape")
}

fn save<A: WriteNpyExt>(path: &Path, array: &A) {
    let mut file = std::fs::File::create(path).expect("create");
    array.write_npy(&mut file).expect("write");
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

#[test]
fn cluster_and_project_good_vector_files() {
    let dir = tempfile::tempdir().expect("dir");
    let data = groups();
    let npy = dir.path().join("vectors.npy");
    save(&npy, &data);
    let labels_path = dir.path().join("labels.npy");
    let (code, text) = panic_tda(
        dir.path(),
        &[
            "cluster",
            "vectors",
            s(&npy),
            "--min-cluster-size",
            "10",
            "--out",
            s(&labels_path),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("3 clusters"), "{text}");
    let labels =
        Array1::<i32>::read_npy(std::fs::File::open(&labels_path).expect("open")).expect("labels");
    assert_eq!(labels.len(), 122);
    for group in 0..3 {
        let first = labels[group * 40];
        assert!(first >= 0);
        assert!(labels.iter().skip(group * 40).take(40).all(|&l| l == first));
    }
    assert_eq!(labels[120], -1);
    assert_eq!(labels[121], -1);

    // Raw float32 with --dim, labels as CSV, a JSON summary.
    let raw = dir.path().join("vectors.f32");
    let bytes: Vec<u8> = data
        .iter()
        .flat_map(|&x| (x as f32).to_le_bytes())
        .collect();
    std::fs::write(&raw, bytes).expect("raw");
    let csv = dir.path().join("labels.csv");
    let (code, text) = panic_tda(
        dir.path(),
        &[
            "cluster",
            "vectors",
            s(&raw),
            "--dim",
            "8",
            "--min-cluster-size",
            "10",
            "--out",
            s(&csv),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{text}");
    let summary: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(summary["clusters"], 3);
    assert_eq!(summary["outliers"], 2);
    let table = std::fs::read_to_string(&csv).expect("csv");
    assert!(table.starts_with("row,label\n0,"), "{table}");
    assert_eq!(table.lines().count(), 123);

    let layout_path = dir.path().join("layout.npy");
    let (code, text) = panic_tda(
        dir.path(),
        &[
            "project",
            "vectors",
            s(&npy),
            "--perplexity",
            "10",
            "--out",
            s(&layout_path),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let layout =
        Array2::<f32>::read_npy(std::fs::File::open(&layout_path).expect("open")).expect("layout");
    assert_eq!(layout.dim(), (122, 2));
    assert!(layout.iter().all(|x| x.is_finite()));
    assert!(
        !dir.path().join("unused.sqlite").exists(),
        "no database is created"
    );
}

#[test]
fn bad_vector_files_are_refused_without_output() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("labels.npy");
    let layout = dir.path().join("layout.csv");
    let mut nan = groups();
    nan[[7, 3]] = f64::NAN;
    let cases: Vec<(&str, Vec<u8>, Vec<&str>, &str)> = vec![
        ("empty.npy", Vec::new(), vec![], "empty"),
        (
            "text.npy",
            b"not numpy".to_vec(),
            vec![],
            "not a valid .npy",
        ),
        (
            "ints.npy",
            npy_bytes(&Array2::<i64>::zeros((3, 2))),
            vec![],
            "float32",
        ),
        (
            "flat.npy",
            npy_bytes(&Array1::<f32>::zeros(6)),
            vec![],
            "1-D",
        ),
        ("nan.npy", npy_bytes(&nan), vec![], "row 7"),
        ("raw.f32", vec![0u8; 20], vec![], "--dim"),
        (
            "raw2.f32",
            vec![0u8; 20],
            vec!["--dim", "3"],
            "not a whole number",
        ),
    ];
    for (name, bytes, extra, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).expect("write");
        for command in ["cluster", "project"] {
            let target = if command == "cluster" { &out } else { &layout };
            let mut args = vec![command, "vectors", s(&path), "--out", s(target)];
            args.extend(&extra);
            let (code, text) = panic_tda(dir.path(), &args);
            assert_ne!(code, 0, "{command} {name}: {text}");
            assert!(text.contains(expected), "{command} {name}: {text}");
            assert!(
                !target.exists(),
                "{command} {name} left {}",
                target.display()
            );
        }
    }
    let good = dir.path().join("good.npy");
    save(&good, &groups());
    let (code, text) = panic_tda(
        dir.path(),
        &["cluster", "vectors", s(&good), "--out", "labels.txt"],
    );
    assert_ne!(code, 0);
    assert!(text.contains(".npy or .csv"), "{text}");
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| {
            name.contains("labels") || name.contains("layout") || name.contains("partial")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn npy_bytes<A: WriteNpyExt>(array: &A) -> Vec<u8> {
    let mut bytes = Vec::new();
    array.write_npy(&mut bytes).expect("npy");
    bytes
}
