//! 3×3 convolutions (stride 1, padding 1) by Winograd's F(4×4, 3×3): each
//! 4×4 block of output points from a 6×6 block of input as 36 element-wise
//! products in a transformed space: 2.25 multiply-adds per output point,
//! input and output channel, against winograd.rs's 4 (F(2×2, 3×3)) and 9
//! for the direct sum.
//!
//! Why: with F(2×2, 3×3) a TAESD decode (64-channel convolutions up to
//! 512²) still took 1.4-1.7× onnxruntime's time. The larger tile also
//! writes 2.25 transformed values per input point instead of 4. Its weights
//! take 36/9 the memory of the taps, so conv3x3.rs uses it only for
//! convolutions with few weights and large images (TAESD's, the VAE's
//! outer levels), where that is a few MB. Same layout as winograd.rs: 36
//! matrix products ([out, in] × [in, blocks], `gemm`) over a band of block
//! rows whose transformed input stays in cache (winograd.rs's driver). The transform points are
//! 0, ±1, ±2 (Lavin and Gray, 2016): the result differs from the direct sum
//! by rounding (about 1e-6 relative in f32).

use super::conv_finish::ConvFinish;
use super::thread_parts::Shared;
use super::winograd::{convolve_by_tiles, Tile};

/// Blocks (4×4 output points) of one band, at least: its transformed input
/// [36, in, blocks] stays within a core's L2 cache for 64 channels.
const BAND_BLOCKS: usize = 128;

/// G g for one column (or row) of three weights: six values.
fn g_times(a: f32, b: f32, c: f32) -> [f32; 6] {
    [
        a / 4.0,
        -(a + b + c) / 6.0,
        -(a - b + c) / 6.0,
        a / 24.0 + b / 12.0 + c / 6.0,
        a / 24.0 - b / 12.0 + c / 6.0,
        c,
    ]
}

/// Weights OIHW [out, in, 3, 3] as U = G g Gᵀ: [36, out, in].
pub fn transform_weights(weights: &[f32], c_in: usize, c_out: usize) -> Vec<f32> {
    let mut u = vec![0f32; 36 * c_out * c_in];
    for o in 0..c_out {
        for i in 0..c_in {
            let g = &weights[(o * c_in + i) * 9..][..9];
            // G g (6×3), then (G g) Gᵀ (6×6).
            let columns: [[f32; 6]; 3] = std::array::from_fn(|c| g_times(g[c], g[3 + c], g[6 + c]));
            for r in 0..6 {
                for (c, v) in g_times(columns[0][r], columns[1][r], columns[2][r]).into_iter().enumerate() {
                    u[((r * 6 + c) * c_out + o) * c_in + i] = v;
                }
            }
        }
    }
    u
}

/// `N` disjoint slices of `len` values of `buf`: the first at `first`, the
/// next every `stride` values.
fn strided_mut<const N: usize>(buf: &mut [f32], first: usize, stride: usize, len: usize) -> [&mut [f32]; N] {
    let mut rest = &mut buf[first..];
    std::array::from_fn(|i| {
        let (this, after) = std::mem::take(&mut rest).split_at_mut(if i + 1 < N { stride } else { len });
        rest = after;
        &mut this[..len]
    })
}

/// Bᵀ d for six values d along a column (or row), each a slice: writes the
/// six transformed slices.
#[inline(always)]
fn b_transpose(d: [&[f32]; 6], t: [&mut [f32]; 6]) {
    let [d0, d1, d2, d3, d4, d5] = d;
    let [t0, t1, t2, t3, t4, t5] = t;
    for x in 0..t0.len() {
        let (a0, a1, a2, a3, a4, a5) = (d0[x], d1[x], d2[x], d3[x], d4[x], d5[x]);
        t0[x] = 4.0 * a0 - 5.0 * a2 + a4;
        t1[x] = -4.0 * (a1 + a2) + a3 + a4;
        t2[x] = 4.0 * (a1 - a2) - a3 + a4;
        t3[x] = 2.0 * (a3 - a1) - a2 + a4;
        t4[x] = 2.0 * (a1 - a3) - a2 + a4;
        t5[x] = 4.0 * a1 - 5.0 * a3 + a5;
    }
}

/// Aᵀ m for six values along a column (or row): four outputs, each a slice.
#[inline(always)]
fn a_transpose(m: [&[f32]; 6], o: [&mut [f32]; 4], bias: f32) {
    let [m0, m1, m2, m3, m4, m5] = m;
    let [o0, o1, o2, o3] = o;
    for x in 0..o0.len() {
        let (p, q) = (m1[x] + m2[x], m1[x] - m2[x]);
        let (r, s) = (m3[x] + m4[x], m3[x] - m4[x]);
        o0[x] = m0[x] + p + r + bias;
        o1[x] = q + 2.0 * s + bias;
        o2[x] = p + 4.0 * r + bias;
        o3[x] = q + 8.0 * s + m5[x] + bias;
    }
}

/// One image's convolution into `out` ([out, h, w]) from `u` (weights by
/// [`transform_weights`]), finished as conv3x3.rs's, by winograd.rs's
/// driver.
pub fn convolve(input: &[f32], hw: (usize, usize), u: &[f32], bias: &[f32], finish: (ConvFinish, Option<&[f32]>), out: &mut [f32]) {
    let tile = Tile { side: 4, band_blocks: BAND_BLOCKS, transform_input, transform_output };
    convolve_by_tiles(&tile, input, hw, u, bias, finish, out)
}

