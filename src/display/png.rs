//! The headless back-end: every frame written as a PNG (tests, CI, remote
//! demos): `frame-NNNNNN.png` per frame (unless `latest_only`) and `latest.png`.
//! Only the last `keep_frames` frame files are kept (a ring: a kiosk runs for
//! months on an SD card), numbered on across restarts.

use super::{Display, DisplayError, Frame};
use crate::image::{write_png, RgbImage};
use std::path::PathBuf;
use serde::Deserialize;

pub struct PngDisplay {
    dir: PathBuf,
    width: u32,
    height: u32,
    latest_only: bool,
    keep_frames: u64,
    frames: u64,
}

impl PngDisplay {
    pub fn new(dir: PathBuf, width: u32, height: u32, latest_only: bool) -> Result<PngDisplay, DisplayError> {
        Self::with_ring(dir, width, height, latest_only, DEFAULT_KEEP_FRAMES)
    }

    /// Like [`PngDisplay::new`], keeping at most `keep_frames` frame files.
    pub fn with_ring(dir: PathBuf, width: u32, height: u32, latest_only: bool, keep_frames: u64) -> Result<PngDisplay, DisplayError> {
        let err = |e: std::io::Error| DisplayError::device(dir.display(), e);
        std::fs::create_dir_all(&dir).map_err(err)?;
        crate::image::remove_interrupted_writes(&dir).map_err(err)?;
        let numbers = frame_numbers(&dir).map_err(err)?;
        let frames = numbers.iter().copied().max().unwrap_or(0);
        let display = PngDisplay { dir, width, height, latest_only, keep_frames, frames };
        for n in numbers.into_iter().filter(|&n| n + keep_frames <= frames) {
            display.remove_frame(n)?;
        }
        Ok(display)
    }

    fn frame_path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("frame-{n:06}.png"))
    }

    fn remove_frame(&self, n: u64) -> Result<(), DisplayError> {
        match std::fs::remove_file(self.frame_path(n)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DisplayError::device(self.dir.display(), e)),
            _ => Ok(()),
        }
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
            let path = self.frame_path(self.frames);
            write_png(&path, &image, &[]).map_err(|e| DisplayError::device(self.dir.display(), e))?;
            if self.frames > self.keep_frames {
                self.remove_frame(self.frames - self.keep_frames)?;
            }
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
    /// Frame files kept (the oldest are removed).
    #[serde(default = "default_keep_frames")]
    pub keep_frames: u64,
}

/// Frame files a png display keeps by default: about 25 pictures at 4 steps.
pub const DEFAULT_KEEP_FRAMES: u64 = 200;

fn default_keep_frames() -> u64 {
    DEFAULT_KEEP_FRAMES
}

/// The numbers of the `frame-NNNNNN.png` files in `dir`.
fn frame_numbers(dir: &std::path::Path) -> std::io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_prefix("frame-").and_then(|n| n.strip_suffix(".png")).and_then(|n| n.parse().ok()) {
            numbers.push(n);
        }
    }
    Ok(numbers)
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
