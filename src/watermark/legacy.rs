//! The first watermark (edgepaint 0.1, embedded until the tiled mark in
//! tiled.rs replaced it): kept so `verify` still reads pictures made
//! before. The ECC-coded payload (128 bits) spread over
//! low-to-mid DCT frequencies of the luminance at a canonical 128×128 scale,
//! each bit on its own key-chosen set of coefficients with key-chosen signs.
//!
//! Each bit is embedded by spread-transform dither modulation: the bit's
//! projection is moved onto one of two interleaved, key-dithered lattices,
//! so the picture itself does not interfere with the mark (as it would with
//! plain spread spectrum) and the change per bit is bounded. The lattice
//! step is relative to the energy of the lowest frequencies, so brightness
//! and contrast scaling, which scale both, do not move the mark off its
//! lattice; JPEG and resizing barely touch those frequencies. Detection
//! Reed-Solomon-decodes the bits and checks the tag, for each step level.
//! Resizing is undone by working at the canonical scale.

use super::ecc::{self, CODEWORD_BITS, CODEWORD_BYTES};
use super::key::Key;
use super::payload::{Payload, FIXED_BITS};
use super::transform::{dct_rows, luminance, resample, Mat};
use crate::image::RgbImage;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// The scale the mark is defined at (the shipped model's native size).
pub const CANONICAL: usize = 128;
/// Frequencies per axis that may carry the mark: they survive a 0.5× resize.
const BAND: usize = 32;
/// Coefficients with u + v in this range carry the mark: above the lowest
/// (the reference, and the most visible) and below what JPEG and
/// downscaling remove.
const FREQ_SUM: std::ops::RangeInclusive<usize> = 6..=40;
/// The reference frequencies (u + v in this range) whose RMS sets the step.
const REF_SUM: std::ops::RangeInclusive<usize> = 1..=5;
/// Lattice steps, relative to the reference RMS, strongest first: the
/// embedder takes the strongest one within the PSNR floor.
const LEVELS: [f32; 6] = [0.16, 0.12, 0.09, 0.0675, 0.05, 0.038];
/// Brightening clips highlights, so the reference grows less than the
/// mark: the reference is also tried a little larger (and smaller).
const REFERENCE_TWEAKS: [f32; 6] = [1.0, 1.04, 1.08, 1.13, 0.96, 0.92];
/// Smallest step in luminance units, for nearly flat pictures.
const MIN_STEP: f32 = 4.0;
/// The embedder takes the strongest level whose change stays within this
/// PSNR (before rounding to 8 bits; the weakest level if none does).
const PSNR_FLOOR_DB: f64 = 42.0;
/// Rounds of embed-then-measure, so rounding and clipping are corrected.
const ROUNDS: usize = 3;

/// A first-generation mark found.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub payload: Payload,
    /// Payload bytes the error correction repaired (of 16).
    pub corrected: usize,
    /// Index of the step level (0: strongest).
    pub level: usize,
}

/// Upper bound of the chance that an unmarked picture is reported marked:
/// per (step level, reference tweak) tried, the ECC bound with the 24 fixed bits (see
/// ecc.rs). The key's random dither makes an unmarked picture's bits fair
/// coins, whatever the picture.
pub fn false_positive_bound() -> f64 {
    ecc::false_positive_bound(FIXED_BITS) * (LEVELS.len() * REFERENCE_TWEAKS.len()) as f64
}

/// A bit's coefficients (index u * BAND + v) with signs, and its dither.
struct Carrier {
    coefs: Vec<(usize, f32)>,
    dither: f32,
}

