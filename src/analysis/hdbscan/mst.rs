//! The minimum spanning tree of mutual reachability: core distances from the k-NN graph, then
//! Borůvka rounds in which each component's lightest outgoing edge is found (exactly on the exact
//! path). Prim's algorithm over all pairs is kept as the test oracle.

use std::collections::HashMap;

use ndarray::{Array2, ArrayView1, ArrayView2};
use rand::SeedableRng;
use rayon::prelude::*;

use super::{BRIDGE_SAMPLE, HdbscanError, HdbscanParams, MIN_GRAPH_K, NeighbourSearch};
use crate::analysis::knn::exact::{Kernel, SCREEN_MIN_POINTS, exact_knn_with, screened_knn};
use crate::analysis::knn::{GraphIndex, Knn, Points, bf16, dot, euclidean, nn_descent};
use crate::progress::{Cancelled, Control, Phase};

/// An MST edge: endpoints and mutual reachability distance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Edge {
    pub a: u32,
    pub b: u32,
    pub weight: f32,
}

fn edge_order(x: &Edge, y: &Edge) -> std::cmp::Ordering {
    x.weight
        .total_cmp(&y.weight)
        .then(x.a.cmp(&y.a))
        .then(x.b.cmp(&y.b))
}

pub(super) struct DisjointSet {
    parent: Vec<u32>,
    rank: Vec<u8>,
}

impl DisjointSet {
    pub(super) fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            rank: vec![0; n],
        }
    }

    pub(super) fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    pub(super) fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (small, large) = if self.rank[ra as usize] < self.rank[rb as usize] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[small as usize] = large;
        if self.rank[small as usize] == self.rank[large as usize] {
            self.rank[large as usize] += 1;
        }
        true
    }
}

/// Core distances and the MST of mutual reachability (n − 1 edges, sorted by weight).
pub(crate) fn spanning_tree(
    points: Points<'_>,
    params: &HdbscanParams,
    control: &Control<'_>,
) -> Result<(Vec<Edge>, Vec<f32>), HdbscanError> {
    let n = points.len();
    let core_rank = params.min_samples.saturating_sub(1).min(n - 1);
    let k = core_rank.max(MIN_GRAPH_K).min(n - 1);
    control.report(Phase::Neighbours, 0.0);
    // bf16 products screen both the k-NN and the exact bridge searches where the CPU has a
    // bf16 unit (`pack` is `None` where it has none).
    let packed = (n >= SCREEN_MIN_POINTS)
        .then(|| bf16::Bf16Points::pack(points))
        .flatten();
    let (knn, index) = match params.neighbours {
        NeighbourSearch::NnDescent(settings) => {
            let knn = nn_descent(points, k, &settings, control)?;
            let index = GraphIndex::new(&knn);
            (knn, Some(index))
        }
        NeighbourSearch::Exact | NeighbourSearch::Auto => match &packed {
            Some(packed) => (screened_knn(points, packed, k, control)?, None),
            None => (exact_knn_with(points, k, control, Kernel::F32)?, None),
        },
    };
    control.report(Phase::Neighbours, 1.0);
    control.check()?;
    let core: Vec<f32> = (0..n)
        .map(|i| match core_rank {
            0 => 0.0,
            rank => knn.neighbours(i).1[rank - 1],
        })
        .collect();
    let mst = boruvka_mst(
        points,
        &knn,
        &core,
        index.as_ref(),
        packed.as_ref(),
        params.seed,
        control,
    )?;
    Ok((mst, core))
}

fn reachability(core: &[f32], a: usize, b: usize, distance: f32) -> f32 {
    distance.max(core[a]).max(core[b])
}

