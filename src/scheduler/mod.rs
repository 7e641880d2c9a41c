//! Samplers for the denoising loop. CONTRACT (owned by the scheduler work):
//! the pipeline uses exactly this API.
//!
//! Each sampler reproduces the diffusers 0.35.2 scheduler of the same name for
//! the same explicit timesteps (golden vectors: `tests/schedulers.rs`, made by
//! `scripts/fixtures/make_scheduler_fixtures.py`): [`lcm`], [`euler`], [`ddim`],
//! [`flow_euler`]; [`betas`] holds the shared training schedule.

use thiserror::Error;

pub mod betas;
mod check;
pub mod ddim;
pub mod euler;
pub mod flow_euler;
pub mod lcm;
mod prediction;

pub use prediction::Prediction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchedulerKind {
    Lcm,
    Euler,
    Ddim,
    FlowEuler,
}

impl SchedulerKind {
    /// The manifest spelling.
    pub fn name(self) -> &'static str {
        match self {
            SchedulerKind::Lcm => "lcm",
            SchedulerKind::Euler => "euler",
            SchedulerKind::Ddim => "ddim",
            SchedulerKind::FlowEuler => "flow-euler",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BetaSchedule {
    Linear,
    ScaledLinear,
}

/// How diffusers spaced the timesteps (its `timestep_spacing`). The timesteps
/// themselves come from the manifest; the spacing matters only to Euler's
/// initial noise, which diffusers scales by `sqrt(max_sigma² + 1)` for
/// "leading" and by `max_sigma` otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestepSpacing {
    #[default]
    Trailing,
    Linspace,
    Leading,
}

/// Everything a scheduler needs; filled from the bundle manifest.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub kind: SchedulerKind,
    pub prediction: Prediction,
    pub train_timesteps: usize,
    pub beta_schedule: BetaSchedule,
    pub beta_start: f64,
    pub beta_end: f64,
    /// The model timestep values for this run, in sampling order (e.g.
    /// [999, 759, 499, 259] for a 4-step LCM; sigma*1000 for flow models).
    pub timesteps: Vec<f32>,
    pub timestep_spacing: TimestepSpacing,
}

#[derive(Debug, Error)]
pub enum SchedulerError {
    /// An unusable configuration. The message names the offending
    /// `SchedulerConfig` field first: `scheduler.timesteps: must not be empty`,
    /// `scheduler.timesteps[1]: ...`, `scheduler.prediction: ...`.
    #[error("{0}")]
    Invalid(String),
}

pub trait Scheduler: Send {
    /// The model timestep value fed to the denoiser at each step.
    fn timesteps(&self) -> &[f32];
    /// Multiplier applied to the initial N(0,1) noise.
    /// (1 unless the sampler works in sigma space, as Euler does.)
    fn init_noise_sigma(&self) -> f32 {
        1.0
    }
    /// Multiplier applied to the latents before the denoiser call of step `i`.
    fn model_input_scale(&self, _i: usize) -> f32 {
        1.0
    }
    /// Whether `step(i, ..)` consumes fresh noise (stochastic samplers such as LCM).
    fn needs_noise(&self, _i: usize) -> bool {
        false
    }
    /// Advance from step `i`: returns the latents for step `i + 1` (after the
    /// last step: the final clean latents). `noise` is N(0,1) of the same length
    /// when `needs_noise(i)`, empty otherwise.
    ///
    /// Panics when `i` is out of range or the slice lengths do not match
    /// (a pipeline bug; the configuration was checked by [`build`]).
    fn step(&self, i: usize, model_output: &[f32], sample: &[f32], noise: &[f32]) -> Vec<f32>;
    /// The estimate of the final clean latents at step `i` (what a preview
    /// shows): x0 from the model output, as the sampler itself computes it
    /// (LCM: its boundary-scaled `denoised`). After the last step of a
    /// sampler that ends at noise level 0 it equals what `step` returns.
    fn x0(&self, i: usize, model_output: &[f32], sample: &[f32]) -> Vec<f32>;
}

/// Check `config` and build its sampler. Rules (each error names the field):
/// `timesteps` non-empty, finite, strictly decreasing; DDPM-family kinds
/// (lcm, euler, ddim) need `0 <= t <= train_timesteps - 1` (integers for lcm
/// and ddim), `0 < beta_start <= beta_end < 1` and an epsilon / v / x0
/// prediction; flow-euler needs `0 < t <= train_timesteps` and a flow prediction.
pub fn build(config: &SchedulerConfig) -> Result<Box<dyn Scheduler>, SchedulerError> {
    Ok(match config.kind {
        SchedulerKind::Lcm => Box::new(lcm::LcmScheduler::new(config)?),
        SchedulerKind::Euler => Box::new(euler::EulerScheduler::new(config)?),
        SchedulerKind::Ddim => Box::new(ddim::DdimScheduler::new(config)?),
        SchedulerKind::FlowEuler => Box::new(flow_euler::FlowEulerScheduler::new(config)?),
    })
}
