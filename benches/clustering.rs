//! HDBSCAN benchmark driver for `benches/clustering_compare.sh`: clusters a raw little-endian
//! f32 matrix and writes the labels as raw i32, printing timings as one JSON line.
//!
//! cargo bench --bench clustering -- DATA.f32 DIM LABELS.i32 [MIN_CLUSTER_SIZE [MIN_SAMPLES [EPSILON]]]

use std::sync::Mutex;
use std::time::Instant;

use panic_tda::analysis::hdbscan::{Control, HdbscanParams, Phase, hdbscan};
use panic_tda::analysis::knn::Points;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
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
    let mut out = Vec::with_capacity(n * 4);
    for label in &result.labels {
        out.extend_from_slice(&label.to_le_bytes());
    }
    std::fs::write(&args[2], out)?;
    let starts = phase_starts.into_inner().unwrap_or_default();
    let phases: Vec<String> = starts
        .iter()
        .enumerate()
        .map(|(i, (phase, at))| {
            let end = starts.get(i + 1).map_or(total, |next| next.1);
            format!("\"{}\": {:.2}", phase.label(), end - at)
        })
        .collect();
    println!(
        "{{\"n\": {n}, \"seconds\": {total:.2}, \"clusters\": {}, \"noise\": {}, \"params\": {}, \"phases\": {{{}}}}}",
        result.clusters.len(),
        result.noise_count(),
        serde_json::to_string(&result.params)?,
        phases.join(", ")
    );
    Ok(())
}
