//! Exact k-NN by tiles of matrix products.

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Mutex, PoisonError};

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, s};
use rayon::prelude::*;

use super::{Knn, KnnError, Points, bf16, dot, euclidean};
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
    exact_knn_with(points, k, control, Kernel::Auto)
}

/// Which products [`exact_knn_with`] screens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// bf16 products where the CPU has a bf16 unit (and the set is large enough to pay for
    /// packing),
    /// f32 matrix products otherwise.
    Auto,
    /// f32 matrix products only.
    F32,
}

/// Below this many points packing for the bf16 unit costs more than it saves.
pub(crate) const SCREEN_MIN_POINTS: usize = 1024;

pub(crate) fn exact_knn_with(
    points: Points<'_>,
    k: usize,
    control: &Control<'_>,
    kernel: Kernel,
) -> Result<Knn, KnnError> {
    let n = points.len();
    let k = k.min(n.saturating_sub(1));
    if kernel == Kernel::Auto
        && k > 0
        && n >= SCREEN_MIN_POINTS
        && let Some(packed) = bf16::Bf16Points::pack(points)
    {
        return screened_knn(points, &packed, k, control);
    }
    products_knn(points, k, control)
}

/// Points per side of one tile pair of [`screened_knn`]: 8 × 8 kernel blocks whose products
/// (256 KB) and bf16 rows (2 × 192 KB at 384-d) stay in L2 for the row and the column scan.
const SCREEN_SIDE: usize = 256;

/// Exact k-NN screened by bf16 products: each row keeps every point whose screened
/// squared distance is within twice its error bound of the k-th smallest screened one so far,
/// and those few (about k + 3 on MiniLM embeddings at 10k) are ranked by [`euclidean`]. No point
/// outside can be nearer than the k-th (see [`bf16`]), so the lists equal the f32 path's.
/// As there, only the tile pairs on and above the diagonal are multiplied, and each is scanned
/// by rows for the first side's points and by columns for the second's.
pub(crate) fn screened_knn(
    points: Points<'_>,
    packed: &bf16::Bf16Points,
    k: usize,
    control: &Control<'_>,
) -> Result<Knn, KnnError> {
    use bf16::BLOCK;
    let n = points.len();
    let norms: Vec<f32> = (0..n).map(|i| dot(points.row(i), points.row(i))).collect();
    let mut padded_norms = norms.clone();
    // Padding points can never pass a cut.
    padded_norms.resize(packed.blocks() * BLOCK, f32::INFINITY);
    let max_slack = packed.max_slack();
    let sides = n.div_ceil(SCREEN_SIDE);
    let side_rows = |side: usize| side * SCREEN_SIDE..((side + 1) * SCREEN_SIDE).min(n);
    let screens: Vec<Mutex<Vec<Screen>>> = (0..sides)
        .map(|side| {
            let margins = side_rows(side).map(|i| 2.0 * (packed.slack(i) + max_slack));
            Mutex::new(margins.map(|margin| Screen::new(k, margin)).collect())
        })
        .collect();
    let pairs = on_and_above_diagonal(sides);
    let done = AtomicUsize::new(0);
    pairs.par_iter().try_for_each_init(
        || vec![0f32; SCREEN_SIDE * SCREEN_SIDE],
        |products, &(first, second)| {
            control.check()?;
            let (rows, columns) = (side_rows(first), side_rows(second));
            let width = columns.len().div_ceil(BLOCK) * BLOCK;
            let unit = bf16::Bf16Unit::start(packed);
            {
                for query in 0..rows.len().div_ceil(BLOCK) {
                    let queries = packed.query_rows(rows.start / BLOCK + query);
                    for target in 0..width / BLOCK {
                        let at = query * BLOCK * width + target * BLOCK;
                        unit.products(
                            packed,
                            queries,
                            columns.start / BLOCK + target,
                            &mut products[at..],
                            width,
                        );
                    }
                }
            }
            let column_norms = &padded_norms[columns.start..columns.start + width];
            let mut masks = vec![0u32; width / BLOCK];
            {
                let mut screens = lock(&screens[first]);
                for (row, screen) in screens.iter_mut().enumerate() {
                    let i = rows.start + row;
                    let row_products = &products[row * width..(row + 1) * width];
                    unit.under_cut(
                        row_products,
                        column_norms,
                        screen.cut - norms[i],
                        &mut masks,
                    );
                    for (chunk, &mask) in masks.iter().enumerate() {
                        let mut mask = mask;
                        while mask != 0 {
                            let column = chunk * BLOCK + mask.trailing_zeros() as usize;
                            mask &= mask - 1;
                            let j = columns.start + column;
                            let screened =
                                norms[i] + column_norms[column] - 2.0 * row_products[column];
                            if j != i && screened < screen.cut {
                                screen.admit(screened, j as u32);
                            }
                        }
                    }
                }
            }
            if first != second {
                let mut screens = lock(&screens[second]);
                let mut cuts: Vec<f32> = screens
                    .iter()
                    .zip(&norms[columns.clone()])
                    .map(|(screen, &norm)| screen.cut - norm)
                    .collect();
                // Padding columns never pass.
                cuts.resize(width, f32::NEG_INFINITY);
                for (row, i) in rows.clone().enumerate() {
                    let row_products = &products[row * width..(row + 1) * width];
                    unit.under_cuts(row_products, norms[i], &cuts, &mut masks);
                    for (chunk, &mask) in masks.iter().enumerate() {
                        let mut mask = mask;
                        while mask != 0 {
                            let column = chunk * BLOCK + mask.trailing_zeros() as usize;
                            mask &= mask - 1;
                            let j = columns.start + column;
                            let screen = &mut screens[column];
                            let screened = norms[i] + norms[j] - 2.0 * row_products[column];
                            if screened < screen.cut {
                                screen.admit(screened, i as u32);
                                cuts[column] = screen.cut - norms[j];
                            }
                        }
                    }
                }
            }
            let finished = done.fetch_add(1, AtomicOrdering::Relaxed) + 1;
            control.report(Phase::Neighbours, finished as f64 / pairs.len() as f64);
            Ok::<(), KnnError>(())
        },
    )?;
    Ok(ranked(points, k, SCREEN_SIDE, screens, control, |screen| {
        screen.survivors().collect()
    }))
}

