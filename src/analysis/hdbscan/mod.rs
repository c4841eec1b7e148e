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

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::knn::{KnnError, NnDescentSettings, Points};
use crate::progress::Cancelled;
pub use crate::progress::{Control, Phase};

mod mst;
mod summary;
mod tree;

use mst::spanning_tree;
pub use summary::summarise;
use tree::{condense, select_and_label, single_linkage};

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

impl From<Cancelled> for HdbscanError {
    fn from(_: Cancelled) -> Self {
        HdbscanError::Cancelled
    }
}

impl From<KnnError> for HdbscanError {
    fn from(error: KnnError) -> Self {
        match error {
            KnnError::Cancelled(_) => HdbscanError::Cancelled,
            KnnError::InvalidInput(message) => HdbscanError::InvalidInput(message),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::sync::atomic::AtomicBool;

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
