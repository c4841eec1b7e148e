//! Mosaic video export throughput: builds a synthetic experiment (4 prompts × 4 networks ×
//! 8 seeds × 100 steps, 256×256 images) in `VIDEO_BENCH_DB` unless it exists, then exports it
//! as a 4K H.264 mosaic to `VIDEO_BENCH_OUT` and prints one JSON line with frames/s.
//!
//! Run through `benches/video_compare.sh`, which also runs the Pillow + ffmpeg CLI pipeline.

use std::path::PathBuf;
use std::time::Instant;

use image::RgbImage;
use panic_tda::engine::CancelToken;
use panic_tda::export::video::{Resolution, VideoRequest, export_video};
use panic_tda::models::Output;
use panic_tda::store::{
    ClusterAssignment, ClusterRecord, ClusteringRecord, EmbeddingRecord, ExperimentRecord,
    ExperimentStatus, InvocationRecord, RunRecord, StepWrite, StopReason, Store, derived_id,
};

const EXPERIMENT: &str = "0bench0";
const PROMPTS: u32 = 4;
const NETWORKS: u32 = 4;
const SEEDS: u32 = 8;
const STEPS: u32 = 100;
const NETWORK_MODELS: [[&str; 2]; 4] = [
    ["DummyT2I", "DummyI2T"],
    ["DummyT2I", "DummyI2T2"],
    ["DummyT2I2", "DummyI2T"],
    ["DummyT2I2", "DummyI2T2"],
];

/// Smooth shapes that drift with the step, plus mild noise: compresses like generated images.
fn picture(run: u32, step: u32) -> RgbImage {
    let mut state = (run * 7919 + step).wrapping_mul(2_654_435_761) | 1;
    let (cx, cy) = (
        (64 + (run * 37 + step * 3) % 128) as i32,
        (64 + (run * 53 + step * 5) % 128) as i32,
    );
    RgbImage::from_fn(256, 256, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state & 15) as u8;
        let d = ((x as i32 - cx).pow(2) + (y as i32 - cy).pow(2)) as u32;
        let inside = d < 2500;
        image::Rgb([
            if inside { 220 } else { (x / 2) as u8 }.wrapping_add(noise),
            ((y + run * 20) % 256) as u8 ^ noise,
            if inside { (step * 2) as u8 } else { 120 },
        ])
    })
}

fn build(path: &std::path::Path) {
    let mut store = Store::open(path).expect("open");
    let prompts: Vec<String> = (0..PROMPTS).map(|p| format!("prompt number {p}")).collect();
    let config = serde_json::json!({
        "networks": NETWORK_MODELS,
        "prompts": prompts,
        "seeds": (0..SEEDS).collect::<Vec<_>>(),
        "embedding_models": ["DummyText"],
        "max_length": STEPS,
        "image_size": 256,
    });
    store
        .insert_experiment(&ExperimentRecord {
            id: EXPERIMENT.into(),
            config_json: config.to_string(),
            created_at: 0,
            started_at: Some(0),
            completed_at: Some(1),
            status: ExperimentStatus::Completed,
        })
        .expect("experiment");
    let mut runs = Vec::new();
    for n in 0..NETWORKS {
        for p in 0..PROMPTS {
            for s in 0..SEEDS {
                runs.push(RunRecord {
                    id: derived_id(EXPERIMENT, &format!("{n}/{p}/{s}")),
                    experiment_id: EXPERIMENT.into(),
                    network_index: n,
                    network: NETWORK_MODELS[n as usize]
                        .iter()
                        .map(|m| m.to_string())
                        .collect(),
                    prompt_index: p,
                    initial_prompt: prompts[p as usize].clone(),
                    seed_index: s,
                    seed: s as i64,
                    max_length: STEPS,
                    stop: None,
                });
            }
        }
    }
    store.insert_runs(&runs).expect("runs");
    for sequence in 0..STEPS {
        let mut step = StepWrite::default();
        for (index, run) in runs.iter().enumerate() {
            let output = if sequence % 2 == 0 {
                Output::Image(picture(index as u32, sequence / 2))
            } else {
                Output::Text(format!("a caption for step {sequence} of run {index}"))
            };
            step.invocations.push(InvocationRecord {
                id: derived_id(&run.id, &sequence.to_string()),
                run_id: run.id.clone(),
                sequence_number: sequence,
                model: run.network[sequence as usize % 2].clone(),
                input_invocation_id: sequence
                    .checked_sub(1)
                    .map(|prev| derived_id(&run.id, &prev.to_string())),
                seed: run.seed,
                output,
                batch_size: 1,
                started_at: 0,
                completed_at: 1,
            });
            if sequence + 1 == STEPS {
                step.stops.push((run.id.clone(), StopReason::Length));
            }
        }
        store.commit_step(&step).expect("step");
    }
    // Caption embeddings and a clustering, so the export draws cluster rings and a legend.
    let mut embeddings = Vec::new();
    let mut assignments = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        for sequence in (1..STEPS).step_by(2) {
            let invocation_id = derived_id(&run.id, &sequence.to_string());
            let id = derived_id(&invocation_id, "DummyText");
            embeddings.push(EmbeddingRecord {
                id: id.clone(),
                invocation_id,
                embedding_model: "DummyText".into(),
                vector: vec![index as f32, sequence as f32, 0.0],
                started_at: 0,
                completed_at: 1,
            });
            let label = (index as i32 + sequence as i32 / 20) % 7 - 1;
            assignments.push(ClusterAssignment {
                embedding_id: id,
                label,
            });
        }
    }
    store.insert_embeddings(&embeddings).expect("embeddings");
    let clusters: Vec<ClusterRecord> = (0..6)
        .map(|label| ClusterRecord {
            label,
            size: 1,
            medoid_embedding_id: None,
            centroid: vec![0.0; 3],
            display_name: format!("theme {label}"),
        })
        .collect();
    store
        .insert_clustering(
            &ClusteringRecord {
                id: "0c0c0c".into(),
                embedding_model: "DummyText".into(),
                algorithm: "hdbscan".into(),
                parameters_json: "{}".into(),
                scope_json: "{}".into(),
                created_at: 1,
                duration_ms: 0,
                experiment_ids: vec![EXPERIMENT.into()],
            },
            &clusters,
            &assignments,
        )
        .expect("clustering");
}

fn main() {
    let db = std::env::var_os("VIDEO_BENCH_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("panic-tda-video-bench.sqlite"));
    let out = std::env::var_os("VIDEO_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("panic-tda-video-bench.mp4"));
    if !db.exists() {
        let started = Instant::now();
        build(&db);
        eprintln!(
            "built {} in {:.0} s",
            db.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let store = Store::open(&db).expect("open");
    let mut request = VideoRequest::new(vec![EXPERIMENT.into()], out);
    request.resolution = Resolution::Uhd4k;
    let started = Instant::now();
    let summary = export_video(&store, &request, &mut |_| {}, &CancelToken::new()).expect("export");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "impl": "rust",
            "frames": summary.frames,
            "tiles": summary.layout.tiles.len(),
            "cell": summary.layout.cell,
            "seconds": seconds,
            "frames_per_second": summary.frames as f64 / seconds,
        })
    );
}
