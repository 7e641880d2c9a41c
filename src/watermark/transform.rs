//! The linear maps the watermark lives in, as small dense matrices: a
//! partial orthonormal DCT-II (only the lowest frequencies), a resampler
//! between an image's size and the canonical (or the tiled detector's
//! working) size, and the luminance both marks are read from.
//!
//! Written by hand rather than with rustdct: the watermark needs only the
//! lowest ~32 of 128 frequencies per axis, and as matrices the resampling
//! folds into the DCT (coefficients = (D·R) · Y · (D·R)ᵀ), so any image size,
//! and any crop hypothesis, is two small matrix products.

/// The luminance (BT.601 weights) of a picture, as a `height × width` matrix.
pub fn luminance(image: &crate::image::RgbImage) -> Mat {
    let data =
        image.pixels.chunks_exact(3).map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).collect();
    Mat { rows: image.height, cols: image.width, data }
}

/// A row-major `rows × cols` matrix of f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Mat {
    pub fn zeros(rows: usize, cols: usize) -> Mat {
        Mat { rows, cols, data: vec![0.0; rows * cols] }
    }

    pub fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.cols + c]
    }

    pub fn transpose(&self) -> Mat {
        let mut t = Mat::zeros(self.cols, self.rows);
        for r in 0..self.rows {
            for c in 0..self.cols {
                t.data[c * self.rows + r] = self.data[r * self.cols + c];
            }
        }
        t
    }

    /// `self · other`.
    pub fn mul(&self, other: &Mat) -> Mat {
        assert_eq!(self.cols, other.rows, "matrix shapes");
        let mut out = Mat::zeros(self.rows, other.cols);
        for r in 0..self.rows {
            let o = &mut out.data[r * other.cols..(r + 1) * other.cols];
            for k in 0..self.cols {
                let a = self.data[r * self.cols + k];
                if a == 0.0 {
                    continue;
                }
                for (x, b) in o.iter_mut().zip(&other.data[k * other.cols..(k + 1) * other.cols]) {
                    *x += a * b;
                }
            }
        }
        out
    }

    /// `left · self · rightᵀ`, the separable 2-D map of a plane. When it
    /// shrinks the plane, `left` goes first: `mul` skips its zeros (a
    /// resampler's rows are mostly zeros), so a large picture costs about
    /// one pass over its pixels instead of one per output column.
    pub fn sandwich(&self, left: &Mat, right: &Mat) -> Mat {
        if left.rows <= self.rows {
            left.mul(self).mul(&right.transpose())
        } else {
            left.mul(&self.mul(&right.transpose()))
        }
    }
}

/// The first `k` rows of the orthonormal `n`-point DCT-II.
pub fn dct_rows(k: usize, n: usize) -> Mat {
    let mut m = Mat::zeros(k, n);
    for u in 0..k {
        let scale = if u == 0 { (1.0 / n as f64).sqrt() } else { (2.0 / n as f64).sqrt() };
        for x in 0..n {
            // libm: the same bits on x86 and ARM, so the embed is reproducible across boards.
            let v = scale * libm::cos(std::f64::consts::PI * (x as f64 + 0.5) * u as f64 / n as f64);
            m.data[u * n + x] = v as f32;
        }
    }
    m
}

/// Resampling weights (`out × inp`) that place an `inp`-sample signal on
/// output samples `start .. start + len` (fractional), leaving the other
/// output rows zero. A triangle kernel widened by the shrink factor, as
/// Pillow's antialiased bilinear resize, so shrinking averages instead of
/// aliasing. With `start = 0, len = out` it is a plain resize.
pub fn resample(out: usize, inp: usize, start: f64, len: f64) -> Mat {
    let mut m = Mat::zeros(out, inp);
    let scale = inp as f64 / len;
    let support = scale.max(1.0);
    for i in 0..out {
        let centre = (i as f64 + 0.5 - start) * scale;
        if centre < 0.0 || centre > inp as f64 {
            continue;
        }
        let lo = ((centre - support).floor().max(0.0)) as usize;
        let hi = ((centre + support).ceil() as usize).min(inp);
        let mut total = 0.0;
        for j in lo..hi {
            let w = (1.0 - ((j as f64 + 0.5 - centre) / support).abs()).max(0.0);
            m.data[i * inp + j] = w as f32;
            total += w;
        }
        if total > 0.0 {
            for j in lo..hi {
                m.data[i * inp + j] /= total as f32;
            }
        } else {
            // An output sample between two input samples' kernels (cannot
            // happen with support >= 1, but never leave a row unnormalised).
            m.data[i * inp + (centre as usize).min(inp - 1)] = 1.0;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_rows_are_orthonormal() {
        let d = dct_rows(16, 64);
        let g = d.mul(&d.transpose());
        for r in 0..16 {
            for c in 0..16 {
                let want = if r == c { 1.0 } else { 0.0 };
                assert!((g.at(r, c) - want).abs() < 1e-5, "{r},{c}: {}", g.at(r, c));
            }
        }
    }

    #[test]
    fn same_size_resample_is_identity_and_rows_sum_to_one() {
        let r = resample(8, 8, 0.0, 8.0);
        for i in 0..8 {
            for j in 0..8 {
                assert_eq!(r.at(i, j), if i == j { 1.0 } else { 0.0 });
            }
        }
        for (o, i) in [(5, 17), (17, 5), (128, 96)] {
            let r = resample(o, i, 0.0, o as f64);
            for row in 0..o {
                let s: f32 = (0..i).map(|c| r.at(row, c)).sum();
                assert!((s - 1.0).abs() < 1e-5);
            }
        }
        // A half-size placement leaves the other rows empty.
        let r = resample(10, 10, 5.0, 5.0);
        assert!((0..5).all(|row| (0..10).all(|c| r.at(row, c) == 0.0)));
    }
}
