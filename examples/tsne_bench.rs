//! Rust side of benches/tsne_compare.sh: times our t-SNE on the shared raw f32 data and scores
//! layouts (ours or another tool's) by 10-NN preservation.
//!
//! `tsne_bench run DATA N LAYOUT_OUT` and `tsne_bench score DATA N LAYOUT [LABEL]`.

use std::time::Instant;

use panic_tda::analysis::tsne::{TsneParams, knn_preservation, layout};

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
            let points = layout(&vectors, &TsneParams::default())?;
            let seconds = start.elapsed().as_secs_f64();
            let bytes: Vec<u8> = points
                .iter()
                .flat_map(|p| [p[0].to_le_bytes(), p[1].to_le_bytes()])
                .flatten()
                .collect();
            std::fs::write(layout_path, bytes)?;
            println!(r#"{{"side": "panic-tda", "n": {n}, "seconds": {seconds:.2}}}"#);
        }
        "score" => {
            let flat = read_f32(layout_path)?;
            let points: Vec<[f32; 2]> = flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
            let kept = knn_preservation(&vectors, &points, 10)?;
            let label = rest.first().map_or("layout", String::as_str);
            println!(r#"{{"side": "{label}", "n": {n}, "knn10_preserved": {kept:.4}}}"#);
        }
        other => anyhow::bail!("unknown command {other}"),
    }
    Ok(())
}
