//! Nearest neighbours by cosine distance on unit vectors: exact up to [`EXACT_MAX_POINTS`] and
//! the crate's NN-descent above, both from [`crate::analysis::knn`] (shared with HDBSCAN); a
//! query-subset exact search for the quality measure. All are reproducible for a seed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

pub use crate::analysis::knn::dot;
use crate::analysis::knn::{Knn, KnnError, NnDescentSettings, Points, exact_knn, nn_descent_with};
use crate::progress::{Control, Phase};

use super::TsneError;

/// One neighbour: its index and the squared Euclidean distance between the unit vectors
/// (= 2 − 2·cosine similarity).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub index: u32,
    pub sq_distance: f32,
}

/// Up to this many points the neighbours are exact ([`all_exact`]); above, approximate
/// (NN-descent). The same limit as HDBSCAN's exact path: with k = 3 × perplexity neighbours the
/// exact search is the faster one up to there (BENCHMARKS.md), and it is exact.
pub const EXACT_MAX_POINTS: usize = crate::analysis::hdbscan::EXACT_LIMIT;

/// Returned when the caller's cancellation flag was raised mid-search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// Copies `vectors` into one row-major buffer of unit vectors (zero vectors stay zero).
pub fn unit_rows<V: AsRef<[f32]> + Sync>(vectors: &[V], dim: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; vectors.len() * dim];
    rows.par_chunks_mut(dim.max(1))
        .zip(vectors.par_iter())
        .for_each(|(row, vector)| {
            let vector = vector.as_ref();
            let norm = dot(vector, vector).sqrt();
            if norm > 0.0 {
                for (out, value) in row.iter_mut().zip(vector) {
                    *out = value / norm;
                }
            }
        });
    rows
}

fn sq_distance_from_dot(dot: f32) -> f32 {
    (2.0 - 2.0 * dot).max(0.0)
}

/// Exact `k` nearest neighbours (excluding the point itself) of each point in `queries`, among
/// all rows of `data`. Ties break by index, so the result is reproducible.
pub fn exact(
    data: &[f32],
    dim: usize,
    queries: &[usize],
    k: usize,
    cancel: &AtomicBool,
) -> Result<Vec<Vec<Neighbour>>, Interrupted> {
    // Tiles of queries share each pass over `data`, so the data streams from memory once per tile.
    const TILE: usize = 32;
    let n = data.len() / dim.max(1);
    let k = k.min(n.saturating_sub(1));
    let mut result: Vec<Vec<Neighbour>> = vec![Vec::new(); queries.len()];
    result
        .par_chunks_mut(TILE)
        .zip(queries.par_chunks(TILE))
        .for_each(|(out_tile, query_tile)| {
            if cancel.load(Ordering::Relaxed) {
                return;
            }
            let mut dots = vec![0.0f32; query_tile.len() * n];
            for (j, row_j) in data.chunks_exact(dim).enumerate() {
                for (t, &q) in query_tile.iter().enumerate() {
                    dots[t * n + j] = dot(&data[q * dim..(q + 1) * dim], row_j);
                }
            }
            let mut candidates: Vec<(f32, u32)> = Vec::with_capacity(n);
            for (t, &q) in query_tile.iter().enumerate() {
                candidates.clear();
                candidates.extend(
                    dots[t * n..(t + 1) * n]
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != q)
                        .map(|(j, &d)| (d, j as u32)),
                );
                let by_similarity =
                    |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
                if k < candidates.len() {
                    candidates.select_nth_unstable_by(k, by_similarity);
                    candidates.truncate(k);
                }
                candidates.sort_unstable_by(by_similarity);
                out_tile[t] = candidates
                    .iter()
                    .map(|&(d, j)| Neighbour {
                        index: j,
                        sq_distance: sq_distance_from_dot(d),
                    })
                    .collect();
            }
        });
    if cancel.load(Ordering::Relaxed) {
        return Err(Interrupted);
    }
    Ok(result)
}