/// Exact MST by Prim's algorithm with distances computed on the fly: the test oracle for the
/// exact Borůvka path (O(n²·d) time, O(n) memory, but one point at a time).
#[cfg(test)]
fn exact_mst(
    points: Points<'_>,
    core: &[f32],
    control: &Control<'_>,
) -> Result<Vec<Edge>, HdbscanError> {
    let n = points.len();
    let mut in_tree = vec![false; n];
    let mut best = vec![(f32::INFINITY, u32::MAX); n];
    let mut tree = Vec::with_capacity(n - 1);
    let mut current = 0usize;
    in_tree[0] = true;
    for step in 1..n {
        if step % 256 == 0 {
            control.check()?;
            control.report(Phase::SpanningTree, step as f64 / n as f64);
        }
        let row = points.row(current);
        let from = current as u32;
        best.par_iter_mut()
            .zip(in_tree.par_iter())
            .enumerate()
            .for_each(|(j, (slot, &done))| {
                if !done {
                    let weight = reachability(core, current, j, euclidean(row, points.row(j)));
                    if weight < slot.0 || (weight == slot.0 && from < slot.1) {
                        *slot = (weight, from);
                    }
                }
            });
        let next = (0..n)
            .filter(|&j| !in_tree[j])
            .min_by(|&x, &y| best[x].0.total_cmp(&best[y].0).then(x.cmp(&y)))
            .unwrap_or(0);
        let (weight, parent) = best[next];
        let (a, b) = if parent < next as u32 {
            (parent, next as u32)
        } else {
            (next as u32, parent)
        };
        tree.push(Edge { a, b, weight });
        in_tree[next] = true;
        current = next;
    }
    tree.sort_unstable_by(edge_order);
    control.report(Phase::SpanningTree, 1.0);
    Ok(tree)
}

