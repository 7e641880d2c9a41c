//! The watermark every picture gets: a tile of key-chosen mid-frequency
//! Fourier coefficients (tile.rs), repeated over the luminance two times
//! across the picture's short side, carrying a synchronisation pattern and
//! the Reed-Solomon-coded payload (128 bits).
//!
//! Because the mark repeats, any part of the picture holds the whole tile,
//! only shifted: a crop is a cyclic shift of the folded tile, which the sync
//! pattern's correlation finds (an FFT over all shifts at once). A resize
//! changes the period and a rotation turns the grid; the detector tries
//! periods from half to all of the short side (a crop keeping at least half
//! of each side) and small angles. Detection is a pure function of the
//! picture and the key: no original is stored.
//!
//! The detector works on the residual (the luminance minus its 9×9 median,
//! clipped; fold.rs), where the picture is small and the mark is not, and
//! reads bit signs, which brightness, contrast and gamma changes keep. Bits
//! too damaged for the Reed-Solomon decoder (a dark picture darkened again
//! and compressed) go to the soft decoder (soft.rs), which weighs each bit
//! by how sure it is.

use super::ecc::{self, CODEWORD_BITS, CODEWORD_BYTES};
use super::fft2::{Complex32, Fft2};
use super::fold::{fold, residual, working};
use super::key::Key;
use super::payload::{Payload, FIXED_BITS};
use super::soft::{self, SoftDecoder};
use super::tile::{Layout, TILE};
use super::transform::Mat;
use crate::image::RgbImage;

/// Tiles across the picture's short side at embedding.
const TILES_PER_SHORT_SIDE: f32 = 2.0;
/// Strength: the mark's luminance change is this many dB below peak (its
/// PSNR before rounding and clipping, which only lower the change).
const PSNR_DB: f32 = 40.6;
/// Tile samples per cell when painting it onto the picture (bilinear).
const OVERSAMPLE: usize = 2;
/// Rotations tried, degrees, most likely first.
const ANGLES: [f32; 11] = [0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.0, -2.0, 2.5, -2.5];
/// Ratio between neighbouring periods tried: the grid drifts by at most a
/// cell across the picture between two of them.
const PERIOD_STEP: f32 = 1.012;
/// Sync correlation (in standard deviations over all shifts) a hypothesis
/// needs before its payload is decoded.
const MIN_SYNC_Z: f32 = 5.0;
/// Hypotheses decoded per angle (the strongest syncs).
const DECODES_PER_ANGLE: usize = 3;
/// Hypotheses decoded before the search: no crop, no rotation (the period
/// from the short side, and from the long side when it fits).
const QUICK_DECODES: usize = 2;

/// Where the mark was found in the picture.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Found {
    /// The tile's period in this picture's pixels; an uncropped picture has
    /// a short side of twice this.
    pub period_px: f32,
    /// How far the picture was turned, counter-clockwise.
    pub rotation_degrees: f32,
    /// Where this picture's top-left corner lies in the tile grid (x, y),
    /// modulo the period (within ± half of it): how far a crop cut into the
    /// first tile; about 0 for an uncropped picture.
    pub offset_px: [f32; 2],
    /// The sync pattern's correlation peak in standard deviations over
    /// every shift (about 4 on pictures without the mark).
    pub sync_z: f32,
    /// Set when the bits were too damaged for the Reed-Solomon decoder and
    /// the soft decoder (soft.rs) read them: the codeword's correlation
    /// with the bits in noise standard deviations (at least soft::MIN_Z).
    pub soft_z: Option<f64>,
}

/// Upper bound of the chance that an unmarked picture is reported marked:
/// per payload decoded, the Reed-Solomon bound with the 24 fixed bits
/// (ecc.rs) plus the soft decoder's (soft.rs), times the most decodes one
/// detection makes.
pub fn false_positive_bound() -> f64 {
    let per_decode = ecc::false_positive_bound(FIXED_BITS) + soft::false_positive_bound();
    per_decode * (QUICK_DECODES + ANGLES.len() * DECODES_PER_ANGLE) as f64
}

