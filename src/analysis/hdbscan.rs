//! HDBSCAN over unit vectors without any n × n matrix.
//!
//! Steps: k-NN (exact by blocked matrix products up to [`EXACT_LIMIT`] points, NN-descent above)
//! → core distances → minimum spanning tree of the mutual reachability distance by Borůvka
//! rounds over the k-NN graph → single-linkage hierarchy → condensed tree (`min_cluster_size`) →
//! selection by excess of mass or leaves, with `cluster_selection_epsilon` → labels (−1 = noise).
//!
//! On the exact path the result is exact HDBSCAN: core distances are exact, and in each Borůvka
//! round every point whose k-NN list cannot prove its component's lightest outgoing edge is
//! searched exactly, so the tree is an exact MST. On the NN-descent path core distances are
//! approximate and the searches are sampled and graph-guided.
//!
//! Distances are Euclidean; on unit vectors they order pairs exactly as cosine distance does
//! (`|a − b|² = 2 − 2·cos`). Memory is O(n·k); the exact path costs O(n²·d) time in matrix
//! products, the NN-descent path about O(n·k²·d) per round, with a handful of rounds.
//!
//! `min_samples` counts the point itself (scikit-learn's convention): the core distance is the
//! distance to the (min_samples − 1)-th other point.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{Array2, ArrayView1, ArrayView2};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::knn::{
    GraphIndex, Knn, NnDescentSettings, Points, dot, euclidean, exact_knn, nn_descent,
};

/// Up to this many points the k-NN graph is exact (deterministic; O(n²·d) in matrix products).
/// On real MiniLM text embeddings NN-descent's misses cost ARI 0.976–0.985 and were no faster
/// at 50k (k = 49); measured in BENCHMARKS.md.
pub const EXACT_LIMIT: usize = 50_000;
/// Clusters larger than this get their medoid from a seeded sample of this many members.
pub const MEDOID_SAMPLE: usize = 2_000;
/// Members of a large component that search the index in one Borůvka round.
const BRIDGE_SAMPLE: usize = 64;
/// Neighbours asked for per k-NN-graph point beyond `min_samples − 1`, for a closer MST.
const MIN_GRAPH_K: usize = 15;

#[derive(Debug, Error)]
pub enum HdbscanError {
    #[error("clustering was cancelled")]
    Cancelled,
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

/// The phases progress is reported for, each from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Neighbours,
    SpanningTree,
    Hierarchy,
    Summaries,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Neighbours => "nearest neighbours",
            Phase::SpanningTree => "spanning tree",
            Phase::Hierarchy => "hierarchy",
            Phase::Summaries => "medoids",
        }
    }
}

type ProgressFn<'a> = &'a (dyn Fn(Phase, f64) + Sync);

/// Progress reporting and cancellation for a long computation.
#[derive(Default, Clone, Copy)]
pub struct Control<'a> {
    pub cancel: Option<&'a AtomicBool>,
    pub progress: Option<ProgressFn<'a>>,
}

impl<'a> Control<'a> {
    pub fn new(cancel: Option<&'a AtomicBool>, progress: Option<ProgressFn<'a>>) -> Self {
        Self { cancel, progress }
    }

    pub fn check(&self) -> Result<(), HdbscanError> {
        match self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(HdbscanError::Cancelled),
            _ => Ok(()),
        }
    }

    pub fn report(&self, phase: Phase, fraction: f64) {
        if let Some(progress) = self.progress {
            progress(phase, fraction.clamp(0.0, 1.0));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// Excess of mass: the most stable clusters of the condensed tree.
    Eom,
    /// The leaves of the condensed tree: smaller, more homogeneous clusters.
    Leaf,
}

impl std::str::FromStr for Selection {
    type Err = HdbscanError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "eom" => Ok(Selection::Eom),
            "leaf" => Ok(Selection::Leaf),
            other => Err(HdbscanError::InvalidParameter(format!(
                "selection method '{other}' (use eom or leaf)"
            ))),
        }
    }
}

/// How neighbours are found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum NeighbourSearch {
    /// Exact up to [`EXACT_LIMIT`] points, NN-descent above.
    Auto,
    Exact,
    NnDescent(NnDescentSettings),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HdbscanParams {
    pub min_cluster_size: usize,
    /// Neighbourhood size for core distances, counting the point itself.
    pub min_samples: usize,
    /// Clusters born below this distance are merged into their parent (0 = off).
    pub cluster_selection_epsilon: f64,
    pub selection: Selection,
    pub allow_single_cluster: bool,
    pub neighbours: NeighbourSearch,
    /// Seed for medoid sampling and bridge sampling.
    pub seed: u64,
}

