//! What an f32 3×3 convolution (conv3x3.rs) does to its output rows before
//! it lets them go: add a residual (a tensor of the output's shape) and
//! clamp at zero (ReLU), in place of the graph's Add and Max nodes.
//!
//! Why: a TAESD decoder is blocks of conv → ReLU → conv → ReLU → conv →
//! + input → ReLU, up to 64 channels at 512² (64 MiB a tensor). Left to
//! tract, each ReLU and Add is one more pass over such a tensor (and a
//! fresh one to write), four per block, where onnxruntime fuses them into
//! its convolution; here each output row is finished while still in cache.

use super::other_input;
use super::sole_consumer;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::math::{Add, Max};

/// The nodes after a convolution that its op does itself.
#[derive(Clone, Copy, Debug, Default, Hash, PartialEq, Eq)]
pub struct ConvFinish {
    /// Add the op's last input, of the output's shape.
    pub residual: bool,
    /// Then clamp at zero.
    pub relu: bool,
}

impl ConvFinish {
    /// Finish `row` (output values) with the same row of the residual.
    #[inline]
    pub fn apply(self, row: &mut [f32], residual: Option<&[f32]>) {
        if let Some(r) = residual.filter(|_| self.residual) {
            for (v, r) in row.iter_mut().zip(r) {
                *v += r;
            }
        }
        if self.relu {
            for v in row.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
}

/// Follow the convolution at `conv` (its output `shape`) through an Add of
/// another f32 tensor of that shape, then a Max with the constant 0, each
/// read by nothing else: what the op can absorb, the residual's outlet and
/// the last node absorbed.
pub fn absorb(model: &TypedModel, conv: usize) -> TractResult<(ConvFinish, Option<OutletId>, usize)> {
    let mut finish = ConvFinish::default();
    let (mut last, mut residual) = (conv, None);
    let output = model.outlet_fact(OutletId::new(conv, 0))?.clone();
    if let Some(add) = sole_consumer(model, OutletId::new(last, 0)) {
        let other = other_input(add, OutletId::new(last, 0));
        if let (Some(op), Some(other)) = (add.op_as::<TypedBinOp>(), other) {
            let fact = model.outlet_fact(other)?;
            if op.0.is::<Add>() && fact.datum_type == f32::datum_type() && fact.shape == output.shape && other.node != conv {
                (finish.residual, residual, last) = (true, Some(other), add.id);
            }
        }
    }
    if let Some(max) = sole_consumer(model, OutletId::new(last, 0)) {
        let other = other_input(max, OutletId::new(last, 0));
        if let (Some(op), Some(other)) = (max.op_as::<TypedBinOp>(), other) {
            let zero = model.outlet_fact(other)?.konst.as_ref().is_some_and(|k| {
                k.len() == 1 && k.datum_type() == f32::datum_type() && k.cast_to_scalar::<f32>().is_ok_and(|v| v == 0.0)
            });
            if op.0.is::<Max>() && zero && model.outlet_fact(OutletId::new(max.id, 0))?.shape == output.shape {
                (finish.relu, last) = (true, max.id);
            }
        }
    }
    Ok((finish, residual, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_residual_then_clamps() {
        let mut row = [1.0, -2.0, 3.0, -0.5];
        ConvFinish { residual: true, relu: true }.apply(&mut row, Some(&[1.0, 1.0, -4.0, 0.25]));
        assert_eq!(row, [2.0, 0.0, 0.0, 0.0]);
        let mut row = [1.0, -2.0];
        ConvFinish { residual: false, relu: true }.apply(&mut row, None);
        assert_eq!(row, [1.0, 0.0]);
        let mut row = [1.0, -2.0];
        ConvFinish::default().apply(&mut row, Some(&[5.0, 5.0]));
        assert_eq!(row, [1.0, -2.0]);
    }
}
