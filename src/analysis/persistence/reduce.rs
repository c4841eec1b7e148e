//! The cohomology reduction of [`Rips`]: edges and triangles in filtration order, clearing,
//! coboundaries pushed by level, and the working column with its markers.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use super::rips::{EDGE_BATCH, Rips, with_vertex};
use super::simplex::{Cell, Column, PivotMap, Vertices};
use super::{PersistenceError, Result};
use crate::store::PersistencePair;

impl Rips<'_> {
    pub(super) fn compute(&mut self, max_dimension: u32, levels: usize) -> Result<()> {
        let n = self.n;
        // Edges within the threshold, in filtration order (diameter up, index down).
        let mut edges: Vec<Cell> = Vec::with_capacity(n * (n - 1) / 2);
        for i in 1..n {
            for j in 0..i {
                let d = self.distances.get(i, j);
                if d <= self.threshold {
                    edges.push(Cell::new(d, (i * (i - 1) / 2 + j) as u64));
                }
            }
        }
        edges.sort_unstable_by(|a, b| b.cmp(a));
        if !edges.is_empty() {
            self.levels = (1..=levels)
                .map(|k| edges[edges.len() * k / levels - usize::from(k == levels)].bits)
                .collect();
            self.levels.dedup();
        }

        // H0 by union–find; edges that merge nothing are the H1 columns.
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        let mut cycle_edges = Vec::new();
        for &edge in &edges {
            let vertices = self.vertices(edge.index, 2);
            let (a, b) = (
                root(&mut parent, vertices[0]),
                root(&mut parent, vertices[1]),
            );
            if a == b {
                cycle_edges.push(edge);
            } else {
                parent[a.max(b)] = a.min(b);
                self.push_pair(0, 0.0, edge.diameter());
            }
        }
        for v in 0..n {
            if root(&mut parent, v) == v {
                self.pairs.push(PersistencePair {
                    dimension: 0,
                    birth: 0.0,
                    death: f32::INFINITY,
                });
            }
        }
        if max_dimension == 0 {
            return Ok(());
        }

        // H1: columns in reverse filtration order.
        let mut edge_pivots = PivotMap::default();
        let mut reducer = Reducer::default();
        for &edge in cycle_edges.iter().rev() {
            self.check_cancel()?;
            let vertices = self.vertices(edge.index, 2);
            if self.has_apparent_cofacet(edge, &vertices[..2]) {
                continue;
            }
            self.reduce(edge, vertices, 1, &mut edge_pivots, &mut reducer)?;
        }
        drop(cycle_edges);
        if max_dimension == 1 {
            return Ok(());
        }

        // H2: triangles generated from their latest edge, one group of equal-length edges at
        // a time, sorted into reverse filtration order within the group. Generating and
        // filtering only reads the distances and the H1 pivots, so batches of edges run in
        // parallel; the reduction stays in order.
        let mut rank = vec![u32::MAX; n * (n - 1) / 2];
        for (position, edge) in edges.iter().enumerate() {
            rank[edge.index as usize] = position as u32;
        }
        let mut triangle_pivots = PivotMap::default();
        let mut group: Vec<(Cell, Vertices)> = Vec::new();
        let mut group_bits = None;
        let mut end = edges.len();
        while end > 0 {
            if self.cancel.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
                return Err(PersistenceError::Cancelled);
            }
            let start = end.saturating_sub(EDGE_BATCH);
            let this = &*self;
            let columns: Vec<Vec<(Cell, Vertices)>> = (start..end)
                .into_par_iter()
                .rev()
                .map(|position| this.triangle_columns(&edges, position, &rank, &edge_pivots))
                .collect();
            for (offset, found) in columns.into_iter().enumerate() {
                let bits = edges[end - 1 - offset].bits;
                if group_bits != Some(bits) {
                    self.reduce_triangles(&mut group, &mut triangle_pivots, &mut reducer)?;
                    group_bits = Some(bits);
                }
                group.extend(found);
            }
            end = start;
        }
        self.reduce_triangles(&mut group, &mut triangle_pivots, &mut reducer)
    }

    /// The triangles whose latest edge is `edges[position]` that are H2 columns: not cleared
    /// (an H1 pivot) and not in an apparent pair with the edge or with a tetrahedron.
    fn triangle_columns(
        &self,
        edges: &[Cell],
        position: usize,
        rank: &[u32],
        edge_pivots: &PivotMap,
    ) -> Vec<(Cell, Vertices)> {
        let edge = edges[position];
        let vertices = self.vertices(edge.index, 2);
        let (a, b) = (vertices[0], vertices[1]);
        let (own, diameter) = (position as u32, edge.diameter());
        // Shorter edges come earlier; only equal lengths need the rank.
        let earlier = |u: usize, v: usize| {
            let length = self.distances.get(u, v);
            let (i, j) = (u.max(v), u.min(v));
            length < diameter || (length == diameter && rank[i * (i - 1) / 2 + j] < own)
        };
        let mut found = Vec::new();
        let mut first_equal = true;
        self.for_each_cofacet_within(&vertices[..2], diameter, |v| {
            // The edge's earliest equal-diameter cofacet is in an apparent pair with it when
            // the edge is also the triangle's latest edge.
            let apparent = first_equal;
            first_equal = false;
            if !apparent
                && earlier(a, v)
                && earlier(b, v)
                && !self.triangle_has_apparent_cofacet(edge.bits, a, b, v)
            {
                let triangle = with_vertex(&vertices[..2], v);
                let index = self.index_of(&triangle[..3]);
                if !edge_pivots.contains_key(&index) {
                    found.push((
                        Cell {
                            bits: edge.bits,
                            index,
                        },
                        triangle,
                    ));
                }
            }
            true
        });
        found
    }

    /// Reduces one equal-diameter group of triangle columns in reverse filtration order and
    /// empties it.
    fn reduce_triangles(
        &mut self,
        group: &mut Vec<(Cell, Vertices)>,
        pivots: &mut PivotMap,
        reducer: &mut Reducer,
    ) -> Result<()> {
        group.sort_unstable_by_key(|(cell, _)| cell.index);
        for &(triangle, vertices) in group.iter() {
            self.check_cancel()?;
            self.reduce(triangle, vertices, 2, pivots, reducer)?;
        }
        group.clear();
        Ok(())
    }

    /// The first level at or above `bits` (everything when none is).
    fn level_at_least(&self, bits: u32) -> u32 {
        let at = self.levels.partition_point(|&level| level < bits);
        self.levels.get(at).copied().unwrap_or(u32::MAX)
    }

    /// Pushes the cofacets of `cell` with a diameter in `(above, upto]`, and a marker for the
    /// rest when there are any above `upto`.
    fn push_coboundary(
        &self,
        cell: Cell,
        vertices: &[usize],
        above: Option<u32>,
        upto: u32,
        heap: &mut BinaryHeap<Entry>,
    ) {
        let mut more = false;
        self.for_each_cofacet(cell, vertices, |cofacet, _| {
            if above.is_none_or(|low| cofacet.bits > low) {
                if cofacet.bits <= upto {
                    heap.push(Entry::of(cofacet));
                } else {
                    more = true;
                }
            }
            true
        });
        if more {
            heap.push(Entry::marker(upto, cell.index));
        }
    }

    /// Pops the earliest entry with an odd count (Z/2: equal entries cancel in pairs), opening
    /// markers (of simplices with `count` vertices) on the way.
    fn pop_pivot(&self, heap: &mut BinaryHeap<Entry>, count: usize) -> Option<Cell> {
        loop {
            let top = heap.pop()?;
            if heap.peek() == Some(&top) {
                heap.pop();
                continue;
            }
            if !top.marker {
                return Some(Cell {
                    bits: top.bits,
                    index: top.index,
                });
            }
            let vertices = self.vertices(top.index, count);
            let diameter = self.diameter_of(&vertices[..count]);
            let next = self.level_at_least(top.bits.saturating_add(1));
            self.push_coboundary(
                Cell::new(diameter, top.index),
                &vertices[..count],
                Some(top.bits),
                next,
                heap,
            );
        }
    }

    /// Reduces the coboundary column of `simplex` (dimension `dimension`) against the columns
    /// already in `pivots` and the apparent pairs, records its pair and stores it under its
    /// pivot.
    fn reduce(
        &mut self,
        simplex: Cell,
        vertices: Vertices,
        dimension: u32,
        pivots: &mut PivotMap,
        reducer: &mut Reducer,
    ) -> Result<()> {
        let count = dimension as usize + 1;
        reducer.heap.clear();
        reducer.added.clear();
        // Push the coboundary up to the first level; stop early when its pivot is free (an
        // emergent pair).
        let upto = self.level_at_least(simplex.bits);
        let mut emergent = None;
        let mut look = true;
        let mut more = false;
        {
            let heap = &mut reducer.heap;
            self.for_each_cofacet(simplex, &vertices[..count], |cofacet, v| {
                if look && cofacet.bits == simplex.bits {
                    // Free unless a stored column or an apparent pair already claims it.
                    if !pivots.contains_key(&cofacet.index)
                        && self
                            .apparent_facet(
                                cofacet,
                                &with_vertex(&vertices[..count], v)[..count + 1],
                            )
                            .is_none()
                    {
                        emergent = Some(cofacet);
                        return false;
                    }
                    look = false;
                }
                if cofacet.bits <= upto {
                    heap.push(Entry::of(cofacet));
                } else {
                    more = true;
                }
                true
            });
        }
        if let Some(pivot) = emergent {
            pivots.insert(
                pivot.index,
                Column {
                    simplex,
                    vertices,
                    added: Vec::new(),
                },
            );
            return Ok(());
        }
        if more {
            reducer.heap.push(Entry::marker(upto, simplex.index));
        }
        loop {
            let Some(pivot) = self.pop_pivot(&mut reducer.heap, count) else {
                self.push_pair(dimension, simplex.diameter(), f32::INFINITY);
                return Ok(());
            };
            reducer.adding.clear();
            match pivots.get(&pivot.index) {
                Some(column) => {
                    reducer.adding.push((column.simplex, column.vertices));
                    for &cell in &column.added {
                        reducer
                            .adding
                            .push((cell, self.vertices(cell.index, count)));
                    }
                }
                None => {
                    let pivot_vertices = self.vertices(pivot.index, count + 1);
                    if let Some(facet) = self.apparent_facet(pivot, &pivot_vertices[..count + 1]) {
                        reducer.adding.push(facet);
                    }
                }
            }
            if reducer.adding.is_empty() {
                let mut added = std::mem::take(&mut reducer.added);
                added.sort_unstable_by_key(|cell| cell.index);
                let added = cancel_pairs(added);
                self.push_pair(dimension, simplex.diameter(), pivot.diameter());
                pivots.insert(
                    pivot.index,
                    Column {
                        simplex,
                        vertices,
                        added,
                    },
                );
                return Ok(());
            }
            // Keep the pivot in the column so the added coboundary cancels it.
            reducer.heap.push(Entry::of(pivot));
            let upto = self.level_at_least(pivot.bits);
            for &(cell, cell_vertices) in &reducer.adding {
                reducer.added.push(cell);
                self.push_coboundary(cell, &cell_vertices[..count], None, upto, &mut reducer.heap);
            }
        }
    }
}