/// Approximate MST by Borůvka rounds over the k-NN graph. Each component takes its lightest
/// k-NN edge to another component; where a member's k-NN list ends before that weight (its k-th
/// neighbour is nearer), a lighter edge could lie beyond the list, so such members also search
/// the k-NN graph for their nearest points outside the component (all of them in small
/// components, a sample in large ones); where the graph cannot lead out of the component, they
/// are searched exactly, all at once by matrix products. Without these searches clusters would
/// join through noise points instead of their true nearest neighbours, and noise would be
/// absorbed.
fn boruvka_mst(
    points: Points<'_>,
    knn: &Knn,
    core: &[f32],
    index: Option<&GraphIndex>,
    packed: Option<&bf16::Bf16Points>,
    seed: u64,
    control: &Control<'_>,
) -> Result<Vec<Edge>, HdbscanError> {
    let n = points.len();
    let reach: Vec<f32> = (0..n)
        .map(|i| knn.neighbours(i).1.last().copied().unwrap_or(0.0))
        .collect();
    let norms: Vec<f32> = (0..n).map(|i| dot(points.row(i), points.row(i))).collect();
    let mut sets = DisjointSet::new(n);
    let mut tree = Vec::with_capacity(n - 1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut round = 0;
    control.report(Phase::SpanningTree, 0.0);
    while tree.len() < n - 1 {
        control.check()?;
        round += 1;
        let components: Vec<u32> = (0..n as u32).map(|i| sets.find(i)).collect();
        let graph_best: Vec<Option<Edge>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let (indices, distances) = knn.neighbours(i);
                indices
                    .iter()
                    .zip(distances)
                    .filter(|(j, _)| components[**j as usize] != components[i])
                    .map(|(&j, &d)| make_edge(i as u32, j, reachability(core, i, j as usize, d)))
                    .min_by(edge_order)
            })
            .collect();
        let mut best: HashMap<u32, Edge> = HashMap::new();
        for (i, edge) in graph_best.into_iter().enumerate() {
            if let Some(edge) = edge {
                keep_lighter(&mut best, components[i], edge);
            }
        }
        // Members whose k-NN list may hide a lighter edge out of their component.
        let mut open: HashMap<u32, Vec<u32>> = HashMap::new();
        for i in 0..n {
            let c = components[i];
            let limit = best.get(&c).map_or(f32::INFINITY, |edge| edge.weight);
            if reach[i] < limit && core[i] < limit {
                open.entry(c).or_default().push(i as u32);
            }
        }
        let mut groups: Vec<(u32, Vec<u32>)> = open.into_iter().collect();
        groups.sort_unstable_by_key(|(c, _)| *c);
        let mut searchers: Vec<(u32, u32)> = Vec::new();
        let Some(index) = index else {
            // Exact lists: every open member is searched exactly, so the tree is the exact MST.
            let pending: Vec<(u32, Vec<u32>, f32)> = groups
                .into_iter()
                .map(|(c, list)| {
                    let limit = best.get(&c).map_or(f32::INFINITY, |edge| edge.weight);
                    (c, list, limit)
                })
                .collect();
            ExactSearch::new(points, &norms, &components, core, control, packed)
                .lower_bests(&pending, &mut best)?;
            let searched: usize = pending.iter().map(|(_, list, _)| list.len()).sum();
            let before = tree.len();
            add_lightest(&mut sets, &mut tree, best);
            finish_round(round, before, searched, tree.len(), n, control)?;
            continue;
        };
        for (c, list) in groups {
            if list.len() <= BRIDGE_SAMPLE {
                searchers.extend(list.iter().map(|&p| (c, p)));
            } else {
                let mut by_core = list;
                by_core.sort_unstable_by(|&x, &y| {
                    core[y as usize]
                        .total_cmp(&core[x as usize])
                        .then(x.cmp(&y))
                });
                let half = BRIDGE_SAMPLE / 2;
                let rest = &by_core[half..];
                let picked = rand::seq::index::sample(&mut rng, rest.len(), half.min(rest.len()));
                searchers.extend(by_core[..half].iter().map(|&p| (c, p)));
                searchers.extend(picked.into_iter().map(|i| (c, rest[i])));
            }
        }
        // Graph searches. A component whose first searcher cannot leave it through the graph
        // (a cluster closed under its k-NN lists) is searched exactly for all its searchers at
        // once instead, without spending a search budget per member first. A search gives
        // `None` when it ran out of budget or settled without leaving the component.
        let graph_search = |p: u32, c: u32| {
            let keep = |q: usize| components[q] != c;
            index
                .nearest_where(points, p as usize, 4, &keep)
                .filter(|near| !near.is_empty())
        };
        let firsts: Vec<usize> = (0..searchers.len())
            .filter(|&s| s == 0 || searchers[s - 1].0 != searchers[s].0)
            .collect();
        let probes: Vec<Option<Vec<(f32, u32)>>> = firsts
            .par_iter()
            .map(|&s| graph_search(searchers[s].1, searchers[s].0))
            .collect();
        let closed: std::collections::HashSet<u32> = firsts
            .iter()
            .zip(&probes)
            .filter(|(_, found)| found.is_none())
            .map(|(&s, _)| searchers[s].0)
            .collect();
        let mut probe_results: HashMap<usize, Option<Vec<(f32, u32)>>> =
            firsts.into_iter().zip(probes).collect();
        let searched: Vec<Option<Vec<(f32, u32)>>> = (0..searchers.len())
            .into_par_iter()
            .map(|s| {
                let (c, p) = searchers[s];
                if closed.contains(&c) || probe_results.contains_key(&s) {
                    None
                } else {
                    graph_search(p, c)
                }
            })
            .collect();
        let mut pending: Vec<(u32, Vec<u32>)> = Vec::new();
        for (s, result) in searched.into_iter().enumerate() {
            let (c, p) = searchers[s];
            let result = match probe_results.remove(&s) {
                Some(probe) => probe,
                None => result,
            };
            match result {
                Some(near) => {
                    if let Some(edge) = near
                        .into_iter()
                        .map(|(d, q)| {
                            make_edge(p, q, reachability(core, p as usize, q as usize, d))
                        })
                        .min_by(edge_order)
                    {
                        keep_lighter(&mut best, c, edge);
                    }
                }
                None => match pending.last_mut() {
                    Some((last, list)) if *last == c => list.push(p),
                    _ => pending.push((c, vec![p])),
                },
            }
        }
        // Exact searches for the rest, per component with its current best as the limit.
        let pending: Vec<(u32, Vec<u32>, f32)> = pending
            .into_iter()
            .filter_map(|(c, list)| {
                let limit = best.get(&c).map_or(f32::INFINITY, |edge| edge.weight);
                let list: Vec<u32> = list
                    .into_iter()
                    .filter(|&p| core[p as usize] < limit)
                    .collect();
                (!list.is_empty()).then_some((c, list, limit))
            })
            .collect();
        ExactSearch::new(points, &norms, &components, core, control, packed)
            .lower_bests(&pending, &mut best)?;
        let before = tree.len();
        add_lightest(&mut sets, &mut tree, best);
        finish_round(round, before, searchers.len(), tree.len(), n, control)?;
    }
    tree.sort_unstable_by(edge_order);
    control.report(Phase::SpanningTree, 1.0);
    Ok(tree)
}

