//! Nearest neighbours by cosine distance on unit vectors: exact (blocked brute force) for small
//! inputs, where it is cheap and bit-for-bit reproducible, and HNSW (`hnsw_rs`) above, where exact
//! search in 384-d is O(n²).

use std::sync::atomic::{AtomicBool, Ordering};

use hnsw_rs::prelude::{Distance, Hnsw};
use rayon::prelude::*;

/// One neighbour: its index and the squared Euclidean distance between the unit vectors
/// (= 2 − 2·cosine similarity).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub index: u32,
    pub sq_distance: f32,
}

/// Up to this many points the neighbours are exact; above, approximate (HNSW).
pub const EXACT_MAX_POINTS: usize = 5_000;

/// Returned when the caller's cancellation flag was raised mid-search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// Dot product with sixteen independent accumulators so the compiler can vectorise it; compiled
/// for AVX2/NEON too and picked at run time (the distance is most of the neighbour search).
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

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

/// Integer dot product of quantised vectors (exact, so the compiler may reorder and vectorise).
#[multiversion::multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// Cosine distance for `hnsw_rs` on unit vectors quantised to i8: a quarter of the f32 memory
/// traffic, which dominates graph search once the vectors outgrow the CPU cache (~10k × 384).
/// The final neighbours are re-ranked with exact f32 distances.
struct QuantisedCosine {
    /// 1 / scale², to turn integer dot products back into cosines.
    inverse_scale_sq: f32,
}

impl Distance<i8> for QuantisedCosine {
    fn eval(&self, a: &[i8], b: &[i8]) -> f32 {
        (1.0 - dot_i8(a, b) as f32 * self.inverse_scale_sq).max(0.0)
    }
}

/// Rounds unit vectors to i8 with one scale for all, so the largest component maps to ±127.
fn quantise(data: &[f32]) -> (Vec<i8>, f32) {
    let largest = data.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 { 127.0 / largest } else { 1.0 };
    let quantised = data
        .par_iter()
        .map(|x| (x * scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (quantised, scale)
}

/// HNSW graph: 16 links per node (32 on the base layer, set by `hnsw_rs`), construction beam 64,
/// search beam 1.5 k: the cheapest setting measured that kept layout quality (see BENCHMARKS.md).
const HNSW_LINKS: usize = 16;
const HNSW_EF_CONSTRUCTION: usize = 64;
const HNSW_MAX_LAYERS: usize = 16;
/// Points inserted between cancellation checks.
const BATCH: usize = 4_096;

/// Approximate `k` nearest neighbours of every row of `data` (excluding itself). `hnsw_rs`
/// inserts in parallel, so the graph (and rarely a neighbour) can differ between runs.
pub fn approximate(
    data: &[f32],
    dim: usize,
    k: usize,
    cancel: &AtomicBool,
    mut on_progress: impl FnMut(usize, usize),
) -> Result<Vec<Vec<Neighbour>>, Interrupted> {
    let n = data.len() / dim.max(1);
    let k = k.min(n.saturating_sub(1));
    let (quantised, scale) = quantise(data);
    let mut hnsw = Hnsw::<i8, QuantisedCosine>::new(
        HNSW_LINKS,
        n,
        HNSW_MAX_LAYERS,
        HNSW_EF_CONSTRUCTION,
        QuantisedCosine {
            inverse_scale_sq: 1.0 / (scale * scale),
        },
    );
    let rows: Vec<(&[i8], usize)> = quantised.chunks_exact(dim).zip(0..n).collect();
    for batch in rows.chunks(BATCH) {
        if cancel.load(Ordering::Relaxed) {
            return Err(Interrupted);
        }
        hnsw.parallel_insert_slice(&batch.to_vec());
        on_progress(batch.last().map_or(0, |row| row.1 + 1), 2 * n);
    }
    hnsw.set_searching_mode(true);
    let ef_search = (k + 1).max(3 * k / 2);
    let mut result = Vec::with_capacity(n);
    for batch in rows.chunks(BATCH) {
        if cancel.load(Ordering::Relaxed) {
            return Err(Interrupted);
        }
        let found: Vec<Vec<Neighbour>> = batch
            .par_iter()
            .map(|&(row, index)| {
                let query = &data[index * dim..(index + 1) * dim];
                let mut neighbours: Vec<Neighbour> = hnsw
                    .search(row, k + 1, ef_search)
                    .into_iter()
                    .filter(|found| found.d_id != index && found.d_id < n)
                    .map(|found| Neighbour {
                        index: found.d_id as u32,
                        sq_distance: sq_distance_from_dot(dot(
                            query,
                            &data[found.d_id * dim..(found.d_id + 1) * dim],
                        )),
                    })
                    .collect();
                neighbours.sort_by(|a, b| {
                    a.sq_distance
                        .total_cmp(&b.sq_distance)
                        .then(a.index.cmp(&b.index))
                });
                neighbours.truncate(k);
                neighbours
            })
            .collect();
        result.extend(found);
        on_progress(n + result.len(), 2 * n);
    }
    Ok(result)
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
    fn hnsw_recall_is_high_on_clustered_data() {
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
        let approx = approximate(&data, dim, 15, &cancel, |_, _| {}).expect("hnsw");
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
        assert!(recall > 0.9, "recall {recall}");
    }
}
