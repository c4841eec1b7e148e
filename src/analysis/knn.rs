//! Nearest neighbours of unit vectors, exact (brute force) or approximate (NN-descent), and a
//! search over the resulting k-NN graph.
//!
//! Distances are Euclidean. On unit vectors `|a − b|² = 2 − 2·cos(a, b)`, so Euclidean order is
//! cosine order and no cosine matrix is ever needed. No path allocates anything n × n.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Mutex, PoisonError};

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, s};
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

    /// Rows `range` as one row-major block.
    pub fn rows(&self, range: std::ops::Range<usize>) -> &'a [f32] {
        &self.data[range.start * self.dim..range.end * self.dim]
    }
}

/// Independent accumulators of the vectorised loops: enough to keep two AVX-512 or four AVX2
/// registers busy. The lane layout fixes the summation order, so every build gives the same bits.
const LANES: usize = 32;

/// Squared Euclidean distance with [`LANES`] independent accumulators so the compiler can
/// vectorise it; compiled for AVX-512, AVX2/FMA and NEON too and picked at run time (the
/// distance is most of the neighbour search).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn squared_euclidean(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for lane in 0..LANES {
            let diff = ca[lane] - cb[lane];
            sums[lane] += diff * diff;
        }
    }
    let mut total: f32 = sums.iter().sum();
    for (x, y) in tail_a.iter().zip(tail_b) {
        total += (x - y) * (x - y);
    }
    total
}

/// Euclidean distance.
#[inline]
pub fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    squared_euclidean(a, b).sqrt()
}

/// Dot product, vectorised like [`squared_euclidean`].
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for lane in 0..LANES {
            sums[lane] += ca[lane] * cb[lane];
        }
    }
    let mut total: f32 = sums.iter().sum();
    for (x, y) in tail_a.iter().zip(tail_b) {
        total += x * y;
    }
    total
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

/// Rows per parallel block of NN-descent's joins: small enough for responsive progress.
const BLOCK: usize = 512;
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
    let dim = points.dim();
    let all = ArrayView2::from_shape((n, dim), points.data)
        .map_err(|error| HdbscanError::InvalidInput(format!("points: {error}")))?;
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
                .map_err(|error| HdbscanError::InvalidInput(format!("tile: {error}")))?;
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
            Ok::<(), HdbscanError>(())
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

/// NN-descent settings. With the defaults, recall on the 384-d benchmark data is 0.88–0.94 and the
/// k-th distance is off by < 0.2 % on average (BENCHMARKS.md); more trees or candidates buy recall
/// with time.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NnDescentSettings {
    /// Random-projection trees for the starting graph.
    pub trees: usize,
    /// Most points per tree leaf (all pairs in a leaf are compared).
    pub leaf_size: usize,
    /// Candidates per point and round, of each kind (new, old), forward and reverse together.
    pub max_candidates: usize,
    pub max_iterations: usize,
    /// Stop once a round changes fewer than this fraction of the n·k graph entries.
    pub delta: f64,
    pub seed: u64,
}

impl Default for NnDescentSettings {
    fn default() -> Self {
        Self {
            trees: 8,
            leaf_size: 64,
            max_candidates: 48,
            max_iterations: 12,
            delta: 0.001,
            seed: 42,
        }
    }
}

/// A neighbour list kept sorted by (squared distance, index), at most `k` long.
struct NeighbourList {
    /// (squared distance, index, not yet joined, round it came in).
    entries: Vec<(f32, u32, bool, u32)>,
}

impl NeighbourList {
    /// Inserts `j` (flagged new) unless present or not among the `k` nearest. The final list is
    /// the `k` smallest distinct (distance, index) pairs offered, whatever the order of offers,
    /// so parallel updates stay deterministic.
    fn offer(&mut self, k: usize, distance: f32, j: u32, round: u32) -> bool {
        let key = (distance, j);
        let full = self.entries.len() >= k;
        if full
            && let Some(&(worst, index, _, _)) = self.entries.last()
            && !less(key, (worst, index))
        {
            return false;
        }
        if self.entries.iter().any(|entry| entry.1 == j) {
            return false;
        }
        let at = self
            .entries
            .partition_point(|&(d, index, _, _)| less((d, index), key));
        self.entries.insert(at, (distance, j, true, round));
        if self.entries.len() > k {
            self.entries.pop();
        }
        true
    }

