//! Mosaic video and timeline export end to end: a small experiment built with the store API
//! (solid-colour images, captions, embeddings, a clustering with known labels), exported at
//! 640×360 and decoded back.

use std::path::Path;
use std::process::Command;

use image::{Rgb, RgbImage};
use panic_tda::engine::CancelToken;
use panic_tda::export::frames::{OUTLIER_DARK, OUTLIER_LIGHT, cluster_colour};
use panic_tda::export::timeline::export_timeline;
use panic_tda::export::video::{
    IndicatorSource, MosaicOrder, Resolution, VideoExportError, VideoRequest, VideoSummary,
    export_video,
};
use panic_tda::export::video_writer::decode_all;
use panic_tda::models::Output;
use panic_tda::store::{
    ClusterAssignment, ClusterRecord, ClusteringRecord, EmbeddingRecord, ExperimentRecord,
    ExperimentStatus, InvocationRecord, ProjectionPoint, ProjectionRecord, RunRecord, StepWrite,
    StopReason, Store, derived_id,
};

const EXPERIMENT: &str = "e0e0e0e0";
/// Config order on purpose not alphabetical.
const PROMPTS: [&str; 3] = ["zebra", "apple", "mango"];
const NETWORK: [&str; 2] = ["DummyT2I", "DummyI2T"];
const MAX_LENGTH: u32 = 6;
/// Run (prompt 2, seed 1) stops after 4 invocations (2 image steps).
const SHORT: (u32, u32) = (2, 1);

/// The colour of run (prompt, seed)'s image at image step `step`.
fn colour(prompt: u32, seed: u32, step: u32) -> [u8; 3] {
    [
        (40 + 80 * prompt) as u8,
        (60 + 120 * seed) as u8,
        (50 + 70 * step) as u8,
    ]
}

/// Cluster label of the caption of image step `step` of run (prompt, seed).
fn label(prompt: u32, seed: u32, step: u32) -> i32 {
    if (prompt, seed, step) == (1, 0, 1) {
        -1
    } else {
        ((prompt + seed + step) % 3) as i32
    }
}

fn run_record(prompt: u32, seed: u32) -> RunRecord {
    RunRecord {
        id: derived_id(EXPERIMENT, &format!("{prompt}/{seed}")),
        experiment_id: EXPERIMENT.into(),
        network_index: 0,
        network: NETWORK.iter().map(|s| s.to_string()).collect(),
        prompt_index: prompt,
        initial_prompt: PROMPTS[prompt as usize].into(),
        seed_index: seed,
        seed: seed as i64,
        max_length: MAX_LENGTH,
        stop: None,
    }
}

fn length(prompt: u32, seed: u32) -> u32 {
    if (prompt, seed) == SHORT {
        4
    } else {
        MAX_LENGTH
    }
}

