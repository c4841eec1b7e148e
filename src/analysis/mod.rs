//! Analyses over stored embeddings: projections (t-SNE), clustering and trajectory statistics.

pub mod clustering;
pub mod hdbscan;
pub mod knn;
pub mod projection;
pub mod trajectories;
pub mod tsne;
