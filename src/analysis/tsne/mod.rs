//! 2-D t-SNE layouts of embedding vectors, built for 10k–100k points on a laptop CPU:
//! cosine k-nearest neighbours (exact when small, NN-descent when large), perplexity-calibrated
//! sparse affinities, PCA initialisation, and gradient descent with FFT-interpolated repulsion
//! (FIt-SNE).
//! Optimiser conventions follow openTSNE so layouts and parameters are comparable with it.
//! The optimisation streams intermediate layouts and stops promptly when cancelled.

mod affinity;
pub mod barnes_hut;
pub mod knn;
mod pca;
mod quality;
mod repulsion;

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use affinity::Affinities;
pub use quality::knn_preservation;
use repulsion::Repulsion;

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
    #[error("vector {index} contains NaN or infinity")]
    NonFinite { index: usize },
    #[error("invalid t-SNE parameter {name}: {detail}")]
    InvalidParameter { name: &'static str, detail: String },
    #[error("t-SNE was cancelled")]
    Cancelled,
}

/// Step size of gradient descent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearningRate {
    /// openTSNE's "auto": n / exaggeration in each phase (n/12 while exaggerating, then n).
    Auto,
    Fixed(f32),
}

/// Which t-SNE implementation lays the points out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TsneMethod {
    /// Ours: FFT-interpolated repulsion (FIt-SNE), streaming and cancellable, for any size.
    #[default]
    Fitsne,
    /// linfa-tsne's Barnes–Hut, for small experiments (at most [`barnes_hut::MAX_POINTS`]).
    BarnesHut,
}

impl TsneMethod {
    fn is_default(&self) -> bool {
        *self == TsneMethod::default()
    }

    pub fn label(self) -> &'static str {
        match self {
            TsneMethod::Fitsne => "FIt-SNE",
            TsneMethod::BarnesHut => "Barnes–Hut (linfa)",
        }
    }
}

/// t-SNE parameters; stored with every projection so a layout can be reproduced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TsneParams {
    pub perplexity: f32,
    /// Iterations after the early-exaggeration phase.
    pub iterations: usize,
    pub early_exaggeration: f32,
    pub early_exaggeration_iterations: usize,
    pub learning_rate: LearningRate,
    pub seed: u64,
    /// Left out of the stored JSON when it is the default, so layouts stored before the method
    /// existed are still found and reused.
    #[serde(default, skip_serializing_if = "TsneMethod::is_default")]
    pub method: TsneMethod,
}

impl Default for TsneParams {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 500,
            early_exaggeration: 12.0,
            early_exaggeration_iterations: 250,
            learning_rate: LearningRate::Auto,
            seed: 42,
            method: TsneMethod::Fitsne,
        }
    }
}

impl TsneParams {
    pub fn total_iterations(&self) -> usize {
        self.early_exaggeration_iterations + self.iterations
    }

    fn validate(&self) -> Result<(), TsneError> {
        let invalid = |name, detail: &str| {
            Err(TsneError::InvalidParameter {
                name,
                detail: detail.to_string(),
            })
        };
        if !(self.perplexity.is_finite() && self.perplexity >= 1.0) {
            return invalid("perplexity", "must be a number ≥ 1");
        }
        if !(self.early_exaggeration.is_finite() && self.early_exaggeration >= 1.0) {
            return invalid("early_exaggeration", "must be a number ≥ 1");
        }
        if let LearningRate::Fixed(rate) = self.learning_rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return invalid("learning_rate", "must be positive");
        }
        Ok(())
    }

    /// Neighbours per point used for the affinities (3 × perplexity, as in BH-SNE and openTSNE).
    pub fn neighbours(&self) -> usize {
        (3.0 * self.perplexity).floor() as usize
    }
}

/// What the computation is doing, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Neighbours,
    Affinities,
    Optimising,
}

/// A progress report. `layout` is set every `snapshot_every` iterations and at the end.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub stage: Stage,
    pub done: usize,
    pub total: usize,
    pub layout: Option<&'a [[f32; 2]]>,
}

/// Lays out `vectors` (all of one dimension) in 2-D; not cancellable, no progress.
pub fn layout<V: AsRef<[f32]> + Sync>(
    vectors: &[V],
    params: &TsneParams,
) -> Result<Vec<[f32; 2]>, TsneError> {
    layout_with_progress(vectors, params, &AtomicBool::new(false), 0, |_| {})
}

