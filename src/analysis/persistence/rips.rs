//! The Vietoris–Rips entry points, persistent entropy, and the simplex geometry of the
//! reduction state [`Rips`]: vertices and indices of simplices, cofacet enumeration and the
//! zero-length apparent pairs. The reduction itself is in `reduce.rs`.

use std::sync::atomic::{AtomicBool, Ordering};

use super::distance::DistanceMatrix;
use super::simplex::{Binomials, Cell, Vertices};
use super::{MAX_DIMENSION, PersistenceError, Result, RipsParams};
use crate::store::PersistencePair;

/// Persistence pairs of the Vietoris–Rips filtration of `points` (`n × dim`, row-major),
/// Euclidean metric, Z/2 coefficients. Sorted by dimension, then birth, then death; classes that
/// never die have death = +∞; zero-length pairs are left out.
pub fn vietoris_rips(
    points: &[f32],
    dim: usize,
    params: &RipsParams,
    cancel: Option<&AtomicBool>,
) -> Result<Vec<PersistencePair>> {
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let distances = DistanceMatrix::from_points(points, dim)?;
    rips_from_distances(&distances, params, cancel)
}

/// As [`vietoris_rips`], from a distance matrix.
pub fn rips_from_distances(
    distances: &DistanceMatrix,
    params: &RipsParams,
    cancel: Option<&AtomicBool>,
) -> Result<Vec<PersistencePair>> {
    rips_with_levels(distances, params, cancel, LEVELS)
}

pub(super) fn rips_with_levels(
    distances: &DistanceMatrix,
    params: &RipsParams,
    cancel: Option<&AtomicBool>,
    levels: usize,
) -> Result<Vec<PersistencePair>> {
    if params.max_dimension > MAX_DIMENSION {
        return Err(PersistenceError::Dimension(params.max_dimension));
    }
    let threshold = match params.threshold {
        Some(t) if t.is_nan() || t < 0.0 => return Err(PersistenceError::Threshold(t)),
        Some(t) => t,
        None => distances.enclosing_radius(),
    };
    let n = distances.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let binomials = Binomials::new(n, params.max_dimension as usize + 2)?;
    let mut rips = Rips {
        n,
        distances,
        threshold,
        binomials,
        cancel,
        pairs: Vec::new(),
        steps: 0,
        levels: Vec::new(),
    };
    rips.compute(params.max_dimension, levels)?;
    let mut pairs = rips.pairs;
    pairs.sort_by(|a, b| {
        a.dimension
            .cmp(&b.dimension)
            .then(a.birth.total_cmp(&b.birth))
            .then(a.death.total_cmp(&b.death))
    });
    Ok(pairs)
}

/// Persistent entropy per homology dimension `0..=max_dim`: with `lᵢ` the lengths of the finite
/// bars of that dimension and `pᵢ = lᵢ / Σl`, `E = −Σ pᵢ ln pᵢ`; 0 when there are none.
pub fn persistent_entropy(pairs: &[PersistencePair], max_dim: u32) -> Vec<f64> {
    (0..=max_dim)
        .map(|dimension| {
            let lengths: Vec<f64> = pairs
                .iter()
                .filter(|p| p.dimension == dimension && p.death.is_finite())
                .map(|p| f64::from(p.death) - f64::from(p.birth))
                .filter(|&l| l > 0.0)
                .collect();
            let total: f64 = lengths.iter().sum();
            if total <= 0.0 {
                return 0.0;
            }
            // 0 − Σ, not −Σ: a single bar gives +0, not −0.
            0.0 - lengths
                .iter()
                .map(|&l| {
                    let p = l / total;
                    p * p.ln()
                })
                .sum::<f64>()
        })
        .collect()
}

pub(super) struct Rips<'a> {
    pub(super) n: usize,
    pub(super) distances: &'a DistanceMatrix,
    pub(super) threshold: f32,
    pub(super) binomials: Binomials,
    pub(super) cancel: Option<&'a AtomicBool>,
    pub(super) pairs: Vec<PersistencePair>,
    pub(super) steps: usize,
    /// Diameters (as bits, increasing) up to which coboundaries are pushed at a time: most of a
    /// pushed coboundary is never looked at before its column is done, so the part above the
    /// next level waits behind a marker.
    pub(super) levels: Vec<u32>,
}

/// Coboundary levels: this many quantiles of the edge lengths.
pub(super) const LEVELS: usize = 32;

