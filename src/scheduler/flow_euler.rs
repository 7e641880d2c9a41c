//! Rectified-flow Euler sampler: diffusers' `FlowMatchEulerDiscreteScheduler`
//! (0.35.2) given explicit timesteps (`set_timesteps(timesteps=...)`), with
//! no shift applied at run time (the bundle's timesteps are final, i.e.
//! already shifted) and deterministic steps.
//!
//! * `sigma_i = t_i / train_timesteps` (float32, as diffusers divides the
//!   float32 timesteps), followed by a final sigma of 0.
//! * the model predicts the velocity `v = noise - x0`;
//!   `x_next = x + (sigma_{i+1} - sigma_i) * v`.
//! * the model input is not scaled and the initial noise sigma is 1
//!   (`x_T` is pure noise at sigma = 1).

use super::{check, Prediction, Scheduler, SchedulerConfig, SchedulerError};

#[derive(Debug, Clone)]
pub struct FlowEulerScheduler {
    timesteps: Vec<f32>,
    /// One per timestep, plus the final 0 (diffusers' `scheduler.sigmas`).
    sigmas: Vec<f32>,
}

impl FlowEulerScheduler {
    pub const PREDICTIONS: &'static [Prediction] = &[Prediction::Flow];

    pub fn new(config: &SchedulerConfig) -> Result<Self, SchedulerError> {
        check::train_timesteps(config, 1)?;
        check::prediction(config, Self::PREDICTIONS)?;
        check::flow_timesteps(config)?;
        let n = config.train_timesteps as f32;
        let mut sigmas: Vec<f32> = config.timesteps.iter().map(|&t| t / n).collect();
        sigmas.push(0.0);
        Ok(Self { timesteps: config.timesteps.clone(), sigmas })
    }

    /// diffusers' `scheduler.sigmas`: one per step plus the final 0.
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }
}

impl Scheduler for FlowEulerScheduler {
    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    /// x = (1 - σ) x0 + σ noise and v = noise - x0 give x0 = x - σ v.
    fn x0(&self, i: usize, model_output: &[f32], sample: &[f32]) -> Vec<f32> {
        check::step_args("flow-euler", self.timesteps.len(), i, model_output, sample, &[], false);
        let sigma = f64::from(self.sigmas[i]);
        sample.iter().zip(model_output).map(|(&x, &v)| (f64::from(x) - sigma * f64::from(v)) as f32).collect()
    }

    fn step(&self, i: usize, model_output: &[f32], sample: &[f32], noise: &[f32]) -> Vec<f32> {
        check::step_args("flow-euler", self.timesteps.len(), i, model_output, sample, noise, false);
        // diffusers: dt = sigma_next - sigma in float32.
        let dt = f64::from(self.sigmas[i + 1] - self.sigmas[i]);
        sample.iter().zip(model_output).map(|(&x, &v)| (f64::from(x) + dt * f64::from(v)) as f32).collect()
    }
}