/// Adds each component's lightest outgoing edge, lightest first, skipping those that would
/// close a cycle (two components choosing the same edge).
fn add_lightest(sets: &mut DisjointSet, tree: &mut Vec<Edge>, best: HashMap<u32, Edge>) {
    let mut chosen: Vec<Edge> = best.into_values().collect();
    chosen.sort_unstable_by(edge_order);
    for edge in chosen {
        if sets.union(edge.a, edge.b) {
            tree.push(edge);
        }
    }
}

fn finish_round(
    round: usize,
    before: usize,
    searched: usize,
    edges: usize,
    n: usize,
    control: &Control<'_>,
) -> Result<(), HdbscanError> {
    tracing::debug!(round, added = edges - before, searched, "Borůvka round");
    if edges == before {
        return Err(HdbscanError::InvalidInput(
            "could not connect the neighbour graph".into(),
        ));
    }
    control.report(Phase::SpanningTree, edges as f64 / (n - 1) as f64);
    Ok(())
}

fn make_edge(p: u32, q: u32, weight: f32) -> Edge {
    let (a, b) = if p < q { (p, q) } else { (q, p) };
    Edge { a, b, weight }
}

fn keep_lighter(best: &mut HashMap<u32, Edge>, component: u32, edge: Edge) {
    best.entry(component)
        .and_modify(|current| {
            if edge_order(&edge, current).is_lt() {
                *current = edge;
            }
        })
        .or_insert(edge);
}

/// Points compared with all searchers per matrix product.
const EXACT_CHUNK: usize = 512;

/// What the exact fallback searches: the points with their squared norms, each point's
/// component and core distance, and the caller's control (a cancel skips the remaining blocks).
#[derive(Clone, Copy)]
struct ExactSearch<'a, 'c> {
    points: Points<'a>,
    norms: &'a [f32],
    components: &'a [u32],
    core: &'a [f32],
    control: &'a Control<'c>,
    /// The points packed for the bf16 unit, where the CPU has one: then products only screen (see
    /// [`ExactSearch::screened`]).
    packed: Option<&'a bf16::Bf16Points>,
}

/// Searchers per block of [`ExactSearch::nearest_outside`].
const EXACT_ROWS: usize = 4096;

impl<'a, 'c> ExactSearch<'a, 'c> {
    fn new(
        points: Points<'a>,
        norms: &'a [f32],
        components: &'a [u32],
        core: &'a [f32],
        control: &'a Control<'c>,
        packed: Option<&'a bf16::Bf16Points>,
    ) -> Self {
        Self {
            points,
            norms,
            components,
            core,
            control,
            packed,
        }
    }

    /// For each (component, searchers, limit), the lightest mutual-reachability edge from one of
    /// the searchers to any point outside the component, or `None` when nothing beats `limit`.
    /// Distances come from matrix products (all searchers × a block of points, through
    /// `ndarray`'s GEMM) over ‖a‖² + ‖b‖² − 2a·b, several times faster than one distance at a
    /// time; the winner's weight is then recomputed exactly. A mutual reachability edge weighs
    /// at least both core distances, so points whose core distance is `limit` or more are
    /// skipped.
    fn nearest_outside(&self, pending: &[(u32, Vec<u32>, f32)]) -> Vec<Option<Edge>> {
        self.in_blocks(pending, EXACT_ROWS)
    }

