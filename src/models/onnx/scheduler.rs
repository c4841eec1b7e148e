//! The Euler and Euler-ancestral discrete schedulers with "trailing" timestep spacing, as the
//! turbo models were distilled for (diffusers `EulerDiscreteScheduler` /
//! `EulerAncestralDiscreteScheduler`, epsilon prediction, scaled-linear betas).
//!
//! Plain arithmetic on a few hundred numbers; written here rather than pulled in because no
//! maintained Rust crate implements these schedules without a tensor framework.

use std::path::Path;

use super::config::ConfigFile;
use crate::models::ModelError;

/// The published scheduler configuration (`scheduler/scheduler_config.json`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SchedulerConfig {
    pub num_train_timesteps: usize,
    pub beta_start: f64,
    pub beta_end: f64,
    pub beta_schedule: BetaSchedule,
    /// Euler-ancestral: each step but the last adds fresh noise.
    pub ancestral: bool,
}

/// How betas run from `beta_start` to `beta_end` (diffusers' `beta_schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BetaSchedule {
    /// Linear in sqrt(β) (Stable Diffusion).
    ScaledLinear,
    Linear,
}

/// Where a diffusers pipeline keeps its scheduler's configuration.
pub const SCHEDULER_CONFIG: &str = "scheduler/scheduler_config.json";

impl SchedulerConfig {
    /// Stable Diffusion's schedule: 1000 steps, scaled-linear betas 0.00085 → 0.012.
    pub const fn stable_diffusion(ancestral: bool) -> Self {
        Self {
            num_train_timesteps: 1000,
            beta_start: 0.00085,
            beta_end: 0.012,
            beta_schedule: BetaSchedule::ScaledLinear,
            ancestral,
        }
    }

    /// `scheduler_config.json` at `path` over `fallback` (`fallback` alone without the file).
    /// Only what this module implements is accepted: Euler or Euler-ancestral, epsilon
    /// prediction, trailing spacing, (scaled-)linear betas, plain interpolated sigmas.
    pub fn read(model: &str, path: &Path, fallback: Self) -> Result<Self, ModelError> {
        let Some(config) = ConfigFile::open(model, path)? else {
            return Ok(fallback);
        };
        let mut out = fallback;
        if let Some(class) = config.str("_class_name")? {
            out.ancestral = match class {
                "EulerDiscreteScheduler" => false,
                "EulerAncestralDiscreteScheduler" => true,
                other => {
                    return Err(config.error(
                        "_class_name",
                        format!(
                            "{other} is not supported (EulerDiscreteScheduler and EulerAncestralDiscreteScheduler are)"
                        ),
                    ));
                }
            };
        }
        if let Some(steps) = config.u64("num_train_timesteps")? {
            out.num_train_timesteps = usize::try_from(steps)
                .ok()
                .filter(|&steps| steps > 0)
                .ok_or_else(|| config.error("num_train_timesteps", "must be at least 1"))?;
        }
        for (field, value) in [
            ("beta_start", &mut out.beta_start),
            ("beta_end", &mut out.beta_end),
        ] {
            if let Some(beta) = config.f64(field)? {
                if !(0.0..1.0).contains(&beta) {
                    return Err(config.error(field, format!("{beta} is not in [0, 1)")));
                }
                *value = beta;
            }
        }
        if let Some(schedule) = config.str("beta_schedule")? {
            out.beta_schedule = match schedule {
                "scaled_linear" => BetaSchedule::ScaledLinear,
                "linear" => BetaSchedule::Linear,
                other => {
                    return Err(config.error(
                        "beta_schedule",
                        format!("{other} is not supported (scaled_linear and linear are)"),
                    ));
                }
            };
        }
        let text = |value: &str| serde_json::Value::String(value.to_owned());
        config.require_default("prediction_type", &[text("epsilon")])?;
        config.require_default("timestep_spacing", &[text("trailing")])?;
        config.require_default("interpolation_type", &[text("linear")])?;
        config.require_default("final_sigmas_type", &[text("zero")])?;
        config.require_default("timestep_type", &[text("discrete")])?;
        for field in [
            "trained_betas",
            "use_karras_sigmas",
            "use_exponential_sigmas",
            "use_beta_sigmas",
            "rescale_betas_zero_snr",
        ] {
            config.require_default(field, &[])?;
        }
        Ok(out)
    }

