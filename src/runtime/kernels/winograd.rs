//! 3×3 convolutions (stride 1, padding 1) by Winograd's minimal filtering
//! F(2×2, 3×3): each 2×2 block of output points from a 4×4 block of input
//! as 16 element-wise products in a transformed space, so a block costs 16
//! multiply-adds per input and output channel instead of 36.
//!
//! Why: conv3x3.rs's nine tap products ran TAESD's 64-channel convolutions
//! at 512² at 1.55-1.94× onnxruntime's time (a TAESD decode is almost only
//! those). Transformed, the 16 products are plain matrix products
//! (`gemm`): [out, in] × [in, blocks] per transformed point, over a band of
//! block rows whose transformed input stays in cache. The transforms are
//! additions and halvings only (exact in binary floating point), so the
//! result differs from the direct sum by rounding (Lavin and Gray, 2016).

use super::conv_finish::ConvFinish;
use super::thread_parts::{blocks_per_unit, in_parts, Shared, PARALLEL_MACS};

/// Blocks (2×2 output points) of one band, at least: the band's transformed
/// input [16, in, blocks] and products [16, out, blocks] stay in cache.
const BAND_BLOCKS: usize = 256;

/// Output channels of one part, at least (the products' efficiency).
const MIN_BLOCK_CHANNELS: usize = 64;

/// Weights OIHW [out, in, 3, 3] as U = G g Gᵀ: [16, out, in].
pub fn transform_weights(weights: &[f32], c_in: usize, c_out: usize) -> Vec<f32> {
    let mut u = vec![0f32; 16 * c_out * c_in];
    for o in 0..c_out {
        for i in 0..c_in {
            let g = &weights[(o * c_in + i) * 9..][..9];
            // G g (4×3), then (G g) Gᵀ (4×4).
            let mut gg = [[0f32; 3]; 4];
            for c in 0..3 {
                let (a, b, d) = (g[c], g[3 + c], g[6 + c]);
                gg[0][c] = a;
                gg[1][c] = (a + b + d) * 0.5;
                gg[2][c] = (a - b + d) * 0.5;
                gg[3][c] = d;
            }
            for (r, row) in gg.iter().enumerate() {
                let [a, b, d] = *row;
                let values = [a, (a + b + d) * 0.5, (a - b + d) * 0.5, d];
                for (c, v) in values.into_iter().enumerate() {
                    u[((r * 4 + c) * c_out + o) * c_in + i] = v;
                }
            }
        }
    }
    u
}

/// One image's convolution into `out` ([out, h, w]) from `u` (weights by
/// [`transform_weights`]), finished as conv3x3.rs's.
pub fn convolve(input: &[f32], hw: (usize, usize), u: &[f32], bias: &[f32], finish: (ConvFinish, Option<&[f32]>), out: &mut [f32]) {
    let tile = Tile { side: 2, band_blocks: BAND_BLOCKS, transform_input, transform_output };
    convolve_by_tiles(&tile, input, hw, u, bias, finish, out)
}

/// A Winograd tile F(side × side, 3×3) and its transforms, for
/// [`convolve_by_tiles`] (this file's F(2×2), winograd4.rs's F(4×4)).
pub(super) struct Tile {
    /// Output points per side of a block.
    pub side: usize,
    /// Blocks of one band, at least (its transformed input stays in cache).
    pub band_blocks: usize,
    /// V for block rows (r0, rows): [(side + 2)², in, rows × block columns].
    pub transform_input: fn(&[f32], (usize, usize), usize, (usize, usize), &mut Vec<f32>),
    /// Y from M for output channels (o0, count) and block rows (r0, rows).
    #[allow(clippy::type_complexity)]
    pub transform_output: unsafe fn(&[f32], (usize, usize), &[f32], (usize, usize), (usize, usize), (ConvFinish, Option<&[f32]>), Shared),
}