    /// Keeps, per pending component, the lighter of its `best` edge and the exact search's.
    fn lower_bests(
        &self,
        pending: &[(u32, Vec<u32>, f32)],
        best: &mut HashMap<u32, Edge>,
    ) -> Result<(), Cancelled> {
        let exact = self.nearest_outside(pending);
        self.control.check()?;
        for ((c, _, _), edge) in pending.iter().zip(exact) {
            if let Some(edge) = edge {
                keep_lighter(best, *c, edge);
            }
        }
        Ok(())
    }

    fn in_blocks(&self, pending: &[(u32, Vec<u32>, f32)], block_rows: usize) -> Vec<Option<Edge>> {
        // Groups in blocks of at most `block_rows` searchers, so the products' memory stays
        // bounded (a few MB per thread) however many components are still open.
        let mut found = Vec::with_capacity(pending.len());
        let mut start = 0;
        while start < pending.len() {
            let mut end = start + 1;
            let mut rows = pending[start].1.len();
            while end < pending.len() && rows + pending[end].1.len() <= block_rows {
                rows += pending[end].1.len();
                end += 1;
            }
            match self.packed {
                Some(packed) => found.extend(self.screened(packed, &pending[start..end])),
                None => found.extend(self.block(&pending[start..end])),
            }
            start = end;
        }
        found
    }

