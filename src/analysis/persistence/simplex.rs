//! Small building blocks of the Rips reduction: binomial coefficients for simplex indices,
//! filtration cells and their heap order, reduced columns and the pivot map.

use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;

use super::{PersistenceError, Result};

/// `C(v, k)` for `v ≤ n`, `k ≤ k_max`, checked for overflow once up front.
pub(super) struct Binomials {
    stride: usize,
    table: Vec<u64>,
}

impl Binomials {
    pub(super) fn new(n: usize, k_max: usize) -> Result<Self> {
        let stride = n + 1;
        let mut table = vec![0u64; stride * (k_max + 1)];
        for v in 0..=n {
            table[v] = 1;
            for k in 1..=k_max.min(v) {
                let value = table[(k - 1) * stride + v - 1]
                    .checked_add(table[k * stride + v - 1])
                    .ok_or(PersistenceError::TooManyPoints(n))?;
                table[k * stride + v] = value;
            }
        }
        Ok(Self { stride, table })
    }

    #[inline]
    pub(super) fn get(&self, v: usize, k: usize) -> u64 {
        self.table[k * self.stride + v]
    }
}

/// A simplex in a filtration: its diameter (as f32 bits; diameters are non-negative, so the bits
/// order like the values) and its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cell {
    pub(super) bits: u32,
    pub(super) index: u64,
}

impl Cell {
    pub(super) fn new(diameter: f32, index: u64) -> Self {
        Self {
            bits: diameter.to_bits(),
            index,
        }
    }

    pub(super) fn diameter(self) -> f32 {
        f32::from_bits(self.bits)
    }
}

/// Heap order: "greater" = earlier in the filtration (smaller diameter; among equal diameters
/// the larger index), so a max-heap yields the pivot of a coboundary column.
impl Ord for Cell {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other
            .bits
            .cmp(&self.bits)
            .then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Cell {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

/// Vertices of a simplex (up to a tetrahedron), largest first; the simplex's dimension says how
/// many are used.
pub(super) type Vertices = [usize; 4];

/// A reduced column: its simplex (with vertices) and the other simplices added to it (its column
/// of V; Z/2, so each appears once).
pub(super) struct Column {
    pub(super) simplex: Cell,
    pub(super) vertices: Vertices,
    pub(super) added: Vec<Cell>,
}

/// Hashes simplex indices (already unique integers) with one multiplication; the default
/// SipHash was an eighth of the time in the top dimension.
#[derive(Default, Clone, Copy)]
pub(super) struct IndexHasher(u64);

impl std::hash::Hasher for IndexHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low ones, which pick the bucket.
        self.0 ^ (self.0 >> 32)
    }
}

/// Pivot (a simplex index) → its reduced column.
pub(super) type PivotMap = HashMap<u64, Column, std::hash::BuildHasherDefault<IndexHasher>>;
