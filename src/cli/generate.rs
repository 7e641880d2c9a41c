//! `edgepaint generate PROMPT`.

use super::{progress_bar::ProgressBar, ModelArg};
use crate::bundle::{locate, PreviewKind};
use crate::credentials::Signer;
use crate::noise::random_seed;
use crate::picture;
use crate::pipeline::{check_best_of, Options, Pipeline, Progress, Request};
use crate::watermark::payload::MAX_DEVICE_ID;
use crate::watermark::Stamp;
use crate::tensor::Tensor;
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// What to draw.
    #[arg(value_name = "PROMPT")]
    pub prompt: OsString,
    /// Seed of the initial noise (default: a random one, printed and stored in the PNG).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Denoising steps (default: the model's; must be one the model was distilled for).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Where to write the PNG (default: edgepaint-SEED.png).
    #[arg(long, short, value_name = "FILE.png")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArg,
    /// Start from these initial latents (.npy, f32, [1, C, H, W]) instead of seeded noise.
    #[arg(long, value_name = "FILE.npy")]
    pub latents: Option<PathBuf>,
    /// Load each model part only while it runs (for boards with little memory).
    #[arg(long)]
    pub low_memory: bool,
    /// Hold at most this many MB of model graphs loaded between stages; the
    /// rest loads while it runs (default: half of the machine's memory).
    #[arg(long, value_name = "MB", conflicts_with = "low_memory")]
    pub memory_mb: Option<u64>,
    /// Write a preview of the picture after every step to DIR/step-N.png
    /// (created if missing; watermark and metadata as every picture, plus the step).
    #[arg(long, value_name = "DIR")]
    pub preview: Option<PathBuf>,
    /// How previews are made (default: the bundle's `[preview] kind`).
    #[arg(long, value_name = "KIND", requires = "preview")]
    pub preview_kind: Option<PreviewKind>,
    /// Make N candidates (seeds SEED, SEED+1, …) and keep the one the
    /// bundle's scorer ranks highest (1 to 16; the bundle needs a [scorer]).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub best_of: usize,
    /// Print one JSON object (seed, steps, timings, output) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Watermark key (default: the built-in key, or $EDGEPAINT_KEY).
    #[arg(long, env = "EDGEPAINT_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Device id carried in the watermark (0..=16777215).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=MAX_DEVICE_ID as i64))]
    pub device_id: u32,
    #[command(flatten)]
    pub c2pa: C2paArgs,
}

/// Content Credentials (C2PA) signing, shared by `generate` and `kiosk`.
#[derive(clap::Args, Debug, Default)]
pub struct C2paArgs {
    /// Sign the picture with Content Credentials (C2PA): the certificate
    /// chain, PEM, signing certificate first (README "Content Credentials").
    #[arg(long, value_name = "CERT.pem", env = "EDGEPAINT_C2PA_CERT", requires = "c2pa_key")]
    pub c2pa_cert: Option<PathBuf>,
    /// Its private key, PKCS#8 PEM.
    #[arg(long, value_name = "KEY.pem", env = "EDGEPAINT_C2PA_KEY", requires = "c2pa_cert")]
    pub c2pa_key: Option<PathBuf>,
    /// Its signature algorithm: es256 (P-256), es384, es512, ps256, ps384, ps512, ed25519.
    #[arg(long, value_name = "ALG", default_value = "es256")]
    pub c2pa_alg: String,
}

impl C2paArgs {
    /// The signer, if a certificate and key were given (checked now, before any work).
    pub fn signer(&self) -> Result<Option<Signer>> {
        match (&self.c2pa_cert, &self.c2pa_key) {
            (Some(cert), Some(key)) => Ok(Some(Signer::from_pem_files(cert, key, &self.c2pa_alg)?)),
            _ => Ok(None),
        }
    }
}

