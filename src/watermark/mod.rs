//! Provenance: the invisible watermark every saved picture carries (a 64-bit
//! payload: model id and device id, error-corrected, keyed), its detector,
//! and the XMP packet that labels a picture as AI-generated.

pub mod ecc;
pub mod mark;
pub mod payload;
pub mod transform;
pub mod xmp;

pub use mark::{detect, embed, Detection, Key};
pub use payload::Payload;

use crate::image::RgbImage;

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
        embed(image, &Payload::new(model_sha256, self.device_id), &self.key)
    }
}
