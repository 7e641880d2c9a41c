//! The Rust schedulers against golden vectors from diffusers 0.35.2 / torch
//! 2.8.0 (`tests/fixtures/schedulers/`, made by
//! `scripts/fixtures/make_scheduler_fixtures.py`), plus the configuration errors.
//!
//! Tolerance: a step's result `a` matches diffusers' `b` when
//! `max_k |a_k - b_k| <= TOL * scale`, with `scale` the largest magnitude among
//! the step's input latents, model output and diffusers' result. Element-wise
//! relative error is meaningless where diffusers' own float32 arithmetic
//! cancels: e.g. a 1-step Euler run computes `x + (x0 - x)/sigma * (0 - sigma)`
//! with |x| ~ 15 and |x0| ~ 1. diffusers works in float32 (its `sqrt` is not
//! even correctly rounded on MKL builds), we work in float64 from the same
//! float32 tables, so the residual is a few float32 ulps of that scale.
//! `STEP_TOL` = 5e-7 for one step from diffusers' own latents, `RUN_TOL` = 1e-6
//! for whole runs (up to 25 steps) fed only the initial latents and the
//! recorded model outputs/noise; measured worst cases (torch 2.8.0 AVX512,
//! printed with `--nocapture`): one step 2.2e-7, whole run 5.8e-7 (DDIM
//! 25 steps), flow 6e-8. The float32 `alphas_cumprod` table is bit-exact.

use edgepaint::scheduler::{
    betas, build, euler::EulerScheduler, flow_euler::FlowEulerScheduler, BetaSchedule, Prediction, SchedulerConfig, TimestepSpacing,
    SchedulerKind,
};
use serde::Deserialize;
use std::path::PathBuf;

/// One step, started from diffusers' latents.
const STEP_TOL: f64 = 5e-7;
/// A whole run, started from the initial latents only.
const RUN_TOL: f64 = 1e-6;
/// Scalars: init_noise_sigma, model-input scale, sigmas.
const SCALAR_TOL: f64 = 3e-7;

#[derive(Deserialize)]
struct CaseFile {
    torch: String,
    diffusers: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    kind: SchedulerKind,
    prediction: Prediction,
    train_timesteps: usize,
    beta_schedule: BetaSchedule,
    beta_start: f64,
    beta_end: f64,
    diffusers_config: serde_json::Value,
    timesteps: Vec<f32>,
    init_noise_sigma: f32,
    model_input_scale: Vec<f32>,
    model_outputs: Vec<Vec<f32>>,
    noise: Vec<Vec<f32>>,
    latents: Vec<Vec<f32>>,
    /// The clean-sample estimate at each step (diffusers' pred_original_sample;
    /// LCM: denoised; flow: x - sigma * v).
    x0: Vec<Vec<f32>>,
    #[serde(default)]
    sigmas: Option<Vec<f32>>,
}

impl Case {
    fn config(&self) -> SchedulerConfig {
        SchedulerConfig {
            kind: self.kind,
            prediction: self.prediction,
            train_timesteps: self.train_timesteps,
            beta_schedule: self.beta_schedule,
            beta_start: self.beta_start,
            beta_end: self.beta_end,
            timesteps: self.timesteps.clone(),
            // diffusers' timestep_spacing of the case (Euler's initial noise depends on it).
            timestep_spacing: match self.diffusers_config["timestep_spacing"].as_str() {
                Some("leading") => TimestepSpacing::Leading,
                Some("linspace") => TimestepSpacing::Linspace,
                _ => TimestepSpacing::Trailing,
            },
        }
    }
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedulers")
}

fn load(name: &str) -> CaseFile {
    let path = fixture_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn max_abs(v: &[f32]) -> f64 {
    v.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()))
}

/// `max |a - b| / scale`, `scale` = the largest magnitude in `b` and `inputs`.
fn rel_err(a: &[f32], b: &[f32], inputs: &[&[f32]]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = inputs.iter().fold(max_abs(b), |m, v| m.max(max_abs(v))).max(f64::MIN_POSITIVE);
    let diff = a.iter().zip(b).fold(0f64, |m, (&x, &y)| m.max((f64::from(x) - f64::from(y)).abs()));
    diff / scale
}

