//! Analyses over stored embeddings: projections (t-SNE), clustering and trajectory statistics.

pub mod projection;
pub mod tsne;
