//! 3×3 convolutions (f32, stride 1, padding 1) as nine matrix products over
//! the padded input, one per kernel tap, instead of tract's kernels.
//!
//! Why: tract 0.23.9 is 4-10× slower than onnxruntime on the convolutions
//! of a TAESD decoder (64 channels at 128²-512²: its direct spatial kernel
//! reaches 9-24 GFLOP/s here, `scripts/bench/tract_gap.py --real-size`),
//! and 1.6× on the UNet's 320-channel ones, while those are all a picture
//! on a board spends in its decoder. Here, for a band of output rows, the
//! input rows it needs are copied with their zero padding; tap (ky, kx) is
//! then a product of the tap's weights
//! [out, in] with that padded band seen from offset (ky, kx) as a matrix
//! [in, rows × padded width] (a strided view: no im2col copy), accumulated
//! over the nine taps; the two padding columns of each row are computed and
//! dropped. The products are the `gemm` crate's (the one candle uses: tuned
//! kernels chosen at run time for AVX2/AVX-512/NEON), so this is used only on
//! x86_64 and aarch64 (`mod.rs`); elsewhere tract's own kernels run.
//!
//! Convolutions of at least 2^22 multiply-adds run by Winograd's F(2×2,
//! 3×3) instead (winograd.rs: 16 products per 2×2 outputs instead of 36;
//! alone, 2 threads: 64 channels at 512² 230 → 181 ms, 320 at 64² 41 → 28,
//! 1,280 at 16² 44 → 22; `examples/graph_time.rs` on one-convolution
//! graphs), or F(4×4, 3×3) where the weights are few and the image large
//! (winograd4.rs: 64 channels at 256² 45 → 29 ms); the tap products stay
//! for the small ones. Each kernel finishes its output rows with the
//! residual Add and ReLU that follow it in the graph (conv_finish.rs).
//!
//! [`use_tap_convolutions`] swaps the op into a decluttered graph just before
//! tract optimizes it, so bundles (and their NNEF form) are unchanged.

use super::conv_finish::ConvFinish;
use super::thread_parts::{blocks_per_unit, in_parts, Shared, PARALLEL_MACS};
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::cnn::conv::KernelFormat;
use tract_nnef::tract_core::ops::cnn::{Conv, PaddingSpec};
use tract_nnef::tract_core::ops::nn::DataFormat;

/// Columns (output points, padding included) of one band's products, at
/// least: about 1,000 keeps the band's padded input and its accumulator in
/// cache (512-8,192 measured within this host's noise at 512² with 64
/// channels; 1,000-2,000 best in a prototype).
const BAND_COLUMNS: usize = 1024;

/// Output channels of one part, at least (the products' efficiency).
const MIN_BLOCK_CHANNELS: usize = 64;

/// Where F(4×4, 3×3) (winograd4.rs) replaces F(2×2, 3×3): images of at
/// least this many points, with at most [`F4_MAX_WEIGHTS`] weights per tap
/// (64 channels: 0.6 MB of transformed weights; 256: 9.4 MB). Larger
/// convolutions at small sizes are bound by reading their weights, which
/// the larger tile would make 36/16 as many.
const F4_MIN_POINTS: usize = 32 * 32;
const F4_MAX_WEIGHTS: usize = 256 * 256;

/// How a [`TapConv`] computes.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Kernel {
    /// Nine tap products (weights [9, out, in]).
    Taps,
    /// Winograd F(2×2, 3×3), winograd.rs (weights [16, out, in]).
    F2,
    /// Winograd F(4×4, 3×3), winograd4.rs (weights [36, out, in]).
    F4,
}

/// A 3×3 convolution, stride 1, padding 1, one group, NCHW f32.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct TapConv {
    /// Weights as `kernel` reads them: [9 / 16 / 36, out, in].
    weights: Arc<Tensor>,
    kernel: Kernel,
    /// [out]; `None`: the op's second input, `out` values computed by the
    /// graph (tract folds a UNet's per-channel `+ time embedding` after a
    /// convolution into its bias).
    bias: Option<Arc<Tensor>>,
    /// A residual added and a ReLU (conv_finish.rs), the residual being the
    /// op's last input.
    finish: ConvFinish,
}

