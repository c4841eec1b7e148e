//! Nearest neighbours of unit vectors, exact (brute force) or approximate (HNSW).
//!
//! Distances are Euclidean. On unit vectors `|a − b|² = 2 − 2·cos(a, b)`, so Euclidean order is
//! cosine order and no cosine matrix is ever needed. Neither path allocates anything n × n.

use std::sync::Mutex;

use hnsw_rs::prelude::{Distance, Hnsw};
use rayon::prelude::*;

use super::hdbscan::{Control, HdbscanError, Phase};

/// A row-major matrix of `len` vectors of `dim` f32 each.
#[derive(Clone, Copy)]
pub struct Points<'a> {
    data: &'a [f32],
    dim: usize,
}

impl<'a> Points<'a> {
    pub fn new(data: &'a [f32], dim: usize) -> Result<Self, HdbscanError> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(HdbscanError::InvalidInput(format!(
                "{} values are not a whole number of {dim}-d vectors",
                data.len()
            )));
        }
        if let Some(position) = data.iter().position(|value| !value.is_finite()) {
            return Err(HdbscanError::InvalidInput(format!(
                "vector {} has a non-finite value",
                position / dim
            )));
        }
        Ok(Self { data, dim })
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    #[inline]
    pub fn row(&self, index: usize) -> &'a [f32] {
        &self.data[index * self.dim..(index + 1) * self.dim]
    }
}

/// Euclidean distance. Eight independent accumulators let the compiler vectorise the loop.
#[inline]
pub fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for lane in 0..8 {
            let diff = ca[lane] - cb[lane];
            sums[lane] += diff * diff;
        }
    }
    let mut total: f32 = sums.iter().sum();
    for (x, y) in tail_a.iter().zip(tail_b) {
        total += (x - y) * (x - y);
    }
    total.sqrt()
}

/// The `k` nearest other points of every point, nearest first (ties by index).
#[derive(Debug, Clone)]
pub struct Knn {
    pub k: usize,
    pub indices: Vec<u32>,
    pub distances: Vec<f32>,
}

impl Knn {
    pub fn len(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn neighbours(&self, point: usize) -> (&[u32], &[f32]) {
        let range = point * self.k..(point + 1) * self.k;
        (&self.indices[range.clone()], &self.distances[range])
    }
}

/// Rows per parallel block: small enough for responsive progress and cancellation.
const BLOCK: usize = 512;

/// Exact k-NN by brute force: O(n²·d) time, O(n·k) memory. For small inputs and tests.
pub fn exact_knn(points: Points<'_>, k: usize, control: &Control<'_>) -> Result<Knn, HdbscanError> {
    let n = points.len();
    let k = k.min(n.saturating_sub(1));
    let mut indices = vec![0u32; n * k];
    let mut distances = vec![0f32; n * k];
    if k == 0 {
        return Ok(Knn {
            k,
            indices,
            distances,
        });
    }
    for start in (0..n).step_by(BLOCK) {
        control.check()?;
        control.report(Phase::Neighbours, start as f64 / n as f64);
        let end = (start + BLOCK).min(n);
        indices[start * k..end * k]
            .par_chunks_mut(k)
            .zip(distances[start * k..end * k].par_chunks_mut(k))
            .enumerate()
            .for_each_init(
                Vec::new,
                |scratch, (offset, (row_indices, row_distances))| {
                    let i = start + offset;
                    scratch.clear();
                    let query = points.row(i);
                    scratch.extend(
                        (0..n)
                            .filter(|&j| j != i)
                            .map(|j| (euclidean(query, points.row(j)), j as u32)),
                    );
                    let by_distance =
                        |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                    scratch.select_nth_unstable_by(k - 1, by_distance);
                    scratch.truncate(k);
                    scratch.sort_unstable_by(by_distance);
                    for (slot, (distance, j)) in scratch.iter().enumerate() {
                        row_indices[slot] = *j;
                        row_distances[slot] = *distance;
                    }
                },
            );
    }
    control.report(Phase::Neighbours, 1.0);
    Ok(Knn {
        k,
        indices,
        distances,
    })
}

#[derive(Clone, Copy, Default)]
struct UnitEuclidean;

impl Distance<f32> for UnitEuclidean {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        euclidean(a, b)
    }
}

/// HNSW settings: graph degree and search widths. With the defaults, recall falls for large k
/// (k ≈ 50 at 50k points loses fringe neighbours; see BENCHMARKS.md): raise the search factor
/// for more accurate core distances at more cost.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HnswSettings {
    pub max_connections: usize,
    pub ef_construction: usize,
    /// Search width as a multiple of k (at least 64).
    pub ef_search_factor: usize,
}

impl Default for HnswSettings {
    fn default() -> Self {
        Self {
            max_connections: 24,
            ef_construction: 128,
            ef_search_factor: 2,
        }
    }
}

/// An HNSW index over all points; the ids it returns are row indices.
pub struct AnnIndex {
    hnsw: Hnsw<'static, f32, UnitEuclidean>,
    settings: HnswSettings,
}

/// Points per insertion batch (rayon inside a batch; progress and cancellation between).
const INSERT_BATCH: usize = 4096;

