//! `export figure`: the t-SNE map of a small hand-built experiment in every format, and the
//! errors a user can run into.

mod common;

use common::{clustering_record, embed_texts, experiment, run, write_steps};
use panic_tda::export::charts::ChartError;
use panic_tda::export::figure::{
    ClusteringChoice, FigureError, FigureRequest, FigureSize, export_figure,
};
use panic_tda::store::{
    ClusterAssignment, ClusterRecord, OUTLIER, ProjectionPoint, ProjectionRecord, RunRecord, Store,
};

const EXPERIMENT: &str = "f1f1f1f1a2a2b3b3c4c4d5d5e6e6e6e6";

/// Two runs of 12 steps (6 embedded captions each), clustered into two clusters and an outlier.
fn database(with_projection: bool) -> (Store, Vec<RunRecord>) {
    let mut store = Store::open_in_memory().expect("store");
    experiment(&mut store, EXPERIMENT);
    let runs = vec![run(EXPERIMENT, 0, 1, 12), run(EXPERIMENT, 1, 2, 12)];
    store.insert_runs(&runs).expect("runs");
    write_steps(&mut store, &runs, 0, 12);
    let embeddings: Vec<Vec<String>> = runs
        .iter()
        .map(|r| embed_texts(&mut store, r, "M", 8))
        .collect();
    let mut assignments = Vec::new();
    let mut points = Vec::new();
    for (r, ids) in embeddings.iter().enumerate() {
        for (i, id) in ids.iter().enumerate() {
            let label = match (r, i) {
                (1, 3) => OUTLIER,
                (_, i) if i < 3 => 0,
                _ => 1,
            };
            assignments.push(ClusterAssignment {
                embedding_id: id.clone(),
                label,
            });
            // Wide in x, narrow in y: equal aspect must not stretch y.
            points.push(ProjectionPoint {
                embedding_id: id.clone(),
                x: i as f32 * 4.0 + r as f32,
                y: (i as f32).sin() + r as f32 * 2.0,
            });
        }
    }
    let clusters = [0, 1]
        .map(|label| ClusterRecord {
            label,
            size: 5,
            medoid_embedding_id: None,
            centroid: vec![0.0; 8],
            display_name: format!(
                "a long medoid caption for cluster {label} that must wrap in the legend"
            ),
        })
        .to_vec();
    store
        .insert_clustering(
            &clustering_record("c1c1c1c1", "M", EXPERIMENT),
            &clusters,
            &assignments,
        )
        .expect("clustering");
    if with_projection {
        store
            .insert_projection(
                &ProjectionRecord {
                    id: "p1p1p1p1".into(),
                    embedding_model: "M".into(),
                    method: "tsne".into(),
                    parameters_json: "{}".into(),
                    scope_json: "{}".into(),
                    created_at: 6,
                    experiment_ids: vec![EXPERIMENT.into()],
                },
                &points,
            )
            .expect("projection");
    }
    (store, runs)
}

/// Copies the written figures to `FIGURE_TEST_DUMP`, when set, to look at them.
fn dump(dir: &std::path::Path) {
    if let Some(out) = std::env::var_os("FIGURE_TEST_DUMP") {
        for entry in std::fs::read_dir(dir).expect("list") {
            let path = entry.expect("entry").path();
            if let Some(name) = path.file_name() {
                std::fs::copy(&path, std::path::Path::new(&out).join(name)).expect("dump");
            }
        }
    }
}

fn request(dir: &std::path::Path, name: &str, runs: &[RunRecord]) -> FigureRequest {
    let mut request = FigureRequest::new(EXPERIMENT, dir.join(name));
    request.runs = runs.iter().map(|r| r.id[..12].to_owned()).collect();
    request.step = Some(7);
    request
}

