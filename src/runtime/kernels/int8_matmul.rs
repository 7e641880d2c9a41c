//! int8 matrix products with a constant right side (ONNX `MatMulInteger`
//! of a dynamic-int8 linear layer: u8 activations [.., m, k] × 8-bit weights
//! [k, n] → i32) with AVX-512 VNNI dot products, instead of tract's kernels.
//!
//! Why: a dynamic-int8 UNet step was 2.3-2.5× onnxruntime on the same file
//! (SD-Turbo, LCM and SDXS-class alike), most of it in tract's int8 products
//! (`OptMatMul` 46 % of the step, plus `OptMatMulPack` packing the
//! activations at every call and `QSumB` summing them). Here the weights are
//! packed once at load in the layout `vpdpbusd` reads ([n / 64][k / 4][64][4]
//! bytes) and the activations are read where they lie: four bytes of a row
//! broadcast at a time, no packing. Exact integer arithmetic (the same sums
//! as in int8_conv3x3.rs, with the weights stored as `k - 128`), so the
//! output is tract's bit for bit.
//!
//! Used only where the CPU has AVX-512 VNNI, like int8_conv3x3.rs.

use super::int8_graph::{absorb, constant, per_channel, unit_scales};
use super::replace;
use super::int8_output::{Finish, Out};
use super::int8_vnni::{has_vnni, LANES, MR};
use super::thread_parts::{blocks_per_unit, in_parts, PARALLEL_MACS};
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::einsum::EinSum;

/// Columns computed together (the kernel's lanes).
const COLUMNS: usize = LANES;
/// Rows of one part, at least.
const MIN_BLOCK_ROWS: usize = 48;

/// C[rows, n] = Σ_k (A[rows, k] - a0)(B[k, n] - b0) + bias, A u8 in memory
/// order, B constant.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Int8MatMul {
    k: usize,
    n: usize,
    /// `b - 128` (`b` for i8 weights) as i8: [n / 64][k / 4][64][4], zero
    /// past n.
    packed: Arc<Tensor>,
    /// Per column: Σ_k of the stored weights.
    column_sums: Arc<Tensor>,
    /// Per column: the stored weights' offset minus b0 (128 - b0 for u8).
    shifts: Arc<Tensor>,
    /// Per column.
    bias: Arc<Tensor>,
    /// The output's shape: the replaced op's.
    shape: ShapeFact,
    /// The cast, scale and bias that follow in the graph, done here.
    finish: Finish,
}

impl Int8MatMul {
    /// From weights [k, n] as i32 values of an 8-bit type (`offset` 128 for
    /// u8, 0 for i8), their zero points and the bias per column.
    fn new(weights: &[i32], offset: i32, b0: &[i32], bias: &[i32], k: usize, shape: ShapeFact) -> TractResult<Int8MatMul> {
        let n = bias.len();
        ensure!(weights.len() == k * n && b0.len() == n && k % 4 == 0);
        let mut packed = vec![0i8; n.div_ceil(COLUMNS) * k * COLUMNS];
        let mut sums = vec![0i32; n];
        for row in 0..k {
            for (col, sum) in sums.iter_mut().enumerate() {
                let b = weights[row * n + col] - offset;
                ensure!((-128..128).contains(&b), "weight {} outside 8 bits", b + offset);
                packed[((col / COLUMNS * k + row / 4 * 4) * COLUMNS) + col % COLUMNS * 4 + row % 4] = b as i8;
                *sum += b;
            }
        }
        let shifts: Vec<i32> = b0.iter().map(|b| offset - b).collect();
        Ok(Int8MatMul {
            k,
            n,
            packed: Arc::new(tensor1(&packed)),
            column_sums: Arc::new(tensor1(&sums)),
            shifts: Arc::new(tensor1(&shifts)),
            bias: Arc::new(tensor1(bias)),
            shape,
            finish: Finish::default(),
        })
    }
}

