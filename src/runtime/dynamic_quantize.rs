//! ONNX DynamicQuantizeLinear (f32 -> u8, scale, zero point) as our own tract
//! operator, for the dynamic-int8 graphs onnxruntime's quantizer writes.
//!
//! Why not tract's: tract-onnx 0.23.9's `DynamicQuantizeLinearU8` is a scalar
//! loop with a branch per element (17 % of an SD-Turbo int8 UNet step) and has
//! no NNEF form, so the board binaries could not run int8 bundles. Expanding it
//! into plain ONNX ops at export fixed both but made tract's optimizer 3-4x
//! slower at start-up (hundreds of extra nodes). This operator computes the
//! same numbers as the ONNX specification (true division, round half to even),
//! in loops the compiler vectorises, and has an NNEF form
//! (`edgepaint_dynamic_quantize_u8`) that the board builds read.

use tract_nnef::internal::*;

/// y = saturate(round(x / scale) + zero_point), with scale and zero point from
/// the tensor's range extended to include 0.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct DynamicQuantizeU8;

/// The NNEF primitive's name.
const NNEF_ID: &str = "edgepaint_dynamic_quantize_u8";

/// Lanes the min/max scan keeps apart so that the compiler can vectorise it.
const LANES: usize = 16;

/// Scale and zero point of a tensor: its range extended to include 0, over 255
/// steps (ONNX DynamicQuantizeLinear; NaNs are skipped, as tract does).
pub fn scale_and_zero_point(xs: &[f32]) -> (f32, u8) {
    let mut lo = [0f32; LANES];
    let mut hi = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for i in 0..LANES {
            lo[i] = if chunk[i] < lo[i] { chunk[i] } else { lo[i] };
            hi[i] = if chunk[i] > hi[i] { chunk[i] } else { hi[i] };
        }
    }
    let mut min = lo.iter().fold(0f32, |a, &v| if v < a { v } else { a });
    let mut max = hi.iter().fold(0f32, |a, &v| if v > a { v } else { a });
    for &v in chunks.remainder() {
        min = if v < min { v } else { min };
        max = if v > max { v } else { max };
    }
    let scale = (max - min) / 255.0;
    // -min / scale is NaN for an all-zero tensor: f32::max turns it into 0.
    let zero_point = (-min / scale).round_ties_even().max(0.0).min(255.0) as u8;
    (scale, zero_point)
}

/// Quantize `xs` into `ys` with `scale` and `zero_point`.
pub fn quantize(xs: &[f32], scale: f32, zero_point: u8, ys: &mut [u8]) {
    // Adding 1.5 * 2^23 to an f32 of magnitude below 2^22 rounds it to an
    // integer, ties to even (the FPU's default mode), and leaves that integer
    // in the low mantissa bits: read them back as an i32. Every step stays a
    // SIMD instruction on baseline x86-64 and aarch64, where round_ties_even
    // and `as i32` are not (measured 5x slower per element).
    const ROUND: f32 = 12_582_912.0;
    const ROUND_BITS: i32 = 0x4B40_0000;
    let offset = zero_point as i32 - ROUND_BITS;
    for (x, y) in xs.iter().zip(ys.iter_mut()) {
        let q = x / scale;
        // NaN (0 / 0 when the tensor is all zeros) counts as 0, as the
        // float-to-int cast of the specification's reference does; beyond
        // +-256 every value saturates the same way.
        let q = if q != q { 0.0 } else { q };
        let q = q.max(-256.0).min(256.0);
        *y = ((q + ROUND).to_bits() as i32 + offset).clamp(0, 255) as u8;
    }
}

impl Op for DynamicQuantizeU8 {
    fn name(&self) -> StaticName {
        "DynamicQuantizeU8".into()
    }

    fn validation(&self) -> Validation {
        Validation::Accurate
    }

    op_as_typed_op!();
}

impl EvalOp for DynamicQuantizeU8 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs[0].cast_to::<f32>()?;
        let xs = input.try_as_plain_ram()?.as_slice::<f32>()?;
        let (scale, zero_point) = scale_and_zero_point(xs);
        let mut output = unsafe { Tensor::uninitialized_dt(u8::datum_type(), input.shape())? };
        quantize(xs, scale, zero_point, output.try_as_plain_ram_mut()?.as_slice_mut::<u8>()?);
        Ok(tvec!(output.into_tvalue(), tensor0(scale).into_tvalue(), tensor0(zero_point).into_tvalue()))
    }
}

impl TypedOp for DynamicQuantizeU8 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut quantized = inputs[0].clone();
        quantized.datum_type = u8::datum_type();
        Ok(tvec!(quantized, f32::fact([0usize; 0]), u8::fact([0usize; 0])))
    }

    as_op!();
}

/// The NNEF form: `quantized, scale, zero_point = edgepaint_dynamic_quantize_u8(input)`.
pub fn register_nnef(registry: &mut Registry) {
    registry.register_dumper(dump_nnef);
    registry.register_primitive(
        NNEF_ID,
        &[TypeName::Scalar.tensor().named("input")],
        &[
            ("quantized", TypeName::Integer.tensor()),
            ("scale", TypeName::Scalar.tensor()),
            ("zero_point", TypeName::Integer.tensor()),
        ],
        load_nnef,
    );
}

