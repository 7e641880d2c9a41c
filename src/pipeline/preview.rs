//! The `fast` preview: a fitted linear map from a latent pixel to its
//! colour (like stable-diffusion.cpp's `proj` preview), microseconds a step
//! where a decoder run can cost as much as the step itself. The picture is
//! made at latent resolution and enlarged to the image size, blocky by
//! design: it shows where things are going, not the final picture.

use crate::bundle::Manifest;
use crate::image::RgbImage;

/// The preview of clean latents `x0` ([1, C, H, W], the denoiser's space)
/// with the manifest's `[preview] matrix` and `bias` (checked at load).
pub fn fast(m: &Manifest, x0: &[f32]) -> RgbImage {
    let (c, h, w) = (m.latent.channels, m.latent.height, m.latent.width);
    let bias = m.preview.bias.unwrap_or([0.0; 3]);
    let [width, height] = m.image_size;
    let mut small = vec![[0u8; 3]; h * w];
    for (p, rgb) in small.iter_mut().enumerate() {
        let mut v = bias;
        for (ch, row) in m.preview.matrix.iter().enumerate().take(c) {
            let x = x0[ch * h * w + p];
            for k in 0..3 {
                v[k] += x * row[k];
            }
        }
        *rgb = v.map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8);
    }
    // Nearest-neighbour enlargement to the picture's size.
    let mut pixels = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        let sy = y * h / height;
        for x in 0..width {
            pixels.extend(small[sy * w + x * w / width]);
        }
    }
    RgbImage { width, height, pixels }
}
