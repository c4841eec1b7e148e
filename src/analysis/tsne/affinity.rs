//! Input similarities P: a Gaussian over each point's nearest neighbours whose bandwidth gives the
//! requested perplexity, symmetrised and normalised to sum to 1 (sparse, CSR).

use rayon::prelude::*;

use super::knn::Neighbour;

/// Symmetric sparse joint probabilities; row `i` holds `columns[rows[i]..rows[i + 1]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Affinities {
    pub rows: Vec<usize>,
    pub columns: Vec<u32>,
    pub values: Vec<f64>,
}

/// Conditional probabilities p(j|i) over one neighbour list (binary search on the precision).
fn conditional(neighbours: &[Neighbour], perplexity: f64) -> Vec<f64> {
    let target_entropy = perplexity.ln();
    let Some(min) = neighbours
        .iter()
        .map(|n| f64::from(n.sq_distance))
        .reduce(f64::min)
    else {
        return Vec::new();
    };
    // Shifting by the nearest distance keeps exp() from underflowing on far-out points.
    let shifted: Vec<f64> = neighbours
        .iter()
        .map(|n| f64::from(n.sq_distance) - min)
        .collect();
    let mut weights = vec![0.0; shifted.len()];
    let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
    for _ in 0..200 {
        let mut sum = 0.0;
        let mut weighted = 0.0;
        for (w, &d) in weights.iter_mut().zip(&shifted) {
            *w = (-beta * d).exp();
            sum += *w;
            weighted += *w * d;
        }
        let entropy = sum.ln() + beta * weighted / sum;
        let error = entropy - target_entropy;
        if error.abs() < 1e-6 {
            break;
        }
        if error > 0.0 {
            // Too flat: sharpen.
            lo = beta;
            beta = if hi.is_finite() {
                (beta + hi) / 2.0
            } else {
                beta * 2.0
            };
        } else {
            hi = beta;
            beta = (beta + lo) / 2.0;
        }
    }
    let sum: f64 = weights.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        weights.iter_mut().for_each(|w| *w /= sum);
    } else {
        let uniform = 1.0 / weights.len() as f64;
        weights.iter_mut().for_each(|w| *w = uniform);
    }
    weights
}

/// Builds P = (P(j|i) + P(i|j)) / 2n from each point's neighbour list.
pub fn joint_probabilities(neighbours: &[Vec<Neighbour>], perplexity: f64) -> Affinities {
    let n = neighbours.len();
    let conditionals: Vec<Vec<f64>> = neighbours
        .par_iter()
        .map(|row| conditional(row, perplexity))
        .collect();

    // Every (i → j, p) lands in row i and in row j; count first, then fill in a fixed order.
    let mut counts = vec![0usize; n + 1];
    for (i, row) in neighbours.iter().enumerate() {
        counts[i] += row.len();
        for neighbour in row {
            counts[neighbour.index as usize] += 1;
        }
    }
    let mut starts = vec![0usize; n + 1];
    for i in 0..n {
        starts[i + 1] = starts[i] + counts[i];
    }
    let total = starts[n];
    let mut columns = vec![0u32; total];
    let mut values = vec![0.0f64; total];
    let mut cursor = starts.clone();
    let scale = 1.0 / (2.0 * n as f64);
    for (i, (row, probabilities)) in neighbours.iter().zip(&conditionals).enumerate() {
        for (neighbour, &p) in row.iter().zip(probabilities) {
            let j = neighbour.index as usize;
            columns[cursor[i]] = j as u32;
            values[cursor[i]] = p * scale;
            cursor[i] += 1;
            columns[cursor[j]] = i as u32;
            values[cursor[j]] = p * scale;
            cursor[j] += 1;
        }
    }

    // Sort each row by column and merge the duplicates (pairs that are mutual neighbours).
    let merged: Vec<Vec<(u32, f64)>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let range = starts[i]..starts[i + 1];
            let mut entries: Vec<(u32, f64)> = columns[range.clone()]
                .iter()
                .copied()
                .zip(values[range].iter().copied())
                .collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let mut out: Vec<(u32, f64)> = Vec::with_capacity(entries.len());
            for (column, value) in entries {
                match out.last_mut() {
                    Some(last) if last.0 == column => last.1 += value,
                    _ => out.push((column, value)),
                }
            }
            out
        })
        .collect();
    drop((columns, values));
    let mut rows = Vec::with_capacity(n + 1);
    rows.push(0);
    let nnz: usize = merged.iter().map(Vec::len).sum();
    let mut columns = Vec::with_capacity(nnz);
    let mut values = Vec::with_capacity(nnz);
    for row in merged {
        for (column, value) in row {
            columns.push(column);
            values.push(value);
        }
        rows.push(columns.len());
    }
    Affinities {
        rows,
        columns,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbour(index: u32, sq_distance: f32) -> Neighbour {
        Neighbour { index, sq_distance }
    }

    #[test]
    fn conditional_hits_the_perplexity() {
        let row: Vec<Neighbour> = (0..90)
            .map(|j| neighbour(j + 1, 0.1 + j as f32 * 0.01))
            .collect();
        let p = conditional(&row, 30.0);
        let entropy: f64 = -p
            .iter()
            .filter(|&&x| x > 0.0)
            .map(|x| x * x.ln())
            .sum::<f64>();
        assert!((entropy.exp() - 30.0).abs() < 0.01, "{}", entropy.exp());
    }

    #[test]
    fn joint_probabilities_are_symmetric_and_sum_to_one() {
        let neighbours = vec![
            vec![neighbour(1, 0.1), neighbour(2, 0.4)],
            vec![neighbour(0, 0.1), neighbour(2, 0.2)],
            vec![neighbour(1, 0.2), neighbour(0, 0.4)],
        ];
        let p = joint_probabilities(&neighbours, 1.5);
        let total: f64 = p.values.iter().sum();
        assert!((total - 1.0).abs() < 1e-9);
        let get = |i: usize, j: u32| {
            (p.rows[i]..p.rows[i + 1])
                .find(|&e| p.columns[e] == j)
                .map(|e| p.values[e])
        };
        for i in 0..3 {
            for j in 0..3u32 {
                assert_eq!(get(i, j), get(j as usize, i as u32));
            }
        }
    }
}
