//! Layout quality: how many of each point's nearest neighbours (cosine, in the original space)
//! are still among its nearest neighbours (Euclidean) in the 2-D layout.

use std::sync::atomic::AtomicBool;

use rand::SeedableRng;
use rand::seq::index::sample;
use rayon::prelude::*;

use super::{TsneError, knn};

/// Up to this many points every point is a query; above, a seeded sample of `SAMPLED_QUERIES`.
pub const EXACT_MAX_POINTS: usize = 20_000;
pub const SAMPLED_QUERIES: usize = 2_000;

/// Mean fraction of each point's `k` nearest neighbours in `high_dim` (cosine) that are also among
/// its `k` nearest in `low_dim` (Euclidean). Exact up to 20,000 points; above, averaged over 2,000
/// query points drawn with a fixed seed (neighbours are still searched among all points).
pub fn knn_preservation<V: AsRef<[f32]> + Sync>(
    high_dim: &[V],
    low_dim: &[[f32; 2]],
    k: usize,
) -> Result<f64, TsneError> {
    let n = high_dim.len();
    if low_dim.len() != n {
        return Err(TsneError::InvalidParameter {
            name: "low_dim",
            detail: format!("{} layout points for {n} vectors", low_dim.len()),
        });
    }
    if n < k + 2 || k == 0 {
        return Err(TsneError::TooFewPoints {
            needed: k + 2,
            got: n,
            perplexity: 0.0,
        });
    }
    let dim = high_dim[0].as_ref().len();
    if dim == 0 {
        return Err(TsneError::InvalidParameter {
            name: "high_dim",
            detail: "vectors have no components".into(),
        });
    }
    if let Some(index) = high_dim.iter().position(|v| v.as_ref().len() != dim) {
        return Err(TsneError::RaggedInput {
            index,
            got: high_dim[index].as_ref().len(),
            expected: dim,
        });
    }
    let queries: Vec<usize> = if n <= EXACT_MAX_POINTS {
        (0..n).collect()
    } else {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut picked = sample(&mut rng, n, SAMPLED_QUERIES).into_vec();
        picked.sort_unstable();
        picked
    };
    let data = knn::unit_rows(high_dim, dim);
    let high = knn::exact(&data, dim, &queries, k, &AtomicBool::new(false))
        .map_err(|_| TsneError::Cancelled)?;
    let kept: usize = queries
        .par_iter()
        .zip(high.par_iter())
        .map(|(&q, high_row)| {
            let origin = low_dim[q];
            let mut distances: Vec<(f32, u32)> = low_dim
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != q)
                .map(|(j, p)| {
                    let (dx, dy) = (p[0] - origin[0], p[1] - origin[1]);
                    (dx * dx + dy * dy, j as u32)
                })
                .collect();
            let order = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            distances.select_nth_unstable_by(k - 1, order);
            let low_row = &distances[..k];
            high_row
                .iter()
                .filter(|h| low_row.iter().any(|l| l.1 == h.index))
                .count()
        })
        .sum();
    Ok(kept as f64 / (queries.len() * k) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_geometry_keeps_every_neighbour() {
        // Points on a circle: cosine order in 2-D equals Euclidean order of the unit points.
        let points: Vec<[f32; 2]> = (0..100)
            .map(|i| {
                let a = i as f32 * 0.0628;
                [a.cos(), a.sin()]
            })
            .collect();
        let vectors: Vec<Vec<f32>> = points.iter().map(|p| p.to_vec()).collect();
        let kept = knn_preservation(&vectors, &points, 10).expect("metric");
        assert!(kept > 0.99, "{kept}");
        let shuffled: Vec<[f32; 2]> = (0..100).map(|i| points[(i * 37) % 100]).collect();
        let kept = knn_preservation(&vectors, &shuffled, 10).expect("metric");
        assert!(kept < 0.5, "{kept}");
    }
}