/// `a` [rows, k] u8 with zero point `a0` times the weights into `output`
/// [rows, n] (`vnni`: with the VNNI kernel), in parts (blocks of rows ×
/// blocks of columns) over tract's thread pool.
fn multiply(op: &Int8MatMul, a: &[u8], a0: u8, output: Out, vnni: bool) -> TractResult<()> {
    let (k, n) = (op.k, op.n);
    let rows = a.len() / k;
    let packed = op.packed.try_as_plain_ram()?.as_slice::<i8>()?;
    let sums = op.column_sums.try_as_plain_ram()?.as_slice::<i32>()?;
    let shifts = op.shifts.try_as_plain_ram()?.as_slice::<i32>()?;
    let bias = op.bias.try_as_plain_ram()?.as_slice::<i32>()?;
    // Per row: Σ_k (a - a0), once (not again for every block of columns),
    // only where some b0 needs it.
    let row_sums: Vec<i32> = if shifts.iter().any(|&d| d != 0) {
        let centre = i32::from(a0) * k as i32;
        a.chunks_exact(k).map(|line| line.iter().map(|&v| i32::from(v)).sum::<i32>() - centre).collect()
    } else {
        Vec::new()
    };
    let parallel = rows * n * k >= PARALLEL_MACS;
    let column_blocks = n.div_ceil(COLUMNS);
    let row_blocks = if parallel { blocks_per_unit(column_blocks, rows, MIN_BLOCK_ROWS) } else { 1 };
    let block = rows.div_ceil(row_blocks).next_multiple_of(MR);
    let row_blocks = rows.div_ceil(block);
    in_parts(parallel, row_blocks * column_blocks, &|first, last| {
        let mut acc = [[0i32; COLUMNS]; MR];
        for part in first..last {
            let (r0, c0) = (part / column_blocks * block, part % column_blocks * COLUMNS);
            let weights = &packed[c0 * k..][..k * COLUMNS];
            for m0 in (r0..(r0 + block).min(rows)).step_by(MR) {
                let count = MR.min(rows - m0);
                let lines: [&[u8]; MR] = std::array::from_fn(|m| &a[(m0 + m.min(count - 1)) * k..][..k]);
                dot_block(lines, weights, vnni, &mut acc);
                for (m, acc) in acc.iter().enumerate().take(count) {
                    let row_sum = row_sums.get(m0 + m).copied().unwrap_or(0);
                    for (j, &s) in acc.iter().enumerate().take(n - c0) {
                        let c = c0 + j;
                        // SAFETY: parts write disjoint rows or columns of the output.
                        unsafe { output.put((m0 + m) * n + c, c, s - i32::from(a0) * sums[c] + shifts[c] * row_sum + bias[c]) };
                    }
                }
            }
        }
    });
    Ok(())
}

/// `acc[m][j]` = Σ_k lines[m][k] × (stored weight of column j of the block).
fn dot_block(lines: [&[u8]; MR], weights: &[i8], vnni: bool, acc: &mut [[i32; COLUMNS]; MR]) {
    #[cfg(target_arch = "x86_64")]
    if vnni {
        // SAFETY: the CPU has the features (has_vnni); the lines and the
        // block's weights are whole (k a multiple of 4).
        return unsafe { super::int8_vnni::kernels::matmul_block(lines, weights, acc) };
    }
    let _ = vnni;
    for (a, line) in acc.iter_mut().zip(lines) {
        a.fill(0);
        for (g, x) in line.chunks_exact(4).enumerate() {
            let group = &weights[g * COLUMNS * 4..][..COLUMNS * 4];
            for (a, b) in a.iter_mut().zip(group.chunks_exact(4)) {
                *a += (0..4).map(|j| i32::from(x[j]) * i32::from(b[j])).sum::<i32>();
            }
        }
    }
}

impl Op for Int8MatMul {
    fn name(&self) -> StaticName {
        "Int8MatMul".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("k {} n {}", self.k, self.n)])
    }

    op_as_typed_op!();
}

impl EvalOp for Int8MatMul {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (a, a0) = (&inputs[0], inputs[1].cast_to::<i32>()?);
        ensure!(a0.len() == 1, "Int8MatMul zero point of {} values", a0.len());
        let a0 = u8::try_from(a0.try_as_plain_ram()?.as_slice::<i32>()?[0])?;
        let shape = a.shape();
        ensure!(shape.last() == Some(&self.k), "Int8MatMul input {shape:?}");
        let mut out_shape: TVec<usize> = shape.into();
        *out_shape.last_mut().unwrap() = self.n;
        let (mut output, scale) = self.finish.output(&out_shape, &inputs)?;
        let out = Out::new(&self.finish, &mut output, scale)?;
        multiply(self, a.try_as_plain_ram()?.as_slice::<u8>()?, a0, out, has_vnni())?;
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for Int8MatMul {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.finish.datum_type().fact(self.shape.clone())))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let rows: TDim = inputs[0].shape.iter().rev().skip(1).product();
        Ok(tvec!((Cost::FMA(i32::datum_type()), rows * (self.k * self.n))))
    }

    as_op!();
}

