//! Model bundles: a folder with `model.toml`, the files it names and a model
//! card. Loading validates everything that can be checked without running a
//! graph (files, hashes, kinds, step tables); the runtime checks shapes when
//! it loads the graphs. Errors name the file and the field.

mod locate;
mod manifest;

pub use locate::{locate, DEFAULT_BUNDLE};
pub use manifest::*;

use crate::scheduler::SchedulerConfig;
use crate::tokenizer::{ClipTokenizer, TokenizerError};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The largest classifier-free guidance scale a manifest may ask for
/// (diffusers' pipelines use up to about 20).
pub const MAX_GUIDANCE: f32 = 100.0;

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: field `{field}`: {message}")]
    Field { path: PathBuf, field: String, message: String },
}

/// A validated bundle: its folder and manifest.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    /// The manifest read: DIR/model.toml, or another .toml of the same folder
    /// (a variant such as model-f32.toml) when one was named.
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
    /// sha256 of model.toml: identifies this exact bundle in image metadata.
    pub manifest_sha256: String,
}

impl Bundle {
    /// Load the bundle in folder `path` (its model.toml), or the manifest file
    /// `path` names (a path ending in .toml, e.g. a bundle's model-f32.toml),
    /// whose files are then relative to its folder.
    pub fn load(path: &Path) -> Result<Bundle, BundleError> {
        let (dir, toml_path) = if path.extension().is_some_and(|e| e == "toml") {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            (dir, path.to_path_buf())
        } else {
            (path, path.join("model.toml"))
        };
        let text = std::fs::read(&toml_path).map_err(|e| BundleError::File {
            path: toml_path.clone(),
            message: format!("cannot read the bundle manifest: {e}"),
        })?;
        Self::from_bytes(dir, &toml_path, &text)
    }

    /// Parse and validate the manifest text `text` read from `toml_path`; the
    /// files it names are relative to `dir` (the fuzzer feeds it arbitrary bytes).
    pub fn from_bytes(dir: &Path, toml_path: &Path, text: &[u8]) -> Result<Bundle, BundleError> {
        let toml_path = toml_path.to_path_buf();
        let manifest_sha256 = hex::encode(Sha256::digest(text));
        let text = std::str::from_utf8(text).map_err(|_| BundleError::File {
            path: toml_path.clone(),
            message: "not UTF-8".into(),
        })?;
        let manifest = parse_manifest(text).map_err(|(field, message)| match field {
            Some(field) => BundleError::Field { path: toml_path.clone(), field, message },
            None => BundleError::File { path: toml_path.clone(), message },
        })?;
        let bundle = Bundle { dir: dir.to_path_buf(), manifest_path: toml_path, manifest, manifest_sha256 };
        bundle.validate()?;
        Ok(bundle)
    }

    /// Like [`Bundle::load`] with another manifest of the folder `dir` (e.g. an
    /// exported bundle's `model-f32.toml`).
    pub fn load_manifest(dir: &Path, manifest_name: &str) -> Result<Bundle, BundleError> {
        Self::load(&dir.join(manifest_name))
    }

