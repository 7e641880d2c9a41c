//! The headless back-end: every frame written as a PNG (tests, CI, remote
//! demos): `frame-NNNNNN.png` per frame (unless `latest_only`) and `latest.png`.

use super::{Display, DisplayError, Frame};
use crate::image::{write_png, RgbImage};
use std::path::PathBuf;
use serde::Deserialize;

pub struct PngDisplay {
    dir: PathBuf,
    width: u32,
    height: u32,
    latest_only: bool,
    frames: u64,
}

impl PngDisplay {
    pub fn new(dir: PathBuf, width: u32, height: u32, latest_only: bool) -> Result<PngDisplay, DisplayError> {
        std::fs::create_dir_all(&dir).map_err(|e| DisplayError::device(dir.display(), e))?;
        Ok(PngDisplay { dir, width, height, latest_only, frames: 0 })
    }

    /// Frames shown so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl Display for PngDisplay {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn show(&mut self, frame: &Frame) -> Result<(), DisplayError> {
        let image = RgbImage { width: frame.width as usize, height: frame.height as usize, pixels: frame.pixels.clone() };
        self.frames += 1;
        if !self.latest_only {
            let path = self.dir.join(format!("frame-{:06}.png", self.frames));
            write_png(&path, &image, &[]).map_err(|e| DisplayError::device(self.dir.display(), e))?;
        }
        write_png(&self.dir.join("latest.png"), &image, &[]).map_err(|e| DisplayError::device(self.dir.display(), e))?;
        Ok(())
    }
}

/// Every frame written as a PNG into `dir` (frame-NNNNNN.png and latest.png).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PngConfig {
    pub dir: PathBuf,
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    /// Keep only latest.png instead of one file per frame.
    #[serde(default)]
    pub latest_only: bool,
}

/// The layout size when a board file gives none.
pub const DEFAULT_WIDTH: u32 = 320;
pub const DEFAULT_HEIGHT: u32 = 240;

fn default_width() -> u32 {
    DEFAULT_WIDTH
}
fn default_height() -> u32 {
    DEFAULT_HEIGHT
}
