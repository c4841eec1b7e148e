//! Vietoris–Rips persistence (H0–H2) of 384-d clouds.
//!
//! cargo bench --bench persistence                     criterion: uniform and walk clouds of
//!                                                      100 and 500 points (1,000 takes minutes
//!                                                      per sample; the comparison script times
//!                                                      it once)
//! cargo bench --bench persistence -- --file X.f32 DIM  one timed run of a raw little-endian f32
//!                                                      matrix, printed as one JSON line (used by
//!                                                      benches/persistence_compare.sh)
//!
//! "uniform": points uniform in a cube, the worst case (distances concentrate, so nearly every
//! triangle is in the complex and H2 is large). "walk": a random walk on the unit sphere whose
//! consecutive points are close, like a run's sequence of caption embeddings.

use std::time::Instant;

use criterion::{BenchmarkId, Criterion};
use panic_tda::analysis::persistence::{RipsParams, vietoris_rips};
use rand::{Rng, SeedableRng};

const DIM: usize = 384;

fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1: f32 = rng.random::<f32>().max(1e-7);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

fn unit(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
}

fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n * DIM).map(|_| rng.random::<f32>() - 0.5).collect()
}

fn walk(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut point: Vec<f32> = (0..DIM).map(|_| gaussian(&mut rng)).collect();
    unit(&mut point);
    let mut points = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        points.extend_from_slice(&point);
        // Step of length ~0.5 in a random direction.
        for x in point.iter_mut() {
            *x += 0.5 * gaussian(&mut rng) / (DIM as f32).sqrt();
        }
        unit(&mut point);
    }
    points
}

/// A cloud of n points from a seed.
type Make = fn(usize, u64) -> Vec<f32>;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rips_h2");
    group.sample_size(10);
    let cases: [(&str, Make, &[usize]); 2] = [
        ("uniform", uniform, &[100, 500]),
        ("walk", walk, &[100, 500]),
    ];
    for (name, make, sizes) in cases {
        for &n in sizes {
            let points = make(n, 1);
            group.bench_with_input(BenchmarkId::new(name, n), &points, |b, points| {
                b.iter(|| vietoris_rips(points, DIM, &RipsParams::default(), None))
            });
        }
    }
    group.finish();
}

fn once(path: &str, dim: usize) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    let points: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let start = Instant::now();
    let pairs = vietoris_rips(&points, dim, &RipsParams::default(), None)?;
    let seconds = start.elapsed().as_secs_f64();
    let counts: Vec<usize> = (0..3)
        .map(|d| pairs.iter().filter(|p| p.dimension == d).count())
        .collect();
    println!(
        "{{\"n\":{},\"seconds\":{seconds:.3},\"pairs\":{counts:?}}}",
        points.len() / dim.max(1)
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--file") {
        let (Some(path), Some(dim)) = (args.get(at + 1), args.get(at + 2)) else {
            return Err("usage: persistence --file DATA.f32 DIM".into());
        };
        return once(path, dim.parse()?);
    }
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    Ok(())
}
