//! Provenance: the invisible watermark every saved picture carries (a 64-bit
//! payload: model id and device id, error-corrected, keyed), its detector,
//! and the XMP packet that labels a picture as AI-generated.
//!
//! Pictures are marked with the tiled mark (tiled.rs), which survives crops,
//! resizes, small rotations and colour changes; the detector also reads the
//! first mark (legacy.rs) of pictures made by edgepaint 0.1.

pub mod attacks;
pub mod ecc;
mod fft2;
mod fold;
pub mod key;
pub mod legacy;
pub mod payload;
pub mod soft;
mod tile;
pub mod tiled;
pub mod transform;
pub mod xmp;

pub use key::{Key, DEFAULT_KEY};
pub use payload::Payload;

use crate::image::RgbImage;

/// Which mark was found, and how.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// The tiled mark, with where it lies in the picture.
    Tiled(tiled::Found),
    /// The first mark, at one of its step levels (0: strongest).
    Legacy { level: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub payload: Payload,
    /// Payload bytes the error correction repaired (of 16).
    pub corrected: usize,
    pub mark: Mark,
}

/// The picture with `payload` embedded (the tiled mark).
pub fn embed(image: &RgbImage, payload: &Payload, key: &Key) -> RgbImage {
    tiled::embed(image, payload, key)
}

/// Look for the tiled mark, then for the first one.
pub fn detect(image: &RgbImage, key: &Key) -> Option<Detection> {
    if let Some((payload, corrected, found)) = tiled::detect(image, key) {
        return Some(Detection { payload, corrected, mark: Mark::Tiled(found) });
    }
    legacy::detect(image, key).map(|d| Detection { payload: d.payload, corrected: d.corrected, mark: Mark::Legacy { level: d.level } })
}

/// Upper bound of the chance that `detect` reports an unmarked picture as
/// marked: the two detectors' bounds added.
pub fn false_positive_bound() -> f64 {
    tiled::false_positive_bound() + legacy::false_positive_bound()
}

/// What marks a device's pictures: the key and the board's device id.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub key: Key,
    pub device_id: u32,
}

impl Default for Stamp {
    fn default() -> Self {
        Stamp { key: Key::or_default(None), device_id: 0 }
    }
}

impl Stamp {
    pub fn new(key: Option<&str>, device_id: u32) -> Stamp {
        Stamp { key: Key::or_default(key), device_id }
    }

    /// The picture watermarked with this device's payload for the model
    /// whose model.toml has sha256 `model_sha256`.
    pub fn mark(&self, image: &RgbImage, model_sha256: &str) -> RgbImage {
        embed(image, &self.payload(model_sha256), &self.key)
    }

    /// What [`Stamp::mark`] embeds for the model whose model.toml has sha256 `model_sha256`.
    pub fn payload(&self, model_sha256: &str) -> Payload {
        Payload::new(model_sha256, self.device_id)
    }
}

#[cfg(test)]
mod tests {
    use super::attacks::picture;
    use super::*;

    #[test]
    fn reads_the_tiled_mark_and_the_first_one() {
        let (key, payload) = (Key::new("k"), Payload::new("abcd", 3));
        let img = picture(128, 128, 2);
        let found = detect(&embed(&img, &payload, &key), &key).expect("tiled mark");
        assert!(matches!(found.mark, Mark::Tiled(_)) && found.payload == payload);
        let found = detect(&legacy::embed(&img, &payload, &key), &key).expect("first mark");
        assert!(matches!(found.mark, Mark::Legacy { .. }) && found.payload == payload);
    }
}