    /// σ(t) = sqrt((1 − ᾱ_t) / ᾱ_t) for every training timestep t.
    pub fn training_sigmas(&self) -> Vec<f64> {
        let n = self.num_train_timesteps;
        let (start, end) = match self.beta_schedule {
            BetaSchedule::ScaledLinear => (self.beta_start.sqrt(), self.beta_end.sqrt()),
            BetaSchedule::Linear => (self.beta_start, self.beta_end),
        };
        let mut cumulative = 1.0;
        (0..n)
            .map(|i| {
                let fraction = if n > 1 {
                    i as f64 / (n - 1) as f64
                } else {
                    0.0
                };
                let beta = start + (end - start) * fraction;
                let beta = match self.beta_schedule {
                    BetaSchedule::ScaledLinear => beta * beta,
                    BetaSchedule::Linear => beta,
                };
                cumulative *= 1.0 - beta;
                ((1.0 - cumulative) / cumulative).sqrt()
            })
            .collect()
    }
}

/// One denoising step's coefficients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The value fed to the UNet's `timestep` input.
    pub timestep: f64,
    pub sigma: f64,
    /// Where the deterministic part of the step lands (σ_next for plain Euler).
    pub sigma_down: f64,
    /// Standard deviation of the fresh noise added (0 for plain Euler and for the last step).
    pub sigma_up: f64,
}

impl Step {
    /// The UNet sees `sample / sqrt(σ² + 1)`.
    pub fn input_scale(&self) -> f64 {
        1.0 / (self.sigma * self.sigma + 1.0).sqrt()
    }
}

/// The steps of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub steps: Vec<Step>,
    /// Initial latents are standard normal noise times this (σ_max for trailing spacing).
    pub init_noise_sigma: f64,
}

impl Schedule {
    /// `count` steps with trailing spacing: t_i = round(T − i·T/count) − 1.
    pub fn new(config: &SchedulerConfig, count: usize) -> Result<Self, String> {
        let total = config.num_train_timesteps;
        if count == 0 || count > total {
            return Err(format!(
                "the number of steps must be between 1 and {total}, not {count}"
            ));
        }
        let table = config.training_sigmas();
        let ratio = total as f64 / count as f64;
        let timesteps: Vec<f64> = (0..count)
            .map(|i| (total as f64 - i as f64 * ratio).round() - 1.0)
            .collect();
        let mut sigmas: Vec<f64> = timesteps.iter().map(|&t| interpolate(&table, t)).collect();
        sigmas.push(0.0);
        let steps = timesteps
            .iter()
            .zip(sigmas.windows(2))
            .map(|(&timestep, pair)| {
                let (sigma, next) = (pair[0], pair[1]);
                let (sigma_down, sigma_up) = if config.ancestral {
                    let up = (next * next * (sigma * sigma - next * next) / (sigma * sigma))
                        .max(0.0)
                        .sqrt();
                    ((next * next - up * up).max(0.0).sqrt(), up)
                } else {
                    (next, 0.0)
                };
                Step {
                    timestep,
                    sigma,
                    sigma_down,
                    sigma_up,
                }
            })
            .collect();
        let init_noise_sigma = sigmas.iter().copied().fold(0.0, f64::max);
        Ok(Self {
            steps,
            init_noise_sigma,
        })
    }
}

/// Linear interpolation in a table indexed by integer timestep (numpy `interp`, clamped).
fn interpolate(table: &[f64], t: f64) -> f64 {
    let last = table.len().saturating_sub(1);
    if t <= 0.0 {
        return table.first().copied().unwrap_or(0.0);
    }
    if t >= last as f64 {
        return table.get(last).copied().unwrap_or(0.0);
    }
    let low = t.floor() as usize;
    let fraction = t - low as f64;
    table[low] * (1.0 - fraction) + table[low + 1] * fraction
}

/// One Euler(-ancestral) update of `sample` in place, given the predicted noise `eps` and, for
/// the ancestral variant, fresh standard normal `noise` (ignored when `sigma_up` is 0).
pub fn euler_update(sample: &mut [f32], eps: &[f32], noise: &[f32], step: &Step) {
    let dt = (step.sigma_down - step.sigma) as f32;
    let up = step.sigma_up as f32;
    for (index, (x, e)) in sample.iter_mut().zip(eps).enumerate() {
        *x += e * dt;
        if up != 0.0 {
            *x += noise.get(index).copied().unwrap_or(0.0) * up;
        }
    }
}
