//! Analyses of one run's cluster-label sequence: run-length encoding, transitions, stable runs,
//! bigrams, stages and returns to the initial cluster.
//!
//! Every function here takes one run's labels in step order, so nothing can cross a run
//! boundary; aggregation over runs happens in [`super::report`]. Outliers are label
//! [`OUTLIER`]; when they are excluded they are dropped *before* the analysis, so `A, ⊥, A`
//! counts as one stable run of A (as the old tool did).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::OUTLIER;

/// The labels an analysis sees: all of them, or all but outliers.
pub fn visible_labels(labels: &[i32], include_outliers: bool) -> Vec<i32> {
    if include_outliers {
        labels.to_vec()
    } else {
        labels.iter().copied().filter(|&l| l != OUTLIER).collect()
    }
}

/// Run-length encoding: `A A B B B A` → `[(A,2), (B,3), (A,1)]`.
pub fn run_lengths(labels: &[i32]) -> Vec<(i32, u32)> {
    let mut segments: Vec<(i32, u32)> = Vec::new();
    for &label in labels {
        match segments.last_mut() {
            Some((last, count)) if *last == label => *count += 1,
            _ => segments.push((label, 1)),
        }
    }
    segments
}

/// Transition counts between different clusters (self-transitions removed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TransitionCounts {
    /// (from, to) → count; `from != to` always.
    pub counts: BTreeMap<(i32, i32), u64>,
}