/// One image's convolution by `tile`, split into parts (bands of block rows
/// × blocks of output channels) over tract's thread pool when big enough:
/// per band the input transform, one `gemm` product [out, in] × [in,
/// blocks] per transformed point, the output transform.
pub(super) fn convolve_by_tiles(
    tile: &Tile,
    input: &[f32],
    (h, w): (usize, usize),
    u: &[f32],
    bias: &[f32],
    finish: (ConvFinish, Option<&[f32]>),
    out: &mut [f32],
) {
    let xis = (tile.side + 2) * (tile.side + 2);
    let c_out = bias.len();
    let c_in = u.len() / xis / c_out;
    let (block_rows, block_cols) = (h.div_ceil(tile.side), w.div_ceil(tile.side));
    let parallel = c_in * c_out * 9 * h * w >= PARALLEL_MACS;
    let bands = block_rows.div_ceil(tile.band_blocks.div_ceil(block_cols).clamp(1, block_rows));
    let rows_per_band = block_rows.div_ceil(bands);
    let blocks = if parallel { blocks_per_unit(bands, c_out, MIN_BLOCK_CHANNELS) } else { 1 };
    let block = c_out.div_ceil(blocks);
    let output = Shared(out.as_mut_ptr());
    in_parts(parallel, bands * blocks, &|first, last| {
        let (mut v, mut m, mut transformed) = (Vec::new(), Vec::new(), None);
        for part in first..last {
            let (band, o0) = (part / blocks, part % blocks * block);
            let r0 = band * rows_per_band;
            let rows = rows_per_band.min(block_rows - r0);
            let points = rows * block_cols;
            if transformed != Some(band) {
                (tile.transform_input)(input, (h, w), c_in, (r0, rows), &mut v);
                transformed = Some(band);
            }
            let count = block.min(c_out - o0);
            m.resize(xis * count * points, 0.0);
            for xi in 0..xis {
                // SAFETY: `v` is [xis, in, points], `m` [xis, count, points],
                // `u` [xis, out, in]; all offsets stay inside them.
                unsafe {
                    gemm::gemm(
                        count, points, c_in,
                        m.as_mut_ptr().add(xi * count * points), 1, points as isize, false,
                        u.as_ptr().add((xi * c_out + o0) * c_in), 1, c_in as isize,
                        v.as_ptr().add(xi * c_in * points), 1, points as isize,
                        0.0, 1.0, false, false, false, gemm::Parallelism::None,
                    );
                }
            }
            // SAFETY: parts write disjoint rows or channels of `out`.
            unsafe { (tile.transform_output)(&m, (h, w), bias, (o0, count), (r0, rows), finish, output) };
        }
    });
}

