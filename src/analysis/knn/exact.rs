//! Exact k-NN by tiles of matrix products.

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Mutex, PoisonError};

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, s};
use rayon::prelude::*;

use super::{Knn, KnnError, Points, dot, euclidean};
use crate::progress::{Control, Phase};

/// Rows on each side of one tile of the distance matrix: a 512 × 512 product (1 MB) stays in a
/// core's cache for the two scans that follow it, and one tile (about 3 ms) bounds the latency of
/// progress and cancellation.
const TILE: usize = 512;
/// Candidates kept per point beyond `k` by the product's distances, then re-ranked by the exact
/// distance: ‖a‖² + ‖b‖² − 2a·b loses a few bits (about 1e-6 in the squared distance), which
/// could swap near-equal neighbours at the k-th place.
const VERIFY_MARGIN: usize = 8;

/// Exact k-NN by brute force in blocked matrix products: O(n²·d) time, O(n·k) memory.
/// Distances are those of [`euclidean`]; ties go to the lower index.
///
/// The distance matrix is symmetric, so only the tiles on and above the diagonal are computed;
/// each one is scanned twice, by rows for the first block's points and by columns for the
/// second's. That halves the products, which are most of the time.
pub fn exact_knn(points: Points<'_>, k: usize, control: &Control<'_>) -> Result<Knn, KnnError> {
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
    let dim = points.dim();
    let all = ArrayView2::from_shape((n, dim), points.data)
        .map_err(|error| KnnError::InvalidInput(format!("points: {error}")))?;
    let norms: Vec<f32> = (0..n).map(|i| dot(points.row(i), points.row(i))).collect();
    let keep = (k + VERIFY_MARGIN).min(n - 1);
    let blocks = n.div_ceil(TILE);
    let block_rows = |block: usize| block * TILE..((block + 1) * TILE).min(n);
    let nearest: Vec<Mutex<Vec<TopK>>> = (0..blocks)
        .map(|block| Mutex::new(block_rows(block).map(|_| TopK::new(keep)).collect()))
        .collect();
    let tiles: Vec<(usize, usize)> = (0..blocks)
        .flat_map(|first| (first..blocks).map(move |second| (first, second)))
        .collect();
    let done = AtomicUsize::new(0);
    tiles.par_iter().try_for_each_init(
        || vec![0f32; TILE * TILE],
        |products, &(first, second)| {
            control.check()?;
            let (rows, columns) = (block_rows(first), block_rows(second));
            let width = columns.len();
            let products = &mut products[..rows.len() * width];
            let mut out = ArrayViewMut2::from_shape((rows.len(), width), &mut *products)
                .map_err(|error| KnnError::InvalidInput(format!("tile: {error}")))?;
            general_mat_mul(
                1.0,
                &all.slice(s![rows.clone(), ..]),
                &all.slice(s![columns.clone(), ..]).t(),
                0.0,
                &mut out,
            );
            // Plain slices from here: they vectorise where ndarray's row iterators do not.
            let column_norms = &norms[columns.clone()];
            {
                let mut tops = lock(&nearest[first]);
                for ((row, top), row_products) in tops
                    .iter_mut()
                    .enumerate()
                    .zip(products.chunks_exact(width))
                {
                    let i = rows.start + row;
                    let query_norm = norms[i];
                    let mut bound = top.bound();
                    for (offset, (&product, &norm)) in
                        row_products.iter().zip(column_norms).enumerate()
                    {
                        let squared = query_norm + norm - 2.0 * product;
                        let j = columns.start + offset;
                        if squared < bound && j != i {
                            top.push(squared, j as u32);
                            bound = top.bound();
                        }
                    }
                }
            }
            if first != second {
                let mut tops = lock(&nearest[second]);
                let mut bounds: Vec<f32> = tops.iter().map(TopK::bound).collect();
                for (row, row_products) in products.chunks_exact(width).enumerate() {
                    let i = rows.start + row;
                    let query_norm = norms[i];
                    for (column, ((&product, &norm), bound)) in row_products
                        .iter()
                        .zip(column_norms)
                        .zip(bounds.iter_mut())
                        .enumerate()
                    {
                        let squared = query_norm + norm - 2.0 * product;
                        if squared < *bound {
                            tops[column].push(squared, i as u32);
                            *bound = tops[column].bound();
                        }
                    }
                }
            }
            let finished = done.fetch_add(1, AtomicOrdering::Relaxed) + 1;
            control.report(Phase::Neighbours, finished as f64 / tiles.len() as f64);
            Ok::<(), KnnError>(())
        },
    )?;
    indices
        .par_chunks_mut(TILE * k)
        .zip(distances.par_chunks_mut(TILE * k))
        .zip(nearest)
        .enumerate()
        .for_each(|(block, ((block_indices, block_distances), tops))| {
            let tops = tops.into_inner().unwrap_or_else(PoisonError::into_inner);
            for (row, top) in tops.into_iter().enumerate() {
                let i = block * TILE + row;
                let mut exact: Vec<(f32, u32)> = top
                    .items
                    .into_iter()
                    .map(|(_, j)| (euclidean(points.row(i), points.row(j as usize)), j))
                    .collect();
                exact.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                for (slot, (distance, j)) in exact.into_iter().take(k).enumerate() {
                    block_indices[row * k + slot] = j;
                    block_distances[row * k + slot] = distance;
                }
            }
        });
    control.report(Phase::Neighbours, 1.0);
    Ok(Knn {
        k,
        indices,
        distances,
    })
}

/// A poisoned lock only means another worker panicked; that panic is what gets reported.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `capacity` smallest (squared distance, index) pairs seen so far, unordered; `bound` is
/// the largest kept once full, so most candidates are rejected by one comparison.
struct TopK {
    capacity: usize,
    items: Vec<(f32, u32)>,
    worst: usize,
}

impl TopK {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            items: Vec::with_capacity(capacity),
            worst: 0,
        }
    }

    #[inline]
    fn bound(&self) -> f32 {
        if self.items.len() < self.capacity {
            f32::INFINITY
        } else {
            self.items[self.worst].0
        }
    }

    fn push(&mut self, squared: f32, index: u32) {
        if self.items.len() < self.capacity {
            self.items.push((squared, index));
        } else {
            self.items[self.worst] = (squared, index);
        }
        if self.items.len() == self.capacity {
            self.worst = (0..self.items.len())
                .max_by(|&a, &b| self.items[a].0.total_cmp(&self.items[b].0))
                .unwrap_or(0);
        }
    }
}
