//! Decoding a large latent in overlapping tiles, so the decoder's activations
//! (the biggest buffers of a 512×512 SD picture: 128 channels at full
//! resolution) are only ever those of one tile.
//!
//! Tiles have one fixed size (the decoder graph is optimized once, for that
//! shape): they start every `tile - overlap` latent pixels, the last one
//! moved back to end at the border. Each tile's picture is weighted by a ramp
//! that rises linearly across the overlap on every side that has a
//! neighbour (1 elsewhere), and the picture is the weighted mean, so seams
//! fade over the overlap instead of showing. A decoder whose output depends
//! only on nearby latents (TAESD: convolutions only) is then reproduced up to
//! its receptive field; one with global statistics (the SD VAE's GroupNorm
//! and mid-block attention) differs more (tests/diffusers_parity.rs states
//! both).

use crate::runtime::{Graph, Input, RuntimeError};
use crate::tensor::Tensor;

/// Start offsets of the tiles along one axis of `len` latent pixels.
pub fn tile_starts(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if len <= tile {
        return vec![0];
    }
    let stride = (tile - overlap).max(1);
    let mut starts: Vec<usize> = (0..).map(|k| k * stride).take_while(|&s| s + tile < len).collect();
    starts.push(len - tile);
    starts
}

/// Weight of output row/column `i` of a tile `n` pixels long whose ramps are
/// `ramp` pixels long on the sides that have a neighbour.
fn ramp_weight(i: usize, n: usize, ramp: usize, before: bool, after: bool) -> f32 {
    let mut w = 1.0f32;
    if ramp > 0 {
        if before {
            w = w.min((i as f32 + 0.5) / ramp as f32);
        }
        if after {
            w = w.min(((n - i) as f32 - 0.5) / ramp as f32);
        }
    }
    w
}

/// Decode `latents` [1, C, H, W] with `graph`, a decoder optimized for input
/// [1, C, th, tw] with th = min(tile, H), tw = min(tile, W) and output
/// [1, 3, th * f, tw * f]. Returns [1, 3, H * f, W * f].
pub fn decode(graph: &Graph, latents: &Tensor, tile: usize, overlap: usize) -> Result<Tensor, RuntimeError> {
    let (c, h, w) = (latents.shape[1], latents.shape[2], latents.shape[3]);
    let (th, tw) = (tile.min(h), tile.min(w));
    let out_shape = graph.output_shape().to_vec();
    let (oc, f) = (out_shape[1], out_shape[2] / th);
    let (oh, ow) = (h * f, w * f);
    let mut sum = vec![0f32; oc * oh * ow];
    let mut weight = vec![0f32; oh * ow];
    let ramp = overlap * f;
    let ys = tile_starts(h, th, overlap);
    let xs = tile_starts(w, tw, overlap);
    for (yi, &y0) in ys.iter().enumerate() {
        for (xi, &x0) in xs.iter().enumerate() {
            let mut crop = Vec::with_capacity(c * th * tw);
            for ch in 0..c {
                for y in y0..y0 + th {
                    let row = (ch * h + y) * w;
                    crop.extend_from_slice(&latents.data[row + x0..row + x0 + tw]);
                }
            }
            let out = graph.run(&[Input::F32(Tensor::new(vec![1, c, th, tw], crop))])?;
            let (ph, pw) = (th * f, tw * f);
            let wy: Vec<f32> = (0..ph).map(|i| ramp_weight(i, ph, ramp, yi > 0, yi + 1 < ys.len())).collect();
            let wx: Vec<f32> = (0..pw).map(|i| ramp_weight(i, pw, ramp, xi > 0, xi + 1 < xs.len())).collect();
            for y in 0..ph {
                for x in 0..pw {
                    let wt = wy[y] * wx[x];
                    let o = (y0 * f + y) * ow + x0 * f + x;
                    weight[o] += wt;
                    for ch in 0..oc {
                        sum[ch * oh * ow + o] += wt * out.data[(ch * ph + y) * pw + x];
                    }
                }
            }
        }
    }
    for ch in 0..oc {
        for (s, wt) in sum[ch * oh * ow..(ch + 1) * oh * ow].iter_mut().zip(&weight) {
            *s /= wt;
        }
    }
    Ok(Tensor::new(vec![1, oc, oh, ow], sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_cover_the_axis_and_end_at_the_border() {
        assert_eq!(tile_starts(8, 8, 2), vec![0]);
        assert_eq!(tile_starts(5, 8, 2), vec![0]);
        assert_eq!(tile_starts(12, 4, 2), vec![0, 2, 4, 6, 8]);
        assert_eq!(tile_starts(10, 4, 1), vec![0, 3, 6]);
        assert_eq!(tile_starts(64, 32, 8), vec![0, 24, 32]);
        for (len, tile, overlap) in [(12, 4, 2), (10, 4, 1), (64, 32, 8), (100, 48, 12)] {
            let s = tile_starts(len, tile, overlap);
            assert_eq!(*s.last().unwrap() + tile, len);
            for p in s.windows(2) {
                assert!(p[1] > p[0] && p[1] - p[0] <= tile - overlap, "{s:?}");
            }
        }
    }

    #[test]
    fn ramps_rise_across_the_overlap_only_where_there_is_a_neighbour() {
        assert_eq!(ramp_weight(0, 16, 4, false, false), 1.0);
        assert_eq!(ramp_weight(0, 16, 4, true, false), 0.125);
        assert_eq!(ramp_weight(3, 16, 4, true, false), 0.875);
        assert_eq!(ramp_weight(4, 16, 4, true, true), 1.0);
        assert_eq!(ramp_weight(15, 16, 4, false, true), 0.125);
        assert_eq!(ramp_weight(15, 16, 4, true, false), 1.0);
    }
}