fn scalar_err(a: f32, b: f32) -> f64 {
    (f64::from(a) - f64::from(b)).abs() / f64::from(b).abs().max(f64::MIN_POSITIVE)
}

#[derive(Default, Debug)]
struct Worst {
    step: f64,
    run: f64,
    scalar: f64,
}

/// Check every case of a fixture file; returns the worst errors seen.
fn check_file(file: &str, kind: SchedulerKind) -> Worst {
    let f = load(file);
    assert!(!f.cases.is_empty());
    let mut worst = Worst::default();
    for case in &f.cases {
        assert_eq!(case.kind, kind, "{}", case.name);
        let s = build(&case.config()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let n = case.timesteps.len();
        let ctx = |what: &str| format!("{} ({}): {what}", case.name, case.diffusers_config);
        assert_eq!(s.timesteps(), &case.timesteps[..], "{}", ctx("timesteps"));
        assert_eq!(case.model_outputs.len(), n);
        assert_eq!(case.latents.len(), n + 1);

        // Initial noise sigma (for Euler "leading" it is sqrt(max_sigma² + 1)).
        let init = s.init_noise_sigma();
        let e = scalar_err(init, case.init_noise_sigma);
        worst.scalar = worst.scalar.max(e);
        assert!(e <= SCALAR_TOL, "{}: {init} vs {} ({e:e})", ctx("init_noise_sigma"), case.init_noise_sigma);

        let mut latents = case.latents[0].clone();
        for i in 0..n {
            let e = scalar_err(s.model_input_scale(i), case.model_input_scale[i]);
            worst.scalar = worst.scalar.max(e);
            assert!(e <= SCALAR_TOL, "{}: {e:e}", ctx(&format!("model_input_scale({i})")));

            let noise = &case.noise[i];
            assert_eq!(s.needs_noise(i), !noise.is_empty(), "{}", ctx(&format!("needs_noise({i})")));
            let out = &case.model_outputs[i];

            // One step from diffusers' own latents.
            let one = s.step(i, out, &case.latents[i], noise);
            let e = rel_err(&one, &case.latents[i + 1], &[&case.latents[i], out]);
            worst.step = worst.step.max(e);
            assert!(e <= STEP_TOL, "{}: relative error {e:e}", ctx(&format!("step {i}")));

            // The clean-sample estimate a preview shows, from the same latents.
            let x0 = s.x0(i, out, &case.latents[i]);
            let e = rel_err(&x0, &case.x0[i], &[&case.latents[i], out]);
            worst.step = worst.step.max(e);
            assert!(e <= STEP_TOL, "{}: relative error {e:e}", ctx(&format!("x0 at step {i}")));

            // The whole run so far, from our own latents.
            let next = s.step(i, out, &latents, noise);
            let e = rel_err(&next, &case.latents[i + 1], &[&case.latents[i], out]);
            latents = next;
            worst.run = worst.run.max(e);
            assert!(e <= RUN_TOL, "{}: relative error {e:e}", ctx(&format!("run after step {i}")));
        }

        if let Some(sigmas) = &case.sigmas {
            let ours: Vec<f32> = match kind {
                SchedulerKind::Euler => EulerScheduler::new(&case.config()).unwrap().sigmas().to_vec(),
                SchedulerKind::FlowEuler => FlowEulerScheduler::new(&case.config()).unwrap().sigmas().to_vec(),
                _ => continue,
            };
            assert_eq!(ours.len(), sigmas.len(), "{}", ctx("sigmas"));
            for (a, b) in ours.iter().zip(sigmas) {
                let e = if *b == 0.0 { f64::from(*a).abs() } else { scalar_err(*a, *b) };
                worst.scalar = worst.scalar.max(e);
                assert!(e <= SCALAR_TOL, "{}: {a} vs {b}", ctx("sigmas"));
            }
        }
    }
    eprintln!(
        "{file}: {} cases (torch {}, diffusers {}); worst relative error: one step {:.2e}, whole run {:.2e}, scalars {:.2e}",
        f.cases.len(),
        f.torch,
        f.diffusers,
        worst.step,
        worst.run,
        worst.scalar
    );
    worst
}

#[test]
fn lcm_matches_diffusers() {
    check_file("lcm.json", SchedulerKind::Lcm);
}

#[test]
fn euler_matches_diffusers() {
    check_file("euler.json", SchedulerKind::Euler);
}

#[test]
fn ddim_matches_diffusers() {
    check_file("ddim.json", SchedulerKind::Ddim);
}

#[test]
fn flow_euler_matches_diffusers() {
    check_file("flow_euler.json", SchedulerKind::FlowEuler);
}

#[test]
fn alphas_cumprod_is_bit_exact() {
    #[derive(Deserialize)]
    struct Schedule {
        beta_schedule: BetaSchedule,
        beta_start: f64,
        beta_end: f64,
        train_timesteps: usize,
        alphas_cumprod: Vec<f32>,
    }
    #[derive(Deserialize)]
    struct File {
        schedules: Vec<Schedule>,
    }
    let text = std::fs::read_to_string(fixture_dir().join("alphas_cumprod.json")).unwrap();
    let f: File = serde_json::from_str(&text).unwrap();
    assert!(!f.schedules.is_empty());
    for s in f.schedules {
        let ours = betas::alphas_cumprod(s.beta_schedule, s.beta_start, s.beta_end, s.train_timesteps);
        assert_eq!(ours.len(), s.alphas_cumprod.len());
        for (t, (a, b)) in ours.iter().zip(&s.alphas_cumprod).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{:?} {}..{} t={t}: {a} vs {b}",
                s.beta_schedule,
                s.beta_start,
                s.beta_end
            );
        }
    }
}

