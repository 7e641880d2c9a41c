//! What goes into a generation and what comes out of it.

use crate::image::RgbImage;
use crate::tensor::Tensor;

#[derive(Debug, Clone)]
pub struct Request {
    pub prompt: String,
    pub seed: u64,
    /// None: the bundle's default step count.
    pub steps: Option<usize>,
    /// Start from these latents [1, C, H, W] (N(0,1)-scaled, like diffusers'
    /// `latents=` argument) instead of seeded noise.
    pub initial_latents: Option<Tensor>,
}

impl Request {
    pub fn new(prompt: impl Into<String>, seed: u64) -> Request {
        Request { prompt: prompt.into(), seed, steps: None, initial_latents: None }
    }
}

/// Reported to the caller's callback as the generation advances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The prompt has been encoded.
    TextEncoded,
    /// Denoising step `step` (1-based) of `of` is done.
    Step { step: usize, of: usize },
    /// The picture as it stands after step `step` (the decoded estimate of
    /// the final latents), reported after `Step` when previews are on
    /// ([`super::Pipeline::set_preview`]).
    Preview { step: usize, of: usize, image: RgbImage },
    /// The latents have been decoded into the picture.
    Decoded,
}

/// Wall-clock time per stage, in milliseconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    /// Loading and optimizing graphs during this generation (0 when they were
    /// already loaded; in low-memory mode, every load).
    pub load_ms: f64,
    pub text_ms: f64,
    pub steps_ms: Vec<f64>,
    pub decode_ms: f64,
    /// Making previews after the steps (0 without previews).
    pub preview_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Clone)]
pub struct Generated {
    pub image: RgbImage,
    pub seed: u64,
    pub steps: usize,
    /// The prompt did not fit the tokenizer's length and was cut.
    pub prompt_truncated: bool,
    pub timings: Timings,
}