/// Edges whose triangles are generated and filtered in one parallel batch.
pub(super) const EDGE_BATCH: usize = 1024;

/// Columns reduced between cancellation checks.
const CHECK_EVERY: usize = 1 << 12;

/// `vertices` (largest first) with `v` inserted in order.
pub(super) fn with_vertex(vertices: &[usize], v: usize) -> Vertices {
    let mut out = [0; 4];
    let mut at = 0;
    for &u in vertices.iter().filter(|&&u| u > v) {
        out[at] = u;
        at += 1;
    }
    out[at] = v;
    at += 1;
    for &u in vertices.iter().filter(|&&u| u < v) {
        out[at] = u;
        at += 1;
    }
    out
}

impl Rips<'_> {
    pub(super) fn check_cancel(&mut self) -> Result<()> {
        let check = self.steps.is_multiple_of(CHECK_EVERY);
        self.steps += 1;
        if check && self.cancel.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            return Err(PersistenceError::Cancelled);
        }
        Ok(())
    }

    pub(super) fn push_pair(&mut self, dimension: u32, birth: f32, death: f32) {
        if death > birth {
            self.pairs.push(PersistencePair {
                dimension,
                birth,
                death,
            });
        }
    }

    /// Vertices of the simplex with `count` vertices and `index`, largest first.
    pub(super) fn vertices(&self, mut index: u64, count: usize) -> Vertices {
        let mut out = [0; 4];
        let mut top = self.n - 1;
        for (slot, k) in (1..=count).rev().enumerate() {
            // Largest v ≤ top with C(v, k) ≤ index.
            let (mut lo, mut hi) = (k - 1, top);
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                if self.binomials.get(mid, k) <= index {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            out[slot] = lo;
            index -= self.binomials.get(lo, k);
            top = lo.saturating_sub(1);
        }
        out
    }

    pub(super) fn index_of(&self, vertices: &[usize]) -> u64 {
        let count = vertices.len();
        vertices
            .iter()
            .enumerate()
            .map(|(s, &v)| self.binomials.get(v, count - s))
            .sum()
    }

    pub(super) fn diameter_of(&self, vertices: &[usize]) -> f32 {
        let mut diameter = 0.0f32;
        for (s, &a) in vertices.iter().enumerate() {
            for &b in &vertices[s + 1..] {
                diameter = diameter.max(self.distances.get(a, b));
            }
        }
        diameter
    }

    /// Calls `visit` with each cofacet within the threshold and its added vertex, in decreasing
    /// index order, until it returns false.
    pub(super) fn for_each_cofacet(
        &self,
        simplex: Cell,
        vertices: &[usize],
        mut visit: impl FnMut(Cell, usize) -> bool,
    ) {
        let count = vertices.len();
        let diameter = simplex.diameter();
        // Index parts of the simplex's vertices above and below the new vertex v, with their
        // positions in the cofacet.
        let (mut above, mut below) = (0u64, simplex.index);
        let mut passed = 0;
        let rows: [&[f32]; 4] =
            std::array::from_fn(|s| self.distances.row(vertices.get(s).copied().unwrap_or(0)));
        for v in (0..self.n).rev() {
            if passed < count && vertices[passed] == v {
                let position = count - passed;
                below -= self.binomials.get(v, position);
                above += self.binomials.get(v, position + 1);
                passed += 1;
                continue;
            }
            let mut cofacet_diameter = diameter;
            for row in &rows[..count] {
                cofacet_diameter = cofacet_diameter.max(row[v]);
            }
            if cofacet_diameter > self.threshold {
                continue;
            }
            let index = above + self.binomials.get(v, count - passed + 1) + below;
            if !visit(Cell::new(cofacet_diameter, index), v) {
                return;
            }
        }
    }

    /// The earliest cofacet with the simplex's own diameter (the pivot of its unreduced
    /// coboundary when that has zero persistence), with its vertices.
    pub(super) fn first_equal_cofacet(
        &self,
        simplex: Cell,
        vertices: &[usize],
    ) -> Option<(Cell, Vertices)> {
        let diameter = simplex.diameter();
        let mut found = None;
        // Same walk as `for_each_cofacet`, testing distances before computing indices.
        self.for_each_cofacet_within(vertices, diameter, |v| {
            found = Some(v);
            false
        });
        let v = found?;
        let cofacet_vertices = with_vertex(vertices, v);
        let index = self.index_of(&cofacet_vertices[..vertices.len() + 1]);
        Some((
            Cell {
                bits: simplex.bits,
                index,
            },
            cofacet_vertices,
        ))
    }

    /// Calls `visit` with each vertex v (decreasing) whose distance to every vertex of the
    /// simplex is at most `limit`, until it returns false.
    pub(super) fn for_each_cofacet_within(
        &self,
        vertices: &[usize],
        limit: f32,
        mut visit: impl FnMut(usize) -> bool,
    ) {
        let count = vertices.len();
        let rows: [&[f32]; 4] =
            std::array::from_fn(|s| self.distances.row(vertices.get(s).copied().unwrap_or(0)));
        for v in (0..self.n).rev() {
            if rows[..count].iter().all(|row| row[v] <= limit)
                && !vertices.contains(&v)
                && !visit(v)
            {
                return;
            }
        }
    }

    /// The latest facet with the simplex's own diameter (smallest index among them), with its
    /// vertices.
    pub(super) fn last_equal_facet(
        &self,
        simplex: Cell,
        vertices: &[usize],
    ) -> Option<(Cell, Vertices)> {
        let size = vertices.len() - 1;
        let mut best: Option<(Cell, Vertices)> = None;
        for skip in 0..vertices.len() {
            let mut facet = [0usize; 4];
            let mut at = 0;
            for (s, &v) in vertices.iter().enumerate() {
                if s != skip {
                    facet[at] = v;
                    at += 1;
                }
            }
            if self.diameter_of(&facet[..size]).to_bits() != simplex.bits {
                continue;
            }
            let index = self.index_of(&facet[..size]);
            if best.is_none_or(|(b, _)| index < b.index) {
                best = Some((
                    Cell {
                        bits: simplex.bits,
                        index,
                    },
                    facet,
                ));
            }
        }
        best
    }

    /// Whether the simplex is in a zero-length apparent pair with a cofacet: its earliest
    /// equal-diameter cofacet, of which it is the latest facet.
    pub(super) fn has_apparent_cofacet(&self, simplex: Cell, vertices: &[usize]) -> bool {
        self.first_equal_cofacet(simplex, vertices)
            .and_then(|(cofacet, cofacet_vertices)| {
                self.last_equal_facet(cofacet, &cofacet_vertices[..vertices.len() + 1])
            })
            .is_some_and(|(facet, _)| facet == simplex)
    }

    /// [`Self::has_apparent_cofacet`] for the triangle `{a, b, c}` (diameter `bits`) whose
    /// latest edge is `{a, b}`, `a > b`. Its earliest equal-diameter cofacet `{a, b, c, v}` has
    /// the facet `{a, b, v}` of the same diameter, with a smaller index than the triangle's when
    /// `v < c` (the triangle is then not the latest facet), so only `v > c` is searched; of the
    /// other facets, `{a, c, v}` (smaller index when `v < b`) and `{b, c, v}` (when `v < a`) beat
    /// the triangle only if they reach the same diameter.
    pub(super) fn triangle_has_apparent_cofacet(
        &self,
        bits: u32,
        a: usize,
        b: usize,
        c: usize,
    ) -> bool {
        let limit = f32::from_bits(bits);
        let (row_a, row_b, row_c) = (
            self.distances.row(a),
            self.distances.row(b),
            self.distances.row(c),
        );
        for v in (c + 1..self.n).rev() {
            if row_a[v] <= limit && row_b[v] <= limit && row_c[v] <= limit && v != a && v != b {
                let acv = v < b && row_a[c].max(row_a[v]).max(row_c[v]).to_bits() == bits;
                let bcv = v < a && row_b[c].max(row_b[v]).max(row_c[v]).to_bits() == bits;
                return !acv && !bcv;
            }
        }
        false
    }

    /// The facet in a zero-length apparent pair with the simplex, if any, with its vertices.
    pub(super) fn apparent_facet(
        &self,
        simplex: Cell,
        vertices: &[usize],
    ) -> Option<(Cell, Vertices)> {
        let (facet, facet_vertices) = self.last_equal_facet(simplex, vertices)?;
        let (cofacet, _) =
            self.first_equal_cofacet(facet, &facet_vertices[..vertices.len() - 1])?;
        (cofacet == simplex).then_some((facet, facet_vertices))
    }
}