impl TapConv {
    /// From OIHW weights [out, in, 3, 3] and a bias of `out` values, for
    /// images of `points` pixels (`None`: not pinned).
    pub fn new(weights: &[f32], bias: Option<&[f32]>, c_in: usize, c_out: usize, points: Option<usize>) -> TractResult<TapConv> {
        ensure!(weights.len() == c_out * c_in * 9 && bias.is_none_or(|b| b.len() == c_out));
        let bias = bias.map(|b| Arc::new(tensor1(b)));
        // Winograd where it pays: below this size its transforms cost more
        // than they save (32 channels at 16²: 0.2 against 0.1 ms).
        if let Some(p) = points.filter(|p| c_in * c_out * 9 * p >= PARALLEL_MACS) {
            let (kernel, u, xis) = if p >= F4_MIN_POINTS && c_in * c_out <= F4_MAX_WEIGHTS {
                (Kernel::F4, super::winograd4::transform_weights(weights, c_in, c_out), 36)
            } else {
                (Kernel::F2, super::winograd::transform_weights(weights, c_in, c_out), 16)
            };
            let weights = Arc::new(tensor1(&u).into_shape(&[xis, c_out, c_in])?);
            return Ok(TapConv { weights, kernel, bias, finish: ConvFinish::default() });
        }
        let mut taps = vec![0f32; 9 * c_out * c_in];
        for o in 0..c_out {
            for i in 0..c_in {
                for t in 0..9 {
                    taps[(t * c_out + o) * c_in + i] = weights[(o * c_in + i) * 9 + t];
                }
            }
        }
        Ok(TapConv { weights: Arc::new(tensor1(&taps).into_shape(&[9, c_out, c_in])?), kernel: Kernel::Taps, bias, finish: ConvFinish::default() })
    }

    fn c_out(&self) -> usize {
        self.weights.shape()[1]
    }

    fn c_in(&self) -> usize {
        self.weights.shape()[2]
    }
}

/// One image's convolution into `out` ([out, h, w]), finished with
/// `residual` (of `out`'s shape) and `finish`, split into parts (bands of
/// output rows × blocks of output channels) over tract's thread pool when
/// it has one and the convolution is big enough.
pub fn convolve(
    input: &[f32],
    (h, w): (usize, usize),
    taps: &[f32],
    bias: &[f32],
    (finish, residual): (ConvFinish, Option<&[f32]>),
    out: &mut [f32],
) {
    let c_out = bias.len();
    let c_in = taps.len() / 9 / c_out;
    let parallel = c_in * c_out * 9 * h * w >= PARALLEL_MACS;
    let bands = h.div_ceil(BAND_COLUMNS.div_ceil(w + 2).clamp(1, h));
    let rows_per_band = h.div_ceil(bands); // bands of equal height
    // Blocks of output channels too where the bands are too few for the
    // threads (a UNet's 1,280 channels at 16x16 are a single band).
    let blocks = if parallel { blocks_per_unit(bands, c_out, MIN_BLOCK_CHANNELS) } else { 1 };
    let block = c_out.div_ceil(blocks);
    let output = Shared(out.as_mut_ptr());
    in_parts(parallel, bands * blocks, &|first, last| {
        let (mut band_input, mut acc, mut padded) = (Vec::new(), Vec::new(), None);
        for part in first..last {
            let (band, channels) = (part / blocks, part % blocks * block);
            let y0 = band * rows_per_band;
            let rows = rows_per_band.min(h - y0);
            if padded != Some(band) {
                pad_band(input, (h, w), c_in, (y0, rows), &mut band_input);
                padded = Some(band);
            }
            let outs = (channels, block.min(c_out - channels));
            // SAFETY: parts write disjoint rows or channels of `out`.
            unsafe { band_products(&band_input, (h, w), taps, bias, outs, (y0, rows), &mut acc, (finish, residual), output) };
        }
    });
}

/// Input rows y0-1..y0+rows+1 of every channel, with a zero column on each
/// side and zero rows beyond the image: [in, rows + 2, w + 2] (+2 values the
/// last channel's products read in the dropped padding columns). Padded per
/// band, not per image: the band stays in cache for its products, and no
/// image-sized buffer is allocated (at 512x512 each would cost 67 MB of
/// fresh pages per convolution).
fn pad_band(input: &[f32], (h, w): (usize, usize), c_in: usize, (y0, rows): (usize, usize), band: &mut Vec<f32>) {
    let (bh, pw) = (rows + 2, w + 2);
    band.clear();
    band.resize(c_in * bh * pw + 2, 0.0);
    for i in 0..c_in {
        for r in 0..bh {
            let Some(y) = (y0 + r).checked_sub(1).filter(|&y| y < h) else { continue };
            band[(i * bh + r) * pw + 1..][..w].copy_from_slice(&input[(i * h + y) * w..][..w]);
        }
    }
}