fn dump_nnef(ast: &mut IntoAst, node: &TypedNode, _op: &DynamicQuantizeU8) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    Ok(Some(invocation(NNEF_ID, &[input], &[])))
}

fn load_nnef(builder: &mut ModelBuilder, invocation: &ResolvedInvocation) -> TractResult<Value> {
    let input = invocation.named_arg_as(builder, "input")?;
    builder.wire(DynamicQuantizeU8, &[input])
}

/// The ONNX parser's entry for DynamicQuantizeLinear, replacing tract-onnx's.
#[cfg(feature = "onnx")]
pub mod onnx_form {
    use super::DynamicQuantizeU8;
    use tract_onnx::model::ParsingContext;
    use tract_onnx::pb::NodeProto;
    use tract_onnx::tract_hir::internal::*;

    pub fn register(onnx: &mut tract_onnx::Onnx) {
        onnx.op_register.insert("DynamicQuantizeLinear", parse);
    }

    fn parse(_ctx: &ParsingContext, _node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
        Ok((expand(OnnxDynamicQuantizeLinear), vec![]))
    }

    /// Type inference for the parser; wires [`DynamicQuantizeU8`].
    #[derive(Debug, Clone, Hash, PartialEq, Eq)]
    struct OnnxDynamicQuantizeLinear;

    impl Expansion for OnnxDynamicQuantizeLinear {
        fn name(&self) -> StaticName {
            "DynamicQuantizeLinear".into()
        }

        fn nboutputs(&self) -> TractResult<usize> {
            Ok(3)
        }

        fn rules<'r, 'p: 'r, 's: 'r>(
            &'s self,
            s: &mut Solver<'r>,
            inputs: &'p [TensorProxy],
            outputs: &'p [TensorProxy],
        ) -> InferenceResult {
            check_input_arity(inputs, 1)?;
            check_output_arity(outputs, 3)?;
            s.equals(&inputs[0].datum_type, f32::datum_type())?;
            s.equals(&inputs[0].shape, &outputs[0].shape)?;
            s.equals(&outputs[0].datum_type, u8::datum_type())?;
            s.equals(&outputs[1].datum_type, f32::datum_type())?;
            s.equals(&outputs[1].rank, 0)?;
            s.equals(&outputs[2].datum_type, u8::datum_type())?;
            s.equals(&outputs[2].rank, 0)?;
            Ok(())
        }

        fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
            model.wire_node(format!("{prefix}.dynamic_quantize"), DynamicQuantizeU8, &[inputs[0]])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tract-onnx 0.23.9's scalar DynamicQuantizeLinearU8, the reference.
    fn reference(xs: &[f32]) -> (Vec<u8>, f32, u8) {
        let (min, max) = xs.iter().fold((0f32, 0f32), |(lo, hi), &v| {
            if v < lo {
                (v, hi)
            } else if v > hi {
                (lo, v)
            } else {
                (lo, hi)
            }
        });
        let scale = (max - min) / 255.0;
        let zp = (-min / scale).round_ties_even().max(0.0).min(255.0) as u8;
        let ys = xs
            .iter()
            .map(|x| (((x / scale).round_ties_even() as i32) + zp as i32).clamp(0, 255) as u8)
            .collect();
        (ys, scale, zp)
    }

    fn check(xs: &[f32]) {
        let (want, want_scale, want_zp) = reference(xs);
        let (scale, zp) = scale_and_zero_point(xs);
        let mut ys = vec![0u8; xs.len()];
        quantize(xs, scale, zp, &mut ys);
        assert_eq!((scale.to_bits(), zp), (want_scale.to_bits(), want_zp), "{xs:?}");
        assert_eq!(ys, want, "{xs:?}");
    }

    #[test]
    fn matches_the_scalar_reference() {
        // A deterministic spread of magnitudes and signs, odd length (remainder).
        let mut state = 0x2545_f491_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as f32 / u32::MAX as f32
        };
        for (len, offset, spread) in [(1001, -0.5, 2.0), (37, 0.0, 10.0), (4096, -3.0, 1.0), (15, 0.2, 1e-3)] {
            let xs: Vec<f32> = (0..len).map(|_| (next() + offset) * spread).collect();
            check(&xs);
        }
    }

    #[test]
    fn ties_round_to_even_and_edge_tensors() {
        // Range [-2.55, 0] -> scale 0.01; the values land on .5 steps.
        check(&[-2.55, -0.005, -0.015, -0.025, -1.275, 0.0, -0.0]);
        check(&[0.0; 40]);
        check(&[1.0; 33]);
        check(&[-7.0; 17]);
        check(&[]);
        check(&[1.0, f32::NAN, -2.0, 0.5]);
        check(&[f32::INFINITY, 1.0, -1.0]);
        check(&[1e30, -1e-30, 3.0]);
    }
}