impl TransitionCounts {
    /// Adds one run's transitions.
    pub fn add_run(&mut self, labels: &[i32]) {
        for pair in run_lengths(labels).windows(2) {
            *self.counts.entry((pair[0].0, pair[1].0)).or_insert(0) += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Every state that appears, sorted (outliers first when present).
    pub fn states(&self) -> Vec<i32> {
        let mut states: Vec<i32> = self.counts.keys().flat_map(|&(a, b)| [a, b]).collect();
        states.sort_unstable();
        states.dedup();
        states
    }

    /// Dense matrix over `states`: `counts[i][j]` = transitions from `states[i]` to `states[j]`.
    pub fn matrix(&self, states: &[i32]) -> Vec<Vec<u64>> {
        let index: BTreeMap<i32, usize> = states.iter().enumerate().map(|(i, &s)| (s, i)).collect();
        let mut matrix = vec![vec![0u64; states.len()]; states.len()];
        for (&(from, to), &count) in &self.counts {
            if let (Some(&i), Some(&j)) = (index.get(&from), index.get(&to)) {
                matrix[i][j] += count;
            }
        }
        matrix
    }

    /// Row-normalised matrix: the probability of moving to each other state, given a move
    /// out of the row's state. Rows without moves are all zero.
    pub fn probabilities(&self, states: &[i32]) -> Vec<Vec<f64>> {
        self.matrix(states)
            .into_iter()
            .map(|row| {
                let total: u64 = row.iter().sum();
                row.into_iter()
                    .map(|c| {
                        if total == 0 {
                            0.0
                        } else {
                            c as f64 / total as f64
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The `n` most frequent bigrams of consecutive distinct clusters, most frequent first
    /// (ties by label order, so the answer is deterministic).
    pub fn top(&self, n: usize) -> Vec<((i32, i32), u64)> {
        let mut all: Vec<((i32, i32), u64)> = self.counts.iter().map(|(&k, &v)| (k, v)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

/// The longest stretch a run stays in one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StableRun {
    /// Length of the first segment (the run's stay in its initial cluster).
    pub from_start: u32,
    /// Length of the longest segment anywhere in the run.
    pub anywhere: u32,
    /// The cluster of that longest segment (the earliest one on ties).
    pub anywhere_label: i32,
    /// Where that segment starts (position among the labels seen).
    pub anywhere_start: u32,
}

/// Stable runs of one sequence; `None` when it is empty.
pub fn stable_run(labels: &[i32]) -> Option<StableRun> {
    let segments = run_lengths(labels);
    let first = segments.first()?;
    let mut best = StableRun {
        from_start: first.1,
        anywhere: first.1,
        anywhere_label: first.0,
        anywhere_start: 0,
    };
    let mut start = 0;
    for &(label, length) in &segments {
        if length > best.anywhere {
            best.anywhere = length;
            best.anywhere_label = label;
            best.anywhere_start = start;
        }
        start += length;
    }
    Some(best)
}

/// Stage names, in order.
pub const STAGES: [&str; 3] = ["beginning", "middle", "end"];

/// Which third of a run of `len` labels position `i` falls in (0, 1, 2). Thirds differ by at
/// most one (7 → 3/2/2) and none is empty once `len` ≥ 3.
pub fn stage_of(i: usize, len: usize) -> usize {
    (i * STAGES.len()) / len.max(1)
}

/// Label counts per stage for one run: `[beginning, middle, end]`.
pub fn stage_counts(labels: &[i32]) -> [BTreeMap<i32, u64>; 3] {
    let mut stages: [BTreeMap<i32, u64>; 3] = Default::default();
    for (i, &label) in labels.iter().enumerate() {
        *stages[stage_of(i, labels.len())].entry(label).or_insert(0) += 1;
    }
    stages
}

/// Does a run come back to the cluster of its first output, and when?
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReturnToInitial {
    pub initial: i32,
    /// Outputs after the first one at which the run is next in its initial cluster after
    /// having left it (`A A B B B A` → 5); `None` if it never leaves or never comes back.
    pub steps_to_return: Option<u32>,
    /// How often it comes back (each re-entry counts once).
    pub returns: u32,
    /// Fraction of its outputs in the initial cluster.
    pub initial_fraction: f64,
}

pub fn return_to_initial(labels: &[i32]) -> Option<ReturnToInitial> {
    let &initial = labels.first()?;
    let mut left = false;
    let mut first_return = None;
    let mut returns = 0;
    let mut previous = initial;
    for (i, &label) in labels.iter().enumerate().skip(1) {
        if label != initial {
            left = true;
        } else if left && previous != initial {
            returns += 1;
            first_return.get_or_insert(i as u32);
        }
        previous = label;
    }
    let in_initial = labels.iter().filter(|&&l| l == initial).count();
    Some(ReturnToInitial {
        initial,
        steps_to_return: first_return,
        returns,
        initial_fraction: in_initial as f64 / labels.len() as f64,
    })
}

/// Fraction of labels that are outliers (0 for an empty run).
pub fn outlier_fraction(labels: &[i32]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    labels.iter().filter(|&&l| l == OUTLIER).count() as f64 / labels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: i32 = 0;
    const B: i32 = 1;
    const C: i32 = 2;
    const O: i32 = OUTLIER;

    #[test]
    fn run_length_encoding_of_the_documented_example() {
        assert_eq!(
            run_lengths(&[A, A, B, B, B, A]),
            vec![(A, 2), (B, 3), (A, 1)]
        );
        // The old tool's pinned example: A×5 B×3 A×2 C×4 B×4 A×2.
        let mut labels = Vec::new();
        for (label, n) in [(A, 5), (B, 3), (A, 2), (C, 4), (B, 4), (A, 2)] {
            labels.extend(std::iter::repeat_n(label, n));
        }
        let lengths: Vec<u32> = run_lengths(&labels).iter().map(|s| s.1).collect();
        assert_eq!(lengths, vec![5, 3, 2, 4, 4, 2]);
        assert!(run_lengths(&[]).is_empty());
    }

    #[test]
    fn transitions_drop_self_transitions_and_never_cross_runs() {
        let mut transitions = TransitionCounts::default();
        transitions.add_run(&[A, A, B, B, B, A]);
        assert_eq!(transitions.counts.get(&(A, B)), Some(&1));
        assert_eq!(transitions.counts.get(&(B, A)), Some(&1));
        assert_eq!(transitions.total(), 2);
        // A second run starting in C: the previous run's last A must not lead into it.
        transitions.add_run(&[C, C, A]);
        assert_eq!(transitions.counts.get(&(A, C)), None);
        assert_eq!(transitions.counts.get(&(C, A)), Some(&1));
        let states = transitions.states();
        assert_eq!(states, vec![A, B, C]);
        assert_eq!(
            transitions.matrix(&states),
            vec![vec![0, 1, 0], vec![1, 0, 0], vec![1, 0, 0]]
        );
        let p = transitions.probabilities(&states);
        assert_eq!(p[0], vec![0.0, 1.0, 0.0]);
        assert_eq!(p[2], vec![1.0, 0.0, 0.0]);
    }

    #[test]
    fn outliers_are_skipped_or_kept_as_a_state() {
        let labels = [A, O, B, O, O, B];
        let mut without = TransitionCounts::default();
        without.add_run(&visible_labels(&labels, false));
        assert_eq!(
            without.counts.into_iter().collect::<Vec<_>>(),
            vec![((A, B), 1)]
        );
        let mut with = TransitionCounts::default();
        with.add_run(&visible_labels(&labels, true));
        assert_eq!(with.total(), 4); // A→⊥, ⊥→B, B→⊥, ⊥→B
        assert_eq!(with.counts.get(&(O, B)), Some(&2));
        assert!((outlier_fraction(&labels) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn row_probabilities_sum_to_one_for_states_with_moves() {
        let mut transitions = TransitionCounts::default();
        transitions.add_run(&[A, B, A, C, A, B]);
        let states = transitions.states();
        for (state, row) in states.iter().zip(transitions.probabilities(&states)) {
            let sum: f64 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-12, "row {state} sums to {sum}");
        }
        // From A: B twice, C once.
        let p = transitions.probabilities(&states);
        assert!((p[0][1] - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn bigrams_rank_by_count_then_label() {
        let mut transitions = TransitionCounts::default();
        transitions.add_run(&[A, B, A, B, C]);
        transitions.add_run(&[B, C]);
        // A→B 2, B→A 1, B→C 2.
        assert_eq!(transitions.top(2), vec![((A, B), 2), ((B, C), 2)]);
        assert_eq!(transitions.top(10).len(), 3);
    }

    #[test]
    fn stable_runs_from_start_and_anywhere() {
        let run = stable_run(&[A, A, B, B, B, A]).unwrap();
        assert_eq!(run.from_start, 2);
        assert_eq!(run.anywhere, 3);
        assert_eq!(run.anywhere_label, B);
        assert_eq!(run.anywhere_start, 2);
        let flat = stable_run(&[C, C, C]).unwrap();
        assert_eq!((flat.from_start, flat.anywhere), (3, 3));
        assert_eq!(stable_run(&[]), None);
    }

    #[test]
    fn stages_split_a_run_into_thirds() {
        let labels = [A, A, B, B, C, C];
        let stages = stage_counts(&labels);
        assert_eq!(stages[0].get(&A), Some(&2));
        assert_eq!(stages[1].get(&B), Some(&2));
        assert_eq!(stages[2].get(&C), Some(&2));
        // Uneven lengths: every position lands in exactly one stage, none empty.
        for len in 3..40 {
            let counts = (0..len).fold([0; 3], |mut acc, i| {
                acc[stage_of(i, len)] += 1;
                acc
            });
            assert_eq!(counts.iter().sum::<usize>(), len);
            assert!(counts.iter().all(|&c| c > 0), "{len}: {counts:?}");
            assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn return_to_initial_cluster() {
        let back = return_to_initial(&[A, A, B, B, B, A]).unwrap();
        assert_eq!(back.initial, A);
        assert_eq!(back.steps_to_return, Some(5));
        assert_eq!(back.returns, 1);
        assert!((back.initial_fraction - 0.5).abs() < 1e-12);
        let twice = return_to_initial(&[A, B, A, C, C, A]).unwrap();
        assert_eq!((twice.steps_to_return, twice.returns), (Some(2), 2));
        let never_left = return_to_initial(&[B, B, B]).unwrap();
        assert_eq!((never_left.steps_to_return, never_left.returns), (None, 0));
        let never_back = return_to_initial(&[B, A, A]).unwrap();
        assert_eq!(never_back.steps_to_return, None);
        assert_eq!(return_to_initial(&[]), None);
    }
}