/// A working-column entry: a cofacet, or a marker standing for the cofacets of the simplex
/// `index` with a diameter above `bits` that are not pushed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    bits: u32,
    marker: bool,
    index: u64,
}

impl Entry {
    fn of(cell: Cell) -> Self {
        Self {
            bits: cell.bits,
            marker: false,
            index: cell.index,
        }
    }

    fn marker(bits: u32, simplex: u64) -> Self {
        Self {
            bits,
            marker: true,
            index: simplex,
        }
    }
}

/// As [`Cell`]'s order, with a marker after every cofacet of its own diameter (it stands for
/// larger ones); equal markers are adjacent and cancel like equal cofacets.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other
            .bits
            .cmp(&self.bits)
            .then(other.marker.cmp(&self.marker))
            .then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

#[derive(Default)]
struct Reducer {
    heap: BinaryHeap<Entry>,
    /// The column of V being built (with repeats; cancelled when stored).
    added: Vec<Cell>,
    /// The simplices whose coboundaries are added in this step.
    adding: Vec<(Cell, Vertices)>,
}

/// Drops entries that occur an even number of times in a sorted list.
fn cancel_pairs(sorted: Vec<Cell>) -> Vec<Cell> {
    let mut kept: Vec<Cell> = Vec::with_capacity(sorted.len());
    for cell in sorted {
        if kept.last().is_some_and(|last| last.index == cell.index) {
            kept.pop();
        } else {
            kept.push(cell);
        }
    }
    kept
}