    /// The distance a newcomer must beat (∞ while the list is not full).
    fn bound(&self, k: usize) -> f32 {
        if self.entries.len() < k {
            f32::INFINITY
        } else {
            self.entries.last().map_or(f32::INFINITY, |entry| entry.0)
        }
    }
}

fn less(a: (f32, u32), b: (f32, u32)) -> bool {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).is_lt()
}

/// Shared neighbour lists; each has a lock and a lock-free copy of its bound for quick rejects.
struct Graph {
    k: usize,
    lists: Vec<Mutex<NeighbourList>>,
    bounds: Vec<AtomicU32>,
}

impl Graph {
    fn new(n: usize, k: usize) -> Self {
        Self {
            k,
            lists: (0..n)
                .map(|_| {
                    Mutex::new(NeighbourList {
                        entries: Vec::with_capacity(k + 1),
                    })
                })
                .collect(),
            bounds: (0..n)
                .map(|_| AtomicU32::new(f32::INFINITY.to_bits()))
                .collect(),
        }
    }

    fn bound(&self, i: u32) -> f32 {
        f32::from_bits(self.bounds[i as usize].load(AtomicOrdering::Relaxed))
    }

    fn offer(&self, i: u32, distance: f32, j: u32, round: u32) {
        if distance > self.bound(i) {
            return;
        }
        let Ok(mut list) = self.lists[i as usize].lock() else {
            return;
        };
        if list.offer(self.k, distance, j, round) {
            self.bounds[i as usize].store(list.bound(self.k).to_bits(), AtomicOrdering::Relaxed);
        }
    }

    fn offer_pair(&self, points: Points<'_>, a: u32, b: u32, round: u32) {
        if a == b {
            return;
        }
        let distance = squared_euclidean(points.row(a as usize), points.row(b as usize));
        self.offer(a, distance, b, round);
        self.offer(b, distance, a, round);
    }

    fn into_lists(self) -> Vec<NeighbourList> {
        self.lists
            .into_iter()
            .map(|list| {
                list.into_inner()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
            })
            .collect()
    }
}

