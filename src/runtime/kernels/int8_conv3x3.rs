//! int8 3×3 convolutions (ONNX `ConvInteger`: u8 input, 8-bit weights, i32
//! output; stride 1, padding 1, one group, NCHW) with AVX-512 VNNI dot
//! products, instead of tract's im2col.
//!
//! Why: in a dynamic-int8 VAE decoder at 512×512 tract 0.23.9 spent 46 % of
//! the time copying patches (`Im2col`, 19.6 of 43 s) and 7 % summing them
//! (`QSumB`); the decoder was 3.2× onnxruntime on the same file. Here the
//! input is copied once per band of rows into groups of four channels per
//! point ([in / 4, rows + 2, w + 2, 4] bytes, the layout `vpdpbusd` reads),
//! and each of the nine taps is read from that band at its offset: no patch
//! matrix. Exact integer arithmetic, so the output is tract's bit for bit.
//!
//! The arithmetic: with the weights stored as `k - 128` (i8, what the
//! instruction multiplies with unsigned input bytes), the padding filled
//! with the input's zero point x0 as ONNX does, and `d = 128 - k0`,
//!
//!   Σ (x - x0)(k - k0) = Σ x(k - 128) - x0 Σ (k - 128) + d (Σ x - x0 · 9 · in)
//!
//! where Σ x over a point's 3×3 × in window is a box sum of the per-point
//! channel sums (needed only where some k0 ≠ 128).
//!
//! Used only where the CPU has AVX-512 VNNI ([`use_int8_tap_convolutions`]);
//! the portable kernel below is the same arithmetic without it, for the
//! tests on any host.

use super::int8_graph::{absorb, constant, per_channel, unit_scales};
use super::replace;
use super::int8_output::{Finish, Out};
use super::int8_vnni::{has_vnni, LANES, MR};
use super::thread_parts::{blocks_per_unit, in_parts, PARALLEL_MACS};
use tract_nnef::internal::*;
use super::conv3x3::is_plain_3x3;
use tract_nnef::tract_core::ops::cnn::Conv;

/// Points computed together (the kernel's lanes).
const POINTS: usize = LANES;
/// Points (padding columns included) of one band, at least: the band's
/// packed input stays in the L2 cache while every block of output channels
/// sweeps it.
const BAND_POINTS: usize = 1024;
/// Output channels of one part, at least (a multiple of [`MR`]).
const MIN_BLOCK_CHANNELS: usize = 48;

/// A ConvInteger 3×3, stride 1, padding 1 (with the input's zero point),
/// one group, NCHW, u8 input, constant weights, zero points and bias.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Int8TapConv {
    c_in: usize,
    c_out: usize,
    /// `k - 128` as i8, by blocks of [`MR`] output channels:
    /// [c_out / MR][c_in / 4][9 taps][MR][4] (zero where a channel is padding).
    packed: Arc<Tensor>,
    /// Per output channel: Σ (k - 128) over its window.
    weight_sums: Arc<Tensor>,
    /// Per output channel: 128 - k0.
    shifts: Arc<Tensor>,
    /// Per output channel, added to the sum.
    bias: Arc<Tensor>,
    /// The cast, scale and bias that follow in the graph, done here.
    finish: Finish,
}

impl Int8TapConv {
    /// From OIHW weights [out, in, 3, 3] as i32 values of an 8-bit type
    /// (`offset` 128 for u8, 0 for i8), their zero points and bias per
    /// output channel.
    pub fn new(weights: &[i32], offset: i32, k0: &[i32], bias: &[i32], c_in: usize) -> TractResult<Int8TapConv> {
        let c_out = bias.len();
        ensure!(weights.len() == c_out * c_in * 9 && k0.len() == c_out);
        let groups = c_in.div_ceil(4);
        let blocks = c_out.div_ceil(MR);
        let mut packed = vec![0i8; blocks * groups * 9 * MR * 4];
        let mut sums = vec![0i32; c_out];
        for o in 0..c_out {
            for i in 0..c_in {
                for t in 0..9 {
                    let k = weights[(o * c_in + i) * 9 + t] - offset;
                    ensure!((-128..128).contains(&k), "weight {} outside 8 bits", k + offset);
                    packed[(((o / MR * groups + i / 4) * 9 + t) * MR + o % MR) * 4 + i % 4] = k as i8;
                    sums[o] += k;
                }
            }
        }
        let shifts: Vec<i32> = k0.iter().map(|k| offset - k).collect();
        Ok(Int8TapConv {
            c_in,
            c_out,
            packed: Arc::new(tensor1(&packed)),
            weight_sums: Arc::new(tensor1(&sums)),
            shifts: Arc::new(tensor1(&shifts)),
            bias: Arc::new(tensor1(bias)),
            finish: Finish::default(),
        })
    }
}

