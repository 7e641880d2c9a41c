//! A board file (`board/NAME.toml`): which display, which inputs, which
//! presets. Board specifics live here, never in code. Every error names the
//! file and, when known, the dotted field and line.

use crate::display::DisplayConfig;
use crate::input::{ButtonAction, ButtonConfig, ButtonsConfig, SerialConfig};

use crate::filter::{FilterConfig, FilterError, PromptFilter};
use crate::watermark::payload::MAX_DEVICE_ID;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BoardError {
    #[error("cannot read board file {path}: {message}")]
    Read { path: String, message: String },
    #[error("board file {path}: {field}: {message}")]
    Field { path: String, field: String, message: String },
    #[error("board file {path}: {message}")]
    Syntax { path: String, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Short name, shown on the idle screen and in `ready`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub stdin: StdinConfig,
    pub serial: Option<SerialConfig>,
    #[serde(default)]
    pub display: DisplayConfig,
    #[serde(default)]
    pub buttons: ButtonsConfig,
    #[serde(default, rename = "button")]
    pub button: Vec<ButtonConfig>,
    #[serde(default)]
    pub attract: Option<AttractConfig>,
    #[serde(default, rename = "preset")]
    pub presets: Vec<Preset>,
    #[serde(default)]
    pub provenance: ProvenanceConfig,
    #[serde(default)]
    pub filter: FilterConfig,
    /// A broker to join (README "Fleet"); no `url`: none.
    #[serde(default)]
    pub mqtt: crate::fleet::MqttConfig,
}

/// Who made a picture, and where the kiosk keeps its records.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceConfig {
    /// Carried in every picture's watermark (0..=16777215; 0: not set).
    #[serde(default)]
    pub device_id: u32,
    /// Names the kiosk in the feedback log (default: the board name).
    pub kiosk_id: Option<String>,
    /// Watermark key (default: the built-in one, which anyone can check).
    pub key: Option<String>,
    /// Where the feedback log (feedback.jsonl) is kept (default: the
    /// folder above the output folder, else the output folder; a relative
    /// one is under the data home).
    pub data_dir: Option<PathBuf>,
    /// Content Credentials (C2PA): sign every picture with this certificate
    /// chain (PEM, signing certificate first) and key (PKCS#8 PEM); relative
    /// paths are next to the board file. Unset: pictures are not signed.
    pub c2pa_cert: Option<PathBuf>,
    pub c2pa_key: Option<PathBuf>,
    /// Their signature algorithm (default es256).
    pub c2pa_alg: Option<String>,
}

