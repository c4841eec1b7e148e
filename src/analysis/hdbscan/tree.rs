//! From the spanning tree to labels: the single-linkage hierarchy, the condensed tree of
//! clusters of at least `min_cluster_size`, and selection by excess of mass or leaves.

use super::mst::{DisjointSet, Edge};
use super::{HdbscanParams, Selection};

/// Single-linkage merge list: row i creates node n + i from `left`, `right` at `distance`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Merge {
    pub left: u32,
    pub right: u32,
    pub distance: f32,
    pub size: u32,
}

pub(crate) fn single_linkage(n: usize, mst: Vec<Edge>) -> Vec<Merge> {
    // Union-find whose roots remember the hierarchy node they currently stand for.
    let mut sets = DisjointSet::new(n);
    let mut node_of_root: Vec<u32> = (0..n as u32).collect();
    let mut size_of_root: Vec<u32> = vec![1; n];
    let mut merges = Vec::with_capacity(n.saturating_sub(1));
    for edge in mst {
        let (ra, rb) = (sets.find(edge.a), sets.find(edge.b));
        if ra == rb {
            continue;
        }
        let (left, right) = (node_of_root[ra as usize], node_of_root[rb as usize]);
        let size = size_of_root[ra as usize] + size_of_root[rb as usize];
        sets.union(ra, rb);
        let root = sets.find(ra);
        node_of_root[root as usize] = (n + merges.len()) as u32;
        size_of_root[root as usize] = size;
        merges.push(Merge {
            left,
            right,
            distance: edge.weight,
            size,
        });
    }
    merges
}

/// One edge of the condensed tree: `child` (a point < n, or a cluster ≥ n) leaves `parent` at
/// density `lambda` = 1 / distance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CondensedEdge {
    pub parent: u32,
    pub child: u32,
    pub lambda: f64,
    pub size: u32,
}

/// Densities are capped so duplicate points (distance 0) keep stabilities finite.
const MAX_LAMBDA: f64 = 1e10;

fn lambda_of(distance: f32) -> f64 {
    (1.0 / f64::from(distance)).min(MAX_LAMBDA)
}

/// Condenses the hierarchy: splits where both sides have ≥ `min_cluster_size` points make new
/// clusters; smaller sides are points falling out of their parent. Clusters are numbered from n
/// (the root) in creation order, so a child's number is always above its parent's.
pub(crate) fn condense(merges: &[Merge], n: usize, min_cluster_size: usize) -> Vec<CondensedEdge> {
    let node_count = n + merges.len();
    if merges.is_empty() {
        return Vec::new();
    }
    let root = node_count - 1;
    let size = |node: u32| -> u32 {
        if (node as usize) < n {
            1
        } else {
            merges[node as usize - n].size
        }
    };
    let mut relabel: Vec<u32> = vec![u32::MAX; node_count];
    relabel[root] = n as u32;
    let mut next_label = n as u32 + 1;
    let mut result = Vec::with_capacity(n * 2);
    let mut stack = Vec::new();
    let mut fall_out = |subtree: u32, parent: u32, lambda: f64, out: &mut Vec<CondensedEdge>| {
        stack.push(subtree);
        while let Some(node) = stack.pop() {
            if (node as usize) < n {
                out.push(CondensedEdge {
                    parent,
                    child: node,
                    lambda,
                    size: 1,
                });
            } else {
                let merge = merges[node as usize - n];
                stack.push(merge.left);
                stack.push(merge.right);
            }
        }
    };
    // Parents have higher node numbers than their children: walk from the root down.
    for node in (n..node_count).rev() {
        let label = relabel[node];
        if label == u32::MAX {
            continue; // inside a subtree that already fell out
        }
        let merge = merges[node - n];
        let lambda = lambda_of(merge.distance);
        let (left, right) = (merge.left, merge.right);
        let (left_size, right_size) = (size(left), size(right));
        let big = min_cluster_size as u32;
        match (left_size >= big, right_size >= big) {
            (true, true) => {
                for (child, child_size) in [(left, left_size), (right, right_size)] {
                    relabel[child as usize] = next_label;
                    result.push(CondensedEdge {
                        parent: label,
                        child: next_label,
                        lambda,
                        size: child_size,
                    });
                    next_label += 1;
                }
            }
            (false, false) => {
                fall_out(left, label, lambda, &mut result);
                fall_out(right, label, lambda, &mut result);
            }
            (true, false) => {
                relabel[left as usize] = label;
                fall_out(right, label, lambda, &mut result);
            }
            (false, true) => {
                relabel[right as usize] = label;
                fall_out(left, label, lambda, &mut result);
            }
        }
    }
    result
}

