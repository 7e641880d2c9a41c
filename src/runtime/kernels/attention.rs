//! Attention (scores = Q·K, × a scale, softmax over the keys, then · V) as
//! one op that runs a tile of query rows at a time: a tile's scores (128
//! rows × the keys: 2 MB at 4,096 tokens) live in a buffer of its own and
//! never as a [4,096 × 4,096] tensor (64 MB per head); both products are
//! `gemm`'s, the softmax is tract's row kernels, and the division by the
//! row sums is done on the (narrow) output instead of on the scores.
//!
//! Why: at 4,096 tokens tract's f32 products for the scores and for their
//! product with V took 31 % of an int8 SD-Turbo step (1,177 of 3,772 ms,
//! `bench --profile`) and 643 of 2,977 ms of an SDXS-class one. matmul.rs
//! could not take them (the score tensors, one or two more alive at once,
//! raised the streaming peak: `MAX_OUTPUT`); here they are never whole.
//!
//! Matched in a decluttered graph: an f32 EinSum, optionally a Mul by one
//! constant value, a Softmax over the product's column axis, and an f32
//! EinSum that sums that axis of the probabilities against V, each read
//! only by the next; both products of the forms [`GemmMatMul`] reads.

use super::matmul::{f32_product, measure, strides, Axis, GemmMatMul, MIN_MACS, MIN_ROWS};
use super::thread_parts::{blocks_per_unit, in_parts, Shared, PARALLEL_MACS};
use super::sole_consumer;
use std::sync::Mutex;
use tract_linalg::routines::Func;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::math::Mul;
use tract_nnef::tract_core::ops::nn::{Softmax, SoftmaxKind};

/// Query rows whose scores are held at once (per thread). `gemm` packs K
/// and V again for every tile, so larger tiles pay that less often: the
/// SDXS-class f32 step's 18 attentions took 595 ms with 64 rows, 532-551
/// with 128, 518 with 256 (`bench --profile`, 2 threads, 2026-12-04); 128
/// keeps the buffer at 2 MB per thread.
const TILE: usize = 128;

/// Sizes and element strides of the four tensors, from the pinned shapes.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Layout {
    /// Query rows, keys, the scores' summed depth and V's columns.
    rows: usize,
    keys: usize,
    depth: usize,
    width: usize,
    /// Q along rows and depth; K along depth and keys; V along keys and
    /// width; the output along rows and width.
    q: [isize; 2],
    k: [isize; 2],
    v: [isize; 2],
    o: [isize; 2],
    /// Each batch axis: its size and its strides in Q, K, V and the output
    /// (0 where broadcast).
    batch: Vec<(usize, [isize; 4])>,
}

/// Q, K, V → softmax(scale · Q·K) · V, a tile of rows at a time.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct FusedAttention {
    layout: Layout,
    /// The scale's f32 bits (1.0 when the graph has none).
    scale: u32,
    output: TypedFact,
}

/// The pieces of one matched attention: the ops and the facts of their inputs.
struct Chain {
    scores: (GemmMatMul, [TypedFact; 2]),
    mix: (GemmMatMul, [TypedFact; 2]),
    /// The softmax's axis in the scores.
    axis: usize,
    scale: f32,
    output: TypedFact,
}

impl FusedAttention {
    fn new(chain: Chain) -> Option<FusedAttention> {
        let concrete = |f: &TypedFact| f.shape.as_concrete().map(|s| s.to_vec());
        let (g1, [qf, kf]) = &chain.scores;
        let (g2, [sf, vf]) = &chain.mix;
        let (q_shape, k_shape, s_shape, v_shape) = (concrete(qf)?, concrete(kf)?, concrete(sf)?, concrete(vf)?);
        let o_shape = concrete(&chain.output)?;
        // The probabilities are the mix's A, summed along the softmax axis,
        // their rows the output's rows, every batch axis carried through.
        let unit = |axis: Axis| axis.c.is_none_or(|p| s_shape[p] == 1);
        if g1.n.c != Some(chain.axis) || g2.k.a != Some(chain.axis) || g2.m.a != g1.m.c || unit(g1.m) {
            return None;
        }
        if g1.batch.len() != g2.batch.len() || g2.batch.iter().any(|axis| axis.a.is_none()) {
            return None;
        }
        let (qk, sv) = ([&q_shape[..], &k_shape[..]], [&s_shape[..], &v_shape[..]]);
        let (qk_strides, sv_strides) = ([strides(&q_shape), strides(&k_shape)], [strides(&s_shape), strides(&v_shape)]);
        let qk_steps = [&qk_strides[0][..], &qk_strides[1][..]];
        let sv_steps = [&sv_strides[0][..], &sv_strides[1][..]];
        let o_strides = strides(&o_shape);
        let at_o = |axis: Axis| axis.c.map_or(0, |p| o_strides[p]);
        let (rows, [q_row, _]) = measure(g1.m, qk, qk_steps);
        let (depth, [q_depth, k_depth]) = measure(g1.k, qk, qk_steps);
        let (keys, [_, k_key]) = measure(g1.n, qk, qk_steps);
        let (mixed_keys, [_, v_key]) = measure(g2.k, sv, sv_steps);
        let (width, [_, v_width]) = measure(g2.n, sv, sv_steps);
        if mixed_keys != keys || o_shape.iter().product::<usize>() == 0 {
            return None;
        }
        let mut batch = Vec::new();
        for &axis in &g1.batch {
            let along = g2.batch.iter().find(|b| b.a == axis.c)?;
            let (size, [sq, sk]) = measure(axis, qk, qk_steps);
            let (mixed, [_, sv]) = measure(*along, sv, sv_steps);
            if mixed != size || along.b.is_some_and(|p| v_shape[p] != size && v_shape[p] != 1) {
                return None;
            }
            batch.push((size, [sq, sk, sv, at_o(*along)]));
        }
        let layout = Layout { rows, keys, depth, width, q: [q_row, q_depth], k: [k_depth, k_key], v: [v_key, v_width], o: [at_o(g2.m), at_o(g2.n)], batch };
        Some(FusedAttention { layout, scale: chain.scale.to_bits(), output: chain.output })
    }