impl HdbscanParams {
    /// Defaults for `n` points: min_cluster_size = min_samples = max(15, 0.1 % of n), epsilon 0.4
    /// (the old tool's later default, a Euclidean distance on unit vectors), excess of mass.
    pub fn defaults_for(n: usize) -> Self {
        // The floor of 15 was measured on the demo (2,032 MiniLM embeddings of Sketch captions):
        // 5 gave 106 clusters, 10 gave 57, 15 gave 39 with 17 % outliers (DESIGN.md).
        let size = (n / 1000).max(15);
        Self {
            min_cluster_size: size,
            min_samples: size,
            cluster_selection_epsilon: 0.4,
            selection: Selection::Eom,
            allow_single_cluster: false,
            neighbours: NeighbourSearch::Auto,
            seed: 42,
        }
    }

    /// The parameters with `Auto` resolved for `n` points, as they will be used.
    pub fn resolved(&self, n: usize) -> Self {
        let mut params = self.clone();
        if params.neighbours == NeighbourSearch::Auto {
            params.neighbours = if n <= EXACT_LIMIT {
                NeighbourSearch::Exact
            } else {
                NeighbourSearch::NnDescent(NnDescentSettings {
                    seed: params.seed,
                    ..NnDescentSettings::default()
                })
            };
        }
        params
    }

    fn validate(&self) -> Result<(), HdbscanError> {
        if self.min_cluster_size < 2 {
            return Err(HdbscanError::InvalidParameter(
                "min_cluster_size must be at least 2".into(),
            ));
        }
        if self.min_samples < 1 {
            return Err(HdbscanError::InvalidParameter(
                "min_samples must be at least 1".into(),
            ));
        }
        if !self.cluster_selection_epsilon.is_finite() || self.cluster_selection_epsilon < 0.0 {
            return Err(HdbscanError::InvalidParameter(
                "cluster_selection_epsilon must be a finite number ≥ 0".into(),
            ));
        }
        Ok(())
    }
}

/// One found cluster. `medoid` is a row index into the clustered points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSummary {
    pub label: i32,
    pub size: usize,
    pub medoid: usize,
    pub centroid: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct Clustering {
    /// Per point: 0..k for clusters, −1 for noise.
    pub labels: Vec<i32>,
    pub clusters: Vec<ClusterSummary>,
    /// The parameters as used (`Auto` resolved).
    pub params: HdbscanParams,
}

impl Clustering {
    pub fn noise_count(&self) -> usize {
        self.labels.iter().filter(|&&label| label < 0).count()
    }
}

/// Clusters `points` (row-major, unit vectors) and summarises each cluster.
pub fn hdbscan(
    points: Points<'_>,
    params: &HdbscanParams,
    control: &Control<'_>,
) -> Result<Clustering, HdbscanError> {
    params.validate()?;
    let n = points.len();
    let params = params.resolved(n);
    if n == 0 {
        return Ok(Clustering {
            labels: Vec::new(),
            clusters: Vec::new(),
            params,
        });
    }
    let labels = if n == 1 {
        vec![-1]
    } else {
        let (mst, _) = spanning_tree(points, &params, control)?;
        control.check()?;
        control.report(Phase::Hierarchy, 0.0);
        let linkage = single_linkage(n, mst);
        let condensed = condense(&linkage, n, params.min_cluster_size);
        control.report(Phase::Hierarchy, 0.5);
        let labels = select_and_label(&condensed, n, &params);
        control.report(Phase::Hierarchy, 1.0);
        labels
    };
    let clusters = summarise(points, &labels, params.seed, control)?;
    Ok(Clustering {
        labels,
        clusters,
        params,
    })
}

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

struct DisjointSet {
    parent: Vec<u32>,
    rank: Vec<u8>,
}