// ---------------------------------------------------------------- behaviour

fn config(kind: SchedulerKind, prediction: Prediction, timesteps: &[f32]) -> SchedulerConfig {
    SchedulerConfig {
        kind,
        prediction,
        train_timesteps: 1000,
        beta_schedule: BetaSchedule::ScaledLinear,
        beta_start: 0.00085,
        beta_end: 0.012,
        timesteps: timesteps.to_vec(),
        timestep_spacing: Default::default(),
    }
}

#[test]
fn lcm_injects_noise_between_steps_only() {
    let s = build(&config(SchedulerKind::Lcm, Prediction::Epsilon, &[999.0, 759.0, 499.0, 259.0])).unwrap();
    let pattern: Vec<bool> = (0..4).map(|i| s.needs_noise(i)).collect();
    assert_eq!(pattern, [true, true, true, false]);
    assert_eq!(s.init_noise_sigma(), 1.0);
    assert_eq!(s.model_input_scale(2), 1.0);
}

#[test]
fn deterministic_samplers_need_no_noise() {
    for (kind, pred, ts) in [
        (SchedulerKind::Euler, Prediction::Epsilon, vec![999.0f32, 499.0]),
        (SchedulerKind::Ddim, Prediction::V, vec![999.0, 499.0]),
        (SchedulerKind::FlowEuler, Prediction::Flow, vec![1000.0, 500.0]),
    ] {
        let s = build(&config(kind, pred, &ts)).unwrap();
        assert!(!s.needs_noise(0) && !s.needs_noise(1), "{kind:?}");
    }
}

