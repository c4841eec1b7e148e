//! Analyses over stored embeddings: projections (t-SNE), clustering, trajectory statistics and
//! persistent homology.

pub mod clustering;
pub mod hdbscan;
pub mod knn;
pub mod persistence;
pub mod projection;
pub mod trajectories;
pub mod tsne;