/// Builds the experiment; returns the store and its runs as (prompt, seed, record).
fn build(dir: &Path) -> (Store, Vec<(u32, u32, RunRecord)>) {
    let mut store = Store::open(&dir.join("db.sqlite")).expect("open");
    let config = serde_json::json!({
        "networks": [NETWORK],
        "prompts": PROMPTS,
        "seeds": [0, 1],
        "embedding_models": ["TestEmbedder"],
        "max_length": MAX_LENGTH,
    });
    store
        .insert_experiment(&ExperimentRecord {
            id: EXPERIMENT.into(),
            config_json: config.to_string(),
            created_at: 1,
            started_at: Some(1),
            completed_at: Some(2),
            status: ExperimentStatus::Completed,
        })
        .expect("experiment");
    let runs: Vec<(u32, u32, RunRecord)> = (0..3)
        .flat_map(|p| (0..2).map(move |s| (p, s, run_record(p, s))))
        .collect();
    store
        .insert_runs(&runs.iter().map(|(_, _, r)| r.clone()).collect::<Vec<_>>())
        .expect("runs");
    let mut embeddings = Vec::new();
    let mut assignments = Vec::new();
    for sequence in 0..MAX_LENGTH {
        let mut step = StepWrite::default();
        for (p, s, run) in &runs {
            if sequence >= length(*p, *s) {
                continue;
            }
            let image_step = sequence / 2;
            let output = if sequence % 2 == 0 {
                Output::Image(RgbImage::from_pixel(
                    64,
                    64,
                    Rgb(colour(*p, *s, image_step)),
                ))
            } else {
                Output::Text(format!(
                    "caption of {} step {image_step}",
                    PROMPTS[*p as usize]
                ))
            };
            let id = derived_id(&run.id, &sequence.to_string());
            if sequence % 2 == 1 {
                let embedding_id = derived_id(&id, "TestEmbedder");
                embeddings.push(EmbeddingRecord {
                    id: embedding_id.clone(),
                    invocation_id: id.clone(),
                    embedding_model: "TestEmbedder".into(),
                    vector: vec![*p as f32, *s as f32, image_step as f32],
                    started_at: 1,
                    completed_at: 2,
                });
                assignments.push(ClusterAssignment {
                    embedding_id,
                    label: label(*p, *s, image_step),
                });
            }
            step.invocations.push(InvocationRecord {
                id,
                run_id: run.id.clone(),
                sequence_number: sequence,
                model: NETWORK[sequence as usize % 2].into(),
                input_invocation_id: sequence
                    .checked_sub(1)
                    .map(|prev| derived_id(&run.id, &prev.to_string())),
                seed: run.seed,
                output,
                batch_size: 1,
                started_at: 1,
                completed_at: 2,
            });
            if sequence + 1 == length(*p, *s) {
                let stop = if (*p, *s) == SHORT {
                    StopReason::Duplicate { loop_length: 2 }
                } else {
                    StopReason::Length
                };
                step.stops.push((run.id.clone(), stop));
            }
        }
        store.commit_step(&step).expect("step");
    }
    store.insert_embeddings(&embeddings).expect("embeddings");
    let clusters: Vec<ClusterRecord> = (0..3)
        .map(|label| ClusterRecord {
            label,
            size: 1,
            medoid_embedding_id: None,
            centroid: vec![0.0; 3],
            display_name: format!("group {label}"),
        })
        .collect();
    store
        .insert_clustering(
            &ClusteringRecord {
                id: "c1c1c1c1".into(),
                embedding_model: "TestEmbedder".into(),
                algorithm: "hdbscan".into(),
                parameters_json: "{}".into(),
                scope_json: "{}".into(),
                created_at: 5,
                duration_ms: 1,
                experiment_ids: vec![EXPERIMENT.into()],
            },
            &clusters,
            &assignments,
        )
        .expect("clustering");
    (store, runs)
}

fn request(dir: &Path, name: &str) -> VideoRequest {
    let mut request = VideoRequest::new(vec![EXPERIMENT.into()], dir.join(name));
    request.resolution = Resolution::Custom {
        width: 640,
        height: 360,
    };
    // Near-lossless so sampled colours survive encoding.
    request.crf = 8;
    request
}

fn export(store: &Store, request: &VideoRequest) -> Result<VideoSummary, VideoExportError> {
    export_video(store, request, &mut |_| {}, &CancelToken::new())
}

/// For looking at the result: VIDEO_TEST_DUMP=dir saves decoded frames as PNG.
fn dump(frames: &[RgbImage], name: &str) {
    if let Some(dir) = std::env::var_os("VIDEO_TEST_DUMP") {
        for (i, frame) in frames.iter().enumerate() {
            let path = Path::new(&dir).join(format!("{name}{i}.png"));
            frame.save(path).expect("dump");
        }
    }
}

fn close(pixel: [u8; 3], expected: [u8; 3], tolerance: i32) -> bool {
    (0..3).all(|c| (pixel[c] as i32 - expected[c] as i32).abs() <= tolerance)
}

/// (prompt, seed) of the run shown in tile (p, 0, s) of the summary.
fn tile_run(
    summary: &VideoSummary,
    runs: &[(u32, u32, RunRecord)],
    p: usize,
    s: usize,
) -> (u32, u32) {
    let index = summary.layout.tile_index(p, 0, s);
    let id = summary.tile_runs[index].as_deref().expect("run in tile");
    let (prompt, seed, _) = runs.iter().find(|(_, _, r)| r.id == id).expect("known run");
    (*prompt, *seed)
}

