//! `edgepaint bench`: time each stage of a bundle on fixed inputs, with the
//! FLOPs the runtime counts on each graph and the process's peak memory. Absolute
//! times depend on the machine; `scripts/bench/bench_compare.py` puts them beside
//! onnxruntime on the same files in the same run.

mod inputs_npy;
mod memory;
mod stats;

pub use memory::peak_rss_bytes;
pub use stats::Samples;

use crate::bundle::Bundle;
use crate::image::encode_png;
use crate::noise::Noise;
use crate::pipeline::{load_graph, Component, Options, Pipeline, PipelineError, Request};
use crate::runtime::{Graph, Input, OpTime, RuntimeError};
use crate::scheduler;
use crate::scorer::Scorer;
use crate::tensor::Tensor;
use serde::Serialize;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What every stage is run on (a prompt of the scenes world; any prompt
/// costs the same, the graphs have fixed shapes).
pub const PROMPT: &str = "a red house on a green hill at sunset, the sun on the left";
const SEED: u64 = 42;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Denoising steps of the whole-image runs (None: the bundle's default).
    pub steps: Option<usize>,
    /// Timed runs per stage, after `warmup` untimed ones.
    pub runs: usize,
    pub warmup: usize,
    pub low_memory: bool,
    /// Write the per-stage inputs here as .npy (for onnxruntime comparisons).
    pub save_inputs: Option<PathBuf>,
    /// Also time every operator of each graph.
    pub profile: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: &'static str,
    /// Graph calls per run of the stage (2 for a denoiser step with guidance).
    pub calls: usize,
    pub flops: u64,
    pub times_ms: Samples,
    pub gflops_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub model_dir: String,
    pub files: Files,
    pub threads: usize,
    pub steps: usize,
    pub guidance: f32,
    /// Pipeline::load: check the bundle, load and optimize the three graphs.
    pub startup_ms: f64,
    pub stages: Vec<Stage>,
    /// Share of a whole image spent in the denoiser steps (the rest is text
    /// encoding, decoding and glue: tokenizer, noise, scheduler, PNG encode).
    pub denoise_share: f64,
    /// startup_ms / median whole image.
    pub startup_vs_image: f64,
    /// Peak resident memory after the whole-image runs (before the per-stage
    /// runs load their own copies of the graphs).
    pub peak_rss_bytes: Option<u64>,
    /// Per graph, time per run by operator kind (with --profile).
    pub profile: Vec<GraphProfile>,
    /// What a preview after every step costs, per kind the bundle can make.
    pub previews: Vec<PreviewCost>,
    /// What scoring one best-of candidate costs (bundles with a scorer).
    pub scorer: Option<ScorerCost>,
}

/// The self-check scorer's time per candidate (its image tower and the
/// cosine; the prompt's embedding is made once per request) and its share of
/// a whole image at the benchmark's step count.
#[derive(Debug, Clone, Serialize)]
pub struct ScorerCost {
    pub ms: f64,
    pub share_of_image: f64,
}

/// The time of one preview (docs/bundle.md "Previews") and its share of a
/// denoiser step.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewCost {
    pub kind: &'static str,
    pub ms: f64,
    pub share_of_step: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphProfile {
    pub graph: &'static str,
    pub ops: Vec<OpTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Files {
    pub text_encoder: String,
    pub denoiser: String,
    pub decoder: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot encode the PNG: {0}")]
    Png(#[from] png::EncodingError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("runs must be at least 1")]
    NoRuns,
}

pub fn run(dir: &Path, threads: usize, options: &BenchOptions) -> Result<BenchReport, BenchError> {
    if options.runs == 0 {
        return Err(BenchError::NoRuns);
    }
    let started = Instant::now();
    let mut pipeline = Pipeline::load(dir, Options::new(options.low_memory, None))?;
    let startup_ms = ms(started);
    let request = Request { steps: options.steps, ..Request::new(PROMPT, SEED) };
    let steps = pipeline.check(&request)?;

    // Whole images, as `generate` makes them (PNG encoded in memory).
    let mut image_ms = Vec::new();
    let mut denoise_ms = Vec::new();
    let mut picture = None;
    for run in 0..options.warmup + options.runs {
        // Each picture encodes its prompt, as a fresh `generate` does.
        pipeline.forget_text();
        let t0 = Instant::now();
        let generated = pipeline.generate(&request, &mut |_| ControlFlow::Continue(()))?;
        encode_png(&generated.image, &[])?;
        picture = Some(generated.image);
        if run >= options.warmup {
            image_ms.push(ms(t0));
            denoise_ms.push(generated.timings.steps_ms.iter().sum::<f64>());
        }
    }
    let peak_rss_bytes = peak_rss_bytes();
    let bundle = pipeline.bundle().clone();
    drop(pipeline);

    let m = &bundle.manifest;
    let guidance = m.guidance.scale;
    let cfg_calls = if guidance > 1.0 { 2 } else { 1 };
    let inputs = StageInputs::new(&bundle, steps)?;
    let text_encoder = load_graph(&bundle, Component::TextEncoder)?;
    let denoiser = load_graph(&bundle, Component::Denoiser)?;
    let decoder = load_graph(&bundle, Component::Decoder)?;
    let states = text_encoder.run(&inputs.text)?;
    if let Some(dir) = &options.save_inputs {
        inputs.save(dir, &states)?;
    }

    let text = time_stage("text encoder", 1, &text_encoder, options, || text_encoder.run(&inputs.text))?;
    let step_inputs = inputs.denoiser(states);
    let step = time_stage("denoiser step", cfg_calls, &denoiser, options, || {
        for _ in 0..cfg_calls {
            denoiser.run(&step_inputs)?;
        }
        Ok(())
    })?;
    let decode = time_stage("decoder", 1, &decoder, options, || decoder.run(&inputs.latents))?;
    let mut profile = Vec::new();
    if options.profile {
        profile.push(GraphProfile { graph: "text encoder", ops: text_encoder.profile(&inputs.text, options.runs)? });
        profile.push(GraphProfile { graph: "denoiser", ops: denoiser.profile(&step_inputs, options.runs)? });
        profile.push(GraphProfile { graph: "decoder", ops: decoder.profile(&inputs.latents, options.runs)? });
    }
    // A `decoder` preview is one decoder run; `fast` is timed where the
    // bundle has its map.
    let cost = |kind, ms: f64| PreviewCost { kind, ms, share_of_step: ms / step.times_ms.median };
    let mut previews = vec![cost("decoder", decode.times_ms.median)];
    if !m.preview.matrix.is_empty() {
        let Input::F32(x0) = &inputs.latents[0] else { unreachable!("built by StageInputs::new") };
        let mut times = Vec::new();
        for i in 0..options.warmup + options.runs {
            let t0 = Instant::now();
            std::hint::black_box(crate::pipeline::preview::fast(m, &x0.data));
            if i >= options.warmup {
                times.push(ms(t0));
            }
        }
        previews.push(cost("fast", Samples::new(times).median));
    }
    if m.preview.file.is_some() {
        // `tiny`: its own decoder on the whole latent.
        let tiny = load_graph(&bundle, Component::Preview)?;
        let (c, h, w) = (m.latent.channels, m.latent.height, m.latent.width);
        let x0 = [Input::F32(crate::tensor::Tensor::new(vec![1, c, h, w], vec![0.1; c * h * w]))];
        let t = time_stage("preview decoder", 1, &tiny, options, || tiny.run(&x0))?;
        previews.push(cost("tiny", t.times_ms.median));
    }
    let image_flops = cfg_calls as u64 * text.flops + steps as u64 * step.flops + decode.flops;
    let image = Samples::new(image_ms);
    let image_median = image.median;
    let scorer = match (&m.scorer, &picture) {
        (Some(_), Some(picture)) => {
            let scorer = Scorer::load(&bundle).map_err(PipelineError::from)?;
            let text = scorer.text_embedding(PROMPT).map_err(PipelineError::from)?;
            let mut times = Vec::new();
            for i in 0..options.warmup + options.runs {
                let t0 = Instant::now();
                std::hint::black_box(scorer.score(picture, &text).map_err(PipelineError::from)?);
                if i >= options.warmup {
                    times.push(ms(t0));
                }
            }
            let ms = Samples::new(times).median;
            Some(ScorerCost { ms, share_of_image: ms / image_median })
        }
        _ => None,
    };
    let denoise = Samples::new(denoise_ms);
    let whole = Stage {
        name: "whole image",
        calls: 1,
        flops: image_flops,
        gflops_per_s: gflops(image_flops, image.median),
        times_ms: image,
    };
    Ok(BenchReport {
        model: bundle.id(),
        model_dir: bundle.dir.display().to_string(),
        files: Files {
            text_encoder: bundle.path(&m.text_encoder.file).display().to_string(),
            denoiser: bundle.path(&m.denoiser.file).display().to_string(),
            decoder: bundle.path(&m.decoder.file).display().to_string(),
        },
        threads,
        steps,
        guidance,
        startup_ms,
        denoise_share: denoise.median / image_median,
        startup_vs_image: startup_ms / image_median,
        stages: vec![text, step, decode, whole],
        peak_rss_bytes,
        profile,
        previews,
        scorer,
    })
}

/// Fixed inputs for the per-stage runs: the prompt's tokens, seeded noise at
/// the first timestep, and the latent the decoder gets.
struct StageInputs {
    text: Vec<Input>,
    latents: Vec<Input>,
    timestep: f32,
}

impl StageInputs {
    fn new(bundle: &Bundle, steps: usize) -> Result<StageInputs, BenchError> {
        let m = &bundle.manifest;
        let tokenizer = bundle.tokenizer().map_err(PipelineError::from)?;
        let ids = tokenizer.encode(PROMPT).ids;
        let config = bundle.scheduler_config(steps).expect("steps checked by the pipeline");
        let scheduler = scheduler::build(&config).map_err(PipelineError::from)?;
        let shape = vec![1, m.latent.channels, m.latent.height, m.latent.width];
        let n = shape.iter().product();
        let noise = Noise::new(SEED).normals(n);
        let scale = scheduler.init_noise_sigma() * scheduler.model_input_scale(0);
        Ok(StageInputs {
            text: vec![Input::I64 { shape: vec![1, ids.len()], data: ids }],
            latents: vec![Input::F32(Tensor::new(shape.clone(), noise.iter().map(|v| v * scale).collect()))],
            timestep: scheduler.timesteps()[0],
        })
    }

    /// input_ids.npy, sample.npy, timestep.npy, encoder_hidden_states.npy and
    /// latents.npy: named after the graph inputs of docs/bundle.md.
    fn save(&self, dir: &Path, states: &Tensor) -> Result<(), BenchError> {
        let fail = |path: PathBuf| move |source| BenchError::Write { path, source };
        std::fs::create_dir_all(dir).map_err(fail(dir.to_path_buf()))?;
        let (Input::I64 { shape: id_shape, data: ids }, Input::F32(latents)) = (&self.text[0], &self.latents[0]) else {
            unreachable!("built by StageInputs::new")
        };
        let p = dir.join("input_ids.npy");
        inputs_npy::write_i64(&p, id_shape, ids).map_err(fail(p.clone()))?;
        for name in ["sample.npy", "latents.npy"] {
            let p = dir.join(name);
            inputs_npy::write_f32(&p, &latents.shape, &latents.data).map_err(fail(p.clone()))?;
        }
        let p = dir.join("timestep.npy");
        inputs_npy::write_f32(&p, &[1], &[self.timestep]).map_err(fail(p.clone()))?;
        let p = dir.join("encoder_hidden_states.npy");
        inputs_npy::write_f32(&p, &states.shape, &states.data).map_err(fail(p.clone()))?;
        Ok(())
    }

    fn denoiser(&self, states: Tensor) -> Vec<Input> {
        vec![self.latents[0].clone(), Input::F32(Tensor::new(vec![1], vec![self.timestep])), Input::F32(states)]
    }
}

fn time_stage<T>(
    name: &'static str,
    calls: usize,
    graph: &Graph,
    options: &BenchOptions,
    mut run: impl FnMut() -> Result<T, RuntimeError>,
) -> Result<Stage, BenchError> {
    let mut times = Vec::with_capacity(options.runs);
    for i in 0..options.warmup + options.runs {
        let t0 = Instant::now();
        run()?;
        if i >= options.warmup {
            times.push(ms(t0));
        }
    }
    let times_ms = Samples::new(times);
    let flops = graph.flops() * calls as u64;
    Ok(Stage { name, calls, flops, gflops_per_s: gflops(flops, times_ms.median), times_ms })
}

fn gflops(flops: u64, median_ms: f64) -> f64 {
    if median_ms > 0.0 {
        flops as f64 / (median_ms * 1e6)
    } else {
        0.0
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