pub fn run(args: GenerateArgs, verbose: bool) -> Result<()> {
    let prompt = args
        .prompt
        .into_string()
        .map_err(|_| anyhow::anyhow!("the prompt is not valid UTF-8"))?;
    if prompt.trim().is_empty() {
        bail!("the prompt is empty");
    }
    let seed = args.seed.unwrap_or_else(random_seed);
    let output = args.output.unwrap_or_else(|| PathBuf::from(format!("edgepaint-{seed}.png")));
    check_output_path(&output)?;
    let initial_latents = args.latents.as_deref().map(read_latents).transpose()?;
    if let Some(dir) = &args.preview {
        check_preview_dir(dir)?;
    }
    let signer = args.c2pa.signer()?;

    let dir = locate(args.model.model.as_deref());
    let mut pipeline = Pipeline::load(&dir, Options::new(args.low_memory, args.memory_mb))
        .with_context(|| format!("cannot load the model bundle {}", dir.display()))?;
    let request = Request { prompt: prompt.clone(), seed, steps: args.steps, initial_latents };
    let steps = pipeline.check(&request)?;
    check_best_of(args.best_of, &request)?;
    if args.best_of > 1 {
        pipeline.load_scorer().context("cannot use --best-of")?;
    }

    let stamp = Stamp::new(args.key.as_deref(), args.device_id);
    let mut previews = match &args.preview {
        Some(dir) => {
            pipeline.set_preview(Some(args.preview_kind.unwrap_or(pipeline.bundle_preview())))?;
            let bundle = pipeline.bundle();
            Some(PreviewWriter {
                dir: dir.clone(),
                stamp: &stamp,
                model_sha256: bundle.manifest_sha256.clone(),
                metadata: picture::metadata(bundle, &prompt, seed, steps),
            })
        }
        None => None,
    };
    let mut bar = ProgressBar::new(steps * args.best_of, !args.json);
    let mut report = |p: Progress| {
        if let (Progress::Preview { step, of, image }, Some(w)) = (&p, previews.as_mut()) {
            w.write(*step, *of, image);
        }
        bar.update(p)
    };
    let (generated, best) = match args.best_of {
        1 => (pipeline.generate(&request, &mut report)?, None),
        n => {
            let best = pipeline.generate_best_of(&request, n, &mut report)?;
            (best.kept.clone(), Some(best))
        }
    };
    bar.finish();
    if generated.prompt_truncated {
        log::warn!("the prompt is longer than the model reads; only its beginning was used");
        if !args.json {
            eprintln!("warning: the prompt was truncated to the model's {} tokens", pipeline.bundle().manifest.tokenizer.max_length);
        }
    }

    let bundle = pipeline.bundle();
    let mut metadata = picture::metadata(bundle, &prompt, generated.seed, generated.steps);
    if let Some(best) = &best {
        metadata.push(("best_of".to_string(), best.candidates.len().to_string()));
        metadata.push(("score".to_string(), format!("{:.4}", best.kept_score)));
    }
    let saved = picture::save(&output, &generated.image, &stamp, &bundle.manifest_sha256, &metadata, signer.as_ref())?;
    let (sha, watermark_ms) = (saved.sha256, saved.watermark_ms);
    if let (Some(e), false) = (&saved.sign_error, args.json) {
        eprintln!("warning: {e}; the picture was saved without Content Credentials");
    }

    let t = &generated.timings;
    if args.json {
        let obj = serde_json::json!({
            "prompt": prompt,
            "prompt_truncated": generated.prompt_truncated,
            "seed": generated.seed,
            "steps": generated.steps,
            "model": bundle.id(),
            "output": output.display().to_string(),
            "sha256": sha,
            "width": generated.image.width,
            "height": generated.image.height,
            "timings": t,
            "watermark_ms": watermark_ms,
            "best_of": best.as_ref().map(|b| serde_json::json!({
                "n": b.candidates.len(),
                "score": b.kept_score,
                "candidates": b.candidates,
                "score_ms": b.score_ms,
                "total_ms": b.total_ms,
            })),
            "c2pa": if signer.is_none() { serde_json::Value::Null } else { serde_json::json!({
                "signed": saved.signed,
                "error": saved.sign_error,
            }) },
        });
        println!("{obj}");
    } else {
        match &best {
            Some(b) => println!(
                "wrote {} (seed {}, {} steps; best of {}, score {:.3})",
                output.display(),
                generated.seed,
                generated.steps,
                b.candidates.len(),
                b.kept_score
            ),
            None => println!("wrote {} (seed {}, {} steps)", output.display(), generated.seed, generated.steps),
        }
        if verbose {
            let steps: Vec<String> = t.steps_ms.iter().map(|s| format!("{s:.1}")).collect();
            eprintln!(
                "timings ms: load {:.1}, text {:.1}, steps [{}], decode {:.1}, total {:.1}, watermark {watermark_ms:.1}",
                t.load_ms,
                t.text_ms,
                steps.join(", "),
                t.decode_ms,
                t.total_ms
            );
        }
    }
    Ok(())
}

/// Writes each step's preview as DIR/step-N.png.
struct PreviewWriter<'a> {
    dir: PathBuf,
    stamp: &'a Stamp,
    model_sha256: String,
    metadata: Vec<(String, String)>,
}

impl PreviewWriter<'_> {
    /// A preview that cannot be written is a warning: the picture goes on.
    fn write(&mut self, step: usize, of: usize, image: &crate::image::RgbImage) {
        let path = self.dir.join(format!("step-{step}.png"));
        let mut metadata = self.metadata.clone();
        metadata.push(("preview_step".to_string(), format!("{step}/{of}")));
        // Previews are not signed: only the finished picture is a claim.
        if let Err(e) = picture::save(&path, image, self.stamp, &self.model_sha256, &metadata, None) {
            eprintln!("warning: cannot write the preview {}: {e}", path.display());
        }
    }
}

/// The preview folder exists (made if missing) and can be written, before
/// any work is spent.
fn check_preview_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("cannot write previews to {}: it is not a folder", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the preview folder {}", dir.display()))?;
    let probe = dir.join(".edgepaint-write-test");
    std::fs::write(&probe, b"").with_context(|| format!("cannot write previews to {}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Fail before spending a generation on a path that cannot be written.
fn check_output_path(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("cannot write {}: it is a directory", path.display());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!("cannot write {}: the folder {} does not exist", path.display(), parent.display());
    }
    let meta = std::fs::metadata(parent)?;
    if meta.permissions().readonly() {
        bail!("cannot write {}: the folder {} is read-only", path.display(), parent.display());
    }
    Ok(())
}

fn read_latents(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{}: not a .npy file", path.display()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = match npy.dtype() {
        npyz::DType::Plain(ts) if ts.type_char() == npyz::TypeChar::Float && ts.size_field() == 4 => {
            npy.into_vec::<f32>()?
        }
        npyz::DType::Plain(ts) if ts.type_char() == npyz::TypeChar::Float && ts.size_field() == 8 => {
            npy.into_vec::<f64>()?.into_iter().map(|v| v as f32).collect()
        }
        other => bail!("{}: latents must be float32 or float64, found {}", path.display(), other.descr()),
    };
    Ok(Tensor::new(shape, data))
}