impl ProvenanceConfig {
    /// The C2PA signer the board names, if any (the files are read now).
    pub fn signer(&self) -> Result<Option<crate::credentials::Signer>, String> {
        match (&self.c2pa_cert, &self.c2pa_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => crate::credentials::Signer::from_pem_files(cert, key, self.c2pa_alg.as_deref().unwrap_or("es256"))
                .map(Some)
                .map_err(|e| format!("provenance.c2pa_cert: {e}")),
            _ => Err("provenance: c2pa_cert and c2pa_key go together".into()),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Bundle folder; relative paths are relative to the working directory.
    /// None: the usual search (`--model`, $EDGEPAINT_MODEL, models/scenes).
    pub dir: Option<PathBuf>,
    /// Load each model part only for its stage (boards with 512 MB).
    #[serde(default)]
    pub low_memory: bool,
    /// Hold at most this many MB of model graphs loaded between pictures;
    /// the rest loads for its stage (default: half of the board's memory).
    pub memory_mb: Option<u64>,
    /// Show the picture developing on the display after every step: "auto"
    /// (the bundle's `[preview] kind`), "decoder", "tiny", "fast" or "none".
    #[serde(default)]
    pub preview: PreviewChoice,
    /// Keep the best of this many candidates by the bundle's scorer (1 to
    /// 16; default 1: no scoring); `/best N` changes it until restart.
    pub best_of: Option<usize>,
}

/// A board's preview setting (docs/bundle.md "Previews").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreviewChoice {
    #[default]
    Auto,
    Decoder,
    Tiny,
    Fast,
    None,
}

impl PreviewChoice {
    /// The kind to use with a bundle that declares `bundle`.
    pub fn kind(self, bundle: crate::bundle::PreviewKind) -> crate::bundle::PreviewKind {
        use crate::bundle::PreviewKind;
        match self {
            PreviewChoice::Auto => bundle,
            PreviewChoice::Decoder => PreviewKind::Decoder,
            PreviewChoice::Tiny => PreviewKind::Tiny,
            PreviewChoice::Fast => PreviewKind::Fast,
            PreviewChoice::None => PreviewKind::None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Where finished pictures are written (created if missing); a relative
    /// folder is under the data home (src/data_home.rs).
    #[serde(default = "default_output_dir")]
    pub dir: PathBuf,
    /// Keep at most this many pictures there (the oldest are removed after
    /// each new one); unset: keep everything.
    pub keep: Option<usize>,
    /// Keep at most this many MB of pictures there (the oldest removed
    /// first; the newest always stays); unset: no size limit.
    pub keep_mb: Option<u64>,
    /// Below this much free space (MB) on the folder's file system, `/status`
    /// carries `free_mb` and the screen says so.
    #[serde(default = "default_min_free_mb")]
    pub min_free_mb: u64,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig { dir: default_output_dir(), keep: None, keep_mb: None, min_free_mb: default_min_free_mb() }
    }
}

fn default_min_free_mb() -> u64 {
    200
}

fn default_output_dir() -> PathBuf {
    PathBuf::from("pictures")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Requests that may wait behind the running one; one more is `busy`.
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// A generation that reports nothing for this long counts as stuck: the
    /// systemd watchdog is no longer petted (and restarts the kiosk).
    #[serde(default = "default_stuck_seconds")]
    pub stuck_seconds: u64,
}

fn default_stuck_seconds() -> u64 {
    900
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { capacity: default_capacity(), stuck_seconds: default_stuck_seconds() }
    }
}

fn default_capacity() -> usize {
    4
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    /// Read the line protocol from stdin and answer on stdout.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for StdinConfig {
    fn default() -> Self {
        StdinConfig { enabled: true }
    }
}

fn yes() -> bool {
    true
}

/// After `idle_minutes` without input the kiosk cycles through its presets,
/// one every `interval_seconds`; any input ends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttractConfig {
    pub idle_minutes: f64,
    #[serde(default = "default_interval")]
    pub interval_seconds: f64,
}

fn default_interval() -> f64 {
    60.0
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Shown on the idle screen (default: the prompt).
    pub name: Option<String>,
    pub prompt: String,
    pub seed: Option<u64>,
    pub steps: Option<usize>,
}

impl Preset {
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.prompt)
    }
}

