//! What the robustness tests do to a marked picture (crop, tone change,
//! rotation) and a synthetic test picture: shared by the unit tests and
//! tests/provenance.rs, so both attack the same way.

use crate::image::RgbImage;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// A smooth test picture with some texture, `w`×`h`.
pub fn picture(w: usize, h: usize, seed: u64) -> RgbImage {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(w * h * 3);
    let (fx, fy) = (1.0 + (rng.next_u32() % 5) as f32, 1.0 + (rng.next_u32() % 5) as f32);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
            let base = 120.0 + 60.0 * (6.28 * fx * u).sin() * (3.14 * fy * v).cos();
            let noise = (rng.next_u32() % 9) as f32 - 4.0;
            pixels.extend([base + noise, base * 0.8 + 20.0, 255.0 - base].map(|c| c.clamp(0.0, 255.0) as u8));
        }
    }
    RgbImage { width: w, height: h, pixels }
}

pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    let mse: f64 =
        a.pixels.iter().zip(&b.pixels).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / a.pixels.len() as f64;
    10.0 * (255.0f64.powi(2) / mse).log10()
}

/// The `w`×`h` box at (`x`, `y`).
pub fn crop(image: &RgbImage, x: usize, y: usize, w: usize, h: usize) -> RgbImage {
    let mut pixels = Vec::with_capacity(w * h * 3);
    for row in y..y + h {
        pixels.extend_from_slice(&image.pixels[(row * image.width + x) * 3..(row * image.width + x + w) * 3]);
    }
    RgbImage { width: w, height: h, pixels }
}

/// Every channel mapped through `f`, rounded and clipped.
pub fn tone(image: &RgbImage, f: impl Fn(f32) -> f32) -> RgbImage {
    let pixels = image.pixels.iter().map(|&v| f(v as f32).round().clamp(0.0, 255.0) as u8).collect();
    RgbImage { pixels, ..image.clone() }
}

/// Turned by `degrees` about the centre (bilinear), black outside.
pub fn rotate(image: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = (image.width, image.height);
    let (c, s) = (degrees.to_radians().cos(), degrees.to_radians().sin());
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let (sx, sy) = (c * dx - s * dy + cx - 0.5, s * dx + c * dy + cy - 0.5);
            for ch in 0..3 {
                let at = |xx: f32, yy: f32| -> f32 {
                    if xx < 0.0 || yy < 0.0 || xx > (w - 1) as f32 || yy > (h - 1) as f32 {
                        0.0
                    } else {
                        image.pixels[(yy as usize * w + xx as usize) * 3 + ch] as f32
                    }
                };
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = (sx - x0, sy - y0);
                let v = (at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx) * (1.0 - fy)
                    + (at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx) * fy;
                pixels.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    RgbImage { width: w, height: h, pixels }
}