/// Exact `k` nearest neighbours of every row of `data` (excluding itself) by the crate's exact
/// search ([`exact_knn`]: bf16 products as a screen where the CPU has a bf16 unit, f32 products otherwise);
/// ties by index. `on_progress(done, total)` is called from this thread while the search runs
/// on the pool.
pub fn all_exact(
    data: &[f32],
    dim: usize,
    k: usize,
    cancel: &AtomicBool,
    mut on_progress: impl FnMut(usize, usize),
) -> Result<Vec<Vec<Neighbour>>, TsneError> {
    let points = points_of(data, dim)?;
    let n = points.len();
    let done = AtomicU64::new(0f64.to_bits());
    let report = |_: Phase, fraction: f64| done.store(fraction.to_bits(), Ordering::Relaxed);
    let control = Control::new(Some(cancel), Some(&report));
    let knn = std::thread::scope(|scope| {
        let search = scope.spawn(|| exact_knn(points, k, &control));
        while !search.is_finished() {
            let fraction = f64::from_bits(done.load(Ordering::Relaxed));
            on_progress((fraction * n as f64) as usize, n);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        search
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
    .map_err(|error| match error {
        KnnError::Cancelled(_) => TsneError::Cancelled,
        KnnError::InvalidInput(detail) => TsneError::InvalidParameter {
            name: "vectors",
            detail,
        },
    })?;
    Ok(neighbour_lists(&knn))
}

fn points_of(data: &[f32], dim: usize) -> Result<Points<'_>, TsneError> {
    Points::new(data, dim).map_err(|error| TsneError::InvalidParameter {
        name: "vectors",
        detail: error.to_string(),
    })
}

fn neighbour_lists(knn: &Knn) -> Vec<Vec<Neighbour>> {
    (0..knn.len())
        .map(|i| {
            let (indices, distances) = knn.neighbours(i);
            indices
                .iter()
                .zip(distances)
                .map(|(&index, &distance)| Neighbour {
                    index,
                    sq_distance: distance * distance,
                })
                .collect()
        })
        .collect()
}

/// Approximate `k` nearest neighbours of every row of `data` (excluding itself) by NN-descent
/// with the given seed; `on_progress(done, total)`.
pub fn approximate(
    data: &[f32],
    dim: usize,
    k: usize,
    seed: u64,
    cancel: &AtomicBool,
    mut on_progress: impl FnMut(usize, usize),
) -> Result<Vec<Vec<Neighbour>>, TsneError> {
    let points = points_of(data, dim)?;
    let n = points.len();
    let settings = NnDescentSettings {
        seed,
        ..NnDescentSettings::default()
    };
    let knn = nn_descent_with(points, k, &settings, Some(cancel), &mut |fraction| {
        on_progress((fraction * n as f64) as usize, n)
    })
    .map_err(|_| TsneError::Cancelled)?;
    Ok(neighbour_lists(&knn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn exact_neighbours_are_sorted_and_exclude_self() {
        let data = vec![1.0, 0.0, 0.8, 0.6, 0.0, 1.0, -1.0, 0.0];
        let cancel = AtomicBool::new(false);
        let found = exact(&data, 2, &[0, 1, 2, 3], 2, &cancel).expect("knn");
        let indices: Vec<u32> = found[0].iter().map(|n| n.index).collect();
        assert_eq!(indices, vec![1, 2]);
        assert!((found[0][1].sq_distance - 2.0).abs() < 1e-6);
    }

    #[test]
    fn approximate_recall_is_high_on_clustered_data() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let dim = 32;
        let n = 1_500;
        let centres: Vec<Vec<f32>> = (0..10)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let vectors: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                centres[i % 10]
                    .iter()
                    .map(|c| c + rng.random_range(-0.3..0.3))
                    .collect()
            })
            .collect();
        let data = unit_rows(&vectors, dim);
        let cancel = AtomicBool::new(false);
        let all: Vec<usize> = (0..n).collect();
        let truth = exact(&data, dim, &all, 15, &cancel).expect("exact");
        let approx = approximate(&data, dim, 15, 1, &cancel, |_, _| {}).expect("nn-descent");
        let hits: usize = truth
            .iter()
            .zip(&approx)
            .map(|(t, a)| {
                t.iter()
                    .filter(|x| a.iter().any(|y| y.index == x.index))
                    .count()
            })
            .sum();
        let recall = hits as f64 / (n * 15) as f64;
        assert!(recall > 0.95, "recall {recall}");
    }
}
