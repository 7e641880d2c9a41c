//! Pictures: the 8-bit RGB image the pipeline makes, PNG files with text
//! metadata (written atomically), and reading any PNG or JPEG back, with
//! limits that refuse a hostile header before anything is allocated.

mod decode;
mod encode;

pub use decode::{read_image, read_png, read_png_text, sniff, Format, ReadError, MAX_PIXELS, MAX_SIDE};
pub use encode::{encode_png, remove_interrupted_writes, write_atomically, write_png, ImageError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// Row-major RGB bytes.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// Convert a decoder output [1, 3, H, W] whose values span `range` to 8-bit RGB.
    pub fn from_chw(data: &[f32], height: usize, width: usize, range: [f32; 2]) -> RgbImage {
        let plane = height * width;
        assert_eq!(data.len(), 3 * plane, "decoder output is not 3 x {height} x {width}");
        let [lo, hi] = range;
        let mut pixels = vec![0u8; 3 * plane];
        for c in 0..3 {
            for i in 0..plane {
                let v = (data[c * plane + i] - lo) / (hi - lo);
                pixels[i * 3 + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
        RgbImage { width, height, pixels }
    }
}