    fn field_error(&self, field: &str, message: impl Into<String>) -> BundleError {
        BundleError::Field {
            path: self.manifest_path.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn validate(&self) -> Result<(), BundleError> {
        const SANE: f32 = 1.0e4;
        let m = &self.manifest;
        if m.format != 1 {
            return Err(self.field_error("format", format!("unsupported format {} (this edgepaint reads 1)", m.format)));
        }
        if m.image_size[0] == 0 || m.image_size[1] == 0 {
            return Err(self.field_error("image_size", "width and height must be positive"));
        }
        let l = &m.latent;
        if l.channels == 0 || l.height == 0 || l.width == 0 {
            return Err(self.field_error("latent", "channels, height and width must be positive"));
        }
        if m.tokenizer.max_length < 3 {
            return Err(self.field_error("tokenizer.max_length", "must be at least 3 (start, one token, end)"));
        }
        if m.text_encoder.hidden_size == 0 {
            return Err(self.field_error("text_encoder.hidden_size", "must be positive"));
        }
        // Numbers that reach the pixels: finite and within sane ranges (a
        // hostile manifest must not turn every picture into NaN without a word).
        let [lo, hi] = m.decoder.output_range;
        if !(lo < hi && lo.abs() <= SANE && hi.abs() <= SANE) {
            return Err(self.field_error("decoder.output_range", format!("must be [low, high] with low < high, within ±{SANE}")));
        }
        let scale = m.decoder.scaling_factor.abs();
        if !((1.0 / SANE..=SANE).contains(&scale)) {
            return Err(self.field_error("decoder.scaling_factor", format!("must be a non-zero number within ±{SANE} (not {})", m.decoder.scaling_factor)));
        }
        if !(m.decoder.shift_factor.abs() <= SANE) {
            return Err(self.field_error("decoder.shift_factor", format!("must be a number within ±{SANE} (not {})", m.decoder.shift_factor)));
        }
        if m.tokenizer.pad_id < 0 {
            return Err(self.field_error("tokenizer.pad_id", format!("must be a token id, 0 or more (not {})", m.tokenizer.pad_id)));
        }
        if let Some((tile, overlap)) = m.decoder.tiling() {
            if tile == 0 {
                return Err(self.field_error("decoder.tile", "must be positive"));
            }
            if overlap >= tile {
                return Err(self.field_error("decoder.tile_overlap", format!("must be below decoder.tile ({tile})")));
            }
            // Tiles are placed in latent pixels and pasted at a whole upscaling factor.
            let [w, h] = m.image_size;
            if w % l.width != 0 || h % l.height != 0 || w / l.width != h / l.height {
                return Err(self.field_error("image_size", "must be the latent size times one whole factor to decode in tiles"));
            }
        }
        self.validate_preview()?;
        self.validate_scorer()?;
        if !(m.guidance.scale >= 1.0 && m.guidance.scale <= MAX_GUIDANCE) {
            return Err(self.field_error(
                "guidance.scale",
                format!("must be from 1.0 (guidance off) to {MAX_GUIDANCE} (not {})", m.guidance.scale),
            ));
        }
        self.validate_steps()?;
        self.check_file("tokenizer.merges", &m.tokenizer.merges, "tokenizer.merges_sha256", &m.tokenizer.merges_sha256)?;
        match (&m.tokenizer.vocab, &m.tokenizer.vocab_sha256) {
            (Some(v), Some(h)) => self.check_file("tokenizer.vocab", v, "tokenizer.vocab_sha256", h)?,
            (Some(_), None) => return Err(self.field_error("tokenizer.vocab_sha256", "missing (tokenizer.vocab is set)")),
            (None, Some(_)) => return Err(self.field_error("tokenizer.vocab", "missing (tokenizer.vocab_sha256 is set)")),
            (None, None) => {}
        }
        // (field, file, hash field, expected hash) of every graph file.
        let mut graph_files = Vec::new();
        for g in m.graph_files().iter().flatten() {
            let s = &g.section;
            graph_files.push((format!("{s}.file"), g.file, format!("{s}.sha256"), g.sha256));
            match (g.data, g.data_sha256) {
                (Some(d), Some(h)) => graph_files.push((format!("{s}.data"), d, format!("{s}.data_sha256"), h)),
                (Some(_), None) => return Err(self.field_error(&format!("{s}.data_sha256"), format!("missing ({s}.data is set)"))),
                (None, Some(_)) => return Err(self.field_error(&format!("{s}.data"), format!("missing ({s}.data_sha256 is set)"))),
                (None, None) => {}
            }
        }
        self.check_files(&graph_files)
    }

    /// [`Bundle::check_file`] for many files, on every core (an SD-size
    /// bundle is over a GB to hash at every start); the first bad file in
    /// manifest order is reported.
    fn check_files(&self, files: &[(String, &str, String, &str)]) -> Result<(), BundleError> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<std::sync::Mutex<Option<Result<(), BundleError>>>> =
            files.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(files.len());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let ix = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((field, file, hash_field, expected)) = files.get(ix) else { break };
                    let result = self.check_file(field, file, hash_field, expected);
                    *results[ix].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                });
            }
        });
        for result in results {
            result.into_inner().unwrap_or_else(|p| p.into_inner()).unwrap_or(Ok(()))?;
        }
        Ok(())
    }

    /// `fast` needs its map: one finite RGB row per latent channel and a
    /// bias; `tiny` its decoder file with its hash and sane numbers.
    fn validate_preview(&self) -> Result<(), BundleError> {
        let m = &self.manifest;
        let p = &m.preview;
        match (&p.file, &p.sha256) {
            (None, _) if p.kind == PreviewKind::Tiny => {
                return Err(self.field_error("preview.file", "missing (kind = \"tiny\" needs its decoder graph)"))
            }
            (Some(_), None) => return Err(self.field_error("preview.sha256", "missing (preview.file is set)")),
            (None, Some(_)) => return Err(self.field_error("preview.file", "missing (preview.sha256 is set)")),
            _ => {}
        }
        if !(p.scaling_factor.is_finite() && p.scaling_factor.abs() > 1e-6 && p.scaling_factor.abs() < 1e6) {
            return Err(self.field_error("preview.scaling_factor", "must be a finite number, not 0"));
        }
        if !p.shift_factor.is_finite() || p.shift_factor.abs() > 1e6 {
            return Err(self.field_error("preview.shift_factor", "must be a finite number"));
        }
        let [lo, hi] = p.output_range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi && hi - lo < 1e6) {
            return Err(self.field_error("preview.output_range", "must be [low, high] finite numbers with low < high"));
        }
        let finite = |v: &[f32; 3]| v.iter().all(|x| x.is_finite() && x.abs() <= 1e6);
        if !p.matrix.is_empty() || p.bias.is_some() || p.kind == PreviewKind::Fast {
            if p.matrix.len() != m.latent.channels {
                return Err(self.field_error(
                    "preview.matrix",
                    format!("needs one [r, g, b] row per latent channel ({}; got {})", m.latent.channels, p.matrix.len()),
                ));
            }
            if !p.matrix.iter().all(finite) {
                return Err(self.field_error("preview.matrix", "must hold finite numbers"));
            }
            match &p.bias {
                Some(b) if finite(b) => {}
                Some(_) => return Err(self.field_error("preview.bias", "must hold finite numbers")),
                None => return Err(self.field_error("preview.bias", "missing (preview.matrix is set)")),
            }
        }
        Ok(())
    }

    /// The scorer's numbers: a real input size and embedding, finite
    /// normalisation with no zero divisor.
    fn validate_scorer(&self) -> Result<(), BundleError> {
        let Some(s) = &self.manifest.scorer else { return Ok(()) };
        let [w, h] = s.image_size;
        if !(1..=4096).contains(&w) || !(1..=4096).contains(&h) {
            return Err(self.field_error("scorer.image_size", "width and height must be 1 to 4096"));
        }
        if s.embed_dim == 0 {
            return Err(self.field_error("scorer.embed_dim", "must be positive"));
        }
        if !s.mean.iter().all(|m| m.is_finite() && m.abs() <= 1e3) {
            return Err(self.field_error("scorer.mean", "must hold finite numbers"));
        }
        if !s.std.iter().all(|d| d.is_finite() && d.abs() >= 1e-6 && d.abs() <= 1e3) {
            return Err(self.field_error("scorer.std", "must hold finite numbers, none of them 0"));
        }
        Ok(())
    }

    fn validate_steps(&self) -> Result<(), BundleError> {
        let s = &self.manifest.scheduler;
        if s.timesteps.is_empty() {
            return Err(self.field_error("scheduler.timesteps", "no step counts given"));
        }
        for (key, list) in &s.timesteps {
            let field = format!("scheduler.timesteps.{key}");
            let n: usize = key
                .parse()
                .map_err(|_| self.field_error(&field, "the key must be a step count (1, 2, ...)"))?;
            if n == 0 || list.len() != n {
                return Err(self.field_error(&field, format!("must list exactly {n} timesteps, has {}", list.len())));
            }
            // Building the scheduler checks ranges and order with its own rules.
            crate::scheduler::build(&self.scheduler_config_for(list.clone()))
                .map_err(|e| self.field_error(&field, e.to_string()))?;
        }
        if !self.step_counts().contains(&s.default_steps) {
            return Err(self.field_error(
                "scheduler.default_steps",
                format!("{} has no entry in scheduler.timesteps", s.default_steps),
            ));
        }
        Ok(())
    }

    /// Open `rel` inside the bundle and compare its sha256 with the manifest's.
    fn check_file(&self, field: &str, rel: &str, hash_field: &str, expected: &str) -> Result<(), BundleError> {
        let path = self.path(rel);
        if rel.is_empty() || Path::new(rel).is_absolute() || rel.split(['/', '\\']).any(|p| p == "..") {
            return Err(self.field_error(field, format!("`{rel}` must be a relative path inside the bundle")));
        }
        let actual = sha256_file(&path).map_err(|e| BundleError::File {
            path: path.clone(),
            message: format!("cannot read (named by {field}): {e}"),
        })?;
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(BundleError::File {
                path,
                message: format!("sha256 mismatch: {hash_field} says {expected}, the file has {actual}"),
            });
        }
        Ok(())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The step counts this bundle has timesteps for, ascending.
    pub fn step_counts(&self) -> Vec<usize> {
        let mut v: Vec<usize> =
            self.manifest.scheduler.timesteps.keys().filter_map(|k| k.parse().ok()).collect();
        v.sort_unstable();
        v
    }

    pub fn max_steps(&self) -> usize {
        self.step_counts().last().copied().unwrap_or(0)
    }

    /// Scheduler configuration for `steps` steps, if the bundle supports it.
    pub fn scheduler_config(&self, steps: usize) -> Option<SchedulerConfig> {
        let list = self.manifest.scheduler.timesteps.get(&steps.to_string())?;
        Some(self.scheduler_config_for(list.clone()))
    }

    fn scheduler_config_for(&self, timesteps: Vec<f32>) -> SchedulerConfig {
        let s = &self.manifest.scheduler;
        SchedulerConfig {
            kind: s.kind,
            prediction: self.manifest.denoiser.prediction,
            train_timesteps: s.train_timesteps,
            beta_schedule: s.beta_schedule,
            beta_start: s.beta_start,
            beta_end: s.beta_end,
            timesteps,
            timestep_spacing: s.timestep_spacing,
        }
    }

    /// The tokenizer the manifest describes (files, length, padding, flavor).
    /// A `pad_id` outside the vocabulary is refused here: the text encoder
    /// would index its embedding table with it.
    pub fn tokenizer(&self) -> Result<ClipTokenizer, TokenizerError> {
        let t = &self.manifest.tokenizer;
        let vocab = t.vocab.as_ref().map(|v| self.path(v));
        let tokenizer = ClipTokenizer::from_files(&self.path(&t.merges), vocab.as_deref(), t.max_length, t.pad_id)?
            .with_flavor(t.flavor);
        if t.pad_id as u64 >= tokenizer.vocab_size() as u64 {
            return Err(TokenizerError::File {
                path: self.manifest_path.display().to_string(),
                message: format!("tokenizer.pad_id {} is outside the vocabulary ({} tokens)", t.pad_id, tokenizer.vocab_size()),
            });
        }
        Ok(tokenizer)
    }

    /// The bundle's identity in metadata: "name@sha256-prefix".
    pub fn id(&self) -> String {
        format!("{}@{}", self.manifest.name, &self.manifest_sha256[..12])
    }
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Parse model.toml; on error, the dotted field path (when known) and a
/// one-line message with the line number.
fn parse_manifest(text: &str) -> Result<Manifest, (Option<String>, String)> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.span().map(|s| text[..s.start].matches('\n').count() + 1);
        let message = match line {
            Some(l) => format!("{} (line {l})", inner.message()),
            None => inner.message().to_string(),
        };
        let field = (!field.is_empty() && field != ".").then_some(field);
        (field, message)
    })
}
