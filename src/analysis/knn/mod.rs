//! Nearest neighbours of unit vectors, exact (brute force) or approximate (NN-descent), and a
//! search over the resulting k-NN graph.
//!
//! Distances are Euclidean. On unit vectors `|a − b|² = 2 − 2·cos(a, b)`, so Euclidean order is
//! cosine order and no cosine matrix is ever needed. No path allocates anything n × n.

use thiserror::Error;

use crate::progress::Cancelled;

pub(crate) mod bf16;
mod descent;
pub(crate) mod exact;
mod index;
#[cfg(test)]
mod tests;

pub use descent::{NnDescentSettings, nn_descent, nn_descent_with};
pub use exact::exact_knn;

pub use bf16::Bf16Kind;

/// The products exact searches here screen with: bf16 on AMX tiles or AVX-512 BF16 where the
/// CPU has them (the fast kernels), `None` for f32 matrix products. Same results either way.
/// `PANIC_TDA_NO_AMX=1` skips the tiles, `PANIC_TDA_NO_BF16=1` every bf16 unit.
pub fn screening_kernel() -> Option<Bf16Kind> {
    bf16::kind()
}

/// The distance kernel in words, for `panic-tda info` and benchmark rows (a bf16 kernel only
/// screens: what it keeps is measured again in f32).
pub fn distance_kernel_name() -> &'static str {
    screening_kernel().map_or("f32 products", Bf16Kind::describe)
}
pub use index::GraphIndex;

/// Why a neighbour search did not give a graph.
#[derive(Debug, Error)]
pub enum KnnError {
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// A row-major matrix of `len` vectors of `dim` f32 each.
#[derive(Clone, Copy)]
pub struct Points<'a> {
    data: &'a [f32],
    dim: usize,
}

impl<'a> Points<'a> {
    pub fn new(data: &'a [f32], dim: usize) -> Result<Self, KnnError> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(KnnError::InvalidInput(format!(
                "{} values are not a whole number of {dim}-d vectors",
                data.len()
            )));
        }
        if let Some(position) = data.iter().position(|value| !value.is_finite()) {
            return Err(KnnError::InvalidInput(format!(
                "vector {} has a non-finite value",
                position / dim
            )));
        }
        Ok(Self { data, dim })
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    #[inline]
    pub fn row(&self, index: usize) -> &'a [f32] {
        &self.data[index * self.dim..(index + 1) * self.dim]
    }

    /// Rows `range` as one row-major block.
    pub fn rows(&self, range: std::ops::Range<usize>) -> &'a [f32] {
        &self.data[range.start * self.dim..range.end * self.dim]
    }
}

/// Independent accumulators of the vectorised loops: enough to keep two AVX-512 or four AVX2
/// registers busy. The lane layout fixes the summation order, so every build gives the same bits.
const LANES: usize = 32;

/// Squared Euclidean distance with [`LANES`] independent accumulators so the compiler can
/// vectorise it; compiled for AVX-512, AVX2/FMA and NEON too and picked at run time (the
/// distance is most of the neighbour search).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn squared_euclidean(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for lane in 0..LANES {
            let diff = ca[lane] - cb[lane];
            sums[lane] += diff * diff;
        }
    }
    let mut total: f32 = sums.iter().sum();
    for (x, y) in tail_a.iter().zip(tail_b) {
        total += (x - y) * (x - y);
    }
    total
}

/// Euclidean distance.
#[inline]
pub fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    squared_euclidean(a, b).sqrt()
}

/// Dot product, vectorised like [`squared_euclidean`].
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for lane in 0..LANES {
            sums[lane] += ca[lane] * cb[lane];
        }
    }
    let mut total: f32 = sums.iter().sum();
    for (x, y) in tail_a.iter().zip(tail_b) {
        total += x * y;
    }
    total
}

/// The `k` nearest other points of every point, nearest first (ties by index).
#[derive(Debug, Clone)]
pub struct Knn {
    pub k: usize,
    pub indices: Vec<u32>,
    pub distances: Vec<f32>,
}

impl Knn {
    pub fn len(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn neighbours(&self, point: usize) -> (&[u32], &[f32]) {
        let range = point * self.k..(point + 1) * self.k;
        (&self.indices[range.clone()], &self.distances[range])
    }
}
