//! HDBSCAN benchmark driver for `benches/clustering_compare.sh`: clusters a raw little-endian
//! f32 matrix and writes the labels as raw i32, printing timings as one JSON line.
//!
//! cargo bench --bench clustering -- DATA.f32 DIM LABELS.i32 [MIN_CLUSTER_SIZE [MIN_SAMPLES [EPSILON]]]
//!
//! `cargo bench --bench clustering -- kernel` prints the distance kernel this CPU (and the
//! `PANIC_TDA_NO_AMX` / `PANIC_TDA_NO_BF16` switches) would use, and nothing else.
//!
//! `REPEAT=N` (default 3) times N runs in one process and reports the median one.
//! `HDBSCAN_NEIGHBOURS=exact|nndescent` forces the k-NN method. With `KNN_RECALL=N` set it also times the NN-descent k-NN graph alone and prints (to stderr)
//! its recall against exact neighbours of N sampled points.

use std::sync::Mutex;
use std::time::Instant;

use panic_tda::analysis::hdbscan::{Control, HdbscanParams, NeighbourSearch, Phase, hdbscan};
use panic_tda::analysis::knn::{
    NnDescentSettings, Points, distance_kernel_name, nn_descent, squared_euclidean,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.len() == 1 && args[0] == "kernel" {
        println!("{}", distance_kernel_name());
        return Ok(());
    }
    if args.len() < 3 {
        eprintln!(
            "usage: clustering DATA.f32 DIM LABELS.i32 [MIN_CLUSTER_SIZE [MIN_SAMPLES [EPSILON]]]"
        );
        return Ok(());
    }
    let dim: usize = args[1].parse()?;
    let bytes = std::fs::read(&args[0])?;
    let data: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let points = Points::new(&data, dim)?;
    let n = points.len();
    let mut params = HdbscanParams::defaults_for(n);
    if let Some(size) = args.get(3) {
        params.min_cluster_size = size.parse()?;
    }
    params.min_samples = match args.get(4) {
        Some(samples) => samples.parse()?,
        None => params.min_cluster_size,
    };
    params.cluster_selection_epsilon = match args.get(5) {
        Some(epsilon) => epsilon.parse()?,
        None => 0.0,
    };
    // HDBSCAN_NEIGHBOURS=exact|nndescent forces one k-NN method (default: the app's choice by n).
    match std::env::var("HDBSCAN_NEIGHBOURS").as_deref() {
        Ok("exact") => params.neighbours = NeighbourSearch::Exact,
        Ok("nndescent") => {
            params.neighbours = NeighbourSearch::NnDescent(NnDescentSettings {
                seed: params.seed,
                ..NnDescentSettings::default()
            })
        }
        Ok(other) => {
            return Err(format!("HDBSCAN_NEIGHBOURS={other}: use exact or nndescent").into());
        }
        Err(_) => {}
    }
    // REPEAT=N (default 3) clusters N times in this process and reports the run of median time
    // (the labels are the same every time); the first run also pays for thread start-up.
    let repeat: usize = match std::env::var("REPEAT") {
        Ok(value) => value.parse()?,
        Err(_) => 3,
    };
    let mut runs = Vec::new();
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let phase_starts: Mutex<Vec<(Phase, f64)>> = Mutex::new(Vec::new());
        let progress = |phase: Phase, _fraction: f64| {
            if let Ok(mut starts) = phase_starts.lock()
                && starts.last().map(|(p, _)| *p) != Some(phase)
            {
                starts.push((phase, start.elapsed().as_secs_f64()));
            }
        };
        let control = Control::new(None, Some(&progress));
        let result = hdbscan(points, &params, &control)?;
        let total = start.elapsed().as_secs_f64();
        runs.push((total, result, phase_starts.into_inner().unwrap_or_default()));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let all_seconds: Vec<String> = runs.iter().map(|run| format!("{:.3}", run.0)).collect();
    let (total, result, starts) = runs.swap_remove(runs.len() / 2);
    let mut out = Vec::with_capacity(n * 4);
    for label in &result.labels {
        out.extend_from_slice(&label.to_le_bytes());
    }
    std::fs::write(&args[2], out)?;
    let phases: Vec<String> = starts
        .iter()
        .enumerate()
        .map(|(i, (phase, at))| {
            let end = starts.get(i + 1).map_or(total, |next| next.1);
            format!("\"{}\": {:.3}", phase.label(), end - at)
        })
        .collect();
    if let Some(sample) = std::env::var("KNN_RECALL")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        let k = params.min_samples.saturating_sub(1).max(15).min(n - 1);
        knn_recall(points, k, sample, params.seed)?;
    }
    let kernel = distance_kernel_name();
    println!(
        "{{\"n\": {n}, \"seconds\": {total:.3}, \"kernel\": \"{kernel}\", \"runs\": [{}], \"clusters\": {}, \"noise\": {}, \"params\": {}, \"phases\": {{{}}}}}",
        all_seconds.join(", "),
        result.clusters.len(),
        result.noise_count(),
        serde_json::to_string(&result.params)?,
        phases.join(", ")
    );
    Ok(())
}

/// Recall of the NN-descent graph against brute force on `sample` evenly spaced points.
fn knn_recall(
    points: Points<'_>,
    k: usize,
    sample: usize,
    seed: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = points.len();
    let settings = NnDescentSettings {
        seed,
        ..NnDescentSettings::default()
    };
    let start = Instant::now();
    let knn = nn_descent(points, k, &settings, &Control::default())?;
    let seconds = start.elapsed().as_secs_f64();
    let step = (n / sample.max(1)).max(1);
    let (mut hits, mut total, mut core_error) = (0usize, 0usize, 0f64);
    for i in (0..n).step_by(step) {
        let mut all: Vec<(f32, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (squared_euclidean(points.row(i), points.row(j)), j))
            .collect();
        all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let found = knn.neighbours(i).0;
        hits += all[..k]
            .iter()
            .filter(|(_, j)| found.contains(&(*j as u32)))
            .count();
        total += k;
        // Relative error of the k-th neighbour distance, which sets the core distance.
        let exact_kth = f64::from(all[k - 1].0.sqrt());
        let found_kth = f64::from(knn.neighbours(i).1[k - 1]);
        core_error += (found_kth - exact_kth) / exact_kth.max(1e-12);
    }
    eprintln!(
        "{{\"k\": {k}, \"knn_seconds\": {seconds:.2}, \"recall\": {:.4}, \"kth_distance_error\": {:.2e}, \"sampled\": {}}}",
        hits as f64 / total as f64,
        core_error / (total / k) as f64,
        total / k
    );
    Ok(())
}
