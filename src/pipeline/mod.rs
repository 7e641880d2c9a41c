//! Prompt → picture. Knows nothing of boards, displays or inputs: a
//! [`Request`] and a progress callback go in, a [`Generated`] image with
//! timings comes out.

mod best_of;
mod models;
pub mod preview;
mod request;
mod text;
pub mod residency;
pub mod tiled_decode;

pub use models::{
    decoder_input_hw, load as load_graph, load_specs, scorer_specs, spec as graph_spec, stream as stream_graph, Component, GraphSpec,
};
pub use best_of::{check_best_of, BestOf, Candidate, MAX_BEST_OF};
pub use request::{Generated, Progress, Request, Timings};
pub use residency::Memory;

use crate::bundle::{Bundle, BundleError, PreviewKind};
use crate::image::RgbImage;
use crate::noise::Noise;
use crate::runtime::{self, Graph, Input, RuntimeError};
use crate::scheduler::{self, SchedulerError};
use crate::tensor::Tensor;
use crate::tokenizer::{ClipTokenizer, TokenizerError};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error("{0}")]
    BadRequest(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Preview(String),
    #[error(transparent)]
    Scorer(#[from] crate::scorer::ScorerError),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Which graphs stay loaded between pictures (residency.rs). `Low`: each
    /// is loaded for its stage and dropped after (a graph stored in segments:
    /// one segment at a time), and freed memory goes back to the system at
    /// once (process-wide; slower, far less memory).
    pub memory: Memory,
}

impl Options {
    /// From the command line and board file: `low_memory` wins over a budget
    /// in MB; neither: the automatic budget.
    pub fn new(low_memory: bool, memory_mb: Option<u64>) -> Options {
        let memory = match (low_memory, memory_mb) {
            (true, _) => Memory::Low,
            (false, Some(mb)) => Memory::Budget(mb.saturating_mul(1_000_000)),
            (false, None) => Memory::Auto,
        };
        Options { memory }
    }
}

/// Prompts longer than this many characters per token slot cannot influence
/// the tokens that fit; cutting them first bounds the tokenizer's work.
const CHARS_PER_TOKEN_SLOT: usize = 64;

pub struct Pipeline {
    bundle: Bundle,
    tokenizer: ClipTokenizer,
    /// What stays loaded between pictures (the others load per stage).
    plan: residency::Plan,
    text_encoder: Option<Graph>,
    denoiser: Option<Graph>,
    decoder: Option<Graph>,
    /// Load time not yet reported: counted into the next generation's timings.
    unreported_load_ms: f64,
    /// How previews are made after each step (None: no previews).
    preview: Option<PreviewKind>,
    /// The `tiny` preview decoder, loaded when previews of that kind are asked for.
    tiny_preview: Option<Graph>,
    /// The self-check scorer, loaded on the first best-of (best_of.rs).
    scorer: Option<crate::scorer::Scorer>,
    last_text: Option<text::EncodedText>,
}

impl Pipeline {
    /// Like [`Pipeline::load`] with another manifest of the bundle folder
    /// (an exported bundle's `model-f32.toml`).
    pub fn load_manifest(dir: &Path, manifest: &str, options: Options) -> Result<Pipeline, PipelineError> {
        Self::load(&dir.join(manifest), options)
    }

    /// Validate the bundle at `path` (a folder, or one of its .toml manifests;
    /// see [`Bundle::load`]) and load the graphs it will hold (residency.rs).
    pub fn load(path: &Path, options: Options) -> Result<Pipeline, PipelineError> {
        let started = Instant::now();
        let bundle = Bundle::load(path)?;
        let tokenizer = bundle.tokenizer()?;
        let plan = residency::plan(&bundle, options.memory);
        log::info!("{}", residency::describe(&plan, &bundle));
        if plan.held.len() < residency::ALL.len() {
            // Memory is what is short: a lower peak is worth the page faults.
            runtime::return_freed_blocks_at_once();
        }
        let mut pipeline = Pipeline {
            bundle,
            tokenizer,
            plan,
            text_encoder: None,
            denoiser: None,
            decoder: None,
            unreported_load_ms: 0.0,
            preview: None,
            tiny_preview: None,
            scorer: None,
            last_text: None,
        };
        let held = pipeline.plan.held.clone();
        for (which, graph) in held.iter().zip(models::load_many(&pipeline.bundle, &held)?) {
            *pipeline.slot(*which) = Some(graph);
        }
        pipeline.unreported_load_ms = ms(started);
        Ok(pipeline)
    }

    /// What stays loaded between pictures.
    pub fn plan(&self) -> &residency::Plan {
        &self.plan
    }

    /// Report a preview of the picture after every step (`Progress::Preview`),
    /// made the way `kind` says (None, or `PreviewKind::None`: no previews).
    /// The bundle's own choice is [`Pipeline::bundle_preview`].
    /// `Tiny` loads the bundle's preview decoder now (an error if it has none).
    pub fn set_preview(&mut self, kind: Option<PreviewKind>) -> Result<(), PipelineError> {
        self.preview = kind.filter(|k| *k != PreviewKind::None);
        if self.preview != Some(PreviewKind::Tiny) {
            self.tiny_preview = None;
        } else if self.tiny_preview.is_none() {
            if self.bundle.manifest.preview.file.is_none() {
                self.preview = None;
                return Err(PipelineError::Preview(format!(
                    "{} has no tiny preview decoder ([preview] file); choose decoder or fast",
                    self.bundle.manifest_path.display()
                )));
            }
            let t0 = Instant::now();
            let graph = models::load(&self.bundle, Component::Preview)
                .map_err(|e| PipelineError::Preview(format!("preview.file: {e}")))?;
            self.tiny_preview = Some(graph);
            self.unreported_load_ms += ms(t0);
        }
        Ok(())
    }

    /// The preview kind the bundle declares (`[preview] kind`).
    pub fn bundle_preview(&self) -> PreviewKind {
        self.bundle.manifest.preview.kind
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// Check a request without running anything; returns the step count to use.
    pub fn check(&self, request: &Request) -> Result<usize, PipelineError> {
        if request.prompt.trim().is_empty() {
            return Err(PipelineError::BadRequest("the prompt is empty".into()));
        }
        let steps = request.steps.unwrap_or(self.bundle.manifest.scheduler.default_steps);
        check_steps(steps, &self.bundle.step_counts(), &self.bundle.manifest.name).map_err(PipelineError::BadRequest)?;
        if let Some(latents) = &request.initial_latents {
            let expected = self.latent_shape();
            if latents.shape != expected {
                return Err(PipelineError::BadRequest(format!(
                    "initial latents have shape {:?}, the model needs {:?}",
                    latents.shape, expected
                )));
            }
        }
        Ok(steps)
    }

    pub fn latent_shape(&self) -> Vec<usize> {
        let l = &self.bundle.manifest.latent;
        vec![1, l.channels, l.height, l.width]
    }

    /// Generate one picture. The callback sees each stage; returning
    /// `ControlFlow::Break` cancels the generation.
    pub fn generate(
        &mut self,
        request: &Request,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Generated, PipelineError> {
        let started = Instant::now();
        let steps = self.check(request)?;
        // Loading at Pipeline::load happened before this call: report it once.
        let startup_load_ms = std::mem::take(&mut self.unreported_load_ms);
        let mut timings = Timings { load_ms: startup_load_ms, ..Timings::default() };
        let m = self.bundle.manifest.clone();
        let config = self.bundle.scheduler_config(steps).expect("checked by check()");
        let scheduler = scheduler::build(&config)?;
        let guidance = m.guidance.scale;

        // Text.
        let limit = m.tokenizer.max_length * CHARS_PER_TOKEN_SLOT;
        let prompt: String = request.prompt.chars().take(limit).collect();
        let tokens = self.tokenizer.encode(&prompt);
        let prompt_truncated = tokens.truncated || prompt.len() < request.prompt.len();
        let (cond, uncond) = self.text_states(tokens.ids, guidance > 1.0, &mut timings)?;
        check(progress(Progress::TextEncoded))?;

        // Denoise.
        let shape = self.latent_shape();
        let n: usize = shape.iter().product();
        let mut noise = Noise::new(request.seed);
        let start = match &request.initial_latents {
            Some(l) => l.data.clone(),
            None => noise.normals(n),
        };
        let sigma0 = scheduler.init_noise_sigma();
        let mut latents: Vec<f32> = start.iter().map(|v| v * sigma0).collect();
        let denoiser = self.graph(Component::Denoiser, &mut timings)?;
        // Previews decode with the decoder during the steps.
        let mut preview_decoder = match self.preview {
            Some(PreviewKind::Decoder) => Some(self.graph(Component::Decoder, &mut timings)?),
            _ => None,
        };
        let previews = self.preview.is_some();
        for (i, &t) in scheduler.timesteps().iter().enumerate() {
            let t0 = Instant::now();
            let scale = scheduler.model_input_scale(i);
            let input = Tensor::new(shape.clone(), latents.iter().map(|v| v * scale).collect());
            let run = |text: &Tensor| {
                denoiser.run(&[
                    Input::F32(input.clone()),
                    Input::F32(Tensor::new(vec![1], vec![t])),
                    Input::F32(text.clone()),
                ])
            };
            let mut out = run(&cond)?.data;
            if let Some(uncond) = &uncond {
                let u = run(uncond)?.data;
                for (o, u) in out.iter_mut().zip(u) {
                    *o = u + guidance * (*o - u);
                }
            }
            let step_noise = if scheduler.needs_noise(i) { noise.normals(n) } else { Vec::new() };
            let x0 = previews.then(|| scheduler.x0(i, &out, &latents));
            latents = scheduler.step(i, &out, &latents, &step_noise);
            timings.steps_ms.push(ms(t0));
            let mut flow = progress(Progress::Step { step: i + 1, of: steps });
            if let (Some(x0), ControlFlow::Continue(())) = (x0, flow) {
                let t0 = Instant::now();
                let made = match (&preview_decoder, &self.tiny_preview) {
                    (Some(decoder), _) => self.decode(decoder, &x0),
                    (None, Some(tiny)) => self.decode_tiny(tiny, &x0),
                    (None, None) => Ok(preview::fast(&m, &x0)),
                };
                // A failed preview is logged; it never stops the picture.
                match made {
                    Ok(image) => flow = progress(Progress::Preview { step: i + 1, of: steps, image }),
                    Err(e) => log::warn!("preview after step {}: {e}", i + 1),
                }
                timings.preview_ms += ms(t0);
            }
            if let ControlFlow::Break(()) = flow {
                self.put_back(Component::Denoiser, denoiser);
                if let Some(decoder) = preview_decoder.take() {
                    self.put_back(Component::Decoder, decoder);
                }
                return Err(PipelineError::Cancelled);
            }
        }
        self.put_back(Component::Denoiser, denoiser);

        // Decode.
        let decoder = match preview_decoder {
            Some(decoder) => decoder,
            None => self.graph(Component::Decoder, &mut timings)?,
        };
        let t0 = Instant::now();
        let decoded = self.decode(&decoder, &latents);
        timings.decode_ms = ms(t0);
        self.put_back(Component::Decoder, decoder);
        let image = decoded?;
        check(progress(Progress::Decoded))?;
        timings.total_ms = ms(started) + startup_load_ms;
        Ok(Generated { image, seed: request.seed, steps, prompt_truncated, timings })
    }

    /// Decode clean latents (the final ones, or a step's estimate) into a
    /// picture, in tiles when the manifest says so.
    fn decode(&self, decoder: &Graph, latents: &[f32]) -> Result<RgbImage, PipelineError> {
        let d = &self.bundle.manifest.decoder;
        self.run_decoder(decoder, latents, (d.scaling_factor, d.shift_factor, d.output_range), d.tiling())
    }

    /// A `tiny` preview: the small decoder on the whole latent.
    fn decode_tiny(&self, graph: &Graph, x0: &[f32]) -> Result<RgbImage, PipelineError> {
        let p = &self.bundle.manifest.preview;
        self.run_decoder(graph, x0, (p.scaling_factor, p.shift_factor, p.output_range), None)
    }

    /// Latents / scaling + shift through `graph` (in tiles of `tiling`,
    /// when the latent is larger), its output mapped from `range` to RGB.
    fn run_decoder(
        &self,
        graph: &Graph,
        latents: &[f32],
        (scaling, shift, range): (f32, f32, [f32; 2]),
        tiling: Option<(usize, usize)>,
    ) -> Result<RgbImage, PipelineError> {
        let input: Vec<f32> = latents.iter().map(|v| v / scaling + shift).collect();
        let input = Tensor::new(self.latent_shape(), input);
        let out = match tiling {
            Some((tile, overlap)) if input.shape[2] > tile || input.shape[3] > tile => {
                tiled_decode::decode(graph, &input, tile, overlap)?
            }
            _ => graph.run(&[Input::F32(input)])?,
        };
        let [w, h] = self.bundle.manifest.image_size;
        Ok(RgbImage::from_chw(&out.data, h, w, range))
    }

    /// Take a held graph, or load one that is not held now (counted as load
    /// time; a graph stored in segments is streamed: its segments load while
    /// it runs).
    fn graph(&mut self, which: Component, timings: &mut Timings) -> Result<Graph, PipelineError> {
        let slot = self.slot(which).take();
        match slot {
            Some(g) => Ok(g),
            None => {
                let t0 = Instant::now();
                let g = models::stream(&self.bundle, which)?;
                timings.load_ms += ms(t0);
                Ok(g)
            }
        }
    }

    /// Keep a held graph for the next generation; free any other.
    fn put_back(&mut self, which: Component, graph: Graph) {
        if self.plan.held.contains(&which) {
            *self.slot(which) = Some(graph);
        } else {
            drop(graph);
            runtime::release_free_memory();
        }
    }

    fn slot(&mut self, which: Component) -> &mut Option<Graph> {
        match which {
            Component::TextEncoder => &mut self.text_encoder,
            Component::Denoiser => &mut self.denoiser,
            Component::Decoder => &mut self.decoder,
            Component::Preview => &mut self.tiny_preview,
        }
    }
}

fn check(flow: ControlFlow<()>) -> Result<(), PipelineError> {
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(PipelineError::Cancelled),
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// A step count must be one the model was distilled for; the error says which.
pub fn check_steps(steps: usize, counts: &[usize], model: &str) -> Result<(), String> {
    if counts.contains(&steps) {
        return Ok(());
    }
    let list = counts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ");
    Err(format!("steps must be one of {list} for model {model} (got {steps})"))
}