/// One image's convolution: `input` [in, h, w] u8 with zero point `x0`
/// into `output` [out, h, w] (`vnni`: with the VNNI kernel), in parts
/// (bands of output rows × blocks of output channels) over tract's pool.
fn convolve(conv: &Int8TapConv, input: &[u8], x0: u8, (h, w): (usize, usize), output: Out, vnni: bool) -> TractResult<()> {
    let (c_in, c_out) = (conv.c_in, conv.c_out);
    let packed = conv.packed.try_as_plain_ram()?.as_slice::<i8>()?;
    let sums = conv.weight_sums.try_as_plain_ram()?.as_slice::<i32>()?;
    let shifts = conv.shifts.try_as_plain_ram()?.as_slice::<i32>()?;
    let bias = conv.bias.try_as_plain_ram()?.as_slice::<i32>()?;
    let need_box = shifts.iter().any(|&d| d != 0);
    let parallel = c_in * c_out * 9 * h * w >= PARALLEL_MACS;
    let bands = h.div_ceil(BAND_POINTS.div_ceil(w + 2).clamp(1, h));
    let rows_per_band = h.div_ceil(bands);
    let blocks = if parallel { blocks_per_unit(bands, c_out, MIN_BLOCK_CHANNELS) } else { 1 };
    let block = c_out.div_ceil(blocks).next_multiple_of(MR);
    let blocks = c_out.div_ceil(block);
    in_parts(parallel, bands * blocks, &|first, last| {
        let (mut band, mut packed_band) = (Band::default(), None);
        for part in first..last {
            let (b, channels) = (part / blocks, part % blocks * block);
            let y0 = b * rows_per_band;
            let rows = rows_per_band.min(h - y0);
            if packed_band != Some(b) {
                band.pack(input, x0, c_in, (h, w), (y0, rows), need_box);
                packed_band = Some(b);
            }
            let mut acc = [[0i32; POINTS]; MR];
            for o0 in (channels..(channels + block).min(c_out)).step_by(MR) {
                let weights = &packed[o0 / MR * band.groups * 9 * MR * 4..][..band.groups * 9 * MR * 4];
                for p0 in (0..rows * band.stride).step_by(POINTS) {
                    band.dot_block(weights, p0, vnni, &mut acc);
                    for (m, acc) in acc.iter().enumerate().take(c_out - o0) {
                        let o = o0 + m;
                        let base = bias[o] - i32::from(x0) * sums[o];
                        let shift = shifts[o];
                        for (q, &s) in acc.iter().enumerate() {
                            let p = p0 + q;
                            let (r, x) = (p / band.stride, p % band.stride);
                            if r >= rows || x >= w {
                                continue;
                            }
                            let window = if shift != 0 { band.windows[p] } else { 0 };
                            // SAFETY: parts write disjoint rows or channels of the output.
                            unsafe { output.put((o * h + y0 + r) * w + x, o, s + base + shift * window) };
                        }
                    }
                }
            }
        }
    });
    Ok(())
}

/// Input rows y0-1..=y0+rows of one band, packed for the dot products.
#[derive(Default)]
struct Band {
    /// [groups][plane][4] bytes: channel groups of four, each a plane of
    /// (rows + 2) × stride points (padding filled with x0, missing channels
    /// with 0), with slack after it for the last block's reads.
    bytes: Vec<u8>,
    groups: usize,
    /// Points per padded row (w + 2).
    stride: usize,
    /// Points per plane, slack included.
    plane: usize,
    /// Per output point (rows × stride, padding columns included): Σ (x - x0)
    /// over its 3×3 × `in` window; empty when no weight zero point needs it.
    windows: Vec<i32>,
}

