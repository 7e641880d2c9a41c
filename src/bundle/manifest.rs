//! The `model.toml` manifest, as serde types. See docs/bundle.md.

use crate::scheduler::{BetaSchedule, Prediction, SchedulerKind, TimestepSpacing};
use crate::tokenizer::Flavor;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub license: String,
    /// Width, height of the decoded image.
    pub image_size: [usize; 2],
    pub tokenizer: TokenizerSection,
    pub text_encoder: TextEncoderSection,
    pub denoiser: DenoiserSection,
    pub decoder: DecoderSection,
    pub latent: LatentSection,
    pub scheduler: SchedulerSection,
    #[serde(default)]
    pub guidance: GuidanceSection,
    #[serde(default)]
    pub preview: PreviewSection,
    /// The optional self-check scorer (`generate --best-of`, `score`).
    pub scorer: Option<ScorerSection>,
}

/// A self-check scorer (docs/bundle.md): an image tower and a text tower
/// whose embeddings' cosine says how well a picture matches a prompt (the
/// CLIP idea). The text tower reads the bundle's tokenizer's ids.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScorerSection {
    /// `pixel_values` [1, 3, H, W] → [1, embed_dim].
    pub image: SegmentSection,
    /// `input_ids` [1, tokenizer.max_length] → [1, embed_dim].
    pub text: SegmentSection,
    /// Width, height of the image tower's input (pictures are resized to it).
    pub image_size: [usize; 2],
    /// Per channel, the tower sees (RGB in 0..1 − mean) / std.
    #[serde(default)]
    pub mean: [f32; 3],
    #[serde(default = "ones")]
    pub std: [f32; 3],
    pub embed_dim: usize,
}

/// How a picture in the making is shown after each step (docs/bundle.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewSection {
    #[serde(default)]
    pub kind: PreviewKind,
    /// `fast`: RGB (0..1) of a latent pixel = bias + Σ_c x0[c] · matrix[c],
    /// one row per latent channel (fitted by scripts/export/preview_fit.py).
    #[serde(default)]
    pub matrix: Vec<[f32; 3]>,
    #[serde(default)]
    pub bias: Option<[f32; 3]>,
    /// `tiny`: a small decoder (e.g. TAESD) beside the bundle's full one,
    /// run on x0 / scaling_factor + shift_factor (default 1 and 0: a TAESD
    /// takes the denoiser's latents as they are).
    pub file: Option<String>,
    pub sha256: Option<String>,
    #[serde(default = "one")]
    pub scaling_factor: f32,
    #[serde(default)]
    pub shift_factor: f32,
    #[serde(default = "minus_one_to_one")]
    pub output_range: [f32; 2],
}

impl Default for PreviewSection {
    /// No [preview] table: the field defaults above.
    fn default() -> Self {
        PreviewSection {
            kind: PreviewKind::default(),
            matrix: Vec::new(),
            bias: None,
            file: None,
            sha256: None,
            scaling_factor: one(),
            shift_factor: 0.0,
            output_range: minus_one_to_one(),
        }
    }
}

/// What decodes a preview of the current clean-latent estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PreviewKind {
    /// The bundle's own decoder (right for small decoders: TAESD, the
    /// shipped model's).
    #[default]
    Decoder,
    /// A fitted latent-to-RGB linear map (`matrix`, `bias`): microseconds
    /// a step, at latent resolution, colours only roughly right.
    Fast,
    /// A small preview decoder shipped beside a full VAE (`[preview] file`).
    Tiny,
    /// No previews.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenizerKind {
    ClipBpe,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerSection {
    pub kind: TokenizerKind,
    /// Whose text handling to reproduce: open_clip's (default) or Hugging
    /// Face's CLIPTokenizer (bundles exported from diffusers pipelines).
    #[serde(default)]
    pub flavor: Flavor,
    pub merges: String,
    pub merges_sha256: String,
    pub vocab: Option<String>,
    pub vocab_sha256: Option<String>,
    pub max_length: usize,
    #[serde(default)]
    pub pad_id: i64,
}

