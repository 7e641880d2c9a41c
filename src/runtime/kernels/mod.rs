//! Our own operators in place of tract's, swapped into a decluttered graph
//! just before tract optimizes it (bundles and their NNEF form are
//! unchanged): 3×3 convolutions, large matrix products and attention in
//! f32 (conv3x3.rs with winograd.rs, winograd4.rs and conv_finish.rs,
//! matmul.rs, attention.rs, with the
//! `gemm` crate) and,
//! where the CPU has AVX-512 VNNI, in int8 (int8_conv3x3.rs,
//! int8_matmul.rs: their kernels in int8_vnni.rs, what they read from the
//! graph in int8_graph.rs, their fused cast, scale and bias in
//! int8_output.rs); the work split over tract's thread pool by
//! thread_parts.rs. x86_64 and aarch64 only: elsewhere tract's own kernels
//! run.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod attention;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod conv3x3;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod conv_finish;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod int8_conv3x3;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod int8_graph;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod int8_matmul;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod int8_output;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod int8_vnni;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod matmul;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod thread_parts;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod winograd;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod winograd4;

/// The one node reading `outlet`, if exactly one node (and no model
/// output) reads it: a node our op may absorb.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn sole_consumer(model: &TypedModel, outlet: OutletId) -> Option<&TypedNode> {
    let inlets = &model.node(outlet.node).outputs[outlet.slot].successors;
    let output = model.output_outlets().ok()?.contains(&outlet);
    (inlets.len() == 1 && !output).then(|| model.node(inlets[0].node))
}

/// The other input of a binary node, given one of them.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn other_input(node: &TypedNode, this: OutletId) -> Option<OutletId> {
    match node.inputs.as_slice() {
        [a, b] if *a == this => Some(*b),
        [a, b] if *b == this => Some(*a),
        _ => None,
    }
}

/// Replace `product` and the nodes after it up to `last` (those its op
/// does itself: int8_graph.rs's `absorb`, conv_finish.rs) by `op`, reading
/// `inputs` plus the scale when there is one.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn replace<O: TypedOp>(model: &mut TypedModel, product: usize, last: usize, inputs: &[OutletId], scale: Option<OutletId>, op: O) -> TractResult<()> {
    let mut patch = TypedModelPatch::default();
    let taps: TVec<OutletId> = inputs.iter().chain(scale.iter()).map(|&o| patch.tap_model(model, o)).collect::<TractResult<_>>()?;
    let name = model.node(product).name.clone();
    let out = patch.wire_node(name, op, &taps)?[0];
    patch.shunt_outside(model, OutletId::new(last, 0), out)?;
    patch.apply(model)
}

/// For the int8 kernels' graph tests: `model` run by tract as it is, then
/// after `swap` (one node swapped on a VNNI CPU, none elsewhere, and then
/// `op` the only node besides the sources): the same f32 values.
#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
fn assert_swap_gives_tracts_output(
    mut model: TypedModel,
    inputs: TVec<TValue>,
    swap: fn(&mut TypedModel) -> TractResult<usize>,
    op: &str,
) -> TractResult<()> {
    let tracts = model.clone().into_optimized()?.into_runnable()?.run(inputs.clone())?;
    let vnni = int8_vnni::has_vnni();
    assert_eq!(swap(&mut model)?, usize::from(vnni));
    if vnni {
        let compact = model.clone().into_compact()?;
        let names: Vec<String> = compact.nodes().iter().map(|n| n.op.name().to_string()).collect();
        assert_eq!(names.iter().filter(|n| !n.starts_with("Source")).collect::<Vec<_>>(), [op], "{names:?}");
    }
    let ours = model.into_optimized()?.into_runnable()?.run(inputs)?;
    let values = |t: &TValue| -> TractResult<Vec<f32>> { Ok(t.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()) };
    assert_eq!(values(&tracts[0])?, values(&ours[0])?);
    Ok(())
}

/// A repeatable pseudo-random byte stream, for the int8 kernels' tests.
#[cfg(test)]
fn test_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 32) as u8
        })
        .collect()
}

use tract_nnef::internal::*;

/// How many nodes [`use_own_kernels`] gave to our operators.
#[derive(Debug, Default, Clone, Copy)]
pub struct Swapped {
    pub convolutions: usize,
    pub products: usize,
    pub attentions: usize,
}

/// Our 3×3 convolutions and matrix products (f32; int8 where the CPU has
/// AVX-512 VNNI) in place of tract's (conv3x3.rs, matmul.rs,
/// int8_conv3x3.rs, int8_matmul.rs), where the build has them (x86_64,
/// aarch64); how many convolutions and products were replaced.
pub fn use_own_kernels(model: &mut TypedModel) -> TractResult<Swapped> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    return Ok(Swapped {
        // Attention first: matmul.rs would take its products apart.
        attentions: attention::use_fused_attention(model)?,
        convolutions: conv3x3::use_tap_convolutions(model)? + int8_conv3x3::use_int8_tap_convolutions(model)?,
        products: matmul::use_gemm_matmuls(model)? + int8_matmul::use_int8_matmuls(model)?,
    });
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = model; // tract's own kernels run
        Ok(Swapped::default())
    }
}