/// Lays out `vectors` in 2-D, calling `on_progress` as work advances (with the current layout
/// every `snapshot_every` iterations; 0 = only at the end) and returning `Cancelled` soon after
/// `cancel` is set. Cosine geometry: vectors are normalised first.
pub fn layout_with_progress<V: AsRef<[f32]> + Sync>(
    vectors: &[V],
    params: &TsneParams,
    cancel: &AtomicBool,
    snapshot_every: usize,
    mut on_progress: impl FnMut(Progress<'_>),
) -> Result<Vec<[f32; 2]>, TsneError> {
    params.validate()?;
    let n = vectors.len();
    let k = params.neighbours();
    let needed = k + 2;
    if n < needed {
        return Err(TsneError::TooFewPoints {
            needed,
            got: n,
            perplexity: params.perplexity,
        });
    }
    let dim = vectors[0].as_ref().len();
    if dim == 0 {
        return Err(TsneError::InvalidParameter {
            name: "vectors",
            detail: "vectors have no components".into(),
        });
    }
    for (index, vector) in vectors.iter().enumerate() {
        let vector = vector.as_ref();
        if vector.len() != dim {
            return Err(TsneError::RaggedInput {
                index,
                got: vector.len(),
                expected: dim,
            });
        }
        if !vector.iter().all(|x| x.is_finite()) {
            return Err(TsneError::NonFinite { index });
        }
    }

    let data = knn::unit_rows(vectors, dim);
    if params.method == TsneMethod::BarnesHut {
        return barnes_hut::layout(&data, n, dim, params, cancel, on_progress);
    }
    on_progress(Progress {
        stage: Stage::Neighbours,
        done: 0,
        total: n,
        layout: None,
    });
    let report = |done: usize, total: usize| {
        on_progress(Progress {
            stage: Stage::Neighbours,
            done: done * n / total.max(1),
            total: n,
            layout: None,
        })
    };
    let neighbours = if n <= knn::EXACT_MAX_POINTS {
        knn::all_exact(&data, dim, k, cancel, report)?
    } else {
        knn::approximate(&data, dim, k, params.seed, cancel, report)?
    };
    check(cancel)?;

    on_progress(Progress {
        stage: Stage::Affinities,
        done: 0,
        total: n,
        layout: None,
    });
    let affinities = affinity::joint_probabilities(&neighbours, f64::from(params.perplexity));
    drop(neighbours);
    let y = pca::initial_layout(&data, dim, params.seed);
    drop(data);
    check(cancel)?;

    optimise(
        y,
        &affinities,
        params,
        cancel,
        snapshot_every,
        &mut on_progress,
    )
}

fn check(cancel: &AtomicBool) -> Result<(), TsneError> {
    if cancel.load(Ordering::Relaxed) {
        Err(TsneError::Cancelled)
    } else {
        Ok(())
    }
}

fn to_f32(y: &[[f64; 2]]) -> Vec<[f32; 2]> {
    y.iter().map(|p| [p[0] as f32, p[1] as f32]).collect()
}

/// Largest move of one point in one iteration (openTSNE's `max_step_norm`): stops stray points
/// from being flung far out by a large early gradient.
const MAX_STEP: f64 = 5.0;
const MIN_GAIN: f64 = 0.01;
/// openTSNE 1.0 uses 0.8 in both phases (older tools 0.5 while exaggerating).
const MOMENTUM: f64 = 0.8;

/// Gradient descent with momentum and per-coordinate gains (delta-bar-delta), in two phases:
/// exaggerated attraction, then plain.
fn optimise(
    mut y: Vec<[f64; 2]>,
    p: &Affinities,
    params: &TsneParams,
    cancel: &AtomicBool,
    snapshot_every: usize,
    on_progress: &mut impl FnMut(Progress<'_>),
) -> Result<Vec<[f32; 2]>, TsneError> {
    let n = y.len();
    let total = params.total_iterations();
    let mut update = vec![[0.0f64; 2]; n];
    let mut gains = vec![[1.0f64; 2]; n];
    let mut repulsive = vec![[0.0f64; 2]; n];
    let mut repulsion = Repulsion::new();
    let phases = [
        (
            f64::from(params.early_exaggeration),
            params.early_exaggeration_iterations,
            MOMENTUM,
        ),
        (1.0, params.iterations, MOMENTUM),
    ];
    let mut iteration = 0;
    for (exaggeration, iterations, momentum) in phases {
        let learning_rate = match params.learning_rate {
            LearningRate::Auto => (n as f64 / exaggeration).max(1.0),
            LearningRate::Fixed(rate) => f64::from(rate),
        };
        for _ in 0..iterations {
            check(cancel)?;
            let z = repulsion.forces(&y, &mut repulsive);
            let inverse_z = 1.0 / z;
            let positions = &y;
            let new_positions: Vec<[f64; 2]> = (0..n)
                .into_par_iter()
                .zip(update.par_iter_mut())
                .zip(gains.par_iter_mut())
                .zip(repulsive.par_iter())
                .map(|(((i, step), gain), rep)| {
                    // Attraction: Σⱼ pᵢⱼ wᵢⱼ (yᵢ − yⱼ) over the sparse neighbours.
                    let yi = positions[i];
                    let mut attraction = [0.0f64; 2];
                    for e in p.rows[i]..p.rows[i + 1] {
                        let yj = positions[p.columns[e] as usize];
                        let (dx, dy) = (yi[0] - yj[0], yi[1] - yj[1]);
                        let pw = p.values[e] / (1.0 + dx * dx + dy * dy);
                        attraction[0] += pw * dx;
                        attraction[1] += pw * dy;
                    }
                    let mut next = [0.0f64; 2];
                    for d in 0..2 {
                        let gradient = exaggeration * attraction[d] - rep[d] * inverse_z;
                        let flipped = sign(step[d]) != sign(gradient);
                        gain[d] = if flipped {
                            gain[d] + 0.2
                        } else {
                            gain[d] * 0.8 + MIN_GAIN
                        }
                        .max(MIN_GAIN);
                        step[d] = momentum * step[d] - learning_rate * gain[d] * gradient;
                    }
                    let norm = (step[0] * step[0] + step[1] * step[1]).sqrt();
                    if norm > MAX_STEP {
                        step[0] *= MAX_STEP / norm;
                        step[1] *= MAX_STEP / norm;
                    }
                    for d in 0..2 {
                        next[d] = yi[d] + step[d];
                    }
                    next
                })
                .collect();
            y = new_positions;
            // Keep the map centred on the origin (the cost is translation invariant).
            let (sx, sy) = y
                .iter()
                .fold((0.0, 0.0), |(sx, sy), p| (sx + p[0], sy + p[1]));
            let (mx, my) = (sx / n as f64, sy / n as f64);
            y.par_iter_mut().for_each(|p| {
                p[0] -= mx;
                p[1] -= my;
            });
            iteration += 1;
            let snapshot = iteration == total
                || (snapshot_every > 0 && iteration.is_multiple_of(snapshot_every));
            let layout = snapshot.then(|| to_f32(&y));
            on_progress(Progress {
                stage: Stage::Optimising,
                done: iteration,
                total,
                layout: layout.as_deref(),
            });
        }
    }
    Ok(to_f32(&y))
}

fn sign(x: f64) -> i8 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn blobs(per_blob: usize, blobs: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut vectors = Vec::new();
        for blob in 0..blobs {
            for _ in 0..per_blob {
                let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-0.05..0.05)).collect();
                v[blob] += 1.0;
                vectors.push(v);
            }
        }
        vectors
    }

    #[test]
    fn separated_blobs_stay_separated() {
        let vectors = blobs(60, 2, 16);
        let params = TsneParams {
            perplexity: 10.0,
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

    #[test]
    fn bad_input_is_a_typed_error() {
        let mut vectors = blobs(40, 2, 8);
        vectors[3][1] = f32::NAN;
        let params = TsneParams {
            perplexity: 5.0,
            ..TsneParams::default()
        };
        assert!(matches!(
            layout(&vectors, &params),
            Err(TsneError::NonFinite { index: 3 })
        ));
        vectors[3] = vec![1.0; 3];
        assert!(matches!(
            layout(&vectors, &params),
            Err(TsneError::RaggedInput { index: 3, .. })
        ));
        let bad = TsneParams {
            perplexity: f32::NAN,
            ..params
        };
        assert!(matches!(
            layout(&blobs(40, 2, 8), &bad),
            Err(TsneError::InvalidParameter { .. })
        ));
        assert!(matches!(
            layout(&vec![Vec::<f32>::new(); 80], &params),
            Err(TsneError::InvalidParameter { .. })
        ));
    }
}
