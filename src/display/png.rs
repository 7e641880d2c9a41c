//! The headless back-end: every frame written as a PNG (tests, CI, remote
//! demos): `frame-NNNNNN.png` per frame (unless `latest_only`) and `latest.png`.

use super::{Display, DisplayError, Frame};
use crate::image_out::{write_png, RgbImage};
use std::path::PathBuf;

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