/// The picture with `payload` embedded. Deterministic: the same picture,
/// payload and key give the same bytes.
pub fn embed(image: &RgbImage, payload: &Payload, key: &Key) -> RgbImage {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 {
        return image.clone();
    }
    let bits = ecc::to_bits(&ecc::encode(&payload.to_bytes()));
    let tile = Layout::new(key, CODEWORD_BITS).tile(&bits, OVERSAMPLE);
    let n = TILE * OVERSAMPLE;
    // Tile samples per picture pixel.
    let rate = TILES_PER_SHORT_SIDE * n as f32 / w.min(h) as f32;
    let taps = |len: usize| -> Vec<(usize, usize, f32)> {
        (0..len)
            .map(|i| {
                let t = ((i as f32 + 0.5) * rate).rem_euclid(n as f32);
                let i0 = (t.floor() as usize).min(n - 1);
                (i0, (i0 + 1) % n, t - i0 as f32)
            })
            .collect()
    };
    let (xs, ys) = (taps(w), taps(h));
    let mut mark = Vec::with_capacity(w * h);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            let top = tile[y0 * n + x0] * (1.0 - fx) + tile[y0 * n + x1] * fx;
            let bottom = tile[y1 * n + x0] * (1.0 - fx) + tile[y1 * n + x1] * fx;
            mark.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    let rms = (mark.iter().map(|v| v * v).sum::<f32>() / mark.len() as f32).sqrt().max(1e-6);
    let gain = 255.0 / 10f32.powf(PSNR_DB / 20.0) / rms;
    let mut out = image.clone();
    for (px, m) in out.pixels.chunks_exact_mut(3).zip(&mark) {
        for c in px {
            *c = (*c as f32 + gain * m).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// One (period, angle) hypothesis, evaluated.
struct Hypothesis {
    period: f32,
    angle: f32,
    sync_z: f32,
    /// Where the sync pattern lines up: the folded tile starts this many
    /// cells (y, x) into the tile.
    offset: (f32, f32),
    spectrum: Vec<Complex32>,
}

struct Search {
    residual: Mat,
    layout: Layout,
    filter: Vec<Complex32>,
    fft: Fft2,
    soft: SoftDecoder,
}

impl Search {
    fn evaluate(&self, period: f32, angle_degrees: f32) -> Hypothesis {
        let folded = fold(&self.residual, period, angle_degrees.to_radians());
        let mut g: Vec<Complex32> = folded.iter().map(|&v| Complex32::new(v, 0.0)).collect();
        self.fft.forward(&mut g);
        let mut c: Vec<Complex32> = g.iter().zip(&self.filter).map(|(a, b)| a * b.conj()).collect();
        self.fft.inverse(&mut c);
        let corr: Vec<f32> = c.iter().map(|v| v.re).collect();
        let n = corr.len() as f32;
        let mean = corr.iter().sum::<f32>() / n;
        let std = (corr.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt().max(1e-12);
        let best = (0..corr.len()).max_by(|&a, &b| corr[a].total_cmp(&corr[b])).unwrap_or(0);
        let (by, bx) = (best / TILE, best % TILE);
        // Sub-cell peak position along each axis (parabola through the
        // neighbours), so the bits' phases are right between cells.
        let refine = |at: &dyn Fn(usize) -> f32, i: usize| -> f32 {
            let (m, c0, p) = (at((i + TILE - 1) % TILE), at(i), at((i + 1) % TILE));
            let den = m - 2.0 * c0 + p;
            i as f32 + if den < 0.0 { 0.5 * (m - p) / den } else { 0.0 }
        };
        let fy = refine(&|y| corr[y * TILE + bx], by);
        let fx = refine(&|x| corr[by * TILE + x], bx);
        Hypothesis {
            period,
            angle: angle_degrees,
            sync_z: (corr[best] - mean) / std,
            offset: (-fy, -fx),
            spectrum: g,
        }
    }

    /// The neighbouring hypothesis with the strongest sync, climbing in
    /// angle and period steps from `h`: the error correction often accepts
    /// a hypothesis one step away from the true one, and the transform
    /// reported should be the true one.
    fn sharpen(&self, mut h: Hypothesis) -> Hypothesis {
        const ANGLE_STEP: f32 = 0.5;
        let max_angle = ANGLES.iter().fold(0f32, |m, a| m.max(a.abs()));
        loop {
            let steps = [(1.0, -ANGLE_STEP), (1.0, ANGLE_STEP), (PERIOD_STEP, 0.0), (1.0 / PERIOD_STEP, 0.0)];
            let mut around: Vec<Hypothesis> = steps.iter().map(|&(p, a)| self.evaluate(h.period * p, h.angle + a)).collect();
            let best = (0..around.len())
                .filter(|&i| around[i].angle.abs() <= max_angle)
                .max_by(|&a, &b| around[a].sync_z.total_cmp(&around[b].sync_z));
            match best {
                Some(i) if around[i].sync_z > h.sync_z => h = around.swap_remove(i),
                _ => {
                    // Between angle steps: the vertex of the parabola
                    // through h and its two angle neighbours.
                    let (m, p) = (around[0].sync_z, around[1].sync_z);
                    let den = m - 2.0 * h.sync_z + p;
                    if den < 0.0 {
                        h.angle += (0.5 * (m - p) / den).clamp(-0.5, 0.5) * ANGLE_STEP;
                    }
                    return h;
                }
            }
        }
    }

    /// The payload, the bytes corrected and, when the Reed-Solomon decoder
    /// could not read the bits but the soft decoder could, its z.
    fn decode(&self, h: &Hypothesis) -> Option<(Payload, usize, Option<f64>)> {
        let soft = self.layout.soft_bits(&h.spectrum, h.offset);
        let bits: Vec<bool> = soft.iter().map(|&s| s > 0.0).collect();
        let mut word = [0u8; CODEWORD_BYTES];
        word.copy_from_slice(&ecc::from_bits(&bits));
        if let Some((payload, corrected)) = ecc::decode(&word).and_then(|(b, n)| Some((Payload::from_bytes(&b)?, n))) {
            return Some((payload, corrected, None));
        }
        let d = self.soft.decode(&soft, &self.layout.soft_bit_noise(&h.spectrum))?;
        Some((d.payload, d.corrected, Some(d.z)))
    }
}

/// The payload, the bytes the error correction repaired and where the mark
/// was found; None when no hypothesis decodes to an edgepaint payload.
pub fn detect(image: &RgbImage, key: &Key) -> Option<(Payload, usize, Found)> {
    if image.width.min(image.height) < 16 {
        return None;
    }
    let (plane, pixel) = working(image);
    let layout = Layout::new(key, CODEWORD_BITS);
    let search = Search {
        residual: residual(&plane),
        filter: layout.sync_filter(),
        layout,
        fft: Fft2::new(TILE),
        soft: SoftDecoder::default(),
    };
    let (short, long) = (plane.cols.min(plane.rows) as f32, plane.cols.max(plane.rows) as f32);
    let found = |h: &Hypothesis, (payload, corrected, soft_z): (Payload, usize, Option<f64>)| {
        let cell = h.period / TILE as f32 * pixel;
        // One cell less: embedding samples the tile at pixel centres (half a
        // cell) and a folded cell holds the pixels from its start (another).
        let period = h.period * pixel;
        let at = |o: f32| ((o - 1.0) * cell + period / 2.0).rem_euclid(period) - period / 2.0;
        let offset_px = [at(h.offset.1), at(h.offset.0)];
        let where_ = Found { period_px: period, rotation_degrees: 0.0 - h.angle, offset_px, sync_z: h.sync_z, soft_z };
        (payload, corrected, where_)
    };
    // Uncropped (only resized, recoloured, compressed): the period is half
    // the short side (or, cropped along the short side only, the long side).
    let mut periods = vec![short / TILES_PER_SHORT_SIDE];
    if long / TILES_PER_SHORT_SIDE <= short {
        periods.push(long / TILES_PER_SHORT_SIDE);
    }
    for &p in &periods {
        let h = search.evaluate(p, 0.0);
        if let Some(d) = search.decode(&h) {
            let Some(z) = d.2 else { return Some(found(&h, d)) };
            // The soft decoder also reads hypotheses a little off the true
            // one (a picture turned by 2°). The sharpened neighbour is
            // reported only if it decodes better: on a dark, compressed
            // picture the sync is noisy and climbing it alone reported
            // unturned pictures as turned or resized.
            let unsharpened = found(&h, d);
            let sharp = search.sharpen(h);
            return match search.decode(&sharp) {
                Some(ds) if ds.2.map_or(true, |zs| zs > z) => Some(found(&sharp, ds)),
                _ => Some(unsharpened),
            };
        }
    }
    let quick = periods.len();
    let steps = (2f32.ln() / PERIOD_STEP.ln()).ceil() as i32;
    periods.extend((1..=steps).map(|i| short / TILES_PER_SHORT_SIDE * PERIOD_STEP.powi(i)));
    for angle in ANGLES {
        // At 0° the uncropped periods were decoded above already.
        let from = if angle == 0.0 { quick } else { 0 };
        // Only the strongest few are kept: holding every hypothesis's
        // spectrum made a search over an unmarked picture 30 % slower.
        let mut strongest: Vec<Hypothesis> = Vec::with_capacity(DECODES_PER_ANGLE + 1);
        for &p in &periods[from..] {
            let h = search.evaluate(p, angle);
            if h.sync_z >= MIN_SYNC_Z {
                strongest.push(h);
                strongest.sort_by(|a, b| b.sync_z.total_cmp(&a.sync_z));
                strongest.truncate(DECODES_PER_ANGLE);
            }
        }
        for h in strongest {
            if let Some(d) = search.decode(&h) {
                return Some(found(&search.sharpen(h), d));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::attacks::{crop, picture, psnr, rotate, tone};
    use super::*;

    #[test]
    fn round_trip_is_invisible_deterministic_and_keyed() {
        let key = Key::new("museum-42");
        let payload = Payload::new("3fa2beef", 4711);
        for (w, h, seed) in [(128, 128, 1), (256, 192, 3), (64, 64, 4), (512, 512, 5)] {
            let img = picture(w, h, seed);
            let out = embed(&img, &payload, &key);
            assert_eq!(out, embed(&img, &payload, &key), "embedding is not deterministic");
            assert!(psnr(&img, &out) >= 40.0, "{w}x{h}: PSNR {:.1}", psnr(&img, &out));
            let (found, _, at) = detect(&out, &key).unwrap_or_else(|| panic!("{w}x{h}: not detected"));
            assert_eq!(found, payload);
            assert_eq!((at.period_px, at.rotation_degrees), (w.min(h) as f32 / 2.0, 0.0), "{w}x{h}");
            assert!(detect(&out, &Key::new("another key")).is_none(), "{w}x{h}: detected with the wrong key");
        }
    }

    #[test]
    fn survives_crops_rotation_and_tone_changes_and_says_where() {
        let key = Key::or_default(None);
        let payload = Payload::new("beef", 7);
        let marked = embed(&picture(128, 128, 9), &payload, &key);
        let cases = [
            ("crop 20 % off the left", crop(&marked, 26, 0, 102, 128)),
            ("crop to half, offset", crop(&marked, 21, 37, 90, 91)),
            ("rotate 2°", rotate(&marked, 2.0)),
            ("brightness +30 %", tone(&marked, |v| v * 1.3)),
            ("gamma 1.4", tone(&marked, |v| 255.0 * (v / 255.0).powf(1.4))),
        ];
        for (name, attacked) in cases {
            let (found, _, at) = detect(&attacked, &key).unwrap_or_else(|| panic!("{name}: not detected"));
            assert_eq!(found, payload, "{name}");
            assert!((at.period_px - 64.0).abs() < 1.5, "{name}: period {}", at.period_px);
            if name.starts_with("crop 20") {
                // The picture now starts 26 px into the first tile.
                let off = |v: f32, want: f32| ((v - want).rem_euclid(64.0)).min((want - v).rem_euclid(64.0));
                assert!(off(at.offset_px[0], 26.0) < 1.5 && off(at.offset_px[1], 0.0) < 1.5, "{name}: {:?}", at.offset_px);
            }
            if name.starts_with("rotate") {
                assert!((at.rotation_degrees - 2.0).abs() <= 0.5, "{name}: {}", at.rotation_degrees);
            }
        }
    }

    #[test]
    fn the_soft_decoder_reads_a_dark_picture_darkened_again_and_compressed() {
        let key = Key::or_default(None);
        let payload = Payload::new("beef", 7);
        let (mut soft, mut read) = (0, 0);
        for seed in 20..26 {
            // A night picture (mean luminance about 30), then brightness
            // -30 %, gamma 1.4 and JPEG 75: about one bit in ten is lost.
            let night = tone(&picture(128, 128, seed), |v| v * 0.25);
            let marked = embed(&night, &payload, &key);
            let dark = tone(&marked, |v| 255.0 * (v * 0.7 / 255.0).powf(1.4));
            let mut jpeg = Vec::new();
            let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, 75);
            enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            enc.encode(&dark.pixels, 128, 128, jpeg_encoder::ColorType::Rgb).unwrap();
            let attacked = crate::image::read_image(&jpeg).unwrap();
            if let Some((found, _, at)) = detect(&attacked, &key) {
                assert_eq!(found, payload, "seed {seed}: wrong payload");
                read += 1;
                soft += at.soft_z.is_some() as usize;
            }
        }
        println!("read {read} of 6, {soft} by the soft decoder");
        assert!(read >= 5 && soft >= 2, "read {read} of 6, {soft} by the soft decoder");
    }

    #[test]
    fn unmarked_pictures_do_not_decode() {
        let key = Key::or_default(None);
        for seed in 0..12 {
            assert!(detect(&picture(96, 96, 1000 + seed), &key).is_none(), "false positive on {seed}");
        }
        assert!(false_positive_bound() < 1e-12, "{}", false_positive_bound());
    }
}