/// V = Bᵀ d B for every 6×6 input block d of block rows r0..r0+rows (zero
/// beyond the image): `v` is [36, in, rows × block columns]. Block bx reads
/// padded columns 4bx..4bx+5 (padded column p is input column p - 1): each
/// input row is split into four phases (columns 4t + k), so that every
/// step below is a loop over contiguous slices, which the compiler
/// vectorizes.
fn transform_input(input: &[f32], (h, w): (usize, usize), c_in: usize, (r0, rows): (usize, usize), v: &mut Vec<f32>) {
    let bc = w.div_ceil(4);
    let points = rows * bc;
    v.resize(36 * c_in * points, 0.0);
    let n = bc + 1;
    // phases[(dy * 4 + k) * n + t]: input row dy of the block, column 4t + k - 1.
    let mut phases = vec![0f32; 24 * n];
    // One input row with its padding: padded[p] is column p - 1 (zero at
    // p = 0 and beyond the row, never written).
    let mut padded = vec![0f32; 4 * n];
    // down[(i * 4 + k) * n + t]: Bᵀ applied down the six rows, phase k.
    let mut down = vec![0f32; 24 * n];
    for i in 0..c_in {
        for r in 0..rows {
            for dy in 0..6 {
                let rows_phases = &mut phases[dy * 4 * n..][..4 * n];
                let Some(y) = (4 * (r0 + r) + dy).checked_sub(1).filter(|&y| y < h) else {
                    rows_phases.fill(0.0);
                    continue;
                };
                padded[1..=w].copy_from_slice(&input[(i * h + y) * w..][..w]);
                let (p0, rest) = rows_phases.split_at_mut(n);
                let (p1, rest) = rest.split_at_mut(n);
                let (p2, p3) = rest.split_at_mut(n);
                for (t, quad) in padded.chunks_exact(4).enumerate() {
                    (p0[t], p1[t], p2[t], p3[t]) = (quad[0], quad[1], quad[2], quad[3]);
                }
            }
            for k in 0..4 {
                let d: [&[f32]; 6] = std::array::from_fn(|dy| &phases[(dy * 4 + k) * n..][..n]);
                b_transpose(d, strided_mut(&mut down, k * n, 4 * n, n));
            }
            // Bᵀ d B along the columns: for block bx, columns 0-3 are the
            // four phases at t = bx, columns 4-5 phases 0-1 at t = bx + 1.
            for row_i in 0..6 {
                let phase = |k: usize, from: usize| &down[(row_i * 4 + k) * n + from..][..bc];
                let x = [phase(0, 0), phase(1, 0), phase(2, 0), phase(3, 0), phase(0, 1), phase(1, 1)];
                let first = (row_i * 6 * c_in + i) * points + r * bc;
                b_transpose(x, strided_mut(v, first, c_in * points, bc));
            }
        }
    }
}

/// Y = Aᵀ M A plus the bias, finished, for each block of output channels
/// o0..o0+count and block rows r0..r0+rows; only points inside the image
/// are written.
///
/// # Safety
/// `out` points to [out, h, w] f32 that no other thread writes in these
/// rows and channels.
#[allow(clippy::too_many_arguments)]
unsafe fn transform_output(
    m: &[f32],
    (h, w): (usize, usize),
    bias: &[f32],
    (o0, count): (usize, usize),
    (r0, rows): (usize, usize),
    (finish, residual): (ConvFinish, Option<&[f32]>),
    out: Shared,
) {
    let bc = w.div_ceil(4);
    let points = rows * bc;
    // across[(dy * 6 + j) * bc + bx]: Aᵀ applied down the six rows.
    let mut across = vec![0f32; 24 * bc];
    let mut phases = vec![0f32; 4 * bc];
    for k in 0..count {
        let o = o0 + k;
        for r in 0..rows {
            let plane = |xi: usize| &m[(xi * count + k) * points + r * bc..][..bc];
            for j in 0..6 {
                let column: [&[f32]; 6] = std::array::from_fn(|i| plane(i * 6 + j));
                a_transpose(column, strided_mut(&mut across, j * bc, 6 * bc, bc), 0.0);
            }
            for dy in 0..4 {
                let y = 4 * (r0 + r) + dy;
                if y >= h {
                    continue;
                }
                let row: [&[f32]; 6] = std::array::from_fn(|j| &across[(dy * 6 + j) * bc..][..bc]);
                a_transpose(row, strided_mut(&mut phases, 0, bc, bc), bias[o]);
                let at = (o * h + y) * w;
                let dst = std::slice::from_raw_parts_mut(out.at(at), w);
                let (p0, rest) = phases.split_at(bc);
                let (p1, rest) = rest.split_at(bc);
                let (p2, p3) = rest.split_at(bc);
                for (t, quad) in dst.chunks_mut(4).enumerate() {
                    let values = [p0[t], p1[t], p2[t], p3[t]];
                    quad.copy_from_slice(&values[..quad.len()]);
                }
                finish.apply(dst, residual.map(|res| &res[at..][..w]));
            }
        }
    }
}