/// Rows y0..y0+rows of output channels o0..o0+count from their padded input
/// band ([`pad_band`]): nine products accumulated in `acc` ([count, rows ×
/// padded width]), then the valid columns plus the bias copied out and
/// finished.
///
/// # Safety
/// `out` points to [out, h, w] f32 that no other thread writes in these
/// rows and channels.
#[allow(clippy::too_many_arguments)]
unsafe fn band_products(
    band: &[f32],
    (h, w): (usize, usize),
    taps: &[f32],
    bias: &[f32],
    (o0, count): (usize, usize),
    (y0, rows): (usize, usize),
    acc: &mut Vec<f32>,
    (finish, residual): (ConvFinish, Option<&[f32]>),
    out: Shared,
) {
    let c_out = bias.len();
    let c_in = taps.len() / 9 / c_out;
    let (bh, pw) = (rows + 2, w + 2);
    let n = rows * pw;
    acc.resize(count * n, 0.0);
    for tap in 0..9 {
        let (ky, kx) = (tap / 3, tap % 3);
        let offset = ky * pw + kx;
        debug_assert!((c_in - 1) * bh * pw + offset + n <= band.len());
        gemm::gemm(
            count,
            n,
            c_in,
            acc.as_mut_ptr(),
            1,
            n as isize,
            tap > 0,
            taps[(tap * c_out + o0) * c_in..].as_ptr(),
            1,
            c_in as isize,
            band[offset..].as_ptr(),
            1,
            (bh * pw) as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    for (k, &b) in bias[o0..o0 + count].iter().enumerate() {
        for r in 0..rows {
            let at = ((o0 + k) * h + y0 + r) * w;
            let dst = std::slice::from_raw_parts_mut(out.at(at), w);
            for (d, s) in dst.iter_mut().zip(&acc[k * n + r * pw..][..w]) {
                *d = s + b;
            }
            finish.apply(dst, residual.map(|res| &res[at..][..w]));
        }
    }
}

impl Op for TapConv {
    fn name(&self) -> StaticName {
        "TapConv3x3".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let kernel = match self.kernel {
            Kernel::Taps => "nine taps",
            Kernel::F2 => "Winograd F(2x2, 3x3)",
            Kernel::F4 => "Winograd F(4x4, 3x3)",
        };
        let (residual, relu) = (if self.finish.residual { " + residual" } else { "" }, if self.finish.relu { ", ReLU" } else { "" });
        Ok(vec![format!("{} -> {} channels, {kernel}{residual}{relu}", self.c_in(), self.c_out())])
    }

    op_as_typed_op!();
}

impl EvalOp for TapConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs[0].cast_to::<f32>()?;
        let shape = input.shape();
        ensure!(shape.len() == 4 && shape[1] == self.c_in(), "TapConv3x3 input {shape:?}");
        let (batch, h, w) = (shape[0], shape[2], shape[3]);
        let xs = input.try_as_plain_ram()?.as_slice::<f32>()?;
        let weights = self.weights.try_as_plain_ram()?.as_slice::<f32>()?;
        let computed_bias;
        let bias = match &self.bias {
            Some(bias) => bias.try_as_plain_ram()?.as_slice::<f32>()?,
            None => {
                computed_bias = inputs[1].cast_to::<f32>()?;
                let bias = computed_bias.try_as_plain_ram()?.as_slice::<f32>()?;
                ensure!(bias.len() == self.c_out(), "TapConv3x3 bias of {} values", bias.len());
                bias
            }
        };
        let residual = match self.finish.residual {
            true => Some(inputs.last().context("TapConv3x3 without its residual")?.cast_to::<f32>()?),
            false => None,
        };
        let residual = residual.as_ref().map(|r| r.try_as_plain_ram()?.as_slice::<f32>()).transpose()?;
        ensure!(residual.is_none_or(|r| r.len() == batch * self.c_out() * h * w), "TapConv3x3 residual of the wrong size");
        let mut output = unsafe { Tensor::uninitialized::<f32>(&[batch, self.c_out(), h, w])? };
        let mut plain = output.try_as_plain_ram_mut()?;
        let ys = plain.as_slice_mut::<f32>()?;
        for b in 0..batch {
            let x = &xs[b * self.c_in() * h * w..][..self.c_in() * h * w];
            let y = &mut ys[b * self.c_out() * h * w..][..self.c_out() * h * w];
            let finish = (self.finish, residual.map(|r| &r[b * self.c_out() * h * w..][..self.c_out() * h * w]));
            match self.kernel {
                Kernel::Taps => convolve(x, (h, w), weights, bias, finish, y),
                Kernel::F2 => super::winograd::convolve(x, (h, w), weights, bias, finish, y),
                Kernel::F4 => super::winograd4::convolve(x, (h, w), weights, bias, finish, y),
            }
        }
        drop(plain);
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for TapConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        ensure!(shape.len() == 4);
        Ok(tvec!(f32::fact([shape[0].clone(), self.c_out().to_dim(), shape[2].clone(), shape[3].clone()])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let points: TDim = inputs[0].shape.iter().skip(2).product::<TDim>() * inputs[0].shape[0].clone();
        Ok(tvec!((Cost::FMA(f32::datum_type()), points * (9 * self.c_in() * self.c_out()))))
    }

    as_op!();
}

/// Whether `conv` is a 3×3 convolution this folder's tap kernels compute:
/// NCHW, one group, OIHW weights, stride and dilation 1, padding 1 on every
/// side (int8_conv3x3.rs asks the same).
pub(super) fn is_plain_3x3(conv: &Conv) -> bool {
    let spec = &conv.pool_spec;
    let one_padding = match &spec.padding {
        PaddingSpec::Explicit(before, after) | PaddingSpec::ExplicitOnnxPool(before, after, _) => {
            before.iter().chain(after.iter()).all(|&p| p == 1)
        }
        PaddingSpec::SameUpper | PaddingSpec::SameLower => true,
        PaddingSpec::Valid => false,
    };
    conv.group == 1
        && conv.kernel_fmt == KernelFormat::OIHW
        && spec.data_format == DataFormat::NCHW
        && spec.kernel_shape.as_slice() == [3, 3]
        && spec.strides().iter().all(|&s| s == 1)
        && spec.dilations().iter().all(|&d| d == 1)
        && one_padding
}

/// The tract convolution at `node`, if it is one this module runs: f32,
/// [`is_plain_3x3`], constant weights and bias.
fn as_tap_conv(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TapConv>> {
    let Some(conv) = node.op_as::<Conv>() else { return Ok(None) };
    let spec = &conv.pool_spec;
    let input = model.outlet_fact(node.inputs[0])?;
    if conv.q_params.is_some()
        || !is_plain_3x3(conv)
        || input.datum_type != f32::datum_type()
        || input.rank() != 4
        || node.inputs.len() != 3
    {
        return Ok(None);
    }
    let Some(weights) = model.outlet_fact(node.inputs[1])?.konst.clone() else { return Ok(None) };
    let (c_in, c_out) = (spec.input_channels, spec.output_channels);
    if weights.datum_type() != f32::datum_type() || weights.shape() != [c_out, c_in, 3, 3] {
        return Ok(None);
    }
    let weights = weights.try_as_plain_ram()?.as_slice::<f32>()?;
    let points = input.shape[2..].iter().map(|d| d.to_usize().ok()).product::<Option<usize>>();
    let bias_fact = model.outlet_fact(node.inputs[2])?;
    let Some(bias) = bias_fact.konst.clone() else {
        // Computed by the graph: taken as the op's second input when it is
        // one f32 value per output channel.
        let per_channel = bias_fact.datum_type == f32::datum_type() && bias_fact.shape.volume() == c_out.to_dim();
        return Ok(per_channel.then(|| TapConv::new(weights, None, c_in, c_out, points)).transpose()?);
    };
    let bias = bias.cast_to::<f32>()?;
    let bias: Vec<f32> = match bias.len() {
        1 => vec![bias.try_as_plain_ram()?.as_slice::<f32>()?[0]; c_out],
        n if n == c_out => bias.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
        _ => return Ok(None),
    };
    Ok(Some(TapConv::new(weights, Some(&bias), c_in, c_out, points)?))
}

/// Replace every convolution [`TapConv`] runs in a decluttered `model`,
/// with the residual Add and ReLU after it (conv_finish.rs); returns how
/// many.
pub fn use_tap_convolutions(model: &mut TypedModel) -> TractResult<usize> {
    let mut swapped = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(mut op) = as_tap_conv(model, node)? else { continue };
        let mut inputs = if op.bias.is_some() { vec![node.inputs[0]] } else { vec![node.inputs[0], node.inputs[2]] };
        let (finish, residual, last) = super::conv_finish::absorb(model, id)?;
        op.finish = finish;
        inputs.extend(residual);
        super::replace(model, id, last, &inputs, None, op)?;
        swapped += 1;
    }
    // The replaced convolutions and their weights are left unconnected:
    // tract's optimizer compacts the graph before its first pass.
    Ok(swapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, point by point.
    fn reference(input: &[f32], (c_in, h, w): (usize, usize, usize), weights: &[f32], bias: &[f32]) -> Vec<f32> {
        let c_out = bias.len();
        let mut out = vec![0f32; c_out * h * w];
        for o in 0..c_out {
            for y in 0..h {
                for x in 0..w {
                    let mut s = bias[o] as f64;
                    for i in 0..c_in {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (yy, xx) = (y as isize + ky as isize - 1, x as isize + kx as isize - 1);
                                if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                                    s += weights[((o * c_in + i) * 3 + ky) * 3 + kx] as f64
                                        * input[(i * h + yy as usize) * w + xx as usize] as f64;
                                }
                            }
                        }
                    }
                    out[(o * h + y) * w + x] = s as f32;
                }
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0).collect()
    }

    #[test]
    fn matches_the_definition_on_odd_shapes() {
        // Non-square, a width giving several bands with a short last one, a
        // single row, channel counts that are not multiples of a kernel's, and
        // one band big enough to be split into channel blocks (65 + 64).
        for &(c_in, c_out, h, w) in &[(3, 5, 7, 9), (4, 2, 1, 1), (6, 7, 33, 40), (2, 3, 70, 1030), (130, 129, 5, 7)] {
            let input = values(c_in * h * w, 1);
            let weights = values(c_out * c_in * 9, 2);
            let bias = values(c_out, 3);
            let expected = reference(&input, (c_in, h, w), &weights, &bias);
            // Every kernel: unpinned (taps), pinned at a size above the
            // thresholds (F4: these have few weights), and F2 (the weights
            // transformed by hand).
            let big = Some(usize::MAX / (9 * c_in * c_out));
            for (points, kernel) in [(None, Kernel::Taps), (big, Kernel::F4), (big, Kernel::F2)] {
                let mut op = TapConv::new(&weights, Some(&bias), c_in, c_out, points).unwrap();
                if op.kernel != kernel {
                    assert_eq!((op.kernel, kernel), (Kernel::F4, Kernel::F2));
                    let u = super::super::winograd::transform_weights(&weights, c_in, c_out);
                    op = TapConv { weights: Arc::new(tensor1(&u)), kernel, ..op };
                }
                let layout = op.weights.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
                let mut out = vec![f32::NAN; c_out * h * w];
                let finish = (ConvFinish::default(), None);
                match kernel {
                    Kernel::Taps => convolve(&input, (h, w), &layout, &bias, finish, &mut out),
                    Kernel::F2 => super::super::winograd::convolve(&input, (h, w), &layout, &bias, finish, &mut out),
                    Kernel::F4 => super::super::winograd4::convolve(&input, (h, w), &layout, &bias, finish, &mut out),
                }
                // Relative to the largest output. F(4x4, 3x3)'s transforms
                // (factors up to 8, divisions by 24) round more than the
                // others: measured up to 8.4e-6 of the largest output (the
                // 130-channel case), the taps and F(2x2, 3x3) up to 4.2e-7;
                // both far below what an 8-bit picture shows.
                let worst = out.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                let largest = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
                let bound = if kernel == Kernel::F4 { 1e-5 } else { 1e-6 } * largest;
                assert!(worst <= bound, "{c_in}->{c_out} at {h}x{w}, {kernel:?}: off by {worst} of {largest}");
            }
        }
    }
}
