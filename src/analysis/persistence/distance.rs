//! The Euclidean distance matrix of a point cloud, the input of the Rips filtration.

use rayon::prelude::*;

use super::{PersistenceError, Result};

/// Euclidean distance matrix, stored square so that the distances from one point are a
/// contiguous row (the inner loops walk rows).
#[derive(Debug, Clone)]
pub struct DistanceMatrix {
    n: usize,
    values: Vec<f32>,
}

impl DistanceMatrix {
    /// Euclidean distances between the rows of `points` (`n × dim`, row-major).
    pub fn from_points(points: &[f32], dim: usize) -> Result<Self> {
        if dim == 0 || !points.len().is_multiple_of(dim) {
            return Err(PersistenceError::Shape {
                values: points.len(),
                dim,
            });
        }
        if let Some(at) = points.iter().position(|x| !x.is_finite()) {
            return Err(PersistenceError::NonFinite { index: at / dim });
        }
        let n = points.len() / dim;
        let mut values = vec![0.0f32; n * n];
        values
            .par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                let a = &points[i * dim..(i + 1) * dim];
                for (j, out) in row.iter_mut().enumerate().take(i) {
                    *out = euclidean(a, &points[j * dim..(j + 1) * dim]);
                }
            });
        // Mirror the lower triangle so both orders read the same value.
        for i in 0..n {
            for j in 0..i {
                values[j * n + i] = values[i * n + j];
            }
        }
        Ok(Self { n, values })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The distance between points `i` and `j` (both below [`Self::len`]).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.values[i * self.n + j]
    }

    pub(super) fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.n..(i + 1) * self.n]
    }

    /// The smallest over points of the largest distance to any other point.
    pub fn enclosing_radius(&self) -> f32 {
        (0..self.n)
            .map(|i| self.row(i).iter().copied().fold(0.0f32, f32::max))
            .fold(f32::INFINITY, f32::min)
    }
}

/// Eight independent partial sums so the loop vectorises; accuracy is ample for f32 output.
fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            let d = x[k] - y[k];
            sums[k] += d * d;
        }
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        sums[0] += (x - y) * (x - y);
    }
    let total: f64 = sums.iter().map(|&s| f64::from(s)).sum();
    total.sqrt() as f32
}