/// The tract product at `node`, if it is one this module runs: an int8
/// EinSum as MatMulInteger declutters (i32 output, unit input scales),
/// `..mk,kn->..mn` with A u8 and its zero point one value, B a constant
/// [1.., k, n] of an 8-bit type, k a multiple of 4, constant bias and b0
/// of 1 or n values.
fn as_int8_matmul(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Int8MatMul>> {
    let Some(einsum) = node.op_as::<EinSum>() else { return Ok(None) };
    if einsum.q_params != Some(i32::datum_type()) || node.inputs.len() != 9 {
        return Ok(None);
    }
    let (a, b) = (model.outlet_fact(node.inputs[0])?, model.outlet_fact(node.inputs[1])?);
    let Some(weights) = b.konst.clone() else { return Ok(None) };
    let (ra, rb) = (a.rank(), weights.rank());
    if a.datum_type != u8::datum_type() || ra < 2 || rb < 2 || weights.shape()[..rb - 2].iter().any(|&d| d != 1) {
        return Ok(None);
    }
    let (k, n) = (weights.shape()[rb - 2], weights.shape()[rb - 1]);
    if k % 4 != 0 || !model.outlet_fact(node.inputs[3])?.shape.volume().is_one() {
        return Ok(None);
    }
    // The axes: A's in order onto the output's, A's last (k) summed with
    // B's second last, B's last the output's last.
    let axes = &einsum.axes;
    let out_rank = axes.rank(InOut::Out(0));
    let plain = out_rank == ra
        && axes.iter_all_axes().all(|axis| {
            let (ia, ib, o) = (&axis.inputs[0], &axis.inputs[1], &axis.outputs[0]);
            match (ia.as_slice(), ib.as_slice(), o.as_slice()) {
                (&[p], &[q], &[]) => p == ra - 1 && q == rb - 2,
                (&[p], _, &[r]) => p == r && p < ra - 1 && ib.iter().all(|&q| q < rb - 2),
                (&[], &[q], &[r]) => q == rb - 1 && r == out_rank - 1,
                (&[], _, &[]) => ib.iter().all(|&q| q < rb - 2),
                _ => ia.is_empty() && o.is_empty() && ib.is_empty(),
            }
        });
    if !plain {
        return Ok(None);
    }
    if !unit_scales(model, node)? {
        return Ok(None);
    }
    let offset = match weights.datum_type() {
        DatumType::U8 => 128,
        DatumType::I8 => 0,
        _ => return Ok(None),
    };
    let (Some(bias), Some(b0)) = (per_channel(constant(model, node, 2)?, n), per_channel(constant(model, node, 5)?, n)) else {
        return Ok(None);
    };
    let values = weights.cast_to::<i32>()?;
    let shape = node.outputs[0].fact.shape.clone();
    Ok(Some(Int8MatMul::new(values.try_as_plain_ram()?.as_slice::<i32>()?, offset, &b0, &bias, k, shape)?))
}

/// Replace every product [`Int8MatMul`] runs in a decluttered `model` when
/// this CPU has AVX-512 VNNI, with the cast, scale and bias after it
/// ([`absorb`]); returns how many.
pub fn use_int8_matmuls(model: &mut TypedModel) -> TractResult<usize> {
    if !has_vnni() {
        return Ok(0);
    }
    let mut swapped = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(mut op) = as_int8_matmul(model, node)? else { continue };
        let inputs = [node.inputs[0], node.inputs[3]];
        let rank = op.shape.rank();
        let (finish, scale, last) = absorb(model, id, op.n, rank - 1)?;
        op.finish = finish;
        replace(model, id, last, &inputs, scale, op)?;
        swapped += 1;
    }
    Ok(swapped)
}

#[cfg(test)]
mod tests;
