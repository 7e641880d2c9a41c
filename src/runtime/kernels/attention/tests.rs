use super::*;
use tract_nnef::tract_core::ops::einsum::EinSum;
use tract_nnef::tract_core::ops::math;

fn values(shape: &[usize], seed: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 250.0 - 2.0).collect();
    tensor1(&data).into_shape(shape).unwrap()
}

/// An attention as tract declutters an exported one: the scores product
/// `scores`, a Mul by `scale` (if any), a softmax over the last axis, the
/// product `mix` with V.
fn attention(scores: &str, mix: &str, shapes: [&[usize]; 3], scale: Option<f32>) -> TractResult<TypedModel> {
    let mut model = TypedModel::default();
    let q = model.add_source("q", f32::fact(shapes[0]))?;
    let k = model.add_source("k", f32::fact(shapes[1]))?;
    let v = model.add_source("v", f32::fact(shapes[2]))?;
    let mut s = model.wire_node("scores", EinSum::new(scores.parse()?, f32::datum_type()), &[q, k])?[0];
    if let Some(scale) = scale {
        let rank = model.outlet_fact(s)?.rank();
        let c = model.add_const("scale", tensor1(&[scale]).into_shape(&vec![1; rank])?)?;
        s = model.wire_node("scaled", math::mul(), &[s, c])?[0];
    }
    let rank = model.outlet_fact(s)?.rank();
    let p = model.wire_node("softmax", Softmax::new(tvec!(rank - 1), None, SoftmaxKind::Softmax), &[s])?[0];
    let o = model.wire_node("mix", EinSum::new(mix.parse()?, f32::datum_type()), &[p, v])?;
    model.select_output_outlets(&o)?;
    Ok(model.into_decluttered()?)
}

/// Tract's output and ours (after the swap, which must take `expected`
/// attentions) on the same inputs, within float rounding.
fn assert_fused_like_tract(model: TypedModel, shapes: [&[usize]; 3], expected: usize) -> TractResult<()> {
    let inputs: TVec<TValue> = shapes.iter().enumerate().map(|(i, s)| values(s, i).into_tvalue()).collect();
    let tracts = model.clone().into_optimized()?.into_runnable()?.run(inputs.clone())?;
    let mut ours = model;
    assert_eq!(use_fused_attention(&mut ours)?, expected);
    if expected > 0 {
        assert!(ours.nodes().iter().all(|n| n.op_as::<Softmax>().is_none()), "softmax left");
    }
    let ours = ours.into_optimized()?.into_runnable()?.run(inputs)?;
    assert_eq!(tracts[0].shape(), ours[0].shape());
    let (x, y) = (tracts[0].try_as_plain_ram()?, ours[0].try_as_plain_ram()?);
    let worst = x.as_slice::<f32>()?.iter().zip(y.as_slice::<f32>()?).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "off by {worst}");
    Ok(())
}

/// Heads as a batch axis, K transposed as exported (`bnk`), 130 rows (a
/// full tile and a part), a scale: one attention, tract's values.
#[test]
fn self_attention_with_a_scale() -> TractResult<()> {
    let shapes: [&[usize]; 3] = [&[2, 130, 24], &[2, 150, 24], &[2, 150, 20]];
    let model = attention("bmk,bnk->bmn", "bmn,bnd->bmd", shapes, Some(0.2))?;
    assert_fused_like_tract(model, shapes, 1)
}

/// Large enough to be split over threads (where the build has them), K
/// not transposed, no scale, a unit leading axis (tract's `amk` for a
/// batch of one) and cross-attention's few keys.
#[test]
fn split_unscaled_and_cross_attention() -> TractResult<()> {
    let shapes: [&[usize]; 3] = [&[1, 3, 520, 40], &[1, 3, 40, 160], &[1, 3, 160, 32]];
    assert_fused_like_tract(attention("abmk,abkn->abmn", "abmn,abnd->abmd", shapes, None)?, shapes, 1)?;
    let shapes: [&[usize]; 3] = [&[1, 1024, 64], &[1, 77, 64], &[1, 77, 64]];
    assert_fused_like_tract(attention("amk,ank->amn", "amn,and->amd", shapes, Some(0.125))?, shapes, 1)
}

/// Left to tract: too few rows (a text encoder's 77 tokens), and a
/// softmax whose probabilities are also read elsewhere.
#[test]
fn leaves_small_or_shared_attention_to_tract() -> TractResult<()> {
    let shapes: [&[usize]; 3] = [&[8, 77, 64], &[8, 77, 64], &[8, 77, 64]];
    assert_fused_like_tract(attention("bmk,bnk->bmn", "bmn,bnd->bmd", shapes, Some(0.125))?, shapes, 0)?;
    let shapes: [&[usize]; 3] = [&[2, 130, 24], &[2, 150, 24], &[2, 150, 20]];
    let mut model = attention("bmk,bnk->bmn", "bmn,bnd->bmd", shapes, None)?;
    let softmax = model.nodes().iter().find(|n| n.op_as::<Softmax>().is_some()).map(|n| n.id).context("no softmax")?;
    let mix = model.output_outlets()?[0];
    model.select_output_outlets(&[mix, OutletId::new(softmax, 0)])?;
    assert_eq!(use_fused_attention(&mut model)?, 0);
    Ok(())
}
