//! The training noise schedule shared by the DDPM-family schedulers (LCM,
//! Euler, DDIM): `alphas_cumprod[t] = prod_{s <= t} (1 - beta_s)`.
//!
//! diffusers builds it in float32 with torch:
//!
//! ```python
//! betas = torch.linspace(beta_start, beta_end, N, dtype=torch.float32)               # linear
//! betas = torch.linspace(beta_start**0.5, beta_end**0.5, N, dtype=torch.float32) ** 2  # scaled_linear
//! alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
//! ```
//!
//! and every scheduler reads its coefficients from that float32 table, so we
//! reproduce it bit for bit rather than computing a "better" float64 table:
//!
//! * `torch.linspace` (CPU, float32) computes `step = (end - start) / (N - 1)`
//!   in float32 and fills the first half as `start + step * i` and the second
//!   half as `end - step * (N - 1 - i)`. torch's x86-64 AVX2/AVX512 kernels
//!   (and aarch64 builds) are compiled with FMA contraction, so each value is
//!   a single fused multiply-add; we use `f32::mul_add` (correctly rounded on
//!   every target) to get the same bits.
//! * `** 2` is `x * x` in float32, `1.0 - betas` is a float32 subtraction.
//! * `torch.cumprod` on CPU accumulates in float64 (`acc_type<float>` is
//!   double) and stores each running product rounded to float32.
//!
//! Checked against torch 2.8.0 by `tests/schedulers.rs` (fixture
//! `alphas_cumprod.json`): identical bits for the schedules we ship.

use super::BetaSchedule;

/// `torch.linspace(start, end, steps, dtype=torch.float32)` on CPU.
pub fn torch_linspace_f32(start: f32, end: f32, steps: usize) -> Vec<f32> {
    match steps {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (end - start) / (steps - 1) as f32;
            let half = steps / 2;
            (0..steps)
                .map(|i| {
                    if i < half {
                        step.mul_add(i as f32, start)
                    } else {
                        (-step).mul_add((steps - 1 - i) as f32, end)
                    }
                })
                .collect()
        }
    }
}

/// The float32 betas of the training schedule, as diffusers computes them.
pub fn betas(schedule: BetaSchedule, beta_start: f64, beta_end: f64, train_timesteps: usize) -> Vec<f32> {
    match schedule {
        BetaSchedule::Linear => torch_linspace_f32(beta_start as f32, beta_end as f32, train_timesteps),
        BetaSchedule::ScaledLinear => {
            // Python computes `beta_start**0.5` in float64; torch then rounds the
            // linspace end points to float32.
            torch_linspace_f32(beta_start.sqrt() as f32, beta_end.sqrt() as f32, train_timesteps)
                .into_iter()
                .map(|b| b * b)
                .collect()
        }
    }
}

/// diffusers' `scheduler.alphas_cumprod` (float32, one entry per training timestep).
pub fn alphas_cumprod(schedule: BetaSchedule, beta_start: f64, beta_end: f64, train_timesteps: usize) -> Vec<f32> {
    let mut acc = 1f64;
    betas(schedule, beta_start, beta_end, train_timesteps)
        .into_iter()
        .map(|b| {
            acc *= f64::from(1.0f32 - b);
            acc as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_end_points_are_exact() {
        let v = torch_linspace_f32(0.1, 0.7, 11);
        assert_eq!(v[0], 0.1);
        assert_eq!(v[10], 0.7);
        assert_eq!(torch_linspace_f32(3.0, 5.0, 1), vec![3.0]);
    }

    #[test]
    fn sd_schedule_known_values() {
        let ac = alphas_cumprod(BetaSchedule::ScaledLinear, 0.00085, 0.012, 1000);
        assert_eq!(ac.len(), 1000);
        assert!((ac[0] - 0.99915).abs() < 1e-7);
        // Well-known value of the SD 1.x/2.x schedule at t = 999.
        assert!((ac[999] - 0.0046).abs() < 1e-4, "{}", ac[999]);
    }
}
