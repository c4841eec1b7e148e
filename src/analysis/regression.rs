//! Drift over time as a linear model with an autoregressive (lagged) term:
//!
//! `y[t] = β0 + β1·step[t] + ρ·y[t−1] + Σ network, prompt and embedding-model effects + ε`
//!
//! fitted by ordinary least squares within runs (the lag never reaches into another run).
//! The lag absorbs the serial correlation that would otherwise make the standard errors of a
//! plain trend model far too small; the Durbin–Watson statistic of the residuals (≈ 2 when no
//! autocorrelation is left) is reported so a reader can check that. Linear algebra: nalgebra.

use std::collections::BTreeSet;

use nalgebra::{DMatrix, DVector};
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum RegressionError {
    #[error(
        "the drift model needs more observations than coefficients: {observations} rows for {coefficients} coefficients (runs need at least two outputs each)"
    )]
    TooFewObservations {
        observations: usize,
        coefficients: usize,
    },
    #[error(
        "the drift model's design matrix is singular (two columns carry the same information, e.g. every prompt used with only one network); fit fewer factors"
    )]
    Singular,
}

/// One run's series of the modelled quantity, in step order.
#[derive(Debug, Clone)]
pub struct RunSeries {
    pub network: String,
    pub prompt: String,
    pub embedding_model: String,
    /// (step, value), in step order.
    pub values: Vec<(u32, f64)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Coefficient {
    pub name: String,
    pub estimate: f64,
    pub std_error: f64,
    pub t_value: f64,
    /// Normal-approximation 95 % interval (the fits have hundreds of degrees of freedom).
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftModelFit {
    pub coefficients: Vec<Coefficient>,
    pub observations: usize,
    pub degrees_of_freedom: usize,
    pub r_squared: f64,
    pub adjusted_r_squared: f64,
    pub residual_std_error: f64,
    pub aic: f64,
    pub durbin_watson: f64,
}

impl DriftModelFit {
    pub fn coefficient(&self, name: &str) -> Option<&Coefficient> {
        self.coefficients.iter().find(|c| c.name == name)
    }
}

pub const INTERCEPT: &str = "intercept";
pub const STEP: &str = "step";
pub const LAG: &str = "lag y[t-1]";

/// Treatment coding: one indicator per level except the first (the reference); a factor with
/// a single level adds nothing.
fn dummies(factor: &str, levels: &BTreeSet<&str>) -> Vec<(String, String)> {
    levels
        .iter()
        .skip(1)
        .map(|level| (format!("{factor} = {level}"), (*level).to_owned()))
        .collect()
}

pub fn fit_drift_model(series: &[RunSeries]) -> Result<DriftModelFit, RegressionError> {
    let networks: BTreeSet<&str> = series.iter().map(|s| s.network.as_str()).collect();
    let prompts: BTreeSet<&str> = series.iter().map(|s| s.prompt.as_str()).collect();
    let models: BTreeSet<&str> = series.iter().map(|s| s.embedding_model.as_str()).collect();
    let (network_dummies, prompt_dummies, model_dummies) = (
        dummies("network", &networks),
        dummies("prompt", &prompts),
        dummies("embedding", &models),
    );
    let mut names = vec![INTERCEPT.to_owned(), STEP.to_owned(), LAG.to_owned()];
    names.extend(network_dummies.iter().map(|d| d.0.clone()));
    names.extend(prompt_dummies.iter().map(|d| d.0.clone()));
    names.extend(model_dummies.iter().map(|d| d.0.clone()));
    let k = names.len();

    let mut rows: Vec<f64> = Vec::new();
    let mut y: Vec<f64> = Vec::new();
    // Residual order matters for Durbin–Watson: keep each run's rows together and mark where
    // a new run starts so differences never span two runs.
    let mut run_starts = Vec::new();
    for run in series {
        run_starts.push(y.len());
        for pair in run.values.windows(2) {
            let ((_, previous), (step, value)) = (pair[0], pair[1]);
            rows.extend([1.0, step as f64, previous]);
            rows.extend(
                network_dummies
                    .iter()
                    .map(|d| f64::from(u8::from(d.1 == run.network))),
            );
            rows.extend(
                prompt_dummies
                    .iter()
                    .map(|d| f64::from(u8::from(d.1 == run.prompt))),
            );
            rows.extend(
                model_dummies
                    .iter()
                    .map(|d| f64::from(u8::from(d.1 == run.embedding_model))),
            );
            y.push(value);
        }
    }
    let n = y.len();
    if n <= k {
        return Err(RegressionError::TooFewObservations {
            observations: n,
            coefficients: k,
        });
    }
    let x = DMatrix::from_row_slice(n, k, &rows);
    let y = DVector::from_vec(y);
    let xtx = x.transpose() * &x;
    let cholesky = xtx.cholesky().ok_or(RegressionError::Singular)?;
    // Exact collinearity can survive rounding as a tiny positive pivot; treat a pivot many
    // orders of magnitude below the largest as zero.
    let pivots = cholesky.l_dirty().diagonal();
    let largest = pivots.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if pivots.iter().any(|v| v.abs() <= largest * 1e-7) {
        return Err(RegressionError::Singular);
    }
    let beta = cholesky.solve(&(x.transpose() * &y));
    let inverse = cholesky.inverse();
    let residuals = &y - &x * &beta;
    let rss = residuals.norm_squared();
    let mean = y.mean();
    let tss: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let dof = n - k;
    let sigma2 = rss / dof as f64;
    if inverse.iter().any(|v| !v.is_finite()) || beta.iter().any(|v| !v.is_finite()) {
        return Err(RegressionError::Singular);
    }
    let coefficients = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let estimate = beta[i];
            let std_error = (sigma2 * inverse[(i, i)]).max(0.0).sqrt();
            Coefficient {
                name,
                estimate,
                std_error,
                t_value: if std_error > 0.0 {
                    estimate / std_error
                } else {
                    f64::NAN
                },
                ci_low: estimate - 1.96 * std_error,
                ci_high: estimate + 1.96 * std_error,
            }
        })
        .collect();
    let mut diff2 = 0.0;
    for i in 1..n {
        if !run_starts.contains(&i) {
            diff2 += (residuals[i] - residuals[i - 1]).powi(2);
        }
    }
    let r_squared = if tss > 0.0 { 1.0 - rss / tss } else { 1.0 };
    Ok(DriftModelFit {
        coefficients,
        observations: n,
        degrees_of_freedom: dof,
        r_squared,
        adjusted_r_squared: 1.0 - (1.0 - r_squared) * (n - 1) as f64 / dof as f64,
        residual_std_error: sigma2.sqrt(),
        aic: n as f64 * (rss.max(f64::MIN_POSITIVE) / n as f64).ln() + 2.0 * k as f64,
        durbin_watson: if rss > 0.0 { diff2 / rss } else { f64::NAN },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn normal(rng: &mut impl Rng) -> f64 {
        // Box–Muller; enough for test noise.
        let u1: f64 = rng.random::<f64>().max(1e-12);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    #[test]
    fn recovers_known_coefficients_from_synthetic_runs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut series = Vec::new();
        for run in 0..60 {
            let network = if run % 2 == 0 { "A → B" } else { "C → D" };
            let prompt = if run % 3 == 0 { "a cat" } else { "a dog" };
            let mut y = 0.3;
            let mut values = vec![(0, y)];
            for step in 1..80u32 {
                y = 0.2
                    + 0.001 * step as f64
                    + 0.5 * y
                    + if network == "C → D" { 0.1 } else { 0.0 }
                    + if prompt == "a dog" { -0.05 } else { 0.0 }
                    + 0.02 * normal(&mut rng);
                values.push((step, y));
            }
            series.push(RunSeries {
                network: network.into(),
                prompt: prompt.into(),
                embedding_model: "M".into(),
                values,
            });
        }
        let fit = fit_drift_model(&series).unwrap();
        let expect = |name: &str, truth: f64| {
            let c = fit.coefficient(name).unwrap_or_else(|| panic!("no {name}"));
            assert!(
                (c.estimate - truth).abs() < 4.0 * c.std_error.max(1e-4),
                "{name}: {} ± {} vs {truth}",
                c.estimate,
                c.std_error
            );
            assert!(c.ci_low < c.estimate && c.estimate < c.ci_high);
        };
        expect(INTERCEPT, 0.2);
        expect(STEP, 0.001);
        expect(LAG, 0.5);
        expect("network = C → D", 0.1);
        expect("prompt = a dog", -0.05);
        // One embedding model: no embedding column.
        assert!(
            fit.coefficients
                .iter()
                .all(|c| !c.name.starts_with("embedding"))
        );
        assert_eq!(fit.observations, 60 * 79);
        assert!(fit.r_squared > 0.5 && fit.r_squared <= 1.0);
        // Independent noise around the AR(1) mean: no autocorrelation left.
        assert!(
            (fit.durbin_watson - 2.0).abs() < 0.2,
            "DW {}",
            fit.durbin_watson
        );
    }

    #[test]
    fn too_little_data_and_collinear_factors_are_errors() {
        let one = RunSeries {
            network: "A".into(),
            prompt: "p".into(),
            embedding_model: "M".into(),
            values: vec![(0, 0.1), (1, 0.2)],
        };
        assert!(matches!(
            fit_drift_model(std::slice::from_ref(&one)),
            Err(RegressionError::TooFewObservations { .. })
        ));
        // Network and prompt always change together: their indicators are the same column.
        let mut series = Vec::new();
        for (network, prompt) in [("A", "p"), ("B", "q")] {
            for run in 0..3 {
                series.push(RunSeries {
                    network: network.into(),
                    prompt: prompt.into(),
                    embedding_model: "M".into(),
                    values: (0..10)
                        .map(|s| (s, (s + run) as f64 * 0.37 % 1.0))
                        .collect(),
                });
            }
        }
        assert_eq!(
            fit_drift_model(&series).unwrap_err(),
            RegressionError::Singular
        );
    }
}
