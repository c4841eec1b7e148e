//! Rust side of benches/tsne_compare.sh: times our t-SNE on the shared raw f32 data and scores
//! layouts (ours or another tool's) by 10-NN preservation.
//!
//! `tsne_bench run DATA N LAYOUT_OUT`, `tsne_bench score DATA N LAYOUT [LABEL]`, and
//! `tsne_bench recall DATA N -` (HNSW neighbour recall).

use std::time::Instant;

use std::sync::atomic::AtomicBool;

use panic_tda::analysis::tsne::{Stage, TsneParams, knn, knn_preservation, layout_with_progress};

const DIM: usize = 384;

fn read_f32(path: &str) -> anyhow::Result<Vec<f32>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn rows(path: &str, n: usize) -> anyhow::Result<Vec<Vec<f32>>> {
    let flat = read_f32(path)?;
    anyhow::ensure!(flat.len() >= n * DIM, "{path} holds fewer than {n} rows");
    Ok(flat[..n * DIM]
        .chunks_exact(DIM)
        .map(<[f32]>::to_vec)
        .collect())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, command, data, n, layout_path, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: tsne_bench run|score DATA N LAYOUT [LABEL]");
    };
    let n: usize = n.parse()?;
    let vectors = rows(data, n)?;
    match command.as_str() {
        "run" => {
            let start = Instant::now();
            // Seconds at which each stage began, for the per-stage split.
            let mut began = [0.0f64; 3];
            let mut seen = [false; 3];
            let points = layout_with_progress(
                &vectors,
                &TsneParams::default(),
                &AtomicBool::new(false),
                0,
                |progress| {
                    let stage = match progress.stage {
                        Stage::Neighbours => 0,
                        Stage::Affinities => 1,
                        Stage::Optimising => 2,
                    };
                    if !seen[stage] {
                        seen[stage] = true;
                        began[stage] = start.elapsed().as_secs_f64();
                    }
                },
            )?;
            let seconds = start.elapsed().as_secs_f64();
            let (knn, affinities, optimise) =
                (began[1] - began[0], began[2] - began[1], seconds - began[2]);
            let bytes: Vec<u8> = points
                .iter()
                .flat_map(|p| [p[0].to_le_bytes(), p[1].to_le_bytes()])
                .flatten()
                .collect();
            std::fs::write(layout_path, bytes)?;
            println!(
                r#"{{"side": "panic-tda", "n": {n}, "seconds": {seconds:.2}, "neighbours_s": {knn:.2}, "affinities_and_init_s": {affinities:.2}, "optimise_s": {optimise:.2}}}"#
            );
        }
        "score" => {
            let flat = read_f32(layout_path)?;
            let points: Vec<[f32; 2]> = flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
            let kept = knn_preservation(&vectors, &points, 10)?;
            let label = rest.first().map_or("layout", String::as_str);
            println!(r#"{{"side": "{label}", "n": {n}, "knn10_preserved": {kept:.4}}}"#);
        }
        "recall" => {
            // Recall of the approximate (NN-descent) neighbours (k = 90) against exact search, on 1,000 points.
            let data = knn::unit_rows(&vectors, DIM);
            let cancel = AtomicBool::new(false);
            let start = Instant::now();
            let approx = knn::approximate(&data, DIM, 90, 42, &cancel, |_, _| {})?;
            let seconds = start.elapsed().as_secs_f64();
            let queries: Vec<usize> = (0..n).step_by((n / 1000).max(1)).collect();
            let truth = knn::exact(&data, DIM, &queries, 90, &cancel)
                .map_err(|_| anyhow::anyhow!("cancelled"))?;
            let hits: usize = queries
                .iter()
                .zip(&truth)
                .map(|(&q, t)| {
                    t.iter()
                        .filter(|x| approx[q].iter().any(|y| y.index == x.index))
                        .count()
                })
                .sum();
            let recall = hits as f64 / (queries.len() * 90) as f64;
            println!(r#"{{"n": {n}, "knn_seconds": {seconds:.2}, "recall_at_90": {recall:.4}}}"#);
        }
        other => anyhow::bail!("unknown command {other}"),
    }
    Ok(())
}