impl Band {
    fn pack(&mut self, input: &[u8], x0: u8, c_in: usize, (h, w): (usize, usize), (y0, rows): (usize, usize), sums: bool) {
        self.groups = c_in.div_ceil(4);
        self.stride = w + 2;
        let points = (rows + 2) * self.stride;
        // The last block reads up to POINTS past rows × stride, plus the
        // farthest tap (2 rows and 2 points on).
        self.plane = (rows * self.stride).next_multiple_of(POINTS) + 2 * self.stride + 2;
        self.bytes.clear();
        self.bytes.resize(self.groups * self.plane * 4, 0);
        for g in 0..self.groups {
            // Missing channels of the last group are 0 (their weights are 0).
            let pad: [u8; 4] = std::array::from_fn(|j| if 4 * g + j < c_in { x0 } else { 0 });
            let plane = &mut self.bytes[g * self.plane * 4..][..points * 4];
            for (r, row) in plane.chunks_exact_mut(self.stride * 4).enumerate() {
                let (row, _) = row.as_chunks_mut::<4>();
                let Some(y) = (y0 + r).checked_sub(1).filter(|&y| y < h) else {
                    row.fill(pad);
                    continue;
                };
                row[0] = pad;
                row[w + 1] = pad;
                let source = |j: usize| (4 * g + j < c_in).then(|| &input[((4 * g + j) * h + y) * w..][..w]);
                match [source(0), source(1), source(2), source(3)] {
                    [Some(a), Some(b), Some(c), Some(d)] => {
                        for (x, point) in row[1..=w].iter_mut().enumerate() {
                            *point = [a[x], b[x], c[x], d[x]];
                        }
                    }
                    sources => {
                        for (x, point) in row[1..=w].iter_mut().enumerate() {
                            *point = std::array::from_fn(|j| sources[j].map_or(0, |s| s[x]));
                        }
                    }
                }
            }
        }
        self.windows.clear();
        if sums {
            // Per padded point, the sum of its `in` values (padding = x0),
            // then once per output point its window: not again for every
            // output channel.
            // (+2: the windows of the last row's padding columns, computed
            // and never read, reach 2 points past the plane.)
            let mut channel_sums = vec![0i32; points + 2];
            for g in 0..self.groups {
                let plane = &self.bytes[g * self.plane * 4..][..points * 4];
                for (s, point) in channel_sums.iter_mut().zip(plane.chunks_exact(4)) {
                    *s += point.iter().map(|&v| i32::from(v)).sum::<i32>();
                }
            }
            let centre = i32::from(x0) * 9 * c_in as i32;
            self.windows = (0..rows * self.stride)
                .map(|p| (0..9).map(|t| channel_sums[p + (t / 3) * self.stride + t % 3]).sum::<i32>() - centre)
                .collect();
        }
    }

    /// `acc[m][q]` = Σ x (k - 128) for output channel m of the block and
    /// point p0 + q.
    fn dot_block(&self, weights: &[i8], p0: usize, vnni: bool, acc: &mut [[i32; POINTS]; MR]) {
        debug_assert!(p0 + POINTS + 2 * self.stride + 2 <= self.plane);
        #[cfg(target_arch = "x86_64")]
        if vnni {
            // SAFETY: the CPU has the features (has_vnni); reads stay inside
            // each plane (the assertion above) and the block's weights.
            return unsafe { super::int8_vnni::kernels::conv_block(&self.bytes, (self.plane, self.groups, self.stride), weights, p0, acc) };
        }
        let _ = vnni;
        for a in acc.iter_mut() {
            a.fill(0);
        }
        for g in 0..self.groups {
            let plane = &self.bytes[g * self.plane * 4..];
            for t in 0..9 {
                let offset = p0 + (t / 3) * self.stride + t % 3;
                let taps = &weights[(g * 9 + t) * MR * 4..][..MR * 4];
                for (m, a) in acc.iter_mut().enumerate() {
                    for (q, a) in a.iter_mut().enumerate() {
                        let x = &plane[(offset + q) * 4..][..4];
                        *a += (0..4).map(|j| i32::from(x[j]) * i32::from(taps[m * 4 + j])).sum::<i32>();
                    }
                }
            }
        }
    }
}

