//! Provenance and responsible use (DESIGN.md): the invisible watermark and
//! its verifier, the XMP packet, the kiosk's feedback log and prompt filter.

pub mod ecc;
pub mod export;
pub mod feedback;
pub mod filter;
pub mod normalize;
pub mod payload;
pub mod read;
pub mod transform;
pub mod xmp;
pub mod watermark;

pub use payload::Payload;
pub use watermark::{detect, embed, Detection, Key};

use crate::image_out::RgbImage;

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
