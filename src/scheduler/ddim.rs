//! Deterministic DDIM: diffusers' `DDIMScheduler` (0.35.2) with `eta = 0`
//! and the Stable Diffusion settings `set_alpha_to_one = False`,
//! `clip_sample = False`, no thresholding.
//!
//! Step at timestep `t` with previous timestep `t_prev`:
//!
//! ```text
//! (x0, eps) = prediction-dependent estimates
//! x_prev    = sqrt(ᾱ_prev) * x0 + sqrt(1 - ᾱ_prev) * eps
//! ᾱ_prev    = alphas_cumprod[t_prev] if t_prev >= 0 else alphas_cumprod[0]   (set_alpha_to_one = False)
//! ```
//!
//! **Previous-timestep rule.** diffusers does not look at the next entry of
//! the schedule: it computes `t_prev = t - num_train_timesteps // num_inference_steps`.
//! We do the same with `num_inference_steps = timesteps.len()`, so a list
//! made with any of diffusers' spacings gives diffusers' result:
//! "leading" (`[961, 921, ..., 1]` for 25 steps with `steps_offset = 1`) and
//! "trailing" (`[999, 749, 499, 249]`) are multiples of that stride, so
//! `t_prev` is the next listed timestep (or negative after the last);
//! for "linspace" lists (`[999, 666, 333, 0]`) diffusers' `t_prev`
//! (749, 416, 83, -250) is *not* the next entry, and neither is ours.
//! The model input is not scaled and the initial noise sigma is 1.

use super::{check, Prediction, Scheduler, SchedulerConfig, SchedulerError};

#[derive(Debug, Clone, Copy)]
struct StepCoefs {
    sqrt_alpha: f64,
    sqrt_beta: f64,
    sqrt_alpha_prev: f64,
    sqrt_beta_prev: f64,
}

#[derive(Debug, Clone)]
pub struct DdimScheduler {
    prediction: Prediction,
    timesteps: Vec<f32>,
    coefs: Vec<StepCoefs>,
}

impl DdimScheduler {
    pub const PREDICTIONS: &'static [Prediction] = &[Prediction::Epsilon, Prediction::V, Prediction::X0];

    pub fn new(config: &SchedulerConfig) -> Result<Self, SchedulerError> {
        let ac = check::discrete_schedule(config, Self::PREDICTIONS, true)?;
        let final_alpha = f64::from(ac[0]); // set_alpha_to_one = False
        let stride = (config.train_timesteps / config.timesteps.len()) as i64;
        let coefs = config
            .timesteps
            .iter()
            .map(|&t| {
                let t = t as i64;
                let t_prev = t - stride;
                let alpha = f64::from(ac[t as usize]);
                let alpha_prev = if t_prev >= 0 { f64::from(ac[t_prev as usize]) } else { final_alpha };
                StepCoefs {
                    sqrt_alpha: alpha.sqrt(),
                    sqrt_beta: (1.0 - alpha).sqrt(),
                    sqrt_alpha_prev: alpha_prev.sqrt(),
                    sqrt_beta_prev: (1.0 - alpha_prev).sqrt(),
                }
            })
            .collect();
        Ok(Self { prediction: config.prediction, timesteps: config.timesteps.clone(), coefs })
    }
}

impl Scheduler for DdimScheduler {
    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn x0(&self, i: usize, model_output: &[f32], sample: &[f32]) -> Vec<f32> {
        check::step_args("ddim", self.timesteps.len(), i, model_output, sample, &[], false);
        let c = self.coefs[i];
        let x0 = |(&x, &m): (&f32, &f32)| self.prediction.x0(f64::from(x), f64::from(m), c.sqrt_alpha, c.sqrt_beta) as f32;
        sample.iter().zip(model_output).map(x0).collect()
    }

    fn step(&self, i: usize, model_output: &[f32], sample: &[f32], noise: &[f32]) -> Vec<f32> {
        check::step_args("ddim", self.timesteps.len(), i, model_output, sample, noise, false);
        let c = self.coefs[i];
        let pred = self.prediction;
        (0..sample.len())
            .map(|k| {
                let x = f64::from(sample[k]);
                let m = f64::from(model_output[k]);
                let x0 = pred.x0(x, m, c.sqrt_alpha, c.sqrt_beta);
                let eps = match pred {
                    Prediction::Epsilon => m,
                    Prediction::V => c.sqrt_alpha * m + c.sqrt_beta * x,
                    _ => (x - c.sqrt_alpha * x0) / c.sqrt_beta,
                };
                (c.sqrt_alpha_prev * x0 + c.sqrt_beta_prev * eps) as f32
            })
            .collect()
    }
}