    /// Multiply-adds of both products.
    fn macs(&self) -> usize {
        let l = &self.layout;
        let batches: usize = l.batch.iter().map(|(size, _)| size).product();
        batches * l.rows * l.keys * (l.depth + l.width)
    }
}

impl Op for FusedAttention {
    fn name(&self) -> StaticName {
        "FusedAttention".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let l = &self.layout;
        Ok(vec![format!("{} rows × {} keys, depth {}, width {}", l.rows, l.keys, l.depth, l.width)])
    }

    op_as_typed_op!();
}

impl EvalOp for FusedAttention {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let l = &self.layout;
        let (q, k, v) = (inputs[0].try_as_plain_ram()?, inputs[1].try_as_plain_ram()?, inputs[2].try_as_plain_ram()?);
        let (q, k, v) = (q.as_slice::<f32>()?, k.as_slice::<f32>()?, v.as_slice::<f32>()?);
        let shape = self.output.shape.as_concrete().context("FusedAttention output shape not pinned")?;
        let mut o = unsafe { Tensor::uninitialized::<f32>(shape)? };
        let mut plain = o.try_as_plain_ram_mut()?;
        let out = Shared(plain.as_slice_mut::<f32>()?.as_mut_ptr());
        let (max, exp_sum) = (Func::ReduceMax.reduce_f32()?, Func::Softmax2.map_reduce_f32()?);
        let scale = f32::from_bits(self.scale);
        let batches: usize = l.batch.iter().map(|(size, _)| size).product();
        let parallel = self.macs() >= PARALLEL_MACS;
        let blocks = if parallel { blocks_per_unit(batches, l.rows, TILE) } else { 1 };
        let block = l.rows.div_ceil(blocks);
        let failure = Mutex::new(None);
        in_parts(parallel, batches * blocks, &|first, last| {
            let mut scores = vec![0f32; TILE.min(l.rows) * l.keys];
            let mut sums = [0f32; TILE];
            for part in first..last {
                let (mut rest, start) = (part / blocks, part % blocks * block);
                let mut offset = [0isize; 4];
                for (size, steps) in l.batch.iter().rev() {
                    let i = (rest % size) as isize;
                    rest /= size;
                    (0..4).for_each(|t| offset[t] += i * steps[t]);
                }
                let end = (start + block).min(l.rows);
                for row0 in (start..end).step_by(TILE) {
                    let rows = TILE.min(end - row0);
                    let r0 = row0 as isize;
                    // SAFETY: offsets and strides come from the pinned shapes
                    // of Q, K, V and the output; `scores` holds rows × keys;
                    // parts write disjoint rows of the output.
                    unsafe {
                        gemm::gemm(
                            rows, l.keys, l.depth,
                            scores.as_mut_ptr(), 1, l.keys as isize, false,
                            q.as_ptr().offset(offset[0] + r0 * l.q[0]), l.q[1], l.q[0],
                            k.as_ptr().offset(offset[1]), l.k[1], l.k[0],
                            0.0, scale, false, false, false, gemm::Parallelism::None,
                        );
                    }
                    for (row, sum) in scores.chunks_exact_mut(l.keys).zip(&mut sums).take(rows) {
                        let exps = max.run(row).and_then(|m| exp_sum.run_with_params(row, m));
                        match exps {
                            Ok(s) => *sum = s.recip(),
                            Err(e) => {
                                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                                return;
                            }
                        }
                    }
                    let o_block = offset[3] + r0 * l.o[0];
                    // SAFETY: as above; this tile's output rows are this part's.
                    unsafe {
                        gemm::gemm(
                            rows, l.width, l.keys,
                            out.at(o_block as usize), l.o[1], l.o[0], false,
                            scores.as_ptr(), 1, l.keys as isize,
                            v.as_ptr().offset(offset[2]), l.v[1], l.v[0],
                            0.0, 1.0, false, false, false, gemm::Parallelism::None,
                        );
                        for (r, inverse) in sums.iter().enumerate().take(rows) {
                            for c in 0..l.width {
                                *out.at((o_block + r as isize * l.o[0] + c as isize * l.o[1]) as usize) *= inverse;
                            }
                        }
                    }
                }
            }
        });
        if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        drop(plain);
        Ok(tvec!(o.into_tvalue()))
    }
}

