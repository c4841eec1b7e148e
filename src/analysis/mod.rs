//! Analyses over stored embeddings: projections (t-SNE), clustering, trajectory statistics and
//! persistent homology.

pub mod agreement;
pub mod clustering;
pub mod drift;
pub mod hdbscan;
pub mod knn;
pub mod persistence;
pub mod projection;
pub mod regression;
pub mod report;
pub mod sequences;
pub mod trajectories;
pub mod tsne;
pub mod vectors;
