//! Vietoris–Rips persistent homology (H0–H2 over Z/2) of a point cloud, persistent entropy, and
//! the background stage that stores one diagram per (run, embedding model).
//!
//! The algorithm is persistent *cohomology* with the usual Rips shortcuts: simplices are never
//! stored as lists but named by their combinatorial-number-system index, coboundaries are
//! enumerated on the fly, columns paired in the lower dimension are skipped (clearing), and
//! zero-length "apparent" pairs are recognised locally instead of being reduced or stored.
//! Triangles are generated edge by edge (each from its longest edge) so that even the top
//! dimension never needs a sorted list of all triangles in memory, and coboundaries enter the
//! reduction heap in parts, by edge-length level. See DESIGN.md.
//!
//! This module owns the error and parameter types; `distance` the distance matrix, `simplex`
//! the cell and column types, `rips` the entry points and simplex geometry, `reduce` the
//! reduction, and `stage` the database stage.

mod distance;
mod reduce;
mod rips;
mod simplex;
mod stage;
#[cfg(test)]
mod tests;

use thiserror::Error;

use crate::store::StoreError;

pub use distance::DistanceMatrix;
pub use rips::{persistent_entropy, rips_from_distances, vietoris_rips};
pub use stage::{
    PersistenceFailure, PersistenceProgress, PersistenceRequest, PersistenceSummary,
    compute_persistence_diagrams, run_point_cloud, text_embedding_models,
};

/// Highest homology dimension computed.
pub const MAX_DIMENSION: u32 = 2;

#[derive(Debug, Error)]
pub enum PersistenceError {
    #[error("the persistence computation was cancelled")]
    Cancelled,
    #[error("point cloud has {values} values, not a whole number of {dim}-dimensional points")]
    Shape { values: usize, dim: usize },
    #[error("point {index} has a non-finite coordinate; check the stored embeddings")]
    NonFinite { index: usize },
    #[error("homology dimension {0} is not supported (0 to {MAX_DIMENSION})")]
    Dimension(u32),
    #[error("threshold {0} is not a non-negative number")]
    Threshold(f32),
    #[error("{0} points is too many for this computation (simplex indices would overflow)")]
    TooManyPoints(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("experiment {experiment} has no text embeddings; embed it first")]
    NothingEmbedded { experiment: String },
    #[error(
        "experiment {experiment} has no text embeddings by '{model}' (it has: {}); embed it with that model first or pick another",
        .available.join(", ")
    )]
    ModelNotEmbedded {
        experiment: String,
        model: String,
        available: Vec<String>,
    },
    #[error("the persistence worker pool could not start: {0}")]
    Threads(String),
}

pub type Result<T> = std::result::Result<T, PersistenceError>;

/// What to compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RipsParams {
    /// Highest homology dimension (0, 1 or 2).
    pub max_dimension: u32,
    /// Largest edge length in the filtration; `None` = the enclosing radius (the smallest
    /// "largest distance from one point to all others"), beyond which the complex is a cone and
    /// has no homology, so the diagram is the same as without a threshold.
    pub threshold: Option<f32>,
}

impl Default for RipsParams {
    fn default() -> Self {
        Self {
            max_dimension: MAX_DIMENSION,
            threshold: None,
        }
    }
}
