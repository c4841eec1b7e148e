//! panic-tda: run generative-AI feedback loops (text → image → text → …), embed every output,
//! cluster and project the embeddings, and explore and export the trajectories.
//!
//! Data flows one way: `config` → `engine` → `store` → `analysis` → `gui` / `export`.
//! The GUI and the CLI are thin front ends over the same library calls.

pub mod analysis;
pub mod atomic_file;
pub mod config;
pub mod engine;
pub mod export;
pub mod gui;
pub mod info;
pub mod models;
pub mod paths;
pub mod progress;
pub mod slurm;
pub mod store;