impl Board {
    pub fn load(path: &Path) -> Result<Board, BoardError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| BoardError::Read { path: name.clone(), message: e.to_string() })?;
        let mut board = Board::parse(&text, &name)?;
        board.place_files_in_data_home(&name)?;
        // Filter lists and C2PA files sit next to the board file wherever it is installed.
        let dir = path.parent().unwrap_or(Path::new(""));
        board.mqtt.resolve_files(dir);
        let c2pa = board.provenance.c2pa_cert.iter_mut().chain(board.provenance.c2pa_key.iter_mut());
        for f in board.filter.block_files.iter_mut().chain(board.filter.allow_files.iter_mut()).chain(c2pa) {
            if f.is_relative() {
                *f = dir.join(&*f);
            }
        }
        Ok(board)
    }

    /// Relative folders for what the kiosk writes (pictures, frames, the
    /// feedback log) go under the data home (src/data_home.rs), never into
    /// the working directory.
    fn place_files_in_data_home(&mut self, name: &str) -> Result<(), BoardError> {
        let mut paths = vec![("output.dir", &mut self.output.dir)];
        if let DisplayConfig::Png(p) = &mut self.display {
            paths.push(("display.dir", &mut p.dir));
        }
        if let Some(d) = &mut self.provenance.data_dir {
            paths.push(("provenance.data_dir", d));
        }
        for (field, path) in paths.into_iter().filter(|(_, p)| p.is_relative()) {
            let home = crate::data_home::data_home().map_err(|e| BoardError::Field {
                path: name.to_string(),
                field: field.to_string(),
                message: format!("{} is relative: {e}", path.display()),
            })?;
            *path = home.join(&*path);
        }
        Ok(())
    }

    /// The prompt filter from `[filter]` (reading its list files).
    pub fn prompt_filter(&self) -> Result<PromptFilter, FilterError> {
        PromptFilter::from_config(&self.filter)
    }

    /// Where the feedback log goes.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.provenance.data_dir {
            return d.clone();
        }
        match self.output.dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => self.output.dir.clone(),
        }
    }

    /// The kiosk's name on a broker: `[mqtt] name`, else the kiosk id.
    pub fn mqtt_name(&self) -> Result<String, String> {
        let name = self.mqtt.name.clone().unwrap_or_else(|| self.kiosk_id().to_string());
        crate::fleet::config::check_kiosk_name(&name).map_err(|m| format!("mqtt.name: {m}; set [mqtt] name or --name"))?;
        Ok(name)
    }

    /// The name the feedback log gives this kiosk.
    pub fn kiosk_id(&self) -> &str {
        self.provenance.kiosk_id.as_deref().unwrap_or(&self.name)
    }

    /// Parse and check a board file's text; `name` is used in errors.
    pub fn parse(text: &str, name: &str) -> Result<Board, BoardError> {
        let deserializer = toml::Deserializer::new(text);
        let board: Board = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.span().map(|s| text[..s.start].matches('\n').count() + 1);
            let message = match line {
                Some(l) => format!("{} (line {l})", inner.message().trim()),
                None => inner.message().trim().to_string(),
            };
            if field.is_empty() || field == "." {
                BoardError::Syntax { path: name.to_string(), message }
            } else {
                BoardError::Field { path: name.to_string(), field, message }
            }
        })?;
        board.check().map_err(|(field, message)| BoardError::Field { path: name.to_string(), field, message })?;
        Ok(board)
    }

    /// Checks serde cannot express; returns (field, message).
    fn check(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
        self.mqtt.check()?;
        if self.provenance.device_id > MAX_DEVICE_ID {
            return err("provenance.device_id", "must be at most 16777215 (24 bits)");
        }
        if self.model.best_of.is_some_and(|n| !(1..=crate::pipeline::MAX_BEST_OF).contains(&n)) {
            return err("model.best_of", "must be 1 to 16");
        }
        if self.queue.capacity == 0 {
            return err("queue.capacity", "must be at least 1");
        }
        for (i, p) in self.presets.iter().enumerate() {
            if p.prompt.trim().is_empty() {
                return Err((format!("preset[{i}].prompt"), "is empty".into()));
            }
        }
        if let Some(a) = &self.attract {
            let positive = |v: f64| v.is_finite() && v > 0.0;
            if !positive(a.idle_minutes) || !positive(a.interval_seconds) {
                return err("attract", "idle_minutes and interval_seconds must be positive");
            }
            if self.presets.is_empty() {
                return err("attract", "attract mode needs at least one [[preset]]");
            }
        }
        for (i, b) in self.button.iter().enumerate() {
            if b.action == ButtonAction::Preset {
                let preset = b.preset.unwrap_or(0);
                if preset == 0 || preset > self.presets.len() {
                    return Err((
                        format!("button[{i}].preset"),
                        format!("must be 1..={} (the [[preset]] entries, counted from 1)", self.presets.len()),
                    ));
                }
            }
        }
        self.display.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_board_has_defaults() {
        let b = Board::parse("name = \"x\"\n", "x.toml").unwrap();
        assert_eq!(b.queue.capacity, 4);
        assert!(b.stdin.enabled);
        assert!(matches!(b.display, DisplayConfig::None));
    }

    #[test]
    fn errors_name_file_field_and_line() {
        let e = Board::parse("name = \"x\"\n[queue]\ncapacity = \"four\"\n", "b.toml").unwrap_err().to_string();
        assert!(e.starts_with("board file b.toml: queue.capacity: "), "{e}");
        assert!(e.contains("line 3"), "{e}");
        let e = Board::parse("name = \"x\"\n[display]\nkind = \"vga\"\n", "b.toml").unwrap_err().to_string();
        assert!(e.contains("b.toml") && e.contains("display") && e.contains("vga"), "{e}");
        let e = Board::parse("name = \"x\"\n[queue]\ncapacity = 0\n", "b.toml").unwrap_err().to_string();
        assert_eq!(e, "board file b.toml: queue.capacity: must be at least 1");
    }
}
