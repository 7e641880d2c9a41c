//! Euler sampler in the k-diffusion (sigma) parameterisation: diffusers'
//! `EulerDiscreteScheduler` (0.35.2) with its defaults (linear sigma
//! interpolation, `final_sigmas_type = "zero"`, no churn, no Karras sigmas).
//!
//! * `sigma(t) = sqrt((1 - ᾱ_t) / ᾱ_t)` from the float32 training table,
//!   linearly interpolated at the given (possibly fractional) timesteps as
//!   `np.interp` does, then rounded to float32; a final sigma of 0 is appended.
//! * model input: `x / sqrt(sigma_i² + 1)`.
//! * step: `x0` from the prediction, `d = (x - x0) / sigma_i`,
//!   `x_next = x + d * (sigma_{i+1} - sigma_i)`.
//! * initial noise sigma: `max(sigmas)` for `timestep_spacing` "linspace"
//!   (the scheduler default) and "trailing" (SD-Turbo), `sqrt(max(sigmas)² + 1)`
//!   for "leading" (as diffusers does; the manifest's
//!   `scheduler.timestep_spacing` says which).

use super::{check, Prediction, Scheduler, SchedulerConfig, SchedulerError, TimestepSpacing};

#[derive(Debug, Clone)]
pub struct EulerScheduler {
    prediction: Prediction,
    timesteps: Vec<f32>,
    /// One per timestep, plus the final 0 (diffusers' `scheduler.sigmas`).
    sigmas: Vec<f32>,
    leading: bool,
}

/// `np.interp(t, arange(len(table)), table)` for `0 <= t <= len - 1`.
fn interp(table: &[f32], t: f64) -> f64 {
    let last = table.len() - 1;
    let j = (t.floor() as usize).min(last);
    if j == last {
        return f64::from(table[last]);
    }
    let (lo, hi) = (f64::from(table[j]), f64::from(table[j + 1]));
    // numpy: slope * (x - xp[j]) + fp[j], slope = (fp[j+1] - fp[j]) / (xp[j+1] - xp[j])
    (hi - lo) * (t - j as f64) + lo
}

impl EulerScheduler {
    pub const PREDICTIONS: &'static [Prediction] = &[Prediction::Epsilon, Prediction::V, Prediction::X0];

    pub fn new(config: &SchedulerConfig) -> Result<Self, SchedulerError> {
        let ac = check::discrete_schedule(config, Self::PREDICTIONS, false)?;
        // diffusers: np.array(((1 - alphas_cumprod) / alphas_cumprod) ** 0.5), float32.
        let table: Vec<f32> = ac
            .iter()
            .map(|&a| {
                let a = f64::from(a);
                ((1.0 - a) / a).sqrt() as f32
            })
            .collect();
        let mut sigmas: Vec<f32> = config.timesteps.iter().map(|&t| interp(&table, f64::from(t)) as f32).collect();
        sigmas.push(0.0);
        let leading = config.timestep_spacing == TimestepSpacing::Leading;
        Ok(Self { prediction: config.prediction, timesteps: config.timesteps.clone(), sigmas, leading })
    }

    /// diffusers' `scheduler.sigmas`: one per step plus the final 0.
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }
}

impl Scheduler for EulerScheduler {
    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn init_noise_sigma(&self) -> f32 {
        let max = self.sigmas.iter().copied().fold(0.0, f32::max);
        if self.leading {
            // diffusers: (max_sigma**2 + 1) ** 0.5 on a float32 tensor.
            (max * max + 1.0).sqrt()
        } else {
            max
        }
    }

    fn model_input_scale(&self, i: usize) -> f32 {
        let s = f64::from(self.sigmas[i]);
        (1.0 / (s * s + 1.0).sqrt()) as f32
    }

    fn x0(&self, i: usize, model_output: &[f32], sample: &[f32]) -> Vec<f32> {
        check::step_args("euler", self.timesteps.len(), i, model_output, sample, &[], false);
        let x0_of = self.prediction.at_sigma(f64::from(self.sigmas[i]));
        sample.iter().zip(model_output).map(|(&x, &m)| x0_of.x0(f64::from(x), f64::from(m)) as f32).collect()
    }

    fn step(&self, i: usize, model_output: &[f32], sample: &[f32], noise: &[f32]) -> Vec<f32> {
        check::step_args("euler", self.timesteps.len(), i, model_output, sample, noise, false);
        let sigma = f64::from(self.sigmas[i]);
        let dt = f64::from(self.sigmas[i + 1]) - sigma;
        let x0_of = self.prediction.at_sigma(sigma);
        (0..sample.len())
            .map(|k| {
                let x = f64::from(sample[k]);
                let m = f64::from(model_output[k]);
                let x0 = x0_of.x0(x, m);
                let derivative = (x - x0) / sigma;
                (x + derivative * dt) as f32
            })
            .collect()
    }
}