#[test]
fn sd_turbo_one_step_euler() {
    // SD-Turbo: EulerDiscreteScheduler, "trailing" spacing, 1 step at t = 999.
    let s = build(&config(SchedulerKind::Euler, Prediction::Epsilon, &[999.0])).unwrap();
    let sigma = s.init_noise_sigma();
    assert!((sigma - 14.6146).abs() < 1e-3, "{sigma}");
    let scale = s.model_input_scale(0);
    assert!((scale - 1.0 / (sigma * sigma + 1.0).sqrt()).abs() < 1e-7);
    // With a perfect noise prediction one step returns x0 exactly.
    let x0 = [0.3f32, -0.7];
    let eps = [1.1f32, -0.4];
    let xt: Vec<f32> = x0.iter().zip(&eps).map(|(x, e)| x + sigma * e).collect();
    let out = s.step(0, &eps, &xt, &[]);
    for (a, b) in out.iter().zip(&x0) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn flow_euler_step_is_an_euler_step() {
    let s = build(&config(SchedulerKind::FlowEuler, Prediction::Flow, &[1000.0, 750.0, 500.0, 250.0])).unwrap();
    assert_eq!(s.init_noise_sigma(), 1.0);
    let x = [1.0f32, -2.0];
    let v = [0.5f32, 4.0];
    assert_eq!(s.step(0, &v, &x, &[]), vec![1.0 - 0.25 * 0.5, -2.0 - 0.25 * 4.0]);
    // After the last step sigma goes to 0: x - 0.25 v.
    assert_eq!(s.step(3, &v, &x, &[]), vec![1.0 - 0.25 * 0.5, -2.0 - 0.25 * 4.0]);
}

#[test]
#[should_panic(expected = "lcm scheduler: step 1 needs noise of the sample's length")]
fn lcm_step_without_noise_panics() {
    let s = build(&config(SchedulerKind::Lcm, Prediction::Epsilon, &[999.0, 759.0, 499.0])).unwrap();
    s.step(1, &[0.0; 4], &[0.0; 4], &[]);
}

#[test]
#[should_panic(expected = "ddim scheduler: step 2 out of range (the run has 2 steps)")]
fn step_out_of_range_panics() {
    let s = build(&config(SchedulerKind::Ddim, Prediction::Epsilon, &[999.0, 499.0])).unwrap();
    s.step(2, &[0.0; 4], &[0.0; 4], &[]);
}

// ---------------------------------------------------------------- config errors

fn err(c: &SchedulerConfig) -> String {
    match build(c) {
        Ok(_) => panic!("{c:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn rejects_empty_timesteps() {
    for kind in [SchedulerKind::Lcm, SchedulerKind::Euler, SchedulerKind::Ddim] {
        assert_eq!(err(&config(kind, Prediction::Epsilon, &[])), "scheduler.timesteps: must not be empty");
    }
    assert_eq!(err(&config(SchedulerKind::FlowEuler, Prediction::Flow, &[])), "scheduler.timesteps: must not be empty");
}

#[test]
fn rejects_unordered_timesteps() {
    assert_eq!(
        err(&config(SchedulerKind::Lcm, Prediction::Epsilon, &[999.0, 259.0, 499.0])),
        "scheduler.timesteps[2]: 499 is not below the previous timestep 259 (timesteps are in sampling order, strictly decreasing)"
    );
    assert_eq!(
        err(&config(SchedulerKind::Euler, Prediction::Epsilon, &[499.0, 499.0])),
        "scheduler.timesteps[1]: 499 is not below the previous timestep 499 (timesteps are in sampling order, strictly decreasing)"
    );
    assert_eq!(
        err(&config(SchedulerKind::FlowEuler, Prediction::Flow, &[250.0, 1000.0])),
        "scheduler.timesteps[1]: 1000 is not below the previous timestep 250 (timesteps are in sampling order, strictly decreasing)"
    );
}

#[test]
fn rejects_non_finite_timesteps() {
    assert_eq!(
        err(&config(SchedulerKind::Ddim, Prediction::Epsilon, &[999.0, f32::NAN])),
        "scheduler.timesteps[1]: NaN is not a finite number"
    );
}

#[test]
fn rejects_out_of_range_timesteps() {
    assert_eq!(
        err(&config(SchedulerKind::Lcm, Prediction::Epsilon, &[1000.0, 500.0])),
        "scheduler.timesteps[0]: 1000 is out of range: the lcm scheduler needs 0 <= t <= 999 (train_timesteps - 1)"
    );
    assert_eq!(
        err(&config(SchedulerKind::Euler, Prediction::V, &[999.5])),
        "scheduler.timesteps[0]: 999.5 is out of range: the euler scheduler needs 0 <= t <= 999 (train_timesteps - 1)"
    );
    assert_eq!(
        err(&config(SchedulerKind::Ddim, Prediction::Epsilon, &[500.0, -1.0])),
        "scheduler.timesteps[1]: -1 is out of range: the ddim scheduler needs 0 <= t <= 999 (train_timesteps - 1)"
    );
    assert_eq!(
        err(&config(SchedulerKind::FlowEuler, Prediction::Flow, &[1001.0])),
        "scheduler.timesteps[0]: 1001 is out of range: the flow-euler scheduler needs 0 < t <= 1000 (t = sigma * train_timesteps)"
    );
    assert_eq!(
        err(&config(SchedulerKind::FlowEuler, Prediction::Flow, &[500.0, 0.0])),
        "scheduler.timesteps[1]: 0 is out of range: the flow-euler scheduler needs 0 < t <= 1000 (t = sigma * train_timesteps)"
    );
    // Flow accepts t = train_timesteps (sigma = 1); Euler accepts fractional timesteps.
    assert!(build(&config(SchedulerKind::FlowEuler, Prediction::Flow, &[1000.0, 0.5])).is_ok());
    assert!(build(&config(SchedulerKind::Euler, Prediction::Epsilon, &[999.0, 832.5, 0.0])).is_ok());
}

#[test]
fn rejects_a_training_schedule_too_long_to_tabulate() {
    // The DDPM family tabulates every training timestep: the fuzzer's manifest
    // with 100000000000 asked for 400 GB and aborted; one million was quietly
    // built. (Values that fit a 32-bit usize, for the armv7 build.)
    for (kind, prediction, ts) in [
        (SchedulerKind::Lcm, Prediction::Epsilon, 999.0),
        (SchedulerKind::Ddim, Prediction::Epsilon, 999.0),
        (SchedulerKind::Euler, Prediction::Epsilon, 999.0),
        (SchedulerKind::FlowEuler, Prediction::Flow, 1000.0),
    ] {
        for n in [1_000_000, 4_000_000_000] {
            let c = SchedulerConfig { train_timesteps: n, ..config(kind, prediction, &[ts]) };
            assert_eq!(err(&c), format!("scheduler.train_timesteps: must be at most 100000, got {n}"));
        }
    }
}

#[test]
fn rejects_fractional_timesteps_where_indexed() {
    assert_eq!(
        err(&config(SchedulerKind::Lcm, Prediction::Epsilon, &[999.0, 499.5])),
        "scheduler.timesteps[1]: 499.5 is not an integer: the lcm scheduler indexes the training schedule by timestep"
    );
    assert_eq!(
        err(&config(SchedulerKind::Ddim, Prediction::Epsilon, &[832.5])),
        "scheduler.timesteps[0]: 832.5 is not an integer: the ddim scheduler indexes the training schedule by timestep"
    );
}

#[test]
fn rejects_unsupported_predictions() {
    for (kind, name) in [(SchedulerKind::Lcm, "lcm"), (SchedulerKind::Euler, "euler"), (SchedulerKind::Ddim, "ddim")] {
        assert_eq!(
            err(&config(kind, Prediction::Flow, &[999.0])),
            format!("scheduler.prediction: flow is not supported by the {name} scheduler (supported: epsilon, v, x0)")
        );
    }
    for p in [Prediction::Epsilon, Prediction::V, Prediction::X0] {
        assert_eq!(
            err(&config(SchedulerKind::FlowEuler, p, &[1000.0])),
            format!(
                "scheduler.prediction: {} is not supported by the flow-euler scheduler (supported: flow)",
                p.name()
            )
        );
    }
}

#[test]
fn rejects_bad_training_schedule() {
    let mut c = config(SchedulerKind::Ddim, Prediction::Epsilon, &[999.0]);
    c.beta_start = 0.0;
    assert_eq!(err(&c), "scheduler.beta_start: must be in (0, 1), got 0");
    c.beta_start = 0.02;
    assert_eq!(err(&c), "scheduler.beta_end: must be >= beta_start (0.02) and < 1, got 0.012");
    c.beta_start = 0.00085;
    c.beta_end = f64::NAN;
    assert_eq!(err(&c), "scheduler.beta_end: must be >= beta_start (0.00085) and < 1, got NaN");
    let mut c = config(SchedulerKind::Euler, Prediction::Epsilon, &[0.0]);
    c.train_timesteps = 1;
    assert_eq!(err(&c), "scheduler.train_timesteps: must be at least 2, got 1");
    let mut c = config(SchedulerKind::FlowEuler, Prediction::Flow, &[1.0]);
    c.train_timesteps = 0;
    assert_eq!(err(&c), "scheduler.train_timesteps: must be at least 1, got 0");
    // Flow ignores the beta fields.
    c.train_timesteps = 1000;
    c.beta_start = -1.0;
    assert!(build(&c).is_ok());
}