/// The k-NN lists from each point's candidates, ranked by [`euclidean`]: `groups` holds the
/// candidate state of `group_rows` consecutive points each, and `candidates` lists a point's.
fn ranked<T: Send>(
    points: Points<'_>,
    k: usize,
    group_rows: usize,
    groups: Vec<Mutex<Vec<T>>>,
    control: &Control<'_>,
    candidates: impl Fn(T) -> Vec<u32> + Sync,
) -> Knn {
    let n = points.len();
    let mut indices = vec![0u32; n * k];
    let mut distances = vec![0f32; n * k];
    indices
        .par_chunks_mut(group_rows * k)
        .zip(distances.par_chunks_mut(group_rows * k))
        .zip(groups)
        .enumerate()
        .for_each(|(group, ((group_indices, group_distances), states))| {
            let states = states.into_inner().unwrap_or_else(PoisonError::into_inner);
            for (row, state) in states.into_iter().enumerate() {
                rank_exactly(
                    points,
                    group * group_rows + row,
                    &candidates(state),
                    &mut group_indices[row * k..(row + 1) * k],
                    &mut group_distances[row * k..(row + 1) * k],
                );
            }
        });
    control.report(Phase::Neighbours, 1.0);
    Knn {
        k,
        indices,
        distances,
    }
}

/// Writes the `indices.len()` nearest of `candidates` to point `i` by [`euclidean`] (ties by
/// index) into `indices` and `distances`. The candidates' rows are scattered over the whole
/// set, so each is asked for a few candidates ahead, or every distance would wait on memory
/// (measured: a quarter of the ranking's time at 10k).
fn rank_exactly(
    points: Points<'_>,
    i: usize,
    candidates: &[u32],
    indices: &mut [u32],
    distances: &mut [f32],
) {
    const AHEAD: usize = 4;
    for &j in candidates.iter().take(AHEAD) {
        prefetch(points.row(j as usize));
    }
    let mut exact: Vec<(f32, u32)> = Vec::with_capacity(candidates.len());
    for (at, &j) in candidates.iter().enumerate() {
        if let Some(&ahead) = candidates.get(at + AHEAD) {
            prefetch(points.row(ahead as usize));
        }
        exact.push((euclidean(points.row(i), points.row(j as usize)), j));
    }
    exact.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for ((index, distance), (d, j)) in indices.iter_mut().zip(distances.iter_mut()).zip(exact) {
        *index = j;
        *distance = d;
    }
}

/// Asks the CPU to bring `row` into cache: a hint, which never faults.
#[inline]
fn prefetch(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in row.chunks(16) {
        // SAFETY: a prefetch reads nothing and cannot fault; the address is inside `row`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// One row's screening: every point admitted under the cut as it was then. The cut is the k-th
/// smallest admitted screened squared distance plus the row's margin, recomputed whenever the
/// list fills (admitting is then a push; a stale cut only admits more). It only falls, so at the
/// end the points under the final cut are all there.
struct Screen {
    k: usize,
    margin: f32,
    cut: f32,
    admitted: Vec<(f32, u32)>,
    /// List length at which the cut is recomputed and the list pruned to it.
    prune_at: usize,
}

impl Screen {
    fn new(k: usize, margin: f32) -> Self {
        let prune_at = 4 * k + 32;
        Self {
            k,
            margin,
            cut: f32::INFINITY,
            admitted: Vec::with_capacity(prune_at),
            prune_at,
        }
    }

    #[inline]
    fn admit(&mut self, screened: f32, j: u32) {
        self.admitted.push((screened, j));
        if self.admitted.len() >= self.prune_at {
            self.prune();
        }
    }

    fn prune(&mut self) {
        let k = self.k;
        if self.admitted.len() > k {
            let (_, kth, _) = self
                .admitted
                .select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            self.cut = self.cut.min(kth.0 + self.margin);
        }
        let cut = self.cut;
        self.admitted.retain(|&(screened, _)| screened < cut);
        // Many points within the margin (duplicates, say): let the list grow.
        if self.admitted.len() * 2 > self.prune_at {
            self.prune_at *= 2;
        }
    }

    fn survivors(mut self) -> impl Iterator<Item = u32> {
        self.prune();
        self.admitted.into_iter().map(|(_, j)| j)
    }
}

/// Exact k-NN from f32 matrix products (any CPU).
fn products_knn(points: Points<'_>, k: usize, control: &Control<'_>) -> Result<Knn, KnnError> {
    let n = points.len();
    let k = k.min(n.saturating_sub(1));
    if k == 0 {
        return Ok(Knn {
            k,
            indices: Vec::new(),
            distances: Vec::new(),
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
    let tiles = on_and_above_diagonal(blocks);
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
    Ok(ranked(points, k, TILE, nearest, control, |top| {
        top.items.into_iter().map(|(_, j)| j).collect()
    }))
}

/// The (row block, column block) pairs on and above the diagonal of a symmetric matrix of
/// `blocks` × `blocks` blocks.
fn on_and_above_diagonal(blocks: usize) -> Vec<(usize, usize)> {
    (0..blocks)
        .flat_map(|first| (first..blocks).map(move |second| (first, second)))
        .collect()
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