/// V = Bᵀ d B for every 4×4 input block d of block rows r0..r0+rows (zero
/// beyond the image): `v` is [16, in, rows × block columns]. Written as
/// loops along a block row over contiguous slices (the even and odd input
/// columns apart), which the compiler vectorizes.
fn transform_input(input: &[f32], (h, w): (usize, usize), c_in: usize, (r0, rows): (usize, usize), v: &mut Vec<f32>) {
    let bc = w.div_ceil(2);
    let points = rows * bc;
    v.resize(16 * c_in * points, 0.0);
    let n = bc + 1;
    // Input rows as even and odd padded columns (padded column p is input
    // column p - 1), then Bᵀ applied down the four rows.
    let (mut even, mut odd) = (vec![0f32; 4 * n], vec![0f32; 4 * n]);
    let (mut t_even, mut t_odd) = (vec![0f32; 4 * n], vec![0f32; 4 * n]);
    for i in 0..c_in {
        for r in 0..rows {
            for dy in 0..4 {
                let (e, o) = (&mut even[dy * n..][..n], &mut odd[dy * n..][..n]);
                let y = (2 * (r0 + r) + dy).checked_sub(1).filter(|&y| y < h);
                let Some(y) = y else {
                    e.fill(0.0);
                    o.fill(0.0);
                    continue;
                };
                let row = &input[(i * h + y) * w..][..w];
                for j in 0..n {
                    e[j] = if j >= 1 && 2 * j - 1 < w { row[2 * j - 1] } else { 0.0 };
                    o[j] = if 2 * j < w { row[2 * j] } else { 0.0 };
                }
            }
            for (source, t) in [(&even, &mut t_even), (&odd, &mut t_odd)] {
                let (d0, d1, d2, d3) = (&source[..n], &source[n..2 * n], &source[2 * n..3 * n], &source[3 * n..]);
                let (t0, rest) = t.split_at_mut(n);
                let (t1, rest) = rest.split_at_mut(n);
                let (t2, t3) = rest.split_at_mut(n);
                for j in 0..n {
                    t0[j] = d0[j] - d2[j];
                    t1[j] = d1[j] + d2[j];
                    t2[j] = d2[j] - d1[j];
                    t3[j] = d1[j] - d3[j];
                }
            }
            // (Bᵀ d) B along the columns: x0, x1, x2, x3 are the even and
            // odd columns of this block and of the next.
            for k in 0..4 {
                let (te, to) = (&t_even[k * n..][..n], &t_odd[k * n..][..n]);
                let plane = |c: usize| ((k * 4 + c) * c_in + i) * points + r * bc;
                let (x0, x1, x2, x3) = (&te[..bc], &to[..bc], &te[1..], &to[1..]);
                let dst = &mut v[plane(0)..][..bc];
                for bx in 0..bc {
                    dst[bx] = x0[bx] - x2[bx];
                }
                let dst = &mut v[plane(1)..][..bc];
                for bx in 0..bc {
                    dst[bx] = x1[bx] + x2[bx];
                }
                let dst = &mut v[plane(2)..][..bc];
                for bx in 0..bc {
                    dst[bx] = x2[bx] - x1[bx];
                }
                let dst = &mut v[plane(3)..][..bc];
                for bx in 0..bc {
                    dst[bx] = x1[bx] - x3[bx];
                }
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
    let bc = w.div_ceil(2);
    let points = rows * bc;
    let mut t = vec![0f32; 8 * bc];
    let (mut even, mut odd) = (vec![0f32; bc], vec![0f32; bc]);
    for k in 0..count {
        let o = o0 + k;
        for r in 0..rows {
            let plane = |xi: usize| &m[(xi * count + k) * points + r * bc..][..bc];
            // Aᵀ M down the rows: t[dy][c] for output row dy and column c.
            for c in 0..4 {
                let (p0, p1, p2, p3) = (plane(c), plane(4 + c), plane(8 + c), plane(12 + c));
                let (first, second) = t.split_at_mut(4 * bc);
                let (t0, t1) = (&mut first[c * bc..][..bc], &mut second[c * bc..][..bc]);
                for bx in 0..bc {
                    t0[bx] = p0[bx] + p1[bx] + p2[bx];
                    t1[bx] = p1[bx] - p2[bx] - p3[bx];
                }
            }
            for dy in 0..2 {
                let y = 2 * (r0 + r) + dy;
                if y >= h {
                    continue;
                }
                let row = |c: usize| &t[(dy * 4 + c) * bc..][..bc];
                let (x0, x1, x2, x3) = (row(0), row(1), row(2), row(3));
                let b = bias[o];
                for bx in 0..bc {
                    even[bx] = x0[bx] + x1[bx] + x2[bx] + b;
                    odd[bx] = x1[bx] - x2[bx] - x3[bx] + b;
                }
                let at = (o * h + y) * w;
                let dst = std::slice::from_raw_parts_mut(out.at(at), w);
                for (x, d) in dst.iter_mut().enumerate() {
                    *d = if x % 2 == 0 { even[x / 2] } else { odd[x / 2] };
                }
                finish.apply(dst, residual.map(|res| &res[at..][..w]));
            }
        }
    }
}
