//! Per-cluster size, medoid and centroid.

use ndarray::{Array2, ArrayView1};
use rand::SeedableRng;
use rayon::prelude::*;

use super::{ClusterSummary, HdbscanError, MEDOID_SAMPLE};
use crate::analysis::knn::Points;
use crate::progress::{Control, Phase};

/// Size, medoid and centroid of each cluster. The medoid is the member with the least total
/// distance to the other members: exact for clusters of up to [`MEDOID_SAMPLE`] members, else
/// over a seeded random sample of that many members (the sample's own medoid).
pub fn summarise(
    points: Points<'_>,
    labels: &[i32],
    seed: u64,
    control: &Control<'_>,
) -> Result<Vec<ClusterSummary>, HdbscanError> {
    let cluster_count = labels
        .iter()
        .copied()
        .max()
        .map_or(0, |max| (max + 1).max(0) as usize);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); cluster_count];
    for (i, &label) in labels.iter().enumerate() {
        if label >= 0 {
            members[label as usize].push(i);
        }
    }
    let dim = points.dim();
    let mut summaries = Vec::with_capacity(cluster_count);
    control.report(Phase::Summaries, 0.0);
    for (label, list) in members.iter().enumerate() {
        control.check()?;
        let mut centroid = vec![0f64; dim];
        for &i in list {
            for (sum, value) in centroid.iter_mut().zip(points.row(i)) {
                *sum += f64::from(*value);
            }
        }
        let count = list.len().max(1) as f64;
        let centroid: Vec<f32> = centroid.iter().map(|sum| (sum / count) as f32).collect();
        let candidates: Vec<usize> = if list.len() > MEDOID_SAMPLE {
            // Seeded per cluster so one cluster's sample does not depend on the others.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                seed ^ (label as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut picked: Vec<usize> =
                rand::seq::index::sample(&mut rng, list.len(), MEDOID_SAMPLE)
                    .into_iter()
                    .map(|i| list[i])
                    .collect();
            picked.sort_unstable();
            picked
        } else {
            list.clone()
        };
        let totals = distance_totals(points, &candidates);
        let medoid = totals
            .iter()
            .zip(&candidates)
            .min_by(|a, b| a.0.total_cmp(b.0).then(a.1.cmp(b.1)))
            .map_or(0, |(_, &i)| i);
        summaries.push(ClusterSummary {
            label: label as i32,
            size: list.len(),
            medoid,
            centroid,
        });
        control.report(Phase::Summaries, (label + 1) as f64 / cluster_count as f64);
    }
    control.report(Phase::Summaries, 1.0);
    Ok(summaries)
}

/// For each of `rows`, the sum of its Euclidean distances to all of `rows`. One Gram matrix
/// (GEMM) instead of m² separate distances; ‖a‖² + ‖b‖² − 2a·b loses a little precision for
/// near-identical vectors, which does not matter for a sum over a whole cluster.
fn distance_totals(points: Points<'_>, rows: &[usize]) -> Vec<f64> {
    let mut block = Array2::<f32>::zeros((rows.len(), points.dim()));
    for (mut row, &i) in block.rows_mut().into_iter().zip(rows) {
        row.assign(&ArrayView1::from(points.row(i)));
    }
    let gram = block.dot(&block.t());
    let norms: Vec<f32> = (0..rows.len()).map(|i| gram[[i, i]]).collect();
    (0..rows.len())
        .into_par_iter()
        .map(|i| {
            gram.row(i)
                .iter()
                .zip(&norms)
                .map(|(&dot, &norm)| f64::from((norms[i] + norm - 2.0 * dot).max(0.0).sqrt()))
                .sum()
        })
        .collect()
}
