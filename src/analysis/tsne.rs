//! 2-D t-SNE layouts of embedding vectors (Barnes-Hut, via the `bhtsne` crate).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum TsneError {
    #[error("t-SNE needs at least {needed} points for perplexity {perplexity}, got {got}")]
    TooFewPoints {
        needed: usize,
        got: usize,
        perplexity: f32,
    },
    #[error("vector {index} has dimension {got}, expected {expected}")]
    RaggedInput {
        index: usize,
        got: usize,
        expected: usize,
    },
}

/// t-SNE parameters; stored with every projection so a layout can be reproduced.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TsneParams {
    pub perplexity: f32,
    pub epochs: usize,
    pub learning_rate: f32,
    pub early_exaggeration: f32,
    pub theta: f32,
}

impl Default for TsneParams {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            epochs: 750,
            learning_rate: 200.0,
            early_exaggeration: 12.0,
            theta: 0.5,
        }
    }
}

/// Lays out `vectors` (all of one dimension) in 2-D.
pub fn layout(vectors: &[Vec<f32>], params: &TsneParams) -> Result<Vec<[f32; 2]>, TsneError> {
    let needed = (3.0 * params.perplexity).ceil() as usize + 2;
    if vectors.len() < needed {
        return Err(TsneError::TooFewPoints {
            needed,
            got: vectors.len(),
            perplexity: params.perplexity,
        });
    }
    let dimension = vectors[0].len();
    if let Some((index, vector)) = vectors
        .iter()
        .enumerate()
        .find(|(_, vector)| vector.len() != dimension)
    {
        return Err(TsneError::RaggedInput {
            index,
            got: vector.len(),
            expected: dimension,
        });
    }
    let samples: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
    let mut tsne = bhtsne::tSNE::<f32, &[f32], 2>::new(&samples);
    tsne.perplexity(params.perplexity)
        .epochs(params.epochs)
        .learning_rate(params.learning_rate)
        .early_exaggeration(params.early_exaggeration)
        .barnes_hut(params.theta, |a, b| {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt()
        });
    Ok(tsne
        .embedding()
        .chunks_exact(2)
        .map(|xy| [xy[0], xy[1]])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn separated_blobs_stay_separated() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut vectors = Vec::new();
        for blob in 0..2 {
            for _ in 0..60 {
                let mut v: Vec<f32> = (0..16).map(|_| rng.random_range(-0.05..0.05)).collect();
                v[blob] += 1.0;
                vectors.push(v);
            }
        }
        let params = TsneParams {
            perplexity: 10.0,
            epochs: 300,
            ..TsneParams::default()
        };
        let points = layout(&vectors, &params).expect("layout");
        assert_eq!(points.len(), 120);
        let centre = |range: std::ops::Range<usize>| {
            let n = range.len() as f32;
            let (sx, sy) = points[range]
                .iter()
                .fold((0.0, 0.0), |(sx, sy), p| (sx + p[0], sy + p[1]));
            [sx / n, sy / n]
        };
        let (a, b) = (centre(0..60), centre(60..120));
        let between = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        let spread = points[0..60]
            .iter()
            .map(|p| ((p[0] - a[0]).powi(2) + (p[1] - a[1]).powi(2)).sqrt())
            .sum::<f32>()
            / 60.0;
        assert!(between > 3.0 * spread, "between {between}, spread {spread}");
    }

    #[test]
    fn too_few_points_is_an_error() {
        let err = layout(&vec![vec![0.0; 4]; 5], &TsneParams::default()).expect_err("too few");
        assert!(err.to_string().contains("at least"));
    }
}