impl TypedOp for FusedAttention {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.output.without_value()))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((Cost::FMA(f32::datum_type()), self.macs().to_dim())))
    }

    as_op!();
}

/// The non-constant input of a binary node and the other's value, if the
/// other is one constant f32 value.
fn by_constant(model: &TypedModel, node: &TypedNode) -> TractResult<Option<(OutletId, f32)>> {
    for (c, by) in [(0, 1), (1, 0)] {
        let (Some(&c), Some(&by)) = (node.inputs.get(c), node.inputs.get(by)) else { return Ok(None) };
        if let Some(value) = model.outlet_fact(c)?.konst.clone() {
            if value.len() == 1 && value.datum_type() == f32::datum_type() && node.inputs.len() == 2 {
                return Ok(Some((by, value.cast_to_scalar::<f32>()?)));
            }
        }
    }
    Ok(None)
}

/// The attention that ends in the softmax at `node`, if it is one this
/// module runs: the op, its inputs (Q, K, V) and the last node it replaces.
fn as_attention(model: &TypedModel, node: &TypedNode) -> TractResult<Option<(FusedAttention, [OutletId; 3], usize)>> {
    let Some(softmax) = node.op_as::<Softmax>() else { return Ok(None) };
    let (&[axis], SoftmaxKind::Softmax, None) = (softmax.axes.as_slice(), &softmax.kind, softmax.quant_output_dt) else { return Ok(None) };
    // Back from the softmax: perhaps a Mul by one constant value, then the
    // scores, each read by the next node only.
    let (mut before, mut scale) = (node.inputs[0], 1.0f32);
    let previous = model.node(before.node);
    if let Some(op) = previous.op_as::<TypedBinOp>() {
        let Some((by, factor)) = by_constant(model, previous)? else { return Ok(None) };
        if !op.0.is::<Mul>() || sole_consumer(model, before).map(|n| n.id) != Some(node.id) {
            return Ok(None);
        }
        (before, scale) = (by, factor);
    }
    if sole_consumer(model, before).is_none() {
        return Ok(None);
    }
    let scores_node = model.node(before.node);
    let Some(scores) = f32_product(model, scores_node)? else { return Ok(None) };
    // Forward: the product of the probabilities (as its A) with V.
    let probabilities = OutletId::new(node.id, 0);
    let Some(mix_node) = sole_consumer(model, probabilities) else { return Ok(None) };
    if mix_node.inputs.first() != Some(&probabilities) {
        return Ok(None);
    }
    let Some(mix) = f32_product(model, mix_node)? else { return Ok(None) };
    let output = mix_node.outputs[0].fact.clone();
    let chain = Chain { scores, mix, axis, scale, output };
    let Some(op) = FusedAttention::new(chain) else { return Ok(None) };
    let l = &op.layout;
    if op.macs() < MIN_MACS || l.rows < MIN_ROWS {
        return Ok(None);
    }
    let inputs = [scores_node.inputs[0], scores_node.inputs[1], mix_node.inputs[1]];
    Ok(Some((op, inputs, mix_node.id)))
}

/// Replace every attention [`FusedAttention`] runs (of at least
/// [`MIN_MACS`] and [`MIN_ROWS`] query rows) in a decluttered `model`
/// whose shapes are pinned; returns how many. Before matmul.rs's swap,
/// which would take the products apart.
pub fn use_fused_attention(model: &mut TypedModel) -> TractResult<usize> {
    let mut swapped = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some((op, inputs, last)) = as_attention(model, node)? else { continue };
        let mut patch = TypedModelPatch::default();
        let taps: TVec<OutletId> = inputs.iter().map(|&o| patch.tap_model(model, o)).collect::<TractResult<_>>()?;
        let out = patch.wire_node(model.node(id).name.clone(), op, &taps)?[0];
        patch.shunt_outside(model, OutletId::new(last, 0), out)?;
        patch.apply(model)?;
        swapped += 1;
    }
    Ok(swapped)
}

#[cfg(test)]
mod tests;