/// A seeded hash of (round, point, neighbour): the priority for candidate sampling, so that the
/// sample does not depend on thread timing.
fn priority(seed: u64, round: u64, i: u32, j: u32) -> u64 {
    let mut x = seed
        ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (u64::from(i) << 32 | u64::from(j)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// One point's sampled candidates: (priority, index).
type Candidates = Vec<(u64, u32)>;

/// The `limit` lowest (priority, index) candidates, an index offered twice at its lower
/// priority: a result that does not depend on the order of `items`.
fn lowest_candidates(mut items: Vec<(u64, u32)>, limit: usize) -> Vec<(u64, u32)> {
    items.sort_unstable_by_key(|&(p, j)| (j, p));
    items.dedup_by_key(|c| c.1);
    if items.len() > limit {
        items.select_nth_unstable(limit);
        items.truncate(limit);
    }
    items
}

/// Approximate k-NN graph by NN-descent (Dong, Moses & Li 2011): a start from the leaves of
/// random-projection trees, then rounds of local joins (neighbours of neighbours, forward and
/// reverse, with new/old candidate sampling) until few entries change. Deterministic for a
/// seed: the candidate sample is a seeded hash, and every list ends as the `k` nearest of all
/// pairs compared, whichever thread compared them first.
pub fn nn_descent(
    points: Points<'_>,
    k: usize,
    settings: &NnDescentSettings,
    control: &Control<'_>,
) -> Result<Knn, HdbscanError> {
    nn_descent_with(points, k, settings, control.cancel, &mut |fraction| {
        control.report(Phase::Neighbours, fraction)
    })
    .map_err(|Cancelled| HdbscanError::Cancelled)
}

/// Returned when the caller's cancellation flag was raised mid-search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// [`nn_descent`] for callers with their own progress type: `on_progress` gets the fraction
/// done and is only called from the calling thread.
pub fn nn_descent_with(
    points: Points<'_>,
    k: usize,
    settings: &NnDescentSettings,
    cancel: Option<&AtomicBool>,
    on_progress: &mut dyn FnMut(f64),
) -> Result<Knn, Cancelled> {
    let check = || match cancel {
        Some(flag) if flag.load(AtomicOrdering::Relaxed) => Err(Cancelled),
        _ => Ok(()),
    };
    let n = points.len();
    let k = k.min(n.saturating_sub(1));
    if k == 0 {
        return Ok(Knn {
            k,
            indices: vec![0; n * k],
            distances: vec![0.0; n * k],
        });
    }
    let graph = Graph::new(n, k);
    on_progress(0.0);
    // Starting graph: all pairs within each leaf of several random-projection trees.
    let leaf_size = settings.leaf_size.max(k + 1).max(8);
    let trees: Vec<u64> = (0..settings.trees.max(1) as u64).collect();
    for (t, tree) in trees.iter().enumerate() {
        check()?;
        let leaves = rp_tree_leaves(
            points,
            leaf_size,
            settings.seed ^ tree.wrapping_mul(0xA24B_AED4_963E_E407),
        );
        leaves.par_iter().for_each(|leaf| {
            for (x, &a) in leaf.iter().enumerate() {
                for &b in &leaf[x + 1..] {
                    graph.offer_pair(points, a, b, 0);
                }
            }
        });
        on_progress(0.1 * (t + 1) as f64 / trees.len() as f64);
    }
    // Points in short leaves may still lack k neighbours: fill with seeded random points.
    (0..n as u32).into_par_iter().for_each(|i| {
        let mut round = 0u64;
        while graph.bound(i).is_infinite() && round < 4 * k as u64 + 64 {
            let j = (priority(settings.seed, u64::MAX - round, i, 0) % n as u64) as u32;
            if j != i {
                let distance = squared_euclidean(points.row(i as usize), points.row(j as usize));
                graph.offer(i, distance, j, 0);
            }
            round += 1;
        }
        // Still short (tiny inputs): the next points in index order.
        let mut j = i;
        while graph.bound(i).is_infinite() {
            j = (j + 1) % n as u32;
            if j == i {
                break;
            }
            let distance = squared_euclidean(points.row(i as usize), points.row(j as usize));
            graph.offer(i, distance, j, 0);
        }
    });
    let limit = settings.max_candidates.max(4);
    let threshold = (settings.delta * (n * k) as f64) as usize;
    let iterations = settings.max_iterations.max(1);
    for round in 0..iterations {
        check()?;
        // Candidates: new and old neighbours, forward and reverse, sampled by seeded priority.
        // Each point's own list (forward) and the lists it appears in (reverse, gathered by a
        // counting sort), so every point's sample is built independently, in parallel.
        let snapshot: Vec<Vec<(u32, bool)>> = graph
            .lists
            .par_iter()
            .map(|list| {
                list.lock().map_or_else(
                    |_| Vec::new(),
                    |list| list.entries.iter().map(|e| (e.1, e.2)).collect(),
                )
            })
            .collect();
        let mut offsets = vec![0usize; n + 1];
        for &(j, _) in snapshot.iter().flatten() {
            offsets[j as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut reverse = vec![(0u32, false); offsets[n]];
        let mut fill = offsets.clone();
        for (i, list) in snapshot.iter().enumerate() {
            for &(j, is_new) in list {
                reverse[fill[j as usize]] = (i as u32, is_new);
                fill[j as usize] += 1;
            }
        }
        let (new, old): (Vec<Candidates>, Vec<Candidates>) = (0..n)
            .into_par_iter()
            .map(|i| {
                let (mut fresh, mut seen) = (Vec::new(), Vec::new());
                let forward = snapshot[i].iter().map(|&(j, is_new)| {
                    (
                        priority(settings.seed, round as u64, i as u32, j),
                        j,
                        is_new,
                    )
                });
                let backward = reverse[offsets[i]..offsets[i + 1]]
                    .iter()
                    .map(|&(src, is_new)| {
                        (
                            priority(settings.seed, round as u64, src, i as u32),
                            src,
                            is_new,
                        )
                    });
                for (p, j, is_new) in forward.chain(backward) {
                    if is_new {
                        fresh.push((p, j))
                    } else {
                        seen.push((p, j))
                    }
                }
                (
                    lowest_candidates(fresh, limit),
                    lowest_candidates(seen, limit),
                )
            })
            .unzip();
        // Sampled new entries become old: they are joined in this round.
        graph
            .lists
            .par_iter()
            .zip(new.par_iter())
            .for_each(|(list, sampled)| {
                if let Ok(mut list) = list.lock() {
                    for entry in list.entries.iter_mut() {
                        if entry.2 && sampled.iter().any(|c| c.1 == entry.1) {
                            entry.2 = false;
                        }
                    }
                }
            });
        let stamp = round as u32 + 1;
        // Local join, in blocks for progress and cancellation.
        for start in (0..n).step_by(BLOCK * 4) {
            check()?;
            let end = (start + BLOCK * 4).min(n);
            (start..end).into_par_iter().for_each(|u| {
                let (fresh, seen) = (&new[u], &old[u]);
                for (x, &(_, a)) in fresh.iter().enumerate() {
                    for &(_, b) in &fresh[x + 1..] {
                        graph.offer_pair(points, a, b, stamp);
                    }
                    for &(_, b) in seen {
                        graph.offer_pair(points, a, b, stamp);
                    }
                }
            });
            let done = (round as f64 + (end as f64 / n as f64)) / iterations as f64;
            on_progress(0.1 + 0.9 * done);
        }
        // Entries that came in this round and stayed: independent of thread timing.
        let changed: usize = graph
            .lists
            .par_iter()
            .map(|list| {
                list.lock().map_or(0, |list| {
                    list.entries.iter().filter(|e| e.3 == stamp).count()
                })
            })
            .sum();
        tracing::debug!(round, changed, "NN-descent round");
        if changed <= threshold {
            break;
        }
    }
    on_progress(1.0);
    let mut indices = Vec::with_capacity(n * k);
    let mut distances = Vec::with_capacity(n * k);
    for list in graph.into_lists() {
        // Every list is full: the fill above offers every other point if need be.
        for (distance, j, _, _) in list.entries {
            indices.push(j);
            distances.push(distance.max(0.0).sqrt());
        }
    }
    Ok(Knn {
        k,
        indices,
        distances,
    })
}

/// Leaves of one random-projection tree: each split is the hyperplane halfway between two
/// random members; splits that leave one side empty fall back to a random halving.
fn rp_tree_leaves(points: Points<'_>, leaf_size: usize, seed: u64) -> Vec<Vec<u32>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut stack: Vec<Vec<u32>> = vec![(0..points.len() as u32).collect()];
    let mut leaves = Vec::new();
    let dim = points.dim();
    let mut normal = vec![0f32; dim];
    while let Some(node) = stack.pop() {
        if node.len() <= leaf_size {
            leaves.push(node);
            continue;
        }
        let a = node[rng.random_range(0..node.len())] as usize;
        let mut b = node[rng.random_range(0..node.len())] as usize;
        if a == b {
            b = node[(node.iter().position(|&x| x as usize == a).unwrap_or(0) + 1) % node.len()]
                as usize;
        }
        let (ra, rb) = (points.row(a), points.row(b));
        let mut offset = 0f32;
        for d in 0..dim {
            normal[d] = ra[d] - rb[d];
            offset += normal[d] * (ra[d] + rb[d]) * 0.5;
        }
        let side: Vec<bool> = node
            .par_iter()
            .with_min_len(1024)
            .map(|&i| dot(points.row(i as usize), &normal) > offset)
            .collect();
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for (&i, &s) in node.iter().zip(&side) {
            if s {
                left.push(i);
            } else {
                right.push(i);
            }
        }
        if left.is_empty() || right.is_empty() {
            let mut all = node;
            let half = all.len() / 2;
            for i in (1..all.len()).rev() {
                all.swap(i, rng.random_range(0..=i));
            }
            right = all.split_off(half);
            left = all;
        }
        stack.push(right);
        stack.push(left);
    }
    leaves
}

/// The k-NN graph made searchable: each point links to its k nearest and to up to k points that
/// have it among theirs (the reverse links let a search leave dense regions).
pub struct GraphIndex {
    links: Vec<Vec<u32>>,
    /// Expansions before a search gives up (the caller then searches exhaustively).
    budget: usize,
}

impl GraphIndex {
    pub fn new(knn: &Knn) -> Self {
        let n = knn.len();
        let mut reverse: Vec<Vec<(f32, u32)>> = vec![Vec::new(); n];
        for i in 0..n {
            let (indices, distances) = knn.neighbours(i);
            for (&j, &d) in indices.iter().zip(distances) {
                reverse[j as usize].push((d, i as u32));
            }
        }
        let links = reverse
            .into_par_iter()
            .enumerate()
            .map(|(i, mut back)| {
                back.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let forward = knn.neighbours(i).0;
                let mut all = forward.to_vec();
                all.extend(
                    back.iter()
                        .map(|&(_, j)| j)
                        .filter(|j| !forward.contains(j))
                        .take(knn.k),
                );
                all
            })
            .collect();
        // About half an exhaustive scan's distance evaluations.
        let budget = (n / (4 * knn.k.max(1))).max(64);
        Self { links, budget }
    }

    /// Up to `want` nearest points to point `from` for which `keep` is true, by best-first search
    /// from `from` over the graph. `None` when the search ran out of budget before settling (the
    /// caller then searches exhaustively), so what it returns is rarely a poor answer.
    pub fn nearest_where(
        &self,
        points: Points<'_>,
        from: usize,
        want: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Option<Vec<(f32, u32)>> {
        let width = want.max(8);
        let query = points.row(from);
        let mut visited: HashSet<u32> = HashSet::with_capacity(self.budget * 8);
        let mut frontier: BinaryHeap<Reverse<(OrderedDistance, u32)>> = BinaryHeap::new();
        let mut found: Vec<(f32, u32)> = Vec::with_capacity(width + 1);
        visited.insert(from as u32);
        frontier.push(Reverse((OrderedDistance(0.0), from as u32)));
        let mut expansions = 0;
        while let Some(Reverse((OrderedDistance(distance), node))) = frontier.pop() {
            let worst = if found.len() < width {
                f32::INFINITY
            } else {
                found.last().map_or(f32::INFINITY, |f| f.0)
            };
            if distance > worst {
                break;
            }
            if expansions >= self.budget {
                return None;
            }
            expansions += 1;
            for &next in &self.links[node as usize] {
                if !visited.insert(next) {
                    continue;
                }
                let d = euclidean(query, points.row(next as usize));
                if keep(next as usize) && d < worst {
                    let at = found.partition_point(|f| less((f.0, f.1), (d, next)));
                    found.insert(at, (d, next));
                    found.truncate(width);
                }
                if d < worst {
                    frontier.push(Reverse((OrderedDistance(d), next)));
                }
            }
        }
        found.truncate(want);
        Some(found)
    }
}

/// Distances ordered totally, for the search heap.
#[derive(Clone, Copy, PartialEq)]
struct OrderedDistance(f32);

impl Eq for OrderedDistance {}

impl PartialOrd for OrderedDistance {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedDistance {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
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

    /// Unit vectors around `clusters` random centres plus uniform noise, like embeddings.
    fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let mut data = Vec::with_capacity(n * dim);
        for i in 0..n {
            let row: Vec<f32> = if i % 5 == 4 {
                (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()
            } else {
                centres[i % clusters]
                    .iter()
                    .map(|c| c + rng.random_range(-0.4..0.4))
                    .collect()
            };
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            data.extend(row.iter().map(|x| x / norm));
        }
        data
    }

    fn recall(exact: &Knn, approx: &Knn) -> f64 {
        let hits: usize = (0..exact.len())
            .map(|i| {
                let truth = exact.neighbours(i).0;
                approx
                    .neighbours(i)
                    .0
                    .iter()
                    .filter(|j| truth.contains(j))
                    .count()
            })
            .sum();
        hits as f64 / exact.indices.len() as f64
    }

    #[test]
    fn nn_descent_finds_nearly_all_exact_neighbours_deterministically() {
        let (n, dim, k) = (2000, 32, 15);
        let data = clustered(n, dim, 10, 3);
        let points = Points::new(&data, dim).expect("points");
        let control = Control::default();
        let exact = exact_knn(points, k, &control).expect("exact");
        // Few trees and small leaves, so the local joins must do the work.
        let settings = NnDescentSettings {
            trees: 2,
            leaf_size: 24,
            ..NnDescentSettings::default()
        };
        let approx = nn_descent(points, k, &settings, &control).expect("nn-descent");
        let found = recall(&exact, &approx);
        assert!(found >= 0.97, "recall {found}");
        for i in 0..n {
            let (indices, distances) = approx.neighbours(i);
            assert!(!indices.contains(&(i as u32)));
            assert!(distances.windows(2).all(|w| w[0] <= w[1]));
            for (&j, &d) in indices.iter().zip(distances) {
                assert!((euclidean(points.row(i), points.row(j as usize)) - d).abs() < 1e-5);
            }
        }
        let again = nn_descent(points, k, &settings, &control).expect("again");
        assert_eq!(again.indices, approx.indices, "same seed, same graph");
        let other = NnDescentSettings {
            seed: 7,
            ..settings
        };
        let other = nn_descent(points, k, &other, &control).expect("other seed");
        assert!(recall(&exact, &other) >= 0.97);
    }

    #[test]
    fn exact_knn_equals_one_distance_at_a_time() {
        // Sizes that leave partial query and candidate blocks; duplicates make exact ties.
        let (n, dim, k) = (2_600, 20, 13);
        let mut data = clustered(n, dim, 12, 4);
        let duplicate: Vec<f32> = data[..dim].to_vec();
        data[5 * dim..6 * dim].copy_from_slice(&duplicate);
        data[2_500 * dim..2_501 * dim].copy_from_slice(&duplicate);
        let points = Points::new(&data, dim).expect("points");
        let knn = exact_knn(points, k, &Control::default()).expect("exact");
        for i in (0..n).step_by(37).chain([0, 5, 2_500, n - 1]) {
            let mut truth: Vec<(f32, u32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (euclidean(points.row(i), points.row(j)), j as u32))
                .collect();
            truth.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let (indices, distances) = knn.neighbours(i);
            let expected: Vec<u32> = truth[..k].iter().map(|t| t.1).collect();
            assert_eq!(indices, &expected[..], "neighbours of {i}");
            for (d, t) in distances.iter().zip(&truth) {
                assert_eq!(*d, t.0);
            }
        }
        let cancel = std::sync::atomic::AtomicBool::new(true);
        assert!(matches!(
            exact_knn(points, k, &Control::new(Some(&cancel), None)),
            Err(HdbscanError::Cancelled)
        ));
    }

    #[test]
    fn nn_descent_handles_tiny_inputs_and_cancellation() {
        let data = clustered(10, 8, 2, 1);
        let points = Points::new(&data, 8).expect("points");
        let control = Control::default();
        let exact = exact_knn(points, 9, &control).expect("exact");
        let approx = nn_descent(points, 50, &NnDescentSettings::default(), &control).expect("knn");
        assert_eq!(approx.k, 9);
        assert_eq!(approx.indices, exact.indices, "every other point, in order");
        let cancel = std::sync::atomic::AtomicBool::new(true);
        let cancelled = Control::new(Some(&cancel), None);
        assert!(matches!(
            nn_descent(points, 5, &NnDescentSettings::default(), &cancelled),
            Err(HdbscanError::Cancelled)
        ));
    }

    #[test]
    fn graph_search_finds_the_nearest_kept_points() {
        let (n, dim, k) = (2000, 16, 10);
        let data = clustered(n, dim, 8, 5);
        let points = Points::new(&data, dim).expect("points");
        let control = Control::default();
        let knn = exact_knn(points, k, &control).expect("exact");
        let index = GraphIndex::new(&knn);
        // Points outside a scattered third, like the small components of early Borůvka rounds.
        let (mut hits, mut answered) = (0, 0);
        for from in (0..n).step_by(40) {
            let keep = |q: usize| q % 3 != from % 3;
            let Some(found) = index.nearest_where(points, from, 4, &keep) else {
                continue;
            };
            answered += 1;
            assert!(found.iter().all(|&(_, q)| keep(q as usize)));
            let mut truth: Vec<(f32, u32)> = (0..n)
                .filter(|&q| keep(q))
                .map(|q| (euclidean(points.row(from), points.row(q)), q as u32))
                .collect();
            truth.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            if found.first().map(|f| f.1) == Some(truth[0].1) {
                hits += 1;
            }
        }
        assert!(answered >= 45, "only {answered} of 50 searches settled");
        assert!(
            hits * 10 >= answered * 9,
            "{hits} of {answered} found the nearest"
        );
    }
}