impl Op for Int8TapConv {
    fn name(&self) -> StaticName {
        "Int8TapConv3x3".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{} -> {} channels", self.c_in, self.c_out)])
    }

    op_as_typed_op!();
}

impl EvalOp for Int8TapConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (input, x0) = (&inputs[0], inputs[1].cast_to::<i32>()?);
        let shape = input.shape();
        ensure!(shape.len() == 4 && shape[1] == self.c_in, "Int8TapConv3x3 input {shape:?}");
        ensure!(x0.len() == 1, "Int8TapConv3x3 zero point of {} values", x0.len());
        let x0 = u8::try_from(x0.try_as_plain_ram()?.as_slice::<i32>()?[0])?;
        let (batch, h, w) = (shape[0], shape[2], shape[3]);
        let xs = input.try_as_plain_ram()?.as_slice::<u8>()?;
        let (mut output, scale) = self.finish.output(&[batch, self.c_out, h, w], &inputs)?;
        let image = self.c_out * h * w;
        for b in 0..batch {
            let x = &xs[b * self.c_in * h * w..][..self.c_in * h * w];
            let out = Out::new(&self.finish, &mut output, scale)?.offset(b * image);
            convolve(self, x, x0, (h, w), out, has_vnni())?;
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for Int8TapConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        ensure!(shape.len() == 4);
        Ok(tvec!(self.finish.datum_type().fact([shape[0].clone(), self.c_out.to_dim(), shape[2].clone(), shape[3].clone()])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let points: TDim = inputs[0].shape.iter().skip(2).product::<TDim>() * inputs[0].shape[0].clone();
        Ok(tvec!((Cost::FMA(i32::datum_type()), points * (9 * self.c_in * self.c_out))))
    }

    as_op!();
}

/// The tract convolution at `node`, if it is one this module runs: a
/// ConvInteger (i32 output, unit scales) with u8 input, conv3x3.rs's
/// `is_plain_3x3`, constant 8-bit weights, weight zero points and bias.
fn as_int8_tap_conv(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Int8TapConv>> {
    let Some(conv) = node.op_as::<Conv>() else { return Ok(None) };
    let spec = &conv.pool_spec;
    let input = model.outlet_fact(node.inputs[0])?;
    if conv.q_params != Some(i32::datum_type())
        || !is_plain_3x3(conv)
        || input.datum_type != u8::datum_type()
        || input.rank() != 4
        || node.inputs.len() != 9
        || !model.outlet_fact(node.inputs[3])?.shape.volume().is_one()
    {
        return Ok(None);
    }
    if !unit_scales(model, node)? {
        return Ok(None);
    }
    let (c_in, c_out) = (spec.input_channels, spec.output_channels);
    let Some(weights) = model.outlet_fact(node.inputs[1])?.konst.clone() else { return Ok(None) };
    let offset = match weights.datum_type() {
        DatumType::U8 => 128,
        DatumType::I8 => 0,
        _ => return Ok(None),
    };
    if weights.shape() != [c_out, c_in, 3, 3] {
        return Ok(None);
    }
    let weights = weights.cast_to::<i32>()?;
    let weights = weights.try_as_plain_ram()?.as_slice::<i32>()?;
    let (Some(bias), Some(k0)) = (per_channel(constant(model, node, 2)?, c_out), per_channel(constant(model, node, 5)?, c_out))
    else {
        return Ok(None);
    };
    Ok(Some(Int8TapConv::new(weights, offset, &k0, &bias, c_in)?))
}

/// Replace every convolution [`Int8TapConv`] runs in a decluttered `model`
/// when this CPU has AVX-512 VNNI, with the cast, scale and bias after it
/// ([`absorb`]); returns how many.
pub fn use_int8_tap_convolutions(model: &mut TypedModel) -> TractResult<usize> {
    if !has_vnni() {
        return Ok(0);
    }
    let mut swapped = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(mut op) = as_int8_tap_conv(model, node)? else { continue };
        let inputs = [node.inputs[0], node.inputs[3]];
        let (finish, scale, last) = absorb(model, id, op.c_out, 1)?;
        op.finish = finish;
        replace(model, id, last, &inputs, scale, op)?;
        swapped += 1;
    }
    Ok(swapped)
}

#[cfg(test)]
mod tests;