impl AnnIndex {
    /// Builds the index. Parallel insertion makes the graph depend on thread timing, so results
    /// can differ slightly from run to run (the exact path is deterministic).
    pub fn build(
        points: Points<'_>,
        settings: HnswSettings,
        control: &Control<'_>,
        progress: (f64, f64),
    ) -> Result<Self, HdbscanError> {
        let n = points.len();
        let layers = 16;
        let hnsw = Hnsw::new(
            settings.max_connections.clamp(4, 128),
            n,
            layers,
            settings.ef_construction.max(16),
            UnitEuclidean,
        );
        for start in (0..n).step_by(INSERT_BATCH) {
            control.check()?;
            control.report(
                Phase::Neighbours,
                progress.0 + (progress.1 - progress.0) * start as f64 / n as f64,
            );
            let end = (start + INSERT_BATCH).min(n);
            let batch: Vec<(&[f32], usize)> = (start..end).map(|i| (points.row(i), i)).collect();
            hnsw.parallel_insert_slice(&batch);
        }
        Ok(Self { hnsw, settings })
    }

    fn ef(&self, k: usize) -> usize {
        (k * self.settings.ef_search_factor.max(1))
            .max(64)
            .max(k + 1)
    }

    /// Approximate k-NN of every indexed point (itself excluded).
    pub fn knn(
        &self,
        points: Points<'_>,
        k: usize,
        control: &Control<'_>,
        progress: (f64, f64),
    ) -> Result<Knn, HdbscanError> {
        let n = points.len();
        let k = k.min(n.saturating_sub(1));
        let mut indices = vec![0u32; n * k];
        let mut distances = vec![0f32; n * k];
        if k == 0 {
            return Ok(Knn {
                k,
                indices,
                distances,
            });
        }
        let ef = self.ef(k + 1);
        let failed = Mutex::new(None);
        for start in (0..n).step_by(BLOCK) {
            control.check()?;
            control.report(
                Phase::Neighbours,
                progress.0 + (progress.1 - progress.0) * start as f64 / n as f64,
            );
            let end = (start + BLOCK).min(n);
            indices[start * k..end * k]
                .par_chunks_mut(k)
                .zip(distances[start * k..end * k].par_chunks_mut(k))
                .enumerate()
                .for_each(|(offset, (row_indices, row_distances))| {
                    let i = start + offset;
                    let mut found: Vec<(f32, u32)> = self
                        .hnsw
                        .search(points.row(i), k + 1, ef)
                        .into_iter()
                        .filter(|neighbour| neighbour.d_id != i)
                        .map(|neighbour| (neighbour.distance, neighbour.d_id as u32))
                        .collect();
                    found.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    if found.len() < k {
                        // HNSW returned too few: fall back to brute force for this point.
                        found = brute_force_row(points, i, k);
                    }
                    if found.len() < k {
                        if let Ok(mut slot) = failed.lock() {
                            *slot = Some(i);
                        }
                        return;
                    }
                    for (slot, (distance, j)) in found.iter().take(k).enumerate() {
                        row_indices[slot] = *j;
                        row_distances[slot] = *distance;
                    }
                });
        }
        if let Some(point) = failed.into_inner().ok().flatten() {
            return Err(HdbscanError::InvalidInput(format!(
                "found fewer than {k} neighbours of point {point}"
            )));
        }
        Ok(Knn {
            k,
            indices,
            distances,
        })
    }

    /// Up to `k` approximate nearest points of `query` for which `keep` is true.
    pub fn nearest_where(
        &self,
        query: &[f32],
        k: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<(f32, u32)> {
        let filter = |id: &usize| keep(*id);
        self.hnsw
            .search_filter(query, k, self.ef(k), Some(&filter))
            .into_iter()
            .filter(|neighbour| keep(neighbour.d_id))
            .map(|neighbour| (neighbour.distance, neighbour.d_id as u32))
            .collect()
    }
}

fn brute_force_row(points: Points<'_>, i: usize, k: usize) -> Vec<(f32, u32)> {
    let query = points.row(i);
    let mut all: Vec<(f32, u32)> = (0..points.len())
        .filter(|&j| j != i)
        .map(|j| (euclidean(query, points.row(j)), j as u32))
        .collect();
    all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euclidean_matches_the_definition_and_cosine_on_unit_vectors() {
        let a: Vec<f32> = (0..19).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..19).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt();
        assert!((euclidean(&a, &b) - naive).abs() < 1e-5);
        let norm = |v: &[f32]| {
            let length = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / length).collect::<Vec<_>>()
        };
        let (ua, ub) = (norm(&a), norm(&b));
        let cosine: f32 = ua.iter().zip(&ub).map(|(x, y)| x * y).sum();
        let d = euclidean(&ua, &ub);
        assert!((d * d - (2.0 - 2.0 * cosine)).abs() < 1e-5);
    }

    #[test]
    fn hnsw_finds_nearly_all_exact_neighbours() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (n, dim, k) = (1500, 32, 10);
        let data: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>() - 0.5).collect();
        let points = Points::new(&data, dim).expect("points");
        let control = Control::default();
        let exact = exact_knn(points, k, &control).expect("exact");
        let index =
            AnnIndex::build(points, HnswSettings::default(), &control, (0.0, 0.5)).expect("build");
        let approx = index.knn(points, k, &control, (0.5, 1.0)).expect("knn");
        let mut hits = 0;
        for i in 0..n {
            let truth = exact.neighbours(i).0;
            hits += approx
                .neighbours(i)
                .0
                .iter()
                .filter(|j| truth.contains(j))
                .count();
        }
        let recall = hits as f64 / (n * k) as f64;
        assert!(recall > 0.95, "recall {recall}");
        let (first, distances) = exact.neighbours(0);
        assert!(!first.contains(&0));
        assert!(distances.windows(2).all(|w| w[0] <= w[1]));
    }
}