    fn block(&self, pending: &[(u32, Vec<u32>, f32)]) -> Vec<Option<Edge>> {
        let Self {
            points,
            norms,
            components,
            core,
            control,
            ..
        } = *self;
        let n = points.len();
        let dim = points.dim();
        let searchers: Vec<u32> = pending
            .iter()
            .flat_map(|(_, list, _)| list.iter().copied())
            .collect();
        if searchers.is_empty() {
            return vec![None; pending.len()];
        }
        let mut rows = Array2::zeros((searchers.len(), dim));
        for (mut row, &p) in rows.rows_mut().into_iter().zip(&searchers) {
            row.assign(&ArrayView1::from(points.row(p as usize)));
        }
        // Row range of each group in `rows`.
        let mut ranges = Vec::with_capacity(pending.len());
        let mut at = 0;
        for (_, list, _) in pending {
            ranges.push(at..at + list.len());
            at += list.len();
        }
        let loosest = pending
            .iter()
            .map(|(_, _, limit)| *limit)
            .fold(0.0f32, f32::max);
        let per_chunk: Vec<Vec<Option<(f32, u32, u32)>>> = (0..n.div_ceil(EXACT_CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let start = chunk * EXACT_CHUNK;
                let end = (start + EXACT_CHUNK).min(n);
                let mut best: Vec<Option<(f32, u32, u32)>> = vec![None; pending.len()];
                // A cancel skips the remaining blocks; the caller checks before using the result.
                if control.check().is_err() || !(start..end).any(|q| core[q] < loosest) {
                    return best;
                }
                let Ok(block) = ArrayView2::from_shape((end - start, dim), points.rows(start..end))
                else {
                    return best;
                };
                let dots = rows.dot(&block.t());
                let mut eligible: Vec<usize> = Vec::with_capacity(end - start);
                for (g, (c, list, limit)) in pending.iter().enumerate() {
                    let slot = &mut best[g];
                    // The block's points outside the component whose core distance leaves room.
                    eligible.clear();
                    eligible
                        .extend((start..end).filter(|&q| components[q] != *c && core[q] < *limit));
                    if eligible.is_empty() {
                        continue;
                    }
                    // One searcher's products are a contiguous row.
                    for (row, &p) in ranges[g].clone().zip(list) {
                        let row_dots = dots.row(row);
                        let (norm, core_p) = (norms[p as usize], core[p as usize]);
                        for &q in &eligible {
                            let squared = norm + norms[q] - 2.0 * row_dots[q - start];
                            let weight = squared.max(0.0).sqrt().max(core_p).max(core[q]);
                            let candidate = (weight, p, q as u32);
                            if weight < *limit && slot.is_none_or(|current| candidate < current) {
                                *slot = Some(candidate);
                            }
                        }
                    }
                }
                best
            })
            .collect();
        (0..pending.len())
            .map(|g| {
                per_chunk
                    .iter()
                    .filter_map(|best| best[g])
                    .min_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal))
                    .map(|(_, p, q)| {
                        let distance = euclidean(points.row(p as usize), points.row(q as usize));
                        make_edge(p, q, reachability(core, p as usize, q as usize, distance))
                    })
            })
            .collect()
    }

    /// [`ExactSearch::block`] with bf16 products as a screen. Per group, the running
    /// bound is the least upper bound of a weight seen so far (or the group's limit); every
    /// pair whose lower bound is under it is kept, and the kept pairs are weighed exactly at
    /// the end, so the edge found is the one the f32 search finds. Tasks split the points,
    /// each keeping its own bounds; their winners are compared at the end.
    fn screened(
        &self,
        packed: &bf16::Bf16Points,
        pending: &[(u32, Vec<u32>, f32)],
    ) -> Vec<Option<Edge>> {
        use bf16::BLOCK;
        let (points, norms, components) = (self.points, self.norms, self.components);
        let (core, control) = (self.core, self.control);
        // One row per searcher, in blocks of 32: (group, searcher).
        let rows: Vec<(usize, u32)> = pending
            .iter()
            .enumerate()
            .flat_map(|(g, (_, list, _))| list.iter().map(move |&p| (g, p)))
            .collect();
        if rows.is_empty() {
            return vec![None; pending.len()];
        }
        let query_blocks: Vec<Vec<u16>> = rows
            .chunks(BLOCK)
            .map(|chunk| {
                let searchers: Vec<u32> = chunk.iter().map(|&(_, p)| p).collect();
                let mut gathered = Vec::new();
                packed.gather(&searchers, &mut gathered);
                gathered
            })
            .collect();
        let blocks = packed.blocks();
        let padded = blocks * BLOCK;
        let mut column_norms = norms.to_vec();
        column_norms.resize(padded, f32::INFINITY);
        let mut column_components = components.to_vec();
        column_components.resize(padded, u32::MAX);
        let mut column_cores = core.to_vec();
        column_cores.resize(padded, f32::INFINITY);
        let max_slack = packed.max_slack();
        let limits: Vec<f32> = pending.iter().map(|(_, _, limit)| *limit).collect();
        // Target blocks per task: 512 points (their bf16 rows stay in L2 for every searcher).
        const TASK_BLOCKS: usize = 16;
        let per_task: Vec<Vec<Option<Edge>>> = (0..blocks.div_ceil(TASK_BLOCKS))
            .into_par_iter()
            .map(|task| {
                let targets = task * TASK_BLOCKS..((task + 1) * TASK_BLOCKS).min(blocks);
                let mut bound = limits.clone();
                let mut kept: Vec<(f32, u32, u32, usize)> = Vec::new();
                let mut prune_at = 4096;
                // A cancel skips the remaining tasks; the caller checks before using the result.
                if control.check().is_err() {
                    return vec![None; pending.len()];
                }
                let unit = bf16::Bf16Unit::start(packed);
                let mut out = [0f32; BLOCK * BLOCK];
                let mut cuts = [f32::NEG_INFINITY; BLOCK];
                let mut row_bounds = [f32::NEG_INFINITY; BLOCK];
                for (query, chunk) in rows.chunks(BLOCK).enumerate() {
                    for target in targets.clone() {
                        let columns = target * BLOCK..(target + 1) * BLOCK;
                        unit.products(packed, &query_blocks[query], target, &mut out, BLOCK);
                        for (slot, &(g, p)) in chunk.iter().enumerate() {
                            let p = p as usize;
                            let limit = bound[g];
                            // Squared distance bound below which a pair may beat `limit`.
                            cuts[slot] = if core[p] < limit {
                                limit * limit + packed.slack(p) + max_slack - norms[p]
                            } else {
                                f32::NEG_INFINITY
                            };
                            row_bounds[slot] = limit;
                        }
                        for (slot, &(g, p)) in chunk.iter().enumerate() {
                            let (c, p) = (pending[g].0, p as usize);
                            let products = &out[slot * BLOCK..(slot + 1) * BLOCK];
                            let mut mask = unit.bridge_mask(
                                products,
                                &column_norms[columns.clone()],
                                &column_components[columns.clone()],
                                &column_cores[columns.clone()],
                                cuts[slot],
                                c,
                                row_bounds[slot],
                            );
                            let slack = packed.slack(p) + max_slack;
                            while mask != 0 {
                                let column = mask.trailing_zeros() as usize;
                                mask &= mask - 1;
                                let q = target * BLOCK + column;
                                if core[q] >= bound[g] {
                                    continue;
                                }
                                let squared = norms[p] + norms[q] - 2.0 * products[column];
                                let floor = core[p].max(core[q]);
                                let lower = (squared - slack).max(0.0).sqrt().max(floor);
                                if lower <= bound[g] {
                                    let upper = (squared + slack).max(0.0).sqrt().max(floor);
                                    kept.push((lower, p as u32, q as u32, g));
                                    bound[g] = bound[g].min(upper);
                                }
                            }
                        }
                        if kept.len() >= prune_at {
                            kept.retain(|&(lower, _, _, g)| lower <= bound[g]);
                            if kept.len() * 2 > prune_at {
                                prune_at *= 2;
                            }
                        }
                    }
                }
                drop(unit);
                let mut best: Vec<Option<Edge>> = vec![None; pending.len()];
                for (lower, p, q, g) in kept {
                    if lower > bound[g] {
                        continue;
                    }
                    let distance = euclidean(points.row(p as usize), points.row(q as usize));
                    let edge =
                        make_edge(p, q, reachability(core, p as usize, q as usize, distance));
                    if edge.weight < limits[g]
                        && best[g].is_none_or(|current| edge_order(&edge, &current).is_lt())
                    {
                        best[g] = Some(edge);
                    }
                }
                best
            })
            .collect();
        (0..pending.len())
            .map(|g| {
                per_task
                    .iter()
                    .filter_map(|best| best[g])
                    .min_by(edge_order)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::agreement::adjusted_rand_index;
    use crate::analysis::hdbscan::{condense, select_and_label, single_linkage};
    use rand::SeedableRng;

    #[test]
    fn the_batched_exact_search_finds_each_components_lightest_outside_edge() {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (n, dim) = (1_300, 24);
        let data: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>() - 0.5).collect();
        let points = Points::new(&data, dim).expect("points");
        let norms: Vec<f32> = (0..n).map(|i| dot(points.row(i), points.row(i))).collect();
        let core: Vec<f32> = (0..n).map(|_| 0.6 + 0.4 * rng.random::<f32>()).collect();
        let components: Vec<u32> = (0..n as u32).map(|i| i % 7).collect();
        // Components 0..5 with a few searchers each; 4 with a limit that rules almost all out.
        let pending: Vec<(u32, Vec<u32>, f32)> = (0..5u32)
            .map(|c| {
                let searchers = (0..n as u32)
                    .filter(|i| i % 7 == c)
                    .take(3 + c as usize)
                    .collect();
                (c, searchers, if c == 4 { 0.65 } else { f32::INFINITY })
            })
            .collect();
        // Brute force: every searcher against every point outside its component.
        let expected: Vec<Option<Edge>> = pending
            .iter()
            .map(|(c, list, limit)| {
                list.iter()
                    .flat_map(|&p| (0..n).map(move |q| (p, q)))
                    .filter(|&(_, q)| components[q] != *c && core[q] < *limit)
                    .map(|(p, q)| {
                        let d = euclidean(points.row(p as usize), points.row(q));
                        make_edge(p, q as u32, reachability(&core, p as usize, q, d))
                    })
                    .filter(|edge| edge.weight < *limit)
                    .min_by(edge_order)
            })
            .collect();
        assert!(expected[..4].iter().all(Option::is_some));
        let packed = bf16::Bf16Points::pack(points);
        if packed.is_none() {
            eprintln!("no bf16 unit here: the screened search is not exercised");
        }
        let kernels = [None, packed.as_ref()];
        for (block_rows, packed) in [usize::MAX, 4, 1]
            .into_iter()
            .flat_map(|rows| kernels.iter().map(move |&packed| (rows, packed)))
        {
            let control = Control::default();
            let search = ExactSearch::new(points, &norms, &components, &core, &control, packed);
            let found = search.in_blocks(&pending, block_rows);
            assert_eq!(found.len(), pending.len());
            for (got, want) in found.iter().zip(&expected) {
                match (got, want) {
                    (Some(got), Some(want)) => {
                        assert!(
                            (got.weight - want.weight).abs() < 1e-5,
                            "{got:?} vs {want:?}"
                        );
                        assert_eq!((got.a, got.b), (want.a, want.b), "block {block_rows}");
                    }
                    (None, None) => {}
                    other => panic!("block {block_rows}: {other:?}"),
                }
            }
        }
    }

    /// Unit vectors in a few tight groups with shared structure, so that neighbours are near-ties
    /// and the lightest edges out of groups are far from each group's k-NN lists.
    fn grouped_unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let centres: Vec<Vec<f32>> = (0..6)
            .map(|_| (0..dim).map(|_| rng.random::<f32>() - 0.5).collect())
            .collect();
        let mut data = Vec::with_capacity(n * dim);
        for i in 0..n {
            let spread = if i % 5 == 0 { 1.0 } else { 0.25 };
            let row: Vec<f32> = centres[i % centres.len()]
                .iter()
                .map(|c| c + spread * (rng.random::<f32>() - 0.5))
                .collect();
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            data.extend(row.iter().map(|x| x / norm));
        }
        data
    }

    #[test]
    fn exact_boruvka_gives_the_exact_minimum_spanning_tree() {
        for (n, dim, min_samples, seed) in [(900, 16, 5, 1), (1_500, 48, 13, 2), (400, 8, 1, 3)] {
            let data = grouped_unit_vectors(n, dim, seed);
            let points = Points::new(&data, dim).expect("points");
            let params = HdbscanParams {
                min_samples,
                neighbours: NeighbourSearch::Exact,
                ..HdbscanParams::defaults_for(n)
            };
            let control = Control::default();
            let (tree, core) = spanning_tree(points, &params, &control).expect("tree");
            let oracle = exact_mst(points, &core, &control).expect("prim");
            assert_eq!(tree.len(), n - 1);
            let total = |edges: &[Edge]| edges.iter().map(|e| f64::from(e.weight)).sum::<f64>();
            let (ours, prim) = (total(&tree), total(&oracle));
            assert!(
                (ours - prim).abs() <= 1e-4 * prim.max(1.0),
                "n {n}: Borůvka {ours} vs Prim {prim}"
            );
            // Same multiset of weights, so the hierarchy's merge heights are the same.
            for (a, b) in tree.iter().zip(&oracle) {
                assert!(
                    (a.weight - b.weight).abs() <= 1e-5,
                    "{} vs {}",
                    a.weight,
                    b.weight
                );
            }
            let labels = |mst: Vec<Edge>| {
                let linkage = single_linkage(n, mst);
                let condensed = condense(&linkage, n, params.min_cluster_size);
                select_and_label(&condensed, n, &params.resolved(n))
            };
            assert_eq!(
                adjusted_rand_index(&labels(tree), &labels(oracle)),
                1.0,
                "n {n}: labels from both trees agree"
            );
        }
    }
}