impl DisjointSet {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            rank: vec![0; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) -> bool {
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
    let (knn, index) = match params.neighbours {
        NeighbourSearch::NnDescent(settings) => {
            let knn = nn_descent(points, k, &settings, control)?;
            let index = GraphIndex::new(&knn);
            (knn, Some(index))
        }
        NeighbourSearch::Exact | NeighbourSearch::Auto => (exact_knn(points, k, control)?, None),
    };
    control.report(Phase::Neighbours, 1.0);
    control.check()?;
    let core: Vec<f32> = (0..n)
        .map(|i| match core_rank {
            0 => 0.0,
            rank => knn.neighbours(i).1[rank - 1],
        })
        .collect();
    let mst = boruvka_mst(points, &knn, &core, index.as_ref(), params.seed, control)?;
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
            let exact =
                nearest_outside_batched(points, &norms, &components, core, &pending, control);
            control.check()?;
            for ((c, _, _), edge) in pending.iter().zip(exact) {
                if let Some(edge) = edge {
                    keep_lighter(&mut best, *c, edge);
                }
            }
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
        let exact = nearest_outside_batched(points, &norms, &components, core, &pending, control);
        control.check()?;
        for ((c, _, _), edge) in pending.iter().zip(exact) {
            if let Some(edge) = edge {
                keep_lighter(&mut best, *c, edge);
            }
        }
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

/// The exact fallback: for each (component, searchers, limit), the lightest mutual-reachability
/// edge from one of the searchers to any point outside the component, or `None` when nothing
/// beats `limit`. Distances come from matrix products (all searchers × a block of points, through
/// `ndarray`'s GEMM) over ‖a‖² + ‖b‖² − 2a·b, several times faster than one distance at a time;
/// the winner's weight is then recomputed exactly. A mutual reachability edge weighs at least
/// both core distances, so points whose core distance is `limit` or more are skipped.
fn nearest_outside_batched(
    points: Points<'_>,
    norms: &[f32],
    components: &[u32],
    core: &[f32],
    pending: &[(u32, Vec<u32>, f32)],
    control: &Control<'_>,
) -> Vec<Option<Edge>> {
    nearest_outside_in_blocks(
        points, norms, components, core, pending, control, EXACT_ROWS,
    )
}

fn nearest_outside_in_blocks(
    points: Points<'_>,
    norms: &[f32],
    components: &[u32],
    core: &[f32],
    pending: &[(u32, Vec<u32>, f32)],
    control: &Control<'_>,
    block_rows: usize,
) -> Vec<Option<Edge>> {
    // Groups in blocks of at most `block_rows` searchers, so the products' memory stays bounded
    // (a few MB per thread) however many components are still open.
    let mut found = Vec::with_capacity(pending.len());
    let mut start = 0;
    while start < pending.len() {
        let mut end = start + 1;
        let mut rows = pending[start].1.len();
        while end < pending.len() && rows + pending[end].1.len() <= block_rows {
            rows += pending[end].1.len();
            end += 1;
        }
        found.extend(nearest_outside_block(
            points,
            norms,
            components,
            core,
            &pending[start..end],
            control,
        ));
        start = end;
    }
    found
}

/// Searchers per block of [`nearest_outside_batched`].
const EXACT_ROWS: usize = 4096;

fn nearest_outside_block(
    points: Points<'_>,
    norms: &[f32],
    components: &[u32],
    core: &[f32],
    pending: &[(u32, Vec<u32>, f32)],
    control: &Control<'_>,
) -> Vec<Option<Edge>> {
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
            for (g, (c, list, limit)) in pending.iter().enumerate() {
                let slot = &mut best[g];
                for q in start..end {
                    if components[q] == *c || core[q] >= *limit {
                        continue;
                    }
                    for (row, &p) in ranges[g].clone().zip(list) {
                        let squared = norms[p as usize] + norms[q] - 2.0 * dots[[row, q - start]];
                        let weight = squared.max(0.0).sqrt().max(core[p as usize]).max(core[q]);
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

/// Single-linkage merge list: row i creates node n + i from `left`, `right` at `distance`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Merge {
    pub left: u32,
    pub right: u32,
    pub distance: f32,
    pub size: u32,
}

pub(crate) fn single_linkage(n: usize, mst: Vec<Edge>) -> Vec<Merge> {
    // Union-find whose roots remember the hierarchy node they currently stand for.
    let mut sets = DisjointSet::new(n);
    let mut node_of_root: Vec<u32> = (0..n as u32).collect();
    let mut size_of_root: Vec<u32> = vec![1; n];
    let mut merges = Vec::with_capacity(n.saturating_sub(1));
    for edge in mst {
        let (ra, rb) = (sets.find(edge.a), sets.find(edge.b));
        if ra == rb {
            continue;
        }
        let (left, right) = (node_of_root[ra as usize], node_of_root[rb as usize]);
        let size = size_of_root[ra as usize] + size_of_root[rb as usize];
        sets.union(ra, rb);
        let root = sets.find(ra);
        node_of_root[root as usize] = (n + merges.len()) as u32;
        size_of_root[root as usize] = size;
        merges.push(Merge {
            left,
            right,
            distance: edge.weight,
            size,
        });
    }
    merges
}

/// One edge of the condensed tree: `child` (a point < n, or a cluster ≥ n) leaves `parent` at
/// density `lambda` = 1 / distance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CondensedEdge {
    pub parent: u32,
    pub child: u32,
    pub lambda: f64,
    pub size: u32,
}

/// Densities are capped so duplicate points (distance 0) keep stabilities finite.
const MAX_LAMBDA: f64 = 1e10;

fn lambda_of(distance: f32) -> f64 {
    (1.0 / f64::from(distance)).min(MAX_LAMBDA)
}

/// Condenses the hierarchy: splits where both sides have ≥ `min_cluster_size` points make new
/// clusters; smaller sides are points falling out of their parent. Clusters are numbered from n
/// (the root) in creation order, so a child's number is always above its parent's.
pub(crate) fn condense(merges: &[Merge], n: usize, min_cluster_size: usize) -> Vec<CondensedEdge> {
    let node_count = n + merges.len();
    if merges.is_empty() {
        return Vec::new();
    }
    let root = node_count - 1;
    let size = |node: u32| -> u32 {
        if (node as usize) < n {
            1
        } else {
            merges[node as usize - n].size
        }
    };
    let mut relabel: Vec<u32> = vec![u32::MAX; node_count];
    relabel[root] = n as u32;
    let mut next_label = n as u32 + 1;
    let mut result = Vec::with_capacity(n * 2);
    let mut stack = Vec::new();
    let mut fall_out = |subtree: u32, parent: u32, lambda: f64, out: &mut Vec<CondensedEdge>| {
        stack.push(subtree);
        while let Some(node) = stack.pop() {
            if (node as usize) < n {
                out.push(CondensedEdge {
                    parent,
                    child: node,
                    lambda,
                    size: 1,
                });
            } else {
                let merge = merges[node as usize - n];
                stack.push(merge.left);
                stack.push(merge.right);
            }
        }
    };
    // Parents have higher node numbers than their children: walk from the root down.
    for node in (n..node_count).rev() {
        let label = relabel[node];
        if label == u32::MAX {
            continue; // inside a subtree that already fell out
        }
        let merge = merges[node - n];
        let lambda = lambda_of(merge.distance);
        let (left, right) = (merge.left, merge.right);
        let (left_size, right_size) = (size(left), size(right));
        let big = min_cluster_size as u32;
        match (left_size >= big, right_size >= big) {
            (true, true) => {
                for (child, child_size) in [(left, left_size), (right, right_size)] {
                    relabel[child as usize] = next_label;
                    result.push(CondensedEdge {
                        parent: label,
                        child: next_label,
                        lambda,
                        size: child_size,
                    });
                    next_label += 1;
                }
            }
            (false, false) => {
                fall_out(left, label, lambda, &mut result);
                fall_out(right, label, lambda, &mut result);
            }
            (true, false) => {
                relabel[left as usize] = label;
                fall_out(right, label, lambda, &mut result);
            }
            (false, true) => {
                relabel[right as usize] = label;
                fall_out(left, label, lambda, &mut result);
            }
        }
    }
    result
}

/// Selects clusters from the condensed tree and labels every point (−1 = noise).
pub(crate) fn select_and_label(
    condensed: &[CondensedEdge],
    n: usize,
    params: &HdbscanParams,
) -> Vec<i32> {
    if condensed.is_empty() {
        return vec![-1; n];
    }
    let root = n as u32;
    let cluster_count = condensed
        .iter()
        .map(|edge| edge.parent.max(edge.child))
        .max()
        .map_or(1, |max| (max - root + 1) as usize);
    let index = |cluster: u32| (cluster - root) as usize;
    let mut parent_of = vec![u32::MAX; cluster_count];
    let mut birth = vec![0.0f64; cluster_count]; // lambda at which each cluster appears
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); cluster_count];
    let mut stability = vec![0.0f64; cluster_count];
    for edge in condensed.iter().filter(|edge| edge.child >= root) {
        parent_of[index(edge.child)] = edge.parent;
        birth[index(edge.child)] = edge.lambda;
        children[index(edge.parent)].push(edge.child);
    }
    for edge in condensed {
        let parent = index(edge.parent);
        stability[parent] += (edge.lambda - birth[parent]) * f64::from(edge.size);
    }

    let mut selected = vec![false; cluster_count];
    match params.selection {
        Selection::Eom => {
            let mut best = stability.clone();
            // Children are numbered above their parents: go from the leaves up.
            for cluster in (0..cluster_count).rev() {
                if cluster == 0 && !params.allow_single_cluster {
                    break;
                }
                let subtree: f64 = children[cluster].iter().map(|&c| best[index(c)]).sum();
                if children[cluster].is_empty() || stability[cluster] >= subtree {
                    selected[cluster] = true;
                    best[cluster] = stability[cluster];
                    deselect_below(cluster, &children, &mut selected, root);
                } else {
                    best[cluster] = subtree;
                }
            }
        }
        Selection::Leaf => {
            for cluster in 1..cluster_count {
                selected[cluster] = children[cluster].is_empty();
            }
            if cluster_count == 1 && params.allow_single_cluster {
                selected[0] = true;
            }
        }
    }
    if params.cluster_selection_epsilon > 0.0 {
        epsilon_merge(&mut selected, &parent_of, &birth, &children, params, root);
    }

    // Label clusters 0..k in cluster-number order; points take the selected cluster above the
    // cluster they fell out of.
    let mut label_of = vec![-1i32; cluster_count];
    let mut next = 0;
    for cluster in 0..cluster_count {
        if selected[cluster] {
            label_of[cluster] = next;
            next += 1;
        }
    }
    let mut owner: Vec<i32> = vec![-1; cluster_count];
    for cluster in 0..cluster_count {
        owner[cluster] = if selected[cluster] {
            label_of[cluster]
        } else if cluster == 0 {
            -1
        } else {
            owner[index(parent_of[cluster])]
        };
    }
    let single_root = selected[0];
    let root_threshold = if single_root {
        if params.cluster_selection_epsilon > 0.0 {
            1.0 / params.cluster_selection_epsilon
        } else {
            condensed
                .iter()
                .filter(|edge| edge.parent == root && edge.child < root)
                .map(|edge| edge.lambda)
                .fold(0.0, f64::max)
        }
    } else {
        0.0
    };
    let mut labels = vec![-1i32; n];
    for edge in condensed.iter().filter(|edge| edge.child < root) {
        let cluster = index(edge.parent);
        labels[edge.child as usize] = if cluster == 0 && single_root {
            // A single root cluster keeps only its dense core (as the reference implementation).
            if edge.lambda >= root_threshold {
                owner[0]
            } else {
                -1
            }
        } else {
            owner[cluster]
        };
    }
    labels
}

fn deselect_below(cluster: usize, children: &[Vec<u32>], selected: &mut [bool], root: u32) {
    let mut stack: Vec<u32> = children[cluster].clone();
    while let Some(child) = stack.pop() {
        let child = (child - root) as usize;
        selected[child] = false;
        stack.extend(children[child].iter().copied());
    }
}

/// Replaces each selected cluster born below distance epsilon by its lowest ancestor born above
/// it, so no two clusters closer than epsilon stay apart. The root's children are the limit
/// unless a single cluster is allowed.
fn epsilon_merge(
    selected: &mut [bool],
    parent_of: &[u32],
    birth: &[f64],
    children: &[Vec<u32>],
    params: &HdbscanParams,
    root: u32,
) {
    let epsilon = params.cluster_selection_epsilon;
    let distance = |cluster: usize| {
        if birth[cluster] > 0.0 {
            1.0 / birth[cluster]
        } else {
            f64::INFINITY
        }
    };
    let chosen: Vec<usize> = (0..selected.len()).filter(|&c| selected[c]).collect();
    let mut result = vec![false; selected.len()];
    let mut covered = vec![false; selected.len()];
    for cluster in chosen {
        if covered[cluster] {
            continue;
        }
        let mut target = cluster;
        if cluster != 0 && distance(cluster) < epsilon {
            loop {
                let parent = (parent_of[target] - root) as usize;
                if parent == 0 {
                    if params.allow_single_cluster {
                        target = 0;
                    }
                    break;
                }
                target = parent;
                if distance(parent) > epsilon {
                    break;
                }
            }
        }
        result[target] = true;
        let mut stack: Vec<u32> = children[target].clone();
        while let Some(child) = stack.pop() {
            let child = (child - root) as usize;
            covered[child] = true;
            result[child] = false;
            stack.extend(children[child].iter().copied());
        }
    }
    selected.copy_from_slice(&result);
}

/// Size, medoid and centroid of each cluster. The medoid is the member with the least total
/// distance to the other members: exact for clusters of up to [`MEDOID_SAMPLE`] members, else
/// over a seeded random sample of that many members (the sample's own medoid).
pub fn summarise(
    points: Points<'_>,
    labels: &[i32],
    seed: u64,
    control: &Control<'_>,
) -> Result<Vec<ClusterSummary>, HdbscanError> {
    let cluster_count = labels
        .iter()
        .copied()
        .max()
        .map_or(0, |max| (max + 1).max(0) as usize);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); cluster_count];
    for (i, &label) in labels.iter().enumerate() {
        if label >= 0 {
            members[label as usize].push(i);
        }
    }
    let dim = points.dim();
    let mut summaries = Vec::with_capacity(cluster_count);
    control.report(Phase::Summaries, 0.0);
    for (label, list) in members.iter().enumerate() {
        control.check()?;
        let mut centroid = vec![0f64; dim];
        for &i in list {
            for (sum, value) in centroid.iter_mut().zip(points.row(i)) {
                *sum += f64::from(*value);
            }
        }
        let count = list.len().max(1) as f64;
        let centroid: Vec<f32> = centroid.iter().map(|sum| (sum / count) as f32).collect();
        let candidates: Vec<usize> = if list.len() > MEDOID_SAMPLE {
            // Seeded per cluster so one cluster's sample does not depend on the others.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                seed ^ (label as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut picked: Vec<usize> =
                rand::seq::index::sample(&mut rng, list.len(), MEDOID_SAMPLE)
                    .into_iter()
                    .map(|i| list[i])
                    .collect();
            picked.sort_unstable();
            picked
        } else {
            list.clone()
        };
        let totals = distance_totals(points, &candidates);
        let medoid = totals
            .iter()
            .zip(&candidates)
            .min_by(|a, b| a.0.total_cmp(b.0).then(a.1.cmp(b.1)))
            .map_or(0, |(_, &i)| i);
        summaries.push(ClusterSummary {
            label: label as i32,
            size: list.len(),
            medoid,
            centroid,
        });
        control.report(Phase::Summaries, (label + 1) as f64 / cluster_count as f64);
    }
    control.report(Phase::Summaries, 1.0);
    Ok(summaries)
}

