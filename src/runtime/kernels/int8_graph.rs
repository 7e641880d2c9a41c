//! What the int8 swaps (int8_conv3x3.rs, int8_matmul.rs) read from a
//! decluttered graph: the replaced node's constant inputs, the nodes after
//! it that our op does itself (Cast, × scale, + bias: int8_output.rs).

use super::int8_output::Finish;
use super::{other_input, sole_consumer};
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::cast::Cast;
use tract_nnef::tract_core::ops::math::{Add, Mul};

/// A constant input of the node as i32 values, if it is an integer one.
pub fn constant(model: &TypedModel, node: &TypedNode, input: usize) -> TractResult<Option<Vec<i32>>> {
    let Some(c) = model.outlet_fact(node.inputs[input])?.konst.clone() else { return Ok(None) };
    if !c.datum_type().is_integer() {
        return Ok(None);
    }
    Ok(Some(c.cast_to::<i32>()?.try_as_plain_ram()?.as_slice::<i32>()?.to_vec()))
}

/// One value per output channel (or column) from a constant of 1 or
/// `channels` values.
pub fn per_channel(values: Option<Vec<i32>>, channels: usize) -> Option<Vec<i32>> {
    match values {
        Some(v) if v.len() == 1 => Some(vec![v[0]; channels]),
        Some(v) if v.len() == channels => Some(v),
        _ => None,
    }
}

/// Whether a quantized tract node (9 inputs, as ConvInteger and
/// MatMulInteger declutter) has constant input and weight scales of 1, so
/// that its output is the plain integer sum (the output's zero point and
/// scale are ignored for an i32 output).
pub fn unit_scales(model: &TypedModel, node: &TypedNode) -> TractResult<bool> {
    for ix in [4, 6] {
        let Some(scale) = model.outlet_fact(node.inputs[ix])?.konst.clone() else { return Ok(false) };
        if scale.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.iter().any(|&s| s != 1.0) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Follow the product at `product` through the nodes its op can do itself:
/// a Cast to f32, then a Mul by one f32 value, then an Add of a constant
/// with `channels` values along `channel_axis` (1 elsewhere). Returns the
/// finish, the scale's outlet and the last node absorbed.
pub fn absorb(model: &TypedModel, product: usize, channels: usize, channel_axis: usize) -> TractResult<(Finish, Option<OutletId>, usize)> {
    let mut finish = Finish::default();
    let mut last = product;
    let Some(cast) = sole_consumer(model, OutletId::new(last, 0)) else { return Ok((finish, None, last)) };
    if cast.op_as::<Cast>().is_none_or(|c| c.to != f32::datum_type()) {
        return Ok((finish, None, last));
    }
    finish.float = true;
    last = cast.id;
    let mut scale = None;
    if let Some(mul) = sole_consumer(model, OutletId::new(last, 0)) {
        let by = other_input(mul, OutletId::new(last, 0));
        if let (Some(op), Some(by)) = (mul.op_as::<TypedBinOp>(), by) {
            let fact = model.outlet_fact(by)?;
            if op.0.is::<Mul>() && fact.datum_type == f32::datum_type() && fact.shape.volume().is_one() {
                finish.scaled = true;
                scale = Some(by);
                last = mul.id;
            }
        }
    }
    if let Some(add) = sole_consumer(model, OutletId::new(last, 0)) {
        let plus = other_input(add, OutletId::new(last, 0));
        if let (Some(op), Some(plus)) = (add.op_as::<TypedBinOp>(), plus) {
            let fact = model.outlet_fact(plus)?;
            let rank = model.outlet_fact(OutletId::new(last, 0))?.rank();
            let along_channels = fact.rank() == rank
                && fact.shape.iter().enumerate().all(|(i, d)| if i == channel_axis { *d == channels.to_dim() } else { d.is_one() });
            if let (true, true, Some(bias)) = (op.0.is::<Add>(), along_channels, fact.konst.clone()) {
                if bias.datum_type() == f32::datum_type() {
                    finish.bias = Some(Arc::new(bias.as_ref().clone().into_shape(&[channels])?));
                    last = add.id;
                }
            }
        }
    }
    Ok((finish, scale, last))
}
