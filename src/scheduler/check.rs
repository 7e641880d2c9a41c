//! Configuration checks shared by the schedulers. Every message starts with
//! the `SchedulerConfig` field it is about, as `scheduler.<field>: ...` (or
//! `scheduler.timesteps[i]: ...` for one entry of the list).

use super::{Prediction, SchedulerConfig, SchedulerError, SchedulerKind};
use std::fmt::Display;

pub(crate) fn invalid(field: &str, message: impl Display) -> SchedulerError {
    SchedulerError::Invalid(format!("scheduler.{field}: {message}"))
}

fn list(predictions: &[Prediction]) -> String {
    predictions.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

pub(crate) fn prediction(config: &SchedulerConfig, supported: &[Prediction]) -> Result<(), SchedulerError> {
    if supported.contains(&config.prediction) {
        return Ok(());
    }
    Err(invalid(
        "prediction",
        format!(
            "{} is not supported by the {} scheduler (supported: {})",
            config.prediction.name(),
            config.kind.name(),
            list(supported)
        ),
    ))
}

/// The most training timesteps a schedule may have. Models are trained with
/// 1000; the DDPM family tabulates one entry per timestep, so a manifest
/// asking for billions must be refused, not allocated (found by fuzzing).
pub(crate) const MAX_TRAIN_TIMESTEPS: usize = 100_000;

pub(crate) fn train_timesteps(config: &SchedulerConfig, min: usize) -> Result<(), SchedulerError> {
    if config.train_timesteps < min {
        return Err(invalid("train_timesteps", format!("must be at least {min}, got {}", config.train_timesteps)));
    }
    if config.train_timesteps > MAX_TRAIN_TIMESTEPS {
        return Err(invalid(
            "train_timesteps",
            format!("must be at most {MAX_TRAIN_TIMESTEPS}, got {}", config.train_timesteps),
        ));
    }
    Ok(())
}

/// beta_start / beta_end of the DDPM-family training schedule.
pub(crate) fn betas(config: &SchedulerConfig) -> Result<(), SchedulerError> {
    let (start, end) = (config.beta_start, config.beta_end);
    if !(start.is_finite() && start > 0.0 && start < 1.0) {
        return Err(invalid("beta_start", format!("must be in (0, 1), got {start}")));
    }
    if !(end.is_finite() && end >= start && end < 1.0) {
        return Err(invalid("beta_end", format!("must be >= beta_start ({start}) and < 1, got {end}")));
    }
    Ok(())
}

/// Non-empty, finite, strictly decreasing (sampling order).
pub(crate) fn timesteps_order(timesteps: &[f32]) -> Result<(), SchedulerError> {
    if timesteps.is_empty() {
        return Err(invalid("timesteps", "must not be empty"));
    }
    for (i, t) in timesteps.iter().enumerate() {
        if !t.is_finite() {
            return Err(invalid(&format!("timesteps[{i}]"), format!("{t} is not a finite number")));
        }
    }
    for i in 1..timesteps.len() {
        if timesteps[i] >= timesteps[i - 1] {
            return Err(invalid(
                &format!("timesteps[{i}]"),
                format!(
                    "{} is not below the previous timestep {} (timesteps are in sampling order, strictly decreasing)",
                    timesteps[i],
                    timesteps[i - 1]
                ),
            ));
        }
    }
    Ok(())
}

/// DDPM-family timesteps index the training schedule: `0 <= t <= train_timesteps - 1`,
/// and integers when `integer` (schedulers that index `alphas_cumprod[t]`).
pub(crate) fn discrete_timesteps(config: &SchedulerConfig, integer: bool) -> Result<(), SchedulerError> {
    timesteps_order(&config.timesteps)?;
    let max = config.train_timesteps - 1;
    for (i, &t) in config.timesteps.iter().enumerate() {
        if t < 0.0 || f64::from(t) > max as f64 {
            return Err(invalid(
                &format!("timesteps[{i}]"),
                format!(
                    "{t} is out of range: the {} scheduler needs 0 <= t <= {max} (train_timesteps - 1)",
                    config.kind.name()
                ),
            ));
        }
        if integer && t.fract() != 0.0 {
            return Err(invalid(
                &format!("timesteps[{i}]"),
                format!(
                    "{t} is not an integer: the {} scheduler indexes the training schedule by timestep",
                    config.kind.name()
                ),
            ));
        }
    }
    Ok(())
}

/// Flow-matching timesteps are `sigma * train_timesteps` with `0 < sigma <= 1`.
pub(crate) fn flow_timesteps(config: &SchedulerConfig) -> Result<(), SchedulerError> {
    timesteps_order(&config.timesteps)?;
    let max = config.train_timesteps;
    for (i, &t) in config.timesteps.iter().enumerate() {
        if !(t > 0.0 && f64::from(t) <= max as f64) {
            return Err(invalid(
                &format!("timesteps[{i}]"),
                format!(
                    "{t} is out of range: the {} scheduler needs 0 < t <= {max} (t = sigma * train_timesteps)",
                    SchedulerKind::FlowEuler.name()
                ),
            ));
        }
    }
    Ok(())
}

/// Argument checks of `Scheduler::step` (a pipeline bug, not a config error).
pub(crate) fn step_args(
    name: &str,
    n: usize,
    i: usize,
    model_output: &[f32],
    sample: &[f32],
    noise: &[f32],
    needs_noise: bool,
) {
    assert!(i < n, "{name} scheduler: step {i} out of range (the run has {n} steps)");
    assert_eq!(
        model_output.len(),
        sample.len(),
        "{name} scheduler: model output and sample lengths differ at step {i}"
    );
    if needs_noise {
        assert_eq!(noise.len(), sample.len(), "{name} scheduler: step {i} needs noise of the sample's length");
    }
}

/// The checks every DDPM-family scheduler (LCM, Euler, DDIM) makes, in this
/// order, then its alphas_cumprod table.
pub fn discrete_schedule(
    config: &SchedulerConfig,
    predictions: &[Prediction],
    integer_timesteps: bool,
) -> Result<Vec<f32>, SchedulerError> {
    train_timesteps(config, 2)?;
    betas(config)?;
    prediction(config, predictions)?;
    discrete_timesteps(config, integer_timesteps)?;
    Ok(super::betas::alphas_cumprod(config.beta_schedule, config.beta_start, config.beta_end, config.train_timesteps))
}