fn layout(key: &Key) -> Vec<Carrier> {
    let mut coefs: Vec<usize> = (0..BAND * BAND).filter(|i| FREQ_SUM.contains(&(i / BAND + i % BAND))).collect();
    let mut rng = ChaCha20Rng::from_seed(*key.bytes());
    for i in (1..coefs.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        coefs.swap(i, j);
    }
    let mut carriers: Vec<Carrier> =
        (0..CODEWORD_BITS).map(|_| Carrier { coefs: Vec::new(), dither: (rng.next_u32() >> 8) as f32 / (1 << 24) as f32 }).collect();
    for (t, c) in coefs.into_iter().enumerate() {
        let sign = if rng.next_u32() & 1 == 1 { 1.0 } else { -1.0 };
        carriers[t % CODEWORD_BITS].coefs.push((c, sign));
    }
    carriers
}

/// Unit-norm projections of the band coefficients on each bit's pattern.
fn projections(coefs: &Mat, carriers: &[Carrier]) -> Vec<f32> {
    carriers
        .iter()
        .map(|c| c.coefs.iter().map(|&(i, s)| s * coefs.data[i]).sum::<f32>() / (c.coefs.len() as f32).sqrt())
        .collect()
}

/// RMS of the reference coefficients.
fn reference(coefs: &Mat) -> f32 {
    let v: Vec<f32> = (0..BAND * BAND).filter(|i| REF_SUM.contains(&(i / BAND + i % BAND))).map(|i| coefs.data[i]).collect();
    (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt()
}

fn step(reference: f32, level: usize) -> f32 {
    (LEVELS[level] * reference).max(MIN_STEP)
}

/// Position of projection `v` on the bit lattices, in [0, 1): near 0 is a
/// 0 bit, near 0.5 a 1 bit.
fn phase(v: f32, step: f32, dither: f32) -> f32 {
    (v / step - dither).rem_euclid(1.0)
}

/// The change that moves `v` onto the nearest point of bit `bit`'s lattice.
fn quantize(v: f32, step: f32, dither: f32, bit: bool) -> f32 {
    let offset = dither + if bit { 0.5 } else { 0.0 };
    let target = ((v / step - offset).round() + offset) * step;
    target - v
}

/// The picture with `payload` embedded. Deterministic: the same picture,
/// payload and key give the same bytes.
pub fn embed(image: &RgbImage, payload: &Payload, key: &Key) -> RgbImage {
    let (h, w) = (image.height, image.width);
    if h == 0 || w == 0 {
        return image.clone();
    }
    let bits = ecc::to_bits(&ecc::encode(&payload.to_bytes()));
    let carriers = layout(key);
    let d = dct_rows(BAND, CANONICAL);
    let fv = d.mul(&resample(CANONICAL, h, 0.0, CANONICAL as f64));
    let fh = d.mul(&resample(CANONICAL, w, 0.0, CANONICAL as f64));
    let dt = d.transpose();
    let (gv, gh) = (resample(h, CANONICAL, 0.0, h as f64).mul(&dt), resample(w, CANONICAL, 0.0, w as f64).mul(&dt));
    // Energy allowed in canonical DCT units (orthonormal: equals the pixel
    // energy at 128×128; at other sizes the resampling scales both alike).
    let mse = 255.0f64.powi(2) / 10f64.powf(PSNR_FLOOR_DB / 10.0);
    let budget = (mse * (CANONICAL * CANONICAL) as f64) as f32;

    let coefs = luminance(image).sandwich(&fv, &fh);
    let reference = reference(&coefs);
    let p = projections(&coefs, &carriers);
    let cost = |level: usize| -> f32 {
        let q = step(reference, level);
        p.iter().zip(&carriers).zip(&bits).map(|((&v, c), &b)| quantize(v, q, c.dither, b).powi(2)).sum()
    };
    let level = (0..LEVELS.len()).find(|&l| cost(l) <= budget).unwrap_or(LEVELS.len() - 1);
    let q = step(reference, level);

    let mut delta = Mat::zeros(h, w);
    let mut out = image.clone();
    for round in 0..ROUNDS {
        let p = if round == 0 { p.clone() } else { projections(&luminance(&out).sandwich(&fv, &fh), &carriers) };
        let mut dc = Mat::zeros(BAND, BAND);
        let mut moved = 0.0f32;
        for ((&v, c), &b) in p.iter().zip(&carriers).zip(&bits) {
            let change = quantize(v, q, c.dither, b);
            moved += change.abs();
            let norm = (c.coefs.len() as f32).sqrt();
            for &(i, s) in &c.coefs {
                dc.data[i] += change * s / norm;
            }
        }
        if moved < 0.05 * CODEWORD_BITS as f32 {
            break;
        }
        let dy = dc.sandwich(&gv, &gh);
        for (acc, v) in delta.data.iter_mut().zip(&dy.data) {
            *acc += v;
        }
        for (i, px) in out.pixels.chunks_exact_mut(3).enumerate() {
            let orig = &image.pixels[i * 3..i * 3 + 3];
            for c in 0..3 {
                px[c] = (orig[c] as f32 + delta.data[i]).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Look for the mark; the first step level where the payload decodes wins.
/// Not robust to cropping: the mark spans the whole frame, and a crop
/// removes part of every bit's projection (see the README's table).
pub fn detect(image: &RgbImage, key: &Key) -> Option<Detection> {
    if image.height < 8 || image.width < 8 {
        return None;
    }
    let (h, w) = (image.height, image.width);
    let d = dct_rows(BAND, CANONICAL);
    let fv = d.mul(&resample(CANONICAL, h, 0.0, CANONICAL as f64));
    let fh = d.mul(&resample(CANONICAL, w, 0.0, CANONICAL as f64));
    let coefs = luminance(image).sandwich(&fv, &fh);
    let carriers = layout(key);
    let reference = reference(&coefs);
    let p = projections(&coefs, &carriers);
    for (level, &tweak) in (0..LEVELS.len()).flat_map(|l| REFERENCE_TWEAKS.iter().map(move |t| (l, t))) {
        let q = step(reference * tweak, level);
        let bits: Vec<bool> = p.iter().zip(&carriers).map(|(&v, c)| (0.25..0.75).contains(&phase(v, q, c.dither))).collect();
        let mut word = [0u8; CODEWORD_BYTES];
        word.copy_from_slice(&ecc::from_bits(&bits));
        if let Some((bytes, corrected)) = ecc::decode(&word) {
            if let Some(payload) = Payload::from_bytes(&bytes) {
                return Some(Detection { payload, corrected, level });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::attacks::{picture, psnr};
    use super::*;

    #[test]
    fn round_trip_is_invisible_deterministic_and_keyed() {
        let key = Key::new("museum-42");
        let payload = Payload::new("3fa2beef", 4711);
        for (w, h, seed) in [(128, 128, 1), (128, 128, 2), (256, 192, 3), (64, 64, 4)] {
            let img = picture(w, h, seed);
            assert!(detect(&img, &key).is_none(), "unmarked picture {seed} detected");
            let out = embed(&img, &payload, &key);
            assert_eq!(out, embed(&img, &payload, &key), "embedding is not deterministic");
            assert!(psnr(&img, &out) >= 40.0, "{w}x{h}: PSNR {:.1}", psnr(&img, &out));
            let found = detect(&out, &key).unwrap_or_else(|| panic!("{w}x{h} seed {seed}: not detected"));
            assert_eq!(found.payload, payload);
            assert!(detect(&out, &Key::new("another key")).is_none(), "detected with the wrong key");
        }
    }

    #[test]
    fn unmarked_pictures_do_not_decode() {
        // The bound per picture is ~9e-13 (see false_positive_bound).
        let key = Key::or_default(None);
        for seed in 0..300 {
            assert!(detect(&picture(64, 64, 1000 + seed), &key).is_none(), "false positive on {seed}");
        }
        assert!(false_positive_bound() < 1e-12, "{}", false_positive_bound());
    }
}
