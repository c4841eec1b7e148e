//! Approximate k-NN by NN-descent, started from random-projection trees.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering as AtomicOrdering};

use rayon::prelude::*;

use super::{Knn, KnnError, Points, dot, squared_euclidean};
use crate::progress::{Cancelled, Control, Phase};

/// Rows per parallel block of NN-descent's joins: small enough for responsive progress.
const BLOCK: usize = 512;
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

pub(super) fn less(a: (f32, u32), b: (f32, u32)) -> bool {
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
) -> Result<Knn, KnnError> {
    Ok(nn_descent_with(
        points,
        k,
        settings,
        control.cancel,
        &mut |fraction| control.report(Phase::Neighbours, fraction),
    )?)
}

/// [`nn_descent`] for callers with their own progress type: `on_progress` gets the fraction
/// done and is only called from the calling thread.
pub fn nn_descent_with(
    points: Points<'_>,
    k: usize,
    settings: &NnDescentSettings,
    cancel: Option<&AtomicBool>,
    on_progress: &mut dyn FnMut(f64),
) -> Result<Knn, Cancelled> {
    let check = || crate::progress::check(cancel);
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
