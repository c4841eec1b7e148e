//! Greedy search over a k-NN graph, for the nearest point outside a set.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use rayon::prelude::*;

use super::descent::less;
use super::{Knn, Points, euclidean};

/// The k-NN graph made searchable: each point links to its k nearest and to up to k points that
/// have it among theirs (the reverse links let a search leave dense regions).
pub struct GraphIndex {
    links: Vec<Vec<u32>>,
    /// Expansions before a search gives up (the caller then searches exhaustively).
    budget: usize,
}

impl GraphIndex {
    pub fn new(knn: &Knn) -> Self {
        let n = knn.len();
        let mut reverse: Vec<Vec<(f32, u32)>> = vec![Vec::new(); n];
        for i in 0..n {
            let (indices, distances) = knn.neighbours(i);
            for (&j, &d) in indices.iter().zip(distances) {
                reverse[j as usize].push((d, i as u32));
            }
        }
        let links = reverse
            .into_par_iter()
            .enumerate()
            .map(|(i, mut back)| {
                back.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let forward = knn.neighbours(i).0;
                let mut all = forward.to_vec();
                all.extend(
                    back.iter()
                        .map(|&(_, j)| j)
                        .filter(|j| !forward.contains(j))
                        .take(knn.k),
                );
                all
            })
            .collect();
        // About half an exhaustive scan's distance evaluations.
        let budget = (n / (4 * knn.k.max(1))).max(64);
        Self { links, budget }
    }

    /// Up to `want` nearest points to point `from` for which `keep` is true, by best-first search
    /// from `from` over the graph. `None` when the search ran out of budget before settling (the
    /// caller then searches exhaustively), so what it returns is rarely a poor answer.
    pub fn nearest_where(
        &self,
        points: Points<'_>,
        from: usize,
        want: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Option<Vec<(f32, u32)>> {
        let width = want.max(8);
        let query = points.row(from);
        let mut visited: HashSet<u32> = HashSet::with_capacity(self.budget * 8);
        let mut frontier: BinaryHeap<Reverse<(OrderedDistance, u32)>> = BinaryHeap::new();
        let mut found: Vec<(f32, u32)> = Vec::with_capacity(width + 1);
        visited.insert(from as u32);
        frontier.push(Reverse((OrderedDistance(0.0), from as u32)));
        let mut expansions = 0;
        while let Some(Reverse((OrderedDistance(distance), node))) = frontier.pop() {
            let worst = if found.len() < width {
                f32::INFINITY
            } else {
                found.last().map_or(f32::INFINITY, |f| f.0)
            };
            if distance > worst {
                break;
            }
            if expansions >= self.budget {
                return None;
            }
            expansions += 1;
            for &next in &self.links[node as usize] {
                if !visited.insert(next) {
                    continue;
                }
                let d = euclidean(query, points.row(next as usize));
                if keep(next as usize) && d < worst {
                    let at = found.partition_point(|f| less((f.0, f.1), (d, next)));
                    found.insert(at, (d, next));
                    found.truncate(width);
                }
                if d < worst {
                    frontier.push(Reverse((OrderedDistance(d), next)));
                }
            }
        }
        found.truncate(want);
        Some(found)
    }
}

/// Distances ordered totally, for the search heap.
#[derive(Clone, Copy, PartialEq)]
struct OrderedDistance(f32);

impl Eq for OrderedDistance {}

impl PartialOrd for OrderedDistance {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedDistance {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