#[test]
fn the_mosaic_shows_each_runs_images_and_cluster_at_every_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, runs) = build(dir.path());
    let request = request(dir.path(), "mosaic.mp4");
    let summary = export(&store, &request).expect("export");
    assert_eq!(summary.clustering_id.as_deref(), Some("c1c1c1c1"));
    assert_eq!(summary.prompts, PROMPTS);
    assert_eq!(summary.networks, vec!["DummyT2I → DummyI2T"]);
    let video = decode_all(&summary.path).expect("decode");
    dump(&video.frames, "mosaic");
    assert_eq!((video.width, video.height), (640, 360));
    assert_eq!(video.frames.len(), 3, "one frame per image step");
    let layout = &summary.layout;
    assert!(layout.ring >= 4, "ring {}", layout.ring);
    for (frame_index, frame) in video.frames.iter().enumerate() {
        for p in 0..3 {
            for s in 0..2 {
                let tile = layout.tile(p, 0, s);
                let (prompt, seed) = tile_run(&summary, &runs, p, s);
                assert_eq!((prompt, seed), (p as u32, s as u32), "config order");
                // A run that stopped early holds its last image.
                let step = (frame_index as u32).min(length(prompt, seed) / 2 - 1);
                let (cx, cy) = tile.image.center();
                let pixel = frame.get_pixel(cx, cy).0;
                let expected = colour(prompt, seed, step);
                assert!(
                    close(pixel, expected, 16),
                    "frame {frame_index} tile {p},{s}: {pixel:?} vs {expected:?}"
                );
                let ring = frame.get_pixel(cx, tile.image.y - layout.ring / 2 - 1).0;
                let label = label(prompt, seed, step);
                if label < 0 {
                    let grey = (ring[0] as i32 - ring[1] as i32).abs() < 20
                        && (ring[1] as i32 - ring[2] as i32).abs() < 20
                        && (OUTLIER_DARK.0[0] - 20..=OUTLIER_LIGHT.0[0] + 20).contains(&ring[0]);
                    assert!(grey, "frame {frame_index} outlier ring {ring:?}");
                } else {
                    let expected = cluster_colour(label).0;
                    assert!(
                        close(ring, expected, 30),
                        "frame {frame_index} tile {p},{s} ring {ring:?} vs cluster {label} {expected:?}"
                    );
                }
            }
        }
        // The prompt labels are drawn (white text) where the layout put them.
        let rect = layout.prompt_labels[0];
        let lit = (rect.x..rect.right())
            .flat_map(|x| (rect.y..rect.bottom()).map(move |y| (x, y)))
            .filter(|(x, y)| frame.get_pixel(*x, *y).0.iter().all(|c| *c > 150))
            .count();
        assert!(lit > 10, "prompt label pixels: {lit}");
    }
    // The short run is marked while it holds its last image: its badge is red-ish.
    let short = layout.tile(SHORT.0 as usize, 0, SHORT.1 as usize).image;
    let badge = video.frames[2].get_pixel(short.x + 2, short.y + 2).0;
    assert!(badge[0] > badge[1] + 30, "badge {badge:?}");
}

#[test]
fn prompt_order_follows_config_a_custom_order_or_the_alphabet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, runs) = build(dir.path());
    let first_frame =
        |summary: &VideoSummary| decode_all(&summary.path).expect("decode").frames.remove(0);
    let check = |summary: &VideoSummary, expected: [&str; 3]| {
        assert_eq!(summary.prompts, expected);
        let frame = first_frame(summary);
        for (position, prompt) in expected.iter().enumerate() {
            let index = PROMPTS.iter().position(|p| p == prompt).expect("prompt") as u32;
            let (p, _) = tile_run(summary, &runs, position, 0);
            assert_eq!(p, index);
            // The tile's pixels, not only the summary, carry the prompt's colour.
            let (cx, cy) = summary.layout.tile(position, 0, 0).image.center();
            let pixel = frame.get_pixel(cx, cy).0;
            assert!(close(pixel, colour(index, 0, 0), 16), "{prompt}: {pixel:?}");
        }
    };
    let mut custom = request(dir.path(), "custom.mp4");
    custom.order = MosaicOrder {
        prompts: Some(vec!["mango".into()]),
        alphabetical: false,
    };
    check(
        &export(&store, &custom).expect("custom"),
        ["mango", "zebra", "apple"],
    );
    let mut alphabetical = request(dir.path(), "alpha.mp4");
    alphabetical.order.alphabetical = true;
    check(
        &export(&store, &alphabetical).expect("alphabetical"),
        ["apple", "mango", "zebra"],
    );

    let mut unknown = request(dir.path(), "unknown.mp4");
    unknown.order.prompts = Some(vec!["apple".into(), "banana".into()]);
    let err = export(&store, &unknown).expect_err("unknown prompt");
    assert!(err.to_string().contains("\"banana\""), "{err}");
    assert!(!dir.path().join("unknown.mp4").exists());
}

#[test]
fn a_cancelled_export_leaves_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = build(dir.path());
    let request = request(dir.path(), "cancelled.mp4");
    let cancel = CancelToken::new();
    let mut seen = 0;
    let result = export_video(
        &store,
        &request,
        &mut |progress| {
            seen = progress.frames_done;
            cancel.cancel();
        },
        &cancel,
    );
    assert!(
        matches!(result, Err(VideoExportError::Cancelled)),
        "{result:?}"
    );
    assert_eq!(seen, 1);
    let videos: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("cancelled"))
        .collect();
    assert!(videos.is_empty(), "{videos:?}");
}

