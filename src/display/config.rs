//! The `[display]` section of a board file: which back-end, and its own
//! settings (each back-end's config type lives in its file).

use super::fb::FbConfig;
use super::png::PngConfig;
use super::spi::SpiConfig;
use serde::Deserialize;
use std::path::PathBuf;

/// Which screen the kiosk draws on. `kind` selects the back-end.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DisplayConfig {
    /// No screen (serial/stdin only).
    #[default]
    None,
    Png(PngConfig),
    Fb(FbConfig),
    Spi(SpiConfig),
}

impl DisplayConfig {
    /// The layout's size in pixels, where the board file fixes it.
    pub fn size(&self) -> Option<(u32, u32)> {
        match self {
            DisplayConfig::None => None,
            DisplayConfig::Png(p) => Some((p.width, p.height)),
            DisplayConfig::Fb(f) => f.width.zip(f.height).map(|(w, h)| f.rotation.layout_size(w, h)),
            DisplayConfig::Spi(s) => Some((s.width, s.height)),
        }
    }

    pub fn check(&self) -> Result<(), (String, String)> {
        let small = |w: u32, h: u32| w < 64 || h < 64 || w > 8192 || h > 8192;
        match self {
            DisplayConfig::None => Ok(()),
            DisplayConfig::Png(p) if small(p.width, p.height) => {
                Err(("display.width".into(), "width and height must be 64..=8192".into()))
            }
            DisplayConfig::Spi(s) if small(s.width, s.height) => {
                Err(("display.width".into(), "width and height must be 64..=8192".into()))
            }
            DisplayConfig::Fb(f) => match f.bpp {
                Some(16) | Some(32) | None => Ok(()),
                Some(b) => Err(("display.bpp".into(), format!("must be 16 or 32 (got {b})"))),
            },
            _ => Ok(()),
        }
    }
}

/// A display given on the command line (`--display png:DIR|fb:PATH|none`),
/// replacing the board file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplaySpec {
    Png(PathBuf),
    Fb(PathBuf),
    None,
}

impl std::str::FromStr for DisplaySpec {
    type Err = String;
    fn from_str(spec: &str) -> Result<Self, String> {
        match spec.split_once(':') {
            Some(("png", dir)) if !dir.is_empty() => Ok(DisplaySpec::Png(dir.into())),
            Some(("fb", path)) if !path.is_empty() => Ok(DisplaySpec::Fb(path.into())),
            None if spec == "none" => Ok(DisplaySpec::None),
            _ => Err(format!("must be png:DIR, fb:PATH or none (got {spec:?})")),
        }
    }
}

impl DisplayConfig {
    /// This display replaced by `spec`, keeping the board's size (default
    /// 320 × 240) and, for a framebuffer replacing a framebuffer, its settings.
    pub fn replaced_by(&self, spec: &DisplaySpec) -> DisplayConfig {
        let (w, h) = self.size().unwrap_or((super::png::DEFAULT_WIDTH, super::png::DEFAULT_HEIGHT));
        match spec {
            DisplaySpec::Png(dir) => DisplayConfig::Png(PngConfig {
                dir: dir.clone(),
                width: w,
                height: h,
                latest_only: false,
                keep_frames: super::png::DEFAULT_KEEP_FRAMES,
            }),
            DisplaySpec::Fb(path) => match self {
                DisplayConfig::Fb(f) => DisplayConfig::Fb(FbConfig { device: path.clone(), ..f.clone() }),
                _ => DisplayConfig::Fb(FbConfig {
                    device: path.clone(),
                    width: Some(w),
                    height: Some(h),
                    bpp: Some(32),
                    line_length: None,
                    rotation: Default::default(),
                }),
            },
            DisplaySpec::None => DisplayConfig::None,
        }
    }
}