/// One more segment of a graph stored in segments (docs/bundle.md), or one
/// graph file with its hash (a scorer tower).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSection {
    pub file: String,
    pub sha256: String,
    pub data: Option<String>,
    pub data_sha256: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextEncoderSection {
    pub file: String,
    pub sha256: String,
    /// The graph stored in segments: the files run after `file`, in order
    /// (`[[SECTION.then]]` tables; streamed one at a time in low-memory mode).
    #[serde(default)]
    pub then: Vec<SegmentSection>,
    pub hidden_size: usize,
    /// ONNX external data: the one file holding this graph's weights when
    /// they are stored outside the .onnx (graphs over 2 GB), with its sha256.
    /// A graph that references any other external file is refused at load.
    pub data: Option<String>,
    pub data_sha256: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenoiserSection {
    pub file: String,
    pub sha256: String,
    /// The graph stored in segments: the files run after `file`, in order
    /// (`[[SECTION.then]]` tables; streamed one at a time in low-memory mode).
    #[serde(default)]
    pub then: Vec<SegmentSection>,
    pub prediction: Prediction,
    /// ONNX external data: the one file holding this graph's weights when
    /// they are stored outside the .onnx (graphs over 2 GB), with its sha256.
    /// A graph that references any other external file is refused at load.
    pub data: Option<String>,
    pub data_sha256: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderSection {
    pub file: String,
    pub sha256: String,
    /// The graph stored in segments: the files run after `file`, in order
    /// (`[[SECTION.then]]` tables; streamed one at a time in low-memory mode).
    #[serde(default)]
    pub then: Vec<SegmentSection>,
    /// ONNX external data: the one file holding this graph's weights when
    /// they are stored outside the .onnx (graphs over 2 GB), with its sha256.
    /// A graph that references any other external file is refused at load.
    pub data: Option<String>,
    pub data_sha256: Option<String>,
    #[serde(default = "one")]
    pub scaling_factor: f32,
    #[serde(default)]
    pub shift_factor: f32,
    #[serde(default = "minus_one_to_one")]
    pub output_range: [f32; 2],
    /// Decode latents larger than this (in latent pixels, per side) in
    /// overlapping tiles of this size, blended (bounds the decoder's memory).
    pub tile: Option<usize>,
    /// Overlap of neighbouring tiles in latent pixels (default: tile / 4).
    pub tile_overlap: Option<usize>,
}

impl DecoderSection {
    /// (tile, overlap) when tiling is configured.
    pub fn tiling(&self) -> Option<(usize, usize)> {
        self.tile.map(|t| (t, self.tile_overlap.unwrap_or(t / 4)))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatentSection {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSection {
    pub kind: SchedulerKind,
    #[serde(default = "thousand")]
    pub train_timesteps: usize,
    #[serde(default = "scaled_linear")]
    pub beta_schedule: BetaSchedule,
    #[serde(default = "default_beta_start")]
    pub beta_start: f64,
    #[serde(default = "default_beta_end")]
    pub beta_end: f64,
    pub default_steps: usize,
    /// diffusers' `timestep_spacing` of the source scheduler (Euler's initial
    /// noise depends on it); default "trailing".
    #[serde(default)]
    pub timestep_spacing: TimestepSpacing,
    /// Step count (as a TOML key) -> the model timesteps for that many steps.
    pub timesteps: BTreeMap<String, Vec<f32>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuidanceSection {
    #[serde(default = "one")]
    pub scale: f32,
}

impl Default for GuidanceSection {
    fn default() -> Self {
        GuidanceSection { scale: 1.0 }
    }
}

fn one() -> f32 {
    1.0
}
fn ones() -> [f32; 3] {
    [1.0; 3]
}
fn minus_one_to_one() -> [f32; 2] {
    [-1.0, 1.0]
}
fn thousand() -> usize {
    1000
}
fn scaled_linear() -> BetaSchedule {
    BetaSchedule::ScaledLinear
}
fn default_beta_start() -> f64 {
    0.00085
}
fn default_beta_end() -> f64 {
    0.012
}

/// The files of one graph file: the graph and its optional external data.
#[derive(Debug, Clone)]
pub struct GraphFiles<'a> {
    /// Where in the manifest: `denoiser`, or `denoiser.then[1]` for a segment.
    pub section: String,
    pub file: &'a str,
    pub sha256: &'a str,
    pub data: Option<&'a str>,
    pub data_sha256: Option<&'a str>,
}

impl Manifest {
    /// Each graph section's files (its first file, then its segments), in
    /// pipeline order.
    /// The tiny preview decoder's, then the scorer's two towers, when the
    /// bundle has them.
    pub fn graph_files(&self) -> [Vec<GraphFiles<'_>>; 6] {
        let t = &self.text_encoder;
        let u = &self.denoiser;
        let d = &self.decoder;
        let p = &self.preview;
        let preview = match (&p.file, &p.sha256) {
            (Some(file), Some(sha256)) => files("preview", file, sha256, &None, &None, &[]),
            _ => Vec::new(),
        };
        let tower = |name: &str, pick: fn(&ScorerSection) -> &SegmentSection| match &self.scorer {
            Some(s) => {
                let t = pick(s);
                files(&format!("scorer.{name}"), &t.file, &t.sha256, &t.data, &t.data_sha256, &[])
            }
            None => Vec::new(),
        };
        [
            files("text_encoder", &t.file, &t.sha256, &t.data, &t.data_sha256, &t.then),
            files("denoiser", &u.file, &u.sha256, &u.data, &u.data_sha256, &u.then),
            files("decoder", &d.file, &d.sha256, &d.data, &d.data_sha256, &d.then),
            preview,
            tower("image", |s| &s.image),
            tower("text", |s| &s.text),
        ]
    }
}

fn files<'a>(
    section: &str,
    file: &'a str,
    sha256: &'a str,
    data: &'a Option<String>,
    data_sha256: &'a Option<String>,
    then: &'a [SegmentSection],
) -> Vec<GraphFiles<'a>> {
    let first = GraphFiles {
        section: section.to_string(),
        file,
        sha256,
        data: data.as_deref(),
        data_sha256: data_sha256.as_deref(),
    };
    let rest = then.iter().enumerate().map(|(ix, s)| GraphFiles {
        section: format!("{section}.then[{ix}]"),
        file: &s.file,
        sha256: &s.sha256,
        data: s.data.as_deref(),
        data_sha256: s.data_sha256.as_deref(),
    });
    std::iter::once(first).chain(rest).collect()
}