#[test]
fn captions_inset_and_no_indicator_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, runs) = build(dir.path());
    let mut inset = request(dir.path(), "inset.mp4");
    inset.tsne_inset = true;
    inset.captions = true;
    let err = export(&store, &inset).expect_err("no projection yet");
    assert!(matches!(err, VideoExportError::NoProjection(_)), "{err}");

    let points: Vec<ProjectionPoint> = runs
        .iter()
        .flat_map(|(p, s, run)| {
            (0..length(*p, *s) / 2).map(move |step| ProjectionPoint {
                embedding_id: derived_id(
                    &derived_id(&run.id, &(2 * step + 1).to_string()),
                    "TestEmbedder",
                ),
                x: *p as f32 + step as f32 * 0.3,
                y: *s as f32,
            })
        })
        .collect();
    store
        .insert_projection(
            &ProjectionRecord {
                id: "p1p1p1p1".into(),
                embedding_model: "TestEmbedder".into(),
                method: "tsne".into(),
                parameters_json: "{}".into(),
                scope_json: "{}".into(),
                created_at: 3,
                experiment_ids: vec![EXPERIMENT.into()],
            },
            &points,
        )
        .expect("projection");
    let summary = export(&store, &inset).expect("inset export");
    assert_eq!(summary.projection_id.as_deref(), Some("p1p1p1p1"));
    let inset_rect = summary.layout.inset.expect("inset");
    let frames = decode_all(&summary.path).expect("decode").frames;
    dump(&frames, "inset");
    let frame = &frames[0];
    let lit = (inset_rect.x..inset_rect.right())
        .flat_map(|x| (inset_rect.y..inset_rect.bottom()).map(move |y| (x, y)))
        .filter(|(x, y)| frame.get_pixel(*x, *y).0.iter().any(|c| *c > 100))
        .count();
    assert!(lit > 20, "inset points drawn: {lit}");
    // Captions go in the strip under each tile.
    let caption = summary.layout.tile(0, 0, 0).caption.expect("caption strip");
    let text = (caption.x..caption.right())
        .flat_map(|x| (caption.y..caption.bottom()).map(move |y| (x, y)))
        .filter(|(x, y)| frame.get_pixel(*x, *y).0.iter().all(|c| *c > 120))
        .count();
    assert!(text > 10, "caption pixels: {text}");

    let mut plain = request(dir.path(), "plain.mp4");
    plain.indicator = IndicatorSource::Off;
    let summary = export(&store, &plain).expect("plain");
    assert_eq!(summary.layout.ring, 0);
    assert!(summary.clustering_id.is_none() && summary.layout.legend.is_none());
}

#[test]
fn a_timeline_has_a_row_of_evenly_spaced_images_per_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, runs) = build(dir.path());
    let ids: Vec<String> = runs[..2].iter().map(|(_, _, r)| r.id.clone()).collect();
    let out = dir.path().join("timeline.png");
    let summary = export_timeline(&store, &ids, 2, &out).expect("timeline");
    assert_eq!(summary.sequences, vec![vec![0, 4], vec![0, 4]]);
    let image = image::open(&out).expect("png").to_rgb8();
    assert_eq!(image.dimensions(), (summary.width, summary.height));
    // Both images of the first row appear, in step order, left to right.
    let row: Vec<[u8; 3]> = (0..image.width())
        .map(|x| image.get_pixel(x, image.height() / 4).0)
        .collect();
    let first = row.iter().position(|p| *p == colour(0, 0, 0));
    let last = row.iter().rposition(|p| *p == colour(0, 0, 2));
    assert!(
        matches!((first, last), (Some(a), Some(b)) if a < b),
        "{first:?} {last:?}"
    );
}

#[test]
fn the_cli_exports_a_video_and_rejects_unknown_prompts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite");
    drop(build(dir.path()));
    let out = dir.path().join("cli.mp4");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_panic-tda"))
            .arg("--db")
            .arg(&db)
            .args(["export", "video", "e0e0", "--size", "320x180", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .expect("run panic-tda")
    };
    let ok = run(&["--prompt-order", "apple,zebra", "--captions"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(decode_all(&out).expect("decode").frames.len(), 3);
    std::fs::remove_file(&out).expect("remove");
    let bad = run(&["--prompt-order", "apple,kiwi"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"kiwi\""));
    assert!(!out.exists());
}