/// For each of `rows`, the sum of its Euclidean distances to all of `rows`. One Gram matrix
/// (GEMM) instead of m² separate distances; ‖a‖² + ‖b‖² − 2a·b loses a little precision for
/// near-identical vectors, which does not matter for a sum over a whole cluster.
fn distance_totals(points: Points<'_>, rows: &[usize]) -> Vec<f64> {
    let mut block = Array2::<f32>::zeros((rows.len(), points.dim()));
    for (mut row, &i) in block.rows_mut().into_iter().zip(rows) {
        row.assign(&ArrayView1::from(points.row(i)));
    }
    let gram = block.dot(&block.t());
    let norms: Vec<f32> = (0..rows.len()).map(|i| gram[[i, i]]).collect();
    (0..rows.len())
        .into_par_iter()
        .map(|i| {
            gram.row(i)
                .iter()
                .zip(&norms)
                .map(|(&dot, &norm)| f64::from((norms[i] + norm - 2.0 * dot).max(0.0).sqrt()))
                .sum()
        })
        .collect()
}

/// Adjusted Rand index between two labelings (noise −1 counts as one more label).
pub fn adjusted_rand_index(a: &[i32], b: &[i32]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 1.0;
    }
    let mut table: HashMap<(i32, i32), u64> = HashMap::new();
    let mut rows: HashMap<i32, u64> = HashMap::new();
    let mut cols: HashMap<i32, u64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b).take(n) {
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let pairs = |count: u64| (count * count.saturating_sub(1)) as f64 / 2.0;
    let index: f64 = table.values().map(|&c| pairs(c)).sum();
    let sum_rows: f64 = rows.values().map(|&c| pairs(c)).sum();
    let sum_cols: f64 = cols.values().map(|&c| pairs(c)).sum();
    let expected = sum_rows * sum_cols / pairs(n as u64);
    let maximum = (sum_rows + sum_cols) / 2.0;
    if (maximum - expected).abs() < f64::EPSILON {
        return 1.0;
    }
    (index - expected) / (maximum - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(centres: &[[f32; 2]], per: usize, spread: f32) -> Vec<f32> {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut data = Vec::new();
        for centre in centres {
            for _ in 0..per {
                data.push(centre[0] + spread * (rng.random::<f32>() - 0.5));
                data.push(centre[1] + spread * (rng.random::<f32>() - 0.5));
            }
        }
        data
    }

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
        for block_rows in [usize::MAX, 4, 1] {
            let found = nearest_outside_in_blocks(
                points,
                &norms,
                &components,
                &core,
                &pending,
                &Control::default(),
                block_rows,
            );
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

    #[test]
    fn two_separated_blobs_are_two_clusters() {
        let data = blobs(&[[0.0, 0.0], [10.0, 10.0]], 50, 1.0);
        let points = Points::new(&data, 2).expect("points");
        let mut params = HdbscanParams::defaults_for(100);
        params.cluster_selection_epsilon = 0.0;
        let result = hdbscan(points, &params, &Control::default()).expect("hdbscan");
        assert_eq!(result.clusters.len(), 2);
        assert!(result.labels[..50].iter().all(|&l| l == result.labels[0]));
        assert!(result.labels[50..].iter().all(|&l| l == result.labels[50]));
        assert_ne!(result.labels[0], result.labels[50]);
        assert!(result.clusters.iter().all(|c| c.size == 50));
    }

    #[test]
    fn epsilon_merges_close_clusters_and_single_cluster_needs_permission() {
        let data = blobs(&[[0.0, 0.0], [3.0, 0.0], [100.0, 0.0]], 40, 1.0);
        let points = Points::new(&data, 2).expect("points");
        let mut params = HdbscanParams::defaults_for(120);
        params.min_cluster_size = 25;
        params.cluster_selection_epsilon = 0.0;
        params.selection = Selection::Leaf;
        let leaves = hdbscan(points, &params, &Control::default()).expect("leaf");
        assert_eq!(leaves.clusters.len(), 3);
        params.cluster_selection_epsilon = 5.0;
        let merged = hdbscan(points, &params, &Control::default()).expect("epsilon");
        assert_eq!(merged.clusters.len(), 2);
        params.cluster_selection_epsilon = 500.0;
        let capped = hdbscan(points, &params, &Control::default()).expect("capped");
        assert_eq!(
            capped.clusters.len(),
            2,
            "the root is not a cluster unless allowed"
        );
        params.allow_single_cluster = true;
        let single = hdbscan(points, &params, &Control::default()).expect("single");
        assert_eq!(single.clusters.len(), 1);
    }

    #[test]
    fn cancellation_stops_the_run() {
        let data = blobs(&[[0.0, 0.0]], 50, 1.0);
        let points = Points::new(&data, 2).expect("points");
        let cancel = AtomicBool::new(true);
        let control = Control::new(Some(&cancel), None);
        let result = hdbscan(points, &HdbscanParams::defaults_for(50), &control);
        assert!(matches!(result, Err(HdbscanError::Cancelled)));
    }

    #[test]
    fn ari_is_one_for_relabelings_and_near_zero_for_unrelated() {
        let a = [0, 0, 1, 1, 2, 2, -1];
        let b = [5, 5, 3, 3, 9, 9, 4];
        assert!((adjusted_rand_index(&a, &b) - 1.0).abs() < 1e-12);
        let c = [0, 1, 0, 1, 0, 1, 0];
        assert!(adjusted_rand_index(&a, &c) < 0.2);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(Points::new(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(Points::new(&[1.0, f32::NAN], 2).is_err());
        let data = [0.0f32; 8];
        let points = Points::new(&data, 2).expect("points");
        let mut params = HdbscanParams::defaults_for(4);
        params.min_cluster_size = 1;
        assert!(hdbscan(points, &params, &Control::default()).is_err());
    }
}
