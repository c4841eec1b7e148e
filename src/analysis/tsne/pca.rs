//! Initial layout: the first two principal components, scaled to a standard deviation of 1e-4 as
//! openTSNE does, so the global arrangement is reproducible and sensible from the first iteration.

use rand::{Rng, SeedableRng};
use rayon::prelude::*;

/// Rows per partial sum; fixed so that sums, and thus layouts, do not depend on thread count.
const CHUNK: usize = 2_048;
/// Subspace iterations; the init needs the leading directions roughly, not to machine precision.
const ROUNDS: usize = 30;
/// Target standard deviation of the first coordinate.
const INIT_STD: f64 = 1e-4;
/// Jitter relative to `INIT_STD`, so exact duplicates start apart and can spread.
const JITTER: f64 = 1e-2;

fn project(data: &[f32], dim: usize, mean: &[f64], basis: &[[f64; 2]]) -> Vec<[f64; 2]> {
    data.par_chunks_exact(dim)
        .map(|row| {
            let mut out = [0.0; 2];
            for ((&x, m), b) in row.iter().zip(mean).zip(basis) {
                let centred = f64::from(x) - m;
                out[0] += centred * b[0];
                out[1] += centred * b[1];
            }
            out
        })
        .collect()
}

fn orthonormalise(basis: &mut [[f64; 2]]) {
    let norm = |basis: &[[f64; 2]], c: usize| basis.iter().map(|b| b[c] * b[c]).sum::<f64>().sqrt();
    let n0 = norm(basis, 0).max(f64::MIN_POSITIVE);
    basis.iter_mut().for_each(|b| b[0] /= n0);
    let overlap: f64 = basis.iter().map(|b| b[0] * b[1]).sum();
    basis.iter_mut().for_each(|b| b[1] -= overlap * b[0]);
    let n1 = norm(basis, 1).max(f64::MIN_POSITIVE);
    basis.iter_mut().for_each(|b| b[1] /= n1);
}

/// PCA layout of the rows of `data` (`dim` columns), plus a tiny seeded jitter.
pub fn initial_layout(data: &[f32], dim: usize, seed: u64) -> Vec<[f64; 2]> {
    let n = data.len() / dim.max(1);
    if n == 0 || dim == 0 {
        return Vec::new();
    }
    let partial_means: Vec<Vec<f64>> = data
        .par_chunks(CHUNK * dim)
        .map(|chunk| {
            let mut sum = vec![0.0; dim];
            for row in chunk.chunks_exact(dim) {
                sum.iter_mut()
                    .zip(row)
                    .for_each(|(s, &x)| *s += f64::from(x));
            }
            sum
        })
        .collect();
    let mut mean = vec![0.0; dim];
    for partial in &partial_means {
        mean.iter_mut().zip(partial).for_each(|(m, p)| *m += p);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut basis: Vec<[f64; 2]> = (0..dim)
        .map(|_| [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
        .collect();
    orthonormalise(&mut basis);
    for _ in 0..ROUNDS {
        // basis ← orth(Xᵀ X basis), with X the centred data.
        let scores = project(data, dim, &mean, &basis);
        let partials: Vec<Vec<[f64; 2]>> = data
            .par_chunks(CHUNK * dim)
            .zip(scores.par_chunks(CHUNK))
            .map(|(chunk, scores)| {
                let mut sum = vec![[0.0; 2]; dim];
                for (row, s) in chunk.chunks_exact(dim).zip(scores) {
                    for ((acc, &x), m) in sum.iter_mut().zip(row).zip(&mean) {
                        let centred = f64::from(x) - m;
                        acc[0] += centred * s[0];
                        acc[1] += centred * s[1];
                    }
                }
                sum
            })
            .collect();
        basis.iter_mut().for_each(|b| *b = [0.0; 2]);
        for partial in &partials {
            for (b, p) in basis.iter_mut().zip(partial) {
                b[0] += p[0];
                b[1] += p[1];
            }
        }
        orthonormalise(&mut basis);
    }
    // Signs are arbitrary; fix them so the largest loading is positive.
    for c in 0..2 {
        let largest = basis
            .iter()
            .map(|b| b[c])
            .fold(0.0f64, |acc, v| if v.abs() > acc.abs() { v } else { acc });
        if largest < 0.0 {
            basis.iter_mut().for_each(|b| b[c] = -b[c]);
        }
    }
    let mut layout = project(data, dim, &mean, &basis);
    let std0 = (layout.iter().map(|p| p[0] * p[0]).sum::<f64>() / n as f64).sqrt();
    let scale = if std0 > 0.0 { INIT_STD / std0 } else { 0.0 };
    for p in &mut layout {
        p[0] = p[0] * scale + rng.random_range(-1.0..1.0) * INIT_STD * JITTER;
        p[1] = p[1] * scale + rng.random_range(-1.0..1.0) * INIT_STD * JITTER;
    }
    layout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_dominant_direction() {
        // Points spread along (1, 1, 0) with a little spread along z.
        let data: Vec<f32> = (0..200)
            .flat_map(|i| {
                let t = i as f32 / 10.0;
                [t, t, (i % 3) as f32 * 0.01]
            })
            .collect();
        let layout = initial_layout(&data, 3, 1);
        let std0 = (layout.iter().map(|p| p[0] * p[0]).sum::<f64>() / 200.0).sqrt();
        let std1 = (layout.iter().map(|p| p[1] * p[1]).sum::<f64>() / 200.0).sqrt();
        assert!((std0 - 1e-4).abs() < 1e-5, "{std0}");
        assert!(std1 < std0 / 10.0, "{std1}");
        assert!(
            layout[199][0] > layout[0][0],
            "monotone along the first component"
        );
    }
}
