//! What the tiled detector looks at: the picture's luminance at a working
//! size, with the picture itself mostly removed (the residual), folded onto
//! one tile for a guessed period and rotation.

use super::tile::TILE;
use super::transform::{luminance, resample, Mat};
use crate::image::RgbImage;

/// Residual values beyond this many robust standard deviations are cut:
/// edges and flat-to-black borders (a rotation's corners) would otherwise
/// drown the mark, which is small everywhere.
const CLIP_SIGMAS: f32 = 1.5;
/// Median window (9×9): the mark is fine-grained, objects and edges are
/// not; a smaller window also removes the mark's lower frequencies, which
/// are the ones JPEG keeps (5×5 read 65 % of pictures after JPEG 50, 9×9
/// 95 %).
const MEDIAN_RADIUS: usize = 4;

/// The luminance brought to a short side within [128, 256) (by the
/// watermark's resampler: averaged down, or bilinearly up), and the size of
/// a working pixel in picture pixels. The mark's period is at least half
/// the short side, so a working period always has at least TILE pixels.
pub fn working(image: &RgbImage) -> (Mat, f32) {
    let plane = luminance(image);
    let short = plane.rows.min(plane.cols);
    let shrink = match short {
        0..=127 => short as f32 / 128.0,
        128..=255 => return (plane, 1.0),
        _ => (short / 128) as f32,
    };
    let (rows, cols) = ((plane.rows as f32 / shrink).round() as usize, (plane.cols as f32 / shrink).round() as usize);
    let down = |out: usize, inp: usize| resample(out, inp, 0.0, out as f64);
    let scaled = plane.sandwich(&down(rows, plane.rows), &down(cols, plane.cols));
    (scaled, plane.cols as f32 / cols as f32)
}

/// The plane minus its 9×9 median, clipped to CLIP_SIGMAS robust standard
/// deviations.
pub fn residual(plane: &Mat) -> Mat {
    let (w, h) = (plane.cols, plane.rows);
    let r = MEDIAN_RADIUS as isize;
    let mut window = Vec::with_capacity((2 * MEDIAN_RADIUS + 1).pow(2));
    let mut data = Vec::with_capacity(w * h);
    for y in 0..h as isize {
        for x in 0..w as isize {
            window.clear();
            for dy in -r..=r {
                let yy = (y + dy).clamp(0, h as isize - 1) as usize;
                for dx in -r..=r {
                    let xx = (x + dx).clamp(0, w as isize - 1) as usize;
                    window.push(plane.data[yy * w + xx]);
                }
            }
            let mid = window.len() / 2;
            let (_, median, _) = window.select_nth_unstable_by(mid, f32::total_cmp);
            data.push(plane.data[y as usize * w + x as usize] - *median);
        }
    }
    let mut magnitudes: Vec<f32> = data.iter().map(|v: &f32| v.abs()).collect();
    let mid = magnitudes.len() / 2;
    let mad = if magnitudes.is_empty() { 0.0 } else { *magnitudes.select_nth_unstable_by(mid, f32::total_cmp).1 };
    let limit = CLIP_SIGMAS * (1.4826 * mad + 0.5);
    data.iter_mut().for_each(|v| *v = v.clamp(-limit, limit));
    Mat { rows: h, cols: w, data }
}

/// The plane folded onto one tile: the mean of every pixel that falls on
/// each cell when the tile grid has `period` pixels per tile and is turned
/// by `angle` radians; cells nothing falls on stay 0, the rest have mean 0.
pub fn fold(plane: &Mat, period: f32, angle: f32) -> Vec<f32> {
    let mut sum = vec![0.0f32; TILE * TILE];
    let mut count = vec![0u32; TILE * TILE];
    let scale = TILE as f32 / period;
    let (c, s) = (angle.cos() * scale, angle.sin() * scale);
    for y in 0..plane.rows {
        let row = &plane.data[y * plane.cols..(y + 1) * plane.cols];
        let (yf, t) = (y as f32, TILE as i64);
        for (x, &v) in row.iter().enumerate() {
            let xf = x as f32;
            let u = (c * xf + s * yf).floor() as i64;
            let w = (c * yf - s * xf).floor() as i64;
            let i = w.rem_euclid(t) as usize * TILE + u.rem_euclid(t) as usize;
            sum[i] += v;
            count[i] += 1;
        }
    }
    let covered = count.iter().filter(|&&n| n > 0).count().max(1);
    let mean: f32 = sum.iter().zip(&count).filter(|(_, &n)| n > 0).map(|(s, &n)| s / n as f32).sum::<f32>() / covered as f32;
    sum.iter().zip(&count).map(|(s, &n)| if n > 0 { s / n as f32 - mean } else { 0.0 }).collect()
}
