//! Agreement between two clusterings of the same invocations (e.g. by two embedding models):
//! adjusted Rand index and normalised mutual information. Both are a few lines over a
//! contingency table; no maintained crate offers them without pulling in a whole ML stack.

use std::collections::HashMap;

/// Adjusted Rand index between two labelings (noise −1 counts as one more label).
pub fn adjusted_rand_index(a: &[i32], b: &[i32]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 1.0;
    }
    let mut table: HashMap<(i32, i32), u64> = HashMap::new();
    let mut rows: HashMap<i32, u64> = HashMap::new();
    let mut cols: HashMap<i32, u64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b).take(n) {
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let pairs = |count: u64| (count * count.saturating_sub(1)) as f64 / 2.0;
    let index: f64 = table.values().map(|&c| pairs(c)).sum();
    let sum_rows: f64 = rows.values().map(|&c| pairs(c)).sum();
    let sum_cols: f64 = cols.values().map(|&c| pairs(c)).sum();
    let expected = sum_rows * sum_cols / pairs(n as u64);
    let maximum = (sum_rows + sum_cols) / 2.0;
    if (maximum - expected).abs() < f64::EPSILON {
        return 1.0;
    }
    (index - expected) / (maximum - expected)
}

/// Normalised mutual information with the arithmetic-mean normalisation
/// (`2·I(A;B) / (H(A) + H(B))`), in [0, 1]. Two single-cluster labelings agree perfectly (1).
pub fn normalized_mutual_information(a: &[i32], b: &[i32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 1.0;
    }
    let mut table: HashMap<(i32, i32), f64> = HashMap::new();
    let mut rows: HashMap<i32, f64> = HashMap::new();
    let mut cols: HashMap<i32, f64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b).take(n) {
        *table.entry((x, y)).or_default() += 1.0;
        *rows.entry(x).or_default() += 1.0;
        *cols.entry(y).or_default() += 1.0;
    }
    let total = n as f64;
    let entropy = |counts: &HashMap<i32, f64>| -> f64 {
        counts
            .values()
            .map(|&c| {
                let p = c / total;
                -p * p.ln()
            })
            .sum()
    };
    let (h_a, h_b) = (entropy(&rows), entropy(&cols));
    if h_a + h_b <= f64::EPSILON {
        return 1.0;
    }
    let mutual: f64 = table
        .iter()
        .map(|(&(x, y), &c)| {
            let p = c / total;
            p * (p / ((rows[&x] / total) * (cols[&y] / total))).ln()
        })
        .sum();
    (2.0 * mutual / (h_a + h_b)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_partitions_agree_whatever_the_names() {
        let a = [0, 0, 1, 1, 2, 2];
        let renamed = [5, 5, 3, 3, -1, -1];
        assert!((normalized_mutual_information(&a, &renamed) - 1.0).abs() < 1e-12);
        assert!((adjusted_rand_index(&a, &renamed) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn independent_partitions_share_no_information() {
        // Every cell of the 2×2 contingency table holds the same count: I(A;B) = 0.
        let a = [0, 0, 1, 1, 0, 0, 1, 1];
        let b = [0, 1, 0, 1, 0, 1, 0, 1];
        assert!(normalized_mutual_information(&a, &b).abs() < 1e-12);
        assert!(adjusted_rand_index(&a, &b) < 0.0 + 1e-9);
    }

    #[test]
    fn known_value_for_a_refinement() {
        // B splits A's second cluster in two. H(A) = ln 2, H(B) = 1.5 ln 2, I = ln 2.
        let a = [0, 0, 1, 1];
        let b = [0, 0, 1, 2];
        let expected = 2.0 * 2f64.ln() / (2f64.ln() + 1.5 * 2f64.ln());
        assert!((normalized_mutual_information(&a, &b) - expected).abs() < 1e-12);
    }

    #[test]
    fn ari_is_one_for_relabelings_and_near_zero_for_unrelated() {
        let a = [0, 0, 1, 1, 2, 2, -1];
        let b = [5, 5, 3, 3, 9, 9, 4];
        assert!((adjusted_rand_index(&a, &b) - 1.0).abs() < 1e-12);
        let c = [0, 1, 0, 1, 0, 1, 0];
        assert!(adjusted_rand_index(&a, &c) < 0.2);
    }
}
