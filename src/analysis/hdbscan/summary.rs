//! Per-cluster size, medoid and centroid.

use ndarray::{Array2, ArrayView1, s};
use rand::SeedableRng;
use rayon::prelude::*;

use super::{ClusterSummary, HdbscanError, MEDOID_SAMPLE};
use crate::analysis::knn::{Points, dot};
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
        let totals = match screened_totals(points, &candidates) {
            Some(totals) => totals,
            None => distance_totals(points, &candidates),
        };
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

/// For each of `rows`, the sum of its Euclidean distances to all of `rows`. Gram matrix blocks
/// (GEMM) instead of m² separate distances, a block of rows per task so every core works;
/// ‖a‖² + ‖b‖² − 2a·b loses a little precision for near-identical vectors, which does not
/// matter for a sum over a whole cluster.
fn distance_totals(points: Points<'_>, rows: &[usize]) -> Vec<f64> {
    const ROWS_PER_TASK: usize = 256;
    let mut block = Array2::<f32>::zeros((rows.len(), points.dim()));
    for (mut row, &i) in block.rows_mut().into_iter().zip(rows) {
        row.assign(&ArrayView1::from(points.row(i)));
    }
    let norms: Vec<f32> = block.rows().into_iter().map(|row| row.dot(&row)).collect();
    let starts: Vec<usize> = (0..rows.len()).step_by(ROWS_PER_TASK).collect();
    starts
        .into_par_iter()
        .flat_map_iter(|start| {
            let end = (start + ROWS_PER_TASK).min(rows.len());
            let gram = block.slice(s![start..end, ..]).dot(&block.t());
            let norms = &norms;
            (start..end).map(move |i| {
                gram.row(i - start)
                    .iter()
                    .zip(norms)
                    .map(|(&dot, &norm)| f64::from((norms[i] + norm - 2.0 * dot).max(0.0).sqrt()))
                    .sum()
            })
        })
        .collect()
}

/// Clusters from this many members get their totals screened by bf16 products.
const SCREEN_MIN_MEMBERS: usize = 256;

/// [`distance_totals`] screened by bf16 products where the CPU has a bf16 unit: every row's total
/// is bounded from the screened distances (each within its error bound, see
/// [`crate::analysis::knn::bf16`]), and only the rows whose lower bound does not exceed the least
/// upper bound get an exact total; the others get +∞, as they cannot be the medoid. `None` where
/// there is no bf16 unit, too few rows to pay for it, or too many rows left open.
fn screened_totals(points: Points<'_>, rows: &[usize]) -> Option<Vec<f64>> {
    use crate::analysis::knn::bf16::{self, BLOCK};
    if rows.len() < SCREEN_MIN_MEMBERS {
        return None;
    }
    let dim = points.dim();
    let gathered: Vec<f32> = rows.iter().flat_map(|&i| points.row(i)).copied().collect();
    let members = Points::new(&gathered, dim).ok()?;
    let packed = bf16::Bf16Points::pack(members)?;
    let m = rows.len();
    let norms: Vec<f32> = (0..m)
        .map(|i| dot(members.row(i), members.row(i)))
        .collect();
    let max_slack = packed.max_slack();
    // (lower, upper) bound of each row's total.
    let bounds: Vec<(f64, f64)> = (0..packed.blocks())
        .into_par_iter()
        .flat_map_iter(|query| {
            let unit = bf16::Bf16Unit::start(&packed);
            let rows_here = query * BLOCK..((query + 1) * BLOCK).min(m);
            let mut sums = vec![(0f64, 0f64); rows_here.len()];
            let mut out = [0f32; BLOCK * BLOCK];
            for target in 0..packed.blocks() {
                unit.products(&packed, packed.query_rows(query), target, &mut out, BLOCK);
                let columns = target * BLOCK..((target + 1) * BLOCK).min(m);
                for (slot, i) in rows_here.clone().enumerate() {
                    let slack = packed.slack(i) + max_slack;
                    let (mut low, mut high) = (0f32, 0f32);
                    for (offset, j) in columns.clone().enumerate() {
                        let screened = norms[i] + norms[j] - 2.0 * out[slot * BLOCK + offset];
                        low += (screened - slack).max(0.0).sqrt();
                        high += (screened + slack).max(0.0).sqrt();
                    }
                    sums[slot].0 += f64::from(low);
                    sums[slot].1 += f64::from(high);
                }
            }
            drop(unit);
            sums
        })
        .collect();
    // f32 sums of 32 terms: widen each bound by a relative 1e-5 before comparing.
    let least_upper = bounds
        .iter()
        .map(|&(_, high)| high * (1.0 + 1e-5))
        .fold(f64::INFINITY, f64::min);
    let open = |low: f64| low * (1.0 - 1e-5) <= least_upper;
    // Where the bounds leave many rows open (an even cloud), one f32 Gram matrix is cheaper
    // than their totals one row at a time.
    if bounds.iter().filter(|&&(low, _)| open(low)).count() * 8 > m {
        return None;
    }
    Some(
        bounds
            .par_iter()
            .enumerate()
            .map(|(i, &(low, _))| {
                if !open(low) {
                    return f64::INFINITY;
                }
                (0..m)
                    .map(|j| {
                        let product = dot(members.row(i), members.row(j));
                        f64::from((norms[i] + norms[j] - 2.0 * product).max(0.0).sqrt())
                    })
                    .sum()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn screened_totals_pick_the_same_medoid_as_the_exact_totals() {
        if crate::analysis::knn::bf16::kind().is_none() {
            eprintln!("no bf16 unit here: the screened totals are not exercised");
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let (n, dim) = (900, 40);
        // A tight core of 30 points (near-ties for the medoid) inside a loose cloud.
        let data: Vec<f32> = (0..n * dim)
            .map(|i| {
                let spread = if (i / dim) % 30 == 0 { 0.05 } else { 1.0 };
                spread * (rng.random::<f32>() - 0.5)
            })
            .collect();
        let points = Points::new(&data, dim).expect("points");
        let rows: Vec<usize> = (0..n).filter(|i| i % 5 != 1).collect();
        let exact = distance_totals(points, &rows);
        let screened = screened_totals(points, &rows).expect("screened");
        let argmin = |totals: &[f64]| {
            (0..totals.len())
                .min_by(|&a, &b| totals[a].total_cmp(&totals[b]).then(a.cmp(&b)))
                .expect("rows")
        };
        assert_eq!(argmin(&screened), argmin(&exact));
        let kept = screened.iter().filter(|t| t.is_finite()).count();
        assert!(kept >= 1 && kept * 8 <= rows.len(), "{kept} rows kept");
        for (s, e) in screened.iter().zip(&exact) {
            assert!(s.is_infinite() || (s - e).abs() <= 1e-3 * e, "{s} vs {e}");
        }
    }
}