/// Selects clusters from the condensed tree and labels every point (−1 = noise).
pub(crate) fn select_and_label(
    condensed: &[CondensedEdge],
    n: usize,
    params: &HdbscanParams,
) -> Vec<i32> {
    if condensed.is_empty() {
        return vec![-1; n];
    }
    let root = n as u32;
    let cluster_count = condensed
        .iter()
        .map(|edge| edge.parent.max(edge.child))
        .max()
        .map_or(1, |max| (max - root + 1) as usize);
    let index = |cluster: u32| (cluster - root) as usize;
    let mut parent_of = vec![u32::MAX; cluster_count];
    let mut birth = vec![0.0f64; cluster_count]; // lambda at which each cluster appears
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); cluster_count];
    let mut stability = vec![0.0f64; cluster_count];
    for edge in condensed.iter().filter(|edge| edge.child >= root) {
        parent_of[index(edge.child)] = edge.parent;
        birth[index(edge.child)] = edge.lambda;
        children[index(edge.parent)].push(edge.child);
    }
    for edge in condensed {
        let parent = index(edge.parent);
        stability[parent] += (edge.lambda - birth[parent]) * f64::from(edge.size);
    }

    let mut selected = vec![false; cluster_count];
    match params.selection {
        Selection::Eom => {
            let mut best = stability.clone();
            // Children are numbered above their parents: go from the leaves up.
            for cluster in (0..cluster_count).rev() {
                if cluster == 0 && !params.allow_single_cluster {
                    break;
                }
                let subtree: f64 = children[cluster].iter().map(|&c| best[index(c)]).sum();
                if children[cluster].is_empty() || stability[cluster] >= subtree {
                    selected[cluster] = true;
                    best[cluster] = stability[cluster];
                    deselect_below(cluster, &children, &mut selected, root);
                } else {
                    best[cluster] = subtree;
                }
            }
        }
        Selection::Leaf => {
            for cluster in 1..cluster_count {
                selected[cluster] = children[cluster].is_empty();
            }
            if cluster_count == 1 && params.allow_single_cluster {
                selected[0] = true;
            }
        }
    }
    if params.cluster_selection_epsilon > 0.0 {
        epsilon_merge(&mut selected, &parent_of, &birth, &children, params, root);
    }

    // Label clusters 0..k in cluster-number order; points take the selected cluster above the
    // cluster they fell out of.
    let mut label_of = vec![-1i32; cluster_count];
    let mut next = 0;
    for cluster in 0..cluster_count {
        if selected[cluster] {
            label_of[cluster] = next;
            next += 1;
        }
    }
    let mut owner: Vec<i32> = vec![-1; cluster_count];
    for cluster in 0..cluster_count {
        owner[cluster] = if selected[cluster] {
            label_of[cluster]
        } else if cluster == 0 {
            -1
        } else {
            owner[index(parent_of[cluster])]
        };
    }
    let single_root = selected[0];
    let root_threshold = if single_root {
        if params.cluster_selection_epsilon > 0.0 {
            1.0 / params.cluster_selection_epsilon
        } else {
            condensed
                .iter()
                .filter(|edge| edge.parent == root && edge.child < root)
                .map(|edge| edge.lambda)
                .fold(0.0, f64::max)
        }
    } else {
        0.0
    };
    let mut labels = vec![-1i32; n];
    for edge in condensed.iter().filter(|edge| edge.child < root) {
        let cluster = index(edge.parent);
        labels[edge.child as usize] = if cluster == 0 && single_root {
            // A single root cluster keeps only its dense core (as the reference implementation).
            if edge.lambda >= root_threshold {
                owner[0]
            } else {
                -1
            }
        } else {
            owner[cluster]
        };
    }
    labels
}

fn deselect_below(cluster: usize, children: &[Vec<u32>], selected: &mut [bool], root: u32) {
    let mut stack: Vec<u32> = children[cluster].clone();
    while let Some(child) = stack.pop() {
        let child = (child - root) as usize;
        selected[child] = false;
        stack.extend(children[child].iter().copied());
    }
}

/// Replaces each selected cluster born below distance epsilon by its lowest ancestor born above
/// it, so no two clusters closer than epsilon stay apart. The root's children are the limit
/// unless a single cluster is allowed.
fn epsilon_merge(
    selected: &mut [bool],
    parent_of: &[u32],
    birth: &[f64],
    children: &[Vec<u32>],
    params: &HdbscanParams,
    root: u32,
) {
    let epsilon = params.cluster_selection_epsilon;
    let distance = |cluster: usize| {
        if birth[cluster] > 0.0 {
            1.0 / birth[cluster]
        } else {
            f64::INFINITY
        }
    };
    let chosen: Vec<usize> = (0..selected.len()).filter(|&c| selected[c]).collect();
    let mut result = vec![false; selected.len()];
    let mut covered = vec![false; selected.len()];
    for cluster in chosen {
        if covered[cluster] {
            continue;
        }
        let mut target = cluster;
        if cluster != 0 && distance(cluster) < epsilon {
            loop {
                let parent = (parent_of[target] - root) as usize;
                if parent == 0 {
                    if params.allow_single_cluster {
                        target = 0;
                    }
                    break;
                }
                target = parent;
                if distance(parent) > epsilon {
                    break;
                }
            }
        }
        result[target] = true;
        let mut stack: Vec<u32> = children[target].clone();
        while let Some(child) = stack.pop() {
            let child = (child - root) as usize;
            covered[child] = true;
            result[child] = false;
            stack.extend(children[child].iter().copied());
        }
    }
    selected.copy_from_slice(&result);
}
