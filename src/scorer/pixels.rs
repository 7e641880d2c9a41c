//! A picture as the scorer's image tower sees it: resized so that it covers
//! the tower's input, its middle cut out (CLIP's "resize the short side,
//! centre crop"), normalised per channel, as [1, 3, H, W].

use crate::image::RgbImage;
use crate::tensor::Tensor;
use crate::watermark::transform::{resample, Mat};

/// `image` as the tower's input `[1, 3, size[1], size[0]]`: channel values
/// (v / 255 − mean) / std.
pub fn pixel_values(image: &RgbImage, size: [usize; 2], mean: [f32; 3], std: [f32; 3]) -> Tensor {
    let [out_w, out_h] = size;
    let (w, h) = (image.width, image.height);
    // The scale at which the picture covers the output; the overhang is cut
    // evenly from both sides. Pillow's antialiased resampling weights (the
    // watermark's), so shrinking a 512-pixel picture averages, not aliases.
    let scale = (out_w as f64 / w as f64).max(out_h as f64 / h as f64);
    let (len_x, len_y) = (w as f64 * scale, h as f64 * scale);
    let rows = taps(&resample(out_h, h, (out_h as f64 - len_y) / 2.0, len_y));
    let cols = taps(&resample(out_w, w, (out_w as f64 - len_x) / 2.0, len_x));
    let mut data = Vec::with_capacity(3 * out_w * out_h);
    // Separable, over each weight row's few non-zero taps: a pass along the
    // rows, then one along the columns (a dense matrix product would cost
    // more than the image tower itself).
    let mut across = vec![0.0f32; h * out_w];
    for c in 0..3 {
        for y in 0..h {
            let line = &image.pixels[y * w * 3..(y + 1) * w * 3];
            for (x, (first, weights)) in cols.iter().enumerate() {
                let sum: f32 = weights.iter().enumerate().map(|(k, wt)| wt * line[(first + k) * 3 + c] as f32).sum();
                across[y * out_w + x] = sum / 255.0;
            }
        }
        for (first, weights) in &rows {
            for x in 0..out_w {
                let v: f32 = weights.iter().enumerate().map(|(k, wt)| wt * across[(first + k) * out_w + x]).sum();
                data.push((v - mean[c]) / std[c]);
            }
        }
    }
    Tensor::new(vec![1, 3, out_h, out_w], data)
}

/// Each row of a resampling matrix as (first non-zero column, the weights
/// from there to the last non-zero one).
fn taps(m: &Mat) -> Vec<(usize, Vec<f32>)> {
    (0..m.rows)
        .map(|r| {
            let row = &m.data[r * m.cols..(r + 1) * m.cols];
            let first = row.iter().position(|v| *v != 0.0).unwrap_or(0);
            let last = row.iter().rposition(|v| *v != 0.0).unwrap_or(0).max(first);
            (first, row[first..=last].to_vec())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(width: usize, height: usize, f: impl Fn(usize, usize) -> [u8; 3]) -> RgbImage {
        let f = &f;
        let pixels = (0..height).flat_map(|y| (0..width).flat_map(move |x| f(x, y))).collect();
        RgbImage { width, height, pixels }
    }

    #[test]
    fn same_size_is_the_normalised_picture() {
        let img = picture(4, 3, |x, y| [(x * 60) as u8, (y * 100) as u8, 255]);
        let t = pixel_values(&img, [4, 3], [0.5; 3], [0.5; 3]);
        assert_eq!(t.shape, vec![1, 3, 3, 4]);
        // red of pixel (x=2, y=1): 120/255, then (v - 0.5) / 0.5
        let got = t.data[4 + 2];
        assert!((got - (120.0 / 255.0 - 0.5) / 0.5).abs() < 1e-5, "{got}");
        // blue is 255 everywhere: 1.0
        assert!(t.data[2 * 12..].iter().all(|v| (v - 1.0).abs() < 1e-5));
    }

    #[test]
    fn a_wide_picture_loses_its_sides_not_its_proportions() {
        // 8 x 4: left quarter red, right quarter blue, middle half green;
        // into 4 x 4 the short side fits and the middle (green) is kept.
        let img = picture(8, 4, |x, _| match x {
            0 | 1 => [255, 0, 0],
            6 | 7 => [0, 0, 255],
            _ => [0, 255, 0],
        });
        let t = pixel_values(&img, [4, 4], [0.0; 3], [1.0; 3]);
        let (red, green) = (&t.data[..16], &t.data[16..32]);
        assert!(red.iter().all(|v| v.abs() < 1e-5), "{red:?}");
        assert!(green.iter().all(|v| (v - 1.0).abs() < 1e-5), "{green:?}");
    }

    #[test]
    fn shrinking_averages() {
        // A 2-pixel checker shrunk 4x is mid-grey everywhere.
        let img = picture(16, 16, |x, y| if (x + y) % 2 == 0 { [255; 3] } else { [0; 3] });
        let t = pixel_values(&img, [4, 4], [0.0; 3], [1.0; 3]);
        assert!(t.data.iter().all(|v| (v - 0.5).abs() < 0.05), "{:?}", &t.data[..16]);
    }
}