#[test]
fn the_map_is_written_as_png_svg_and_pdf() {
    let (store, runs) = database(true);
    let dir = tempfile::tempdir().expect("tempdir");

    let summary = export_figure(&store, &request(dir.path(), "map.png", &runs)).expect("png");
    assert_eq!(summary.projection_id, "p1p1p1p1");
    assert_eq!(summary.clustering_id.as_deref(), Some("c1c1c1c1"));
    assert_eq!((summary.points, summary.runs), (12, 2));
    assert!(summary.width >= 2000, "print resolution by default");
    let png = image::open(dir.path().join("map.png"))
        .expect("decodes")
        .to_rgb8();
    assert_eq!((png.width(), png.height()), (summary.width, summary.height));
    // Cluster 0's colour (the app's palette) is on the map.
    assert!(png.pixels().any(|p| p.0 == [230, 25, 75]), "cluster colour");

    export_figure(&store, &request(dir.path(), "map.svg", &runs)).expect("svg");
    let svg = std::fs::read_to_string(dir.path().join("map.svg")).expect("svg text");
    for text in [
        "t-SNE of M embeddings",
        "step 7",
        "outliers (1)",
        "run 2",
        "0: a long",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    // Older segments fade: several opacities on the trajectory strokes.
    assert!(svg.matches("opacity=\"0.").count() >= 3);

    export_figure(&store, &request(dir.path(), "map.PDF", &runs)).expect("pdf");
    let pdf = std::fs::read(dir.path().join("map.PDF")).expect("pdf bytes");
    assert!(
        pdf.starts_with(b"%PDF-") && pdf.len() > 5_000,
        "{}",
        pdf.len()
    );

    dump(dir.path());
    // No partial files left beside them.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["map.PDF", "map.png", "map.svg"]);
}

#[test]
fn size_model_and_clustering_options() {
    let (store, runs) = database(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut small = request(dir.path(), "small.png", &runs[..1]);
    small.size = FigureSize::Pixels {
        width: 900,
        height: 600,
    };
    small.step = None;
    small.clustering = ClusteringChoice::None;
    let summary = export_figure(&store, &small).expect("small");
    assert_eq!((summary.width, summary.height), (900, 600));
    assert_eq!(summary.clustering_id, None);

    let mut dpi = request(dir.path(), "dpi.png", &[]);
    dpi.step = None;
    dpi.size = FigureSize::Dpi(100);
    dpi.model = Some("M".into());
    dpi.clustering = ClusteringChoice::Id("c1c1".into());
    let summary = export_figure(&store, &dpi).expect("dpi");
    assert_eq!(summary.width, 800);
    assert_eq!(summary.clustering_id.as_deref(), Some("c1c1c1c1"));
}

#[test]
fn errors_say_what_is_wrong() {
    let (store, runs) = database(false);
    let dir = tempfile::tempdir().expect("tempdir");
    let error = export_figure(&store, &request(dir.path(), "map.png", &runs)).unwrap_err();
    assert!(matches!(error, FigureError::NoProjection { .. }), "{error}");
    assert!(
        error.to_string().contains("panic-tda project run"),
        "names the command: {error}"
    );

    let (store, runs) = database(true);
    let error = export_figure(&store, &request(dir.path(), "map.jpg", &runs)).unwrap_err();
    assert!(
        matches!(error, FigureError::Chart(ChartError::UnknownFormat { .. })),
        "{error}"
    );

    let mut unknown = request(dir.path(), "map.png", &runs);
    unknown.runs = vec!["ffffffffffff".into()];
    let error = export_figure(&store, &unknown).unwrap_err();
    assert!(matches!(error, FigureError::UnknownRun { .. }), "{error}");

    let mut beyond = request(dir.path(), "map.png", &runs);
    beyond.step = Some(12);
    let error = export_figure(&store, &beyond).unwrap_err();
    assert!(
        matches!(
            error,
            FigureError::StepBeyond {
                step: 12,
                last: 11,
                ..
            }
        ),
        "{error}"
    );

    let mut wrong_model = request(dir.path(), "map.png", &runs);
    wrong_model.model = Some("N".into());
    let error = export_figure(&store, &wrong_model).unwrap_err();
    assert!(matches!(error, FigureError::NoProjection { .. }), "{error}");
    assert!(
        std::fs::read_dir(dir.path())
            .expect("list")
            .next()
            .is_none()
    );
}
