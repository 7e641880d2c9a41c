//! Latent Consistency Model multistep sampler: diffusers' `LCMScheduler`
//! (0.35.2) with the settings LCM / LCM-LoRA checkpoints use
//! (`timestep_scaling = 10`, no clipping, no thresholding).
//!
//! Step `i` at timestep `t` (next timestep `t'`):
//!
//! ```text
//! x0       = prediction-dependent estimate of the clean sample
//! denoised = c_out(t) * x0 + c_skip(t) * x_t
//!            c_skip = s² / ((10 t)² + s²),  c_out = 10 t / sqrt((10 t)² + s²),  s = sigma_data = 0.5
//! x_{t'}   = sqrt(ᾱ_{t'}) * denoised + sqrt(1 - ᾱ_{t'}) * z,  z ~ N(0, I)   (not after the last step)
//! ```
//!
//! After the last step the result is `denoised` (what the LCM pipeline decodes).
//! `set_alpha_to_one` / `final_alpha_cumprod` never matter here: diffusers
//! only reads ᾱ_prev to inject noise, which it skips on the last step.
//! The model input is not scaled and the initial noise sigma is 1.

use super::{check, Prediction, Scheduler, SchedulerConfig, SchedulerError};

/// `LCMScheduler.get_scalings_for_boundary_condition_discrete`'s constants.
const SIGMA_DATA: f64 = 0.5;
const TIMESTEP_SCALING: f64 = 10.0;

#[derive(Debug, Clone, Copy)]
struct StepCoefs {
    sqrt_alpha: f64,
    sqrt_beta: f64,
    c_skip: f64,
    c_out: f64,
    sqrt_alpha_next: f64,
    sqrt_beta_next: f64,
}

#[derive(Debug, Clone)]
pub struct LcmScheduler {
    prediction: Prediction,
    timesteps: Vec<f32>,
    coefs: Vec<StepCoefs>,
}

impl LcmScheduler {
    pub const PREDICTIONS: &'static [Prediction] = &[Prediction::Epsilon, Prediction::V, Prediction::X0];

    pub fn new(config: &SchedulerConfig) -> Result<Self, SchedulerError> {
        let ac = check::discrete_schedule(config, Self::PREDICTIONS, true)?;
        let ts = &config.timesteps;
        let coefs = (0..ts.len())
            .map(|i| {
                let t = ts[i] as usize;
                // diffusers: prev_timestep = timesteps[i + 1], or t itself on the last step.
                let t_next = ts.get(i + 1).map_or(t, |&t| t as usize);
                let alpha = f64::from(ac[t]);
                let alpha_next = f64::from(ac[t_next]);
                let scaled = f64::from(ts[i]) * TIMESTEP_SCALING;
                let denom = scaled * scaled + SIGMA_DATA * SIGMA_DATA;
                StepCoefs {
                    sqrt_alpha: alpha.sqrt(),
                    sqrt_beta: (1.0 - alpha).sqrt(),
                    c_skip: SIGMA_DATA * SIGMA_DATA / denom,
                    c_out: scaled / denom.sqrt(),
                    sqrt_alpha_next: alpha_next.sqrt(),
                    sqrt_beta_next: (1.0 - alpha_next).sqrt(),
                }
            })
            .collect();
        Ok(Self { prediction: config.prediction, timesteps: ts.clone(), coefs })
    }
}

impl Scheduler for LcmScheduler {
    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn needs_noise(&self, i: usize) -> bool {
        i + 1 < self.timesteps.len()
    }

    fn x0(&self, i: usize, model_output: &[f32], sample: &[f32]) -> Vec<f32> {
        check::step_args("lcm", self.timesteps.len(), i, model_output, sample, &[], false);
        let c = self.coefs[i];
        let denoised = |(&x, &m): (&f32, &f32)| {
            let (x, m) = (f64::from(x), f64::from(m));
            (c.c_out * self.prediction.x0(x, m, c.sqrt_alpha, c.sqrt_beta) + c.c_skip * x) as f32
        };
        sample.iter().zip(model_output).map(denoised).collect()
    }

    fn step(&self, i: usize, model_output: &[f32], sample: &[f32], noise: &[f32]) -> Vec<f32> {
        let inject = self.needs_noise(i);
        check::step_args("lcm", self.timesteps.len(), i, model_output, sample, noise, inject);
        let c = self.coefs[i];
        let pred = self.prediction;
        (0..sample.len())
            .map(|k| {
                let x = f64::from(sample[k]);
                let m = f64::from(model_output[k]);
                let x0 = pred.x0(x, m, c.sqrt_alpha, c.sqrt_beta);
                let denoised = c.c_out * x0 + c.c_skip * x;
                let next = if inject {
                    c.sqrt_alpha_next * denoised + c.sqrt_beta_next * f64::from(noise[k])
                } else {
                    denoised
                };
                next as f32
            })
            .collect()
    }
}
