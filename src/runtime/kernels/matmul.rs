//! f32 matrix products (tract's `EinSum` with one summed axis: every MatMul,
//! Gemm and 1x1 convolution after decluttering) by the `gemm` crate, over
//! the operands as they lie in memory, instead of tract's kernels.
//!
//! Why: at a UNet's sizes tract 0.23.9 copies (packs) both operands of every
//! product and its kernels are slower than `gemm`'s here: one attention head
//! at 4,096 tokens took 120 ms against onnxruntime's 35 (2 threads; 37 ms of
//! it packing), where `gemm` does its two products in 34 ms; the f32 UNet
//! step spent 3.2 of 5.5 s in tract's products. `gemm` reads any strides, so
//! transposed or batched operands need no copy. Like conv3x3.rs, x86_64 and
//! aarch64 only (`mod.rs`), swapped in just before tract optimizes.

use super::thread_parts::{blocks_per_unit, in_parts, Shared, PARALLEL_MACS};
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::einsum::EinSum;

/// Rows (or columns) of one part, at least.
const MIN_BLOCK: usize = 64;

/// Below this many multiply-adds a product stays tract's (its small-matrix
/// kernels and fused bias and activations win there; the shipped model's
/// products are mostly this small).
pub(super) const MIN_MACS: usize = 1 << 20;

/// Above this many output values a product stays tract's: attention
/// scores at 4,096 tokens (64 MB each) in our op cost one or two more such
/// buffers alive at once (tract fuses what follows into its product): the
/// SDXS-class UNet's streaming peak went from 295 to 475 MiB. (Attention
/// that attention.rs recognises is fused before this swap and never
/// materialises its scores; the cap guards the products it does not take.)
const MAX_OUTPUT: usize = 1 << 22;

/// Below this many rows too: a text encoder's 77 tokens (there tract was
/// within 1.25x of onnxruntime, and `gemm`, which packs the weights at
/// every call, was not faster).
pub(super) const MIN_ROWS: usize = 128;

/// One axis of the product: its position in A, in B and in the output.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(super) struct Axis {
    pub(super) a: Option<usize>,
    pub(super) b: Option<usize>,
    pub(super) c: Option<usize>,
}

/// C[batch.., m, n] = sum over k of A[batch.., m, k] × B[batch.., k, n], each
/// axis anywhere in its tensor; a batch axis may be absent from, or of size
/// 1 in, one operand (broadcast).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct GemmMatMul {
    pub(super) m: Axis,
    pub(super) k: Axis,
    pub(super) n: Axis,
    pub(super) batch: Vec<Axis>,
    /// The output's rank (its axes of size 1 everywhere are in none of the
    /// above).
    rank: usize,
    /// The replaced op, for the output's facts and the cost.
    einsum: EinSum,
}

impl GemmMatMul {
    /// The product `einsum` computes on inputs of shapes `facts`, if it is
    /// one this module runs. Axes of size 1 everywhere are left out (tract
    /// writes `amk,ank->mn` for a batch of one).
    pub(super) fn new(einsum: &EinSum, facts: [&TypedFact; 2]) -> Option<GemmMatMul> {
        let mapping = &einsum.axes;
        if einsum.q_params.is_some() || mapping.input_count() != 2 || mapping.output_count() != 1 {
            return None;
        }
        let (mut k, mut ms, mut ns, mut batch) = (None, Vec::new(), Vec::new(), Vec::new());
        for axis in mapping.iter_all_axes() {
            let at = |positions: &[usize]| (positions.len() <= 1).then(|| positions.first().copied());
            let place = Axis { a: at(&axis.inputs[0])?, b: at(&axis.inputs[1])?, c: at(&axis.outputs[0])? };
            let unit = |fact: &TypedFact, p: Option<usize>| p.is_none_or(|p| fact.shape[p].is_one());
            if unit(facts[0], place.a) && unit(facts[1], place.b) {
                continue;
            }
            match (place.a.is_some(), place.b.is_some(), place.c.is_some()) {
                (true, true, false) if k.is_none() => k = Some(place),
                (true, false, true) => ms.push(place),
                (false, true, true) => ns.push(place),
                (_, _, true) => batch.push(place),
                _ => return None, // a second summed axis, or one summed in one operand only
            }
        }
        // Of several axes of A and the output only, the innermost in A is the
        // rows and the others are batch axes that B does not have (a linear
        // layer's `bmk,kn->bmn`); the same for B's columns.
        ms.sort_by_key(|p| p.a);
        ns.sort_by_key(|p| p.b);
        let (m, n) = (ms.pop()?, ns.pop()?);
        batch.extend(ms.into_iter().chain(ns));
        let rank = mapping.rank(InOut::Out(0));
        Some(GemmMatMul { m, k: k?, n, batch, rank, einsum: einsum.clone() })
    }
}

