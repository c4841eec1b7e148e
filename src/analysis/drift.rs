//! Semantic drift: how far each output of a run is from *that run's* initial prompt, in the
//! same embedding model. (The old tool used the first row's prompt for every row.)

use serde::Serialize;

/// `1 − cos(v, reference)`, in [0, 2]; exactly 0 when the vectors are equal, 1 when either is
/// zero (no direction to compare).
pub fn cosine_distance(vector: &[f32], reference: &[f32]) -> f64 {
    if vector == reference {
        return 0.0;
    }
    let (mut dot, mut nv, mut nr) = (0.0f64, 0.0f64, 0.0f64);
    for (&v, &r) in vector.iter().zip(reference) {
        dot += v as f64 * r as f64;
        nv += v as f64 * v as f64;
        nr += r as f64 * r as f64;
    }
    if nv == 0.0 || nr == 0.0 {
        return 1.0;
    }
    (1.0 - dot / (nv.sqrt() * nr.sqrt())).clamp(0.0, 2.0)
}

pub fn euclidean_distance(vector: &[f32], reference: &[f32]) -> f64 {
    vector
        .iter()
        .zip(reference)
        .map(|(&v, &r)| (v as f64 - r as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// One output's distance from its run's initial prompt.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DriftPoint {
    pub sequence_number: u32,
    pub cosine: f64,
    pub euclidean: f64,
}

/// Drift of a run's outputs (in step order) from the run's prompt embedding.
pub fn run_drift(outputs: &[(u32, Vec<f32>)], prompt: &[f32]) -> Vec<DriftPoint> {
    outputs
        .iter()
        .map(|(sequence_number, vector)| DriftPoint {
            sequence_number: *sequence_number,
            cosine: cosine_distance(vector, prompt),
            euclidean: euclidean_distance(vector, prompt),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_distance_range_is_pinned() {
        assert_eq!(cosine_distance(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((cosine_distance(&[1.0, 0.0], &[0.0, 3.0]) - 1.0).abs() < 1e-12);
        assert!((cosine_distance(&[1.0, 0.0], &[-2.0, 0.0]) - 2.0).abs() < 1e-12);
        assert!((cosine_distance(&[2.0, 0.0], &[1.0, 0.0])).abs() < 1e-12);
        assert_eq!(cosine_distance(&[0.0, 0.0], &[1.0, 0.0]), 1.0);
    }

    #[test]
    fn each_run_is_measured_against_its_own_prompt() {
        let prompt_a = [1.0, 0.0];
        let prompt_b = [0.0, 1.0];
        let outputs = vec![(1, vec![1.0, 0.0]), (3, vec![0.0, 1.0])];
        let a = run_drift(&outputs, &prompt_a);
        let b = run_drift(&outputs, &prompt_b);
        assert_eq!(a[0].cosine, 0.0);
        assert!((a[1].cosine - 1.0).abs() < 1e-12);
        assert!((b[0].cosine - 1.0).abs() < 1e-12);
        assert_eq!(b[1].cosine, 0.0);
        assert!((a[1].euclidean - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(a[1].sequence_number, 3);
    }
}