/// Row-major strides of `shape`.
pub(super) fn strides(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![1isize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1] as isize;
    }
    strides
}

/// Size of one axis and its strides in A and B (0 where absent or
/// broadcast).
pub(super) fn measure(axis: Axis, shapes: [&[usize]; 2], stride: [&[isize]; 2]) -> (usize, [isize; 2]) {
    let places = [axis.a, axis.b];
    let size = (0..2).filter_map(|t| places[t].map(|p| shapes[t][p])).max().unwrap_or(1);
    let step = |t: usize| places[t].filter(|&p| shapes[t][p] == size).map_or(0, |p| stride[t][p]);
    (size, [step(0), step(1)])
}

impl Op for GemmMatMul {
    fn name(&self) -> StaticName {
        "GemmMatMul".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{}", self.einsum.axes)])
    }

    op_as_typed_op!();
}

impl EvalOp for GemmMatMul {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (a, b) = (inputs[0].cast_to::<f32>()?, inputs[1].cast_to::<f32>()?);
        let shapes = [a.shape(), b.shape()];
        let operand_strides = [strides(shapes[0]), strides(shapes[1])];
        let stride = [&operand_strides[0][..], &operand_strides[1][..]];
        // Each axis measured once: its size and its strides in A and B.
        let (m, [am, _]) = measure(self.m, shapes, stride);
        let (k, [ak, bk]) = measure(self.k, shapes, stride);
        let (n, [_, bn]) = measure(self.n, shapes, stride);
        let batch_measures: Vec<(usize, [isize; 2])> = self.batch.iter().map(|&axis| measure(axis, shapes, stride)).collect();
        let mut output_shape = vec![1; self.rank];
        let sized = [(self.m, m), (self.n, n)].into_iter().chain(self.batch.iter().zip(&batch_measures).map(|(&axis, &(size, _))| (axis, size)));
        for (axis, size) in sized {
            output_shape[axis.c.context("GemmMatMul axis not in the output")?] = size;
        }
        let mut c = unsafe { Tensor::uninitialized::<f32>(&output_shape)? };
        let output_strides = strides(&output_shape);
        let at_c = |axis: Axis| axis.c.map_or(0, |p| output_strides[p]);
        let (cm, cn) = (at_c(self.m), at_c(self.n));
        let batch: Vec<(usize, [isize; 3])> =
            self.batch.iter().zip(&batch_measures).map(|(&axis, &(size, [sa, sb]))| (size, [sa, sb, at_c(axis)])).collect();
        let batches: usize = batch.iter().map(|(size, _)| size).product();
        if c.len() == 0 {
            return Ok(tvec!(c.into_tvalue()));
        }
        let xs = a.try_as_plain_ram()?;
        let ys = b.try_as_plain_ram()?;
        let (xs, ys) = (xs.as_slice::<f32>()?, ys.as_slice::<f32>()?);
        let mut plain = c.try_as_plain_ram_mut()?;
        let out = Shared(plain.as_slice_mut::<f32>()?.as_mut_ptr());
        // Parts: batches × blocks of rows (or of columns, whichever is longer).
        let parallel = batches * m * n * k >= PARALLEL_MACS;
        let long = m.max(n);
        let blocks = if parallel { blocks_per_unit(batches, long, MIN_BLOCK) } else { 1 };
        let block = long.div_ceil(blocks);
        in_parts(parallel, batches * blocks, &|first, last| {
            for part in first..last {
                let (mut rest, start) = (part / blocks, part % blocks * block);
                let mut offset = [0isize; 3];
                for (size, steps) in batch.iter().rev() {
                    let i = (rest % size) as isize;
                    rest /= size;
                    (0..3).for_each(|t| offset[t] += i * steps[t]);
                }
                let len = block.min(long - start);
                let (rows, cols, row0, col0) = if m >= n { (len, n, start, 0) } else { (m, len, 0, start) };
                // SAFETY: the offsets stay inside A, B and C (sizes and strides
                // from their shapes), and parts write disjoint blocks of C.
                unsafe {
                    let row0 = row0 as isize;
                    let col0 = col0 as isize;
                    gemm::gemm(
                        rows,
                        cols,
                        k,
                        out.at((offset[2] + row0 * cm + col0 * cn) as usize),
                        cn,
                        cm,
                        false,
                        xs.as_ptr().offset(offset[0] + row0 * am),
                        ak,
                        am,
                        ys.as_ptr().offset(offset[1] + col0 * bn),
                        bn,
                        bk,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        });
        drop(plain);
        Ok(tvec!(c.into_tvalue()))
    }
}

impl TypedOp for GemmMatMul {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.einsum.output_facts(inputs)
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        self.einsum.cost(inputs)
    }

    as_op!();
}

/// The f32 product at `node` (an EinSum, its inputs and output f32) as
/// [`GemmMatMul`] reads it, with its input facts; also attention.rs's.
pub(super) fn f32_product(model: &TypedModel, node: &TypedNode) -> TractResult<Option<(GemmMatMul, [TypedFact; 2])>> {
    let Some(einsum) = node.op_as::<EinSum>() else { return Ok(None) };
    let facts = model.node_input_facts(node.id)?;
    let &[a, b] = &facts[..] else { return Ok(None) };
    let f32s = [a, b, &node.outputs[0].fact].iter().all(|f| f.datum_type == f32::datum_type() && f.is_plain());
    if !f32s || einsum.operating_dt != f32::datum_type() {
        return Ok(None);
    }
    Ok(GemmMatMul::new(einsum, [a, b]).map(|op| (op, [a.clone(), b.clone()])))
}

/// Replace every f32 product [`GemmMatMul`] runs (of at least [`MIN_MACS`])
/// in a decluttered `model` whose shapes are pinned; returns how many.
pub fn use_gemm_matmuls(model: &mut TypedModel) -> TractResult<usize> {
    let mut swapped = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let op = {
            let Some((op, [a, _])) = f32_product(model, node)? else { continue };
            let output = &node.outputs[0].fact;
            let points = output.shape.as_concrete().map_or(0, |s| s.iter().product::<usize>());
            let size = |place: Option<usize>| place.and_then(|p| a.shape[p].to_usize().ok()).unwrap_or(0);
            let (rows, k) = (size(op.m.a), size(op.k.a));
            let big = points * k >= MIN_MACS && rows >= MIN_ROWS && points <= MAX_OUTPUT;
            big.then_some(op)
        };
        let Some(op) = op else { continue };
        let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs, op)?;
        patch.apply(model)?;
        swapped += 1;
    }
    Ok(swapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(shape: &[usize], seed: usize) -> Tensor {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0).collect();
        tensor1(&data).into_shape(shape).unwrap()
    }

    /// Against tract's own EinSum on the same inputs: a column split (more
    /// columns than rows, 65 + 64), a transposed operand with a unit axis
    /// and a row split (67 + 67 + 66), a batch broadcast from size 1 and an
    /// absent batch axis, and a product too small to be split.
    #[test]
    fn matches_tracts_einsum() {
        let cases: [(&str, &[usize], &[usize]); 5] = [
            ("bmk,bkn->bmn", &[2, 70, 300], &[2, 300, 129]),
            ("amk,ank->mn", &[1, 200, 256], &[1, 100, 256]),
            ("bhmk,bhkn->bhmn", &[2, 3, 40, 16], &[1, 3, 16, 24]),
            ("bmk,kn->bmn", &[3, 5, 7], &[7, 9]),
            ("mk,kn->nm", &[130, 33], &[33, 20]),
        ];
        for (expr, a_shape, b_shape) in cases {
            let einsum = EinSum::new(expr.parse().unwrap(), f32::datum_type());
            let (a, b) = (values(a_shape, 1), values(b_shape, 2));
            let facts = [f32::fact(a_shape), f32::fact(b_shape)];
            let op = GemmMatMul::new(&einsum, [&facts[0], &facts[1]]).unwrap_or_else(|| panic!("{expr} not taken"));
            let inputs = || tvec!(a.clone().into_tvalue(), b.clone().into_tvalue());
            let ours = op.eval(&EvalContext::out_of_plan(), inputs()).unwrap().remove(0);
            let theirs = einsum.eval(&EvalContext::out_of_plan(), inputs()).unwrap().remove(0);
            assert_eq!(ours.shape(), theirs.shape(), "{expr}");
            let (x, y) = (ours.try_as_plain_ram().unwrap(), theirs.try_as_plain_ram().unwrap());
            let (x, y) = (x.as_slice::<f32>().unwrap(), y.as_slice::<f32>().unwrap());
            let worst = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-3, "{expr}: off by {worst}");
        }
    }

    /// Products this module leaves to tract: summed in one operand only, an
    /// axis twice in one operand.
    #[test]
    fn leaves_other_einsums_to_tract() {
        for (expr, a_shape, b_shape) in [("mk,kn->n", [4, 5], [5, 6]), ("mm,mn->mn", [4, 4], [4, 6])] {
            let einsum = EinSum::new(expr.parse().unwrap(), f32::datum_type());
            let facts = [f32::fact(a_shape), f32::fact(b_shape)];
            assert!(GemmMatMul::new(&einsum, [&facts[0], &facts[1]]).is_none(), "{expr}");
        }
    }
}
