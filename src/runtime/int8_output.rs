//! What follows an int8 product in a dynamic-int8 graph, done in the
//! product's own pass: `Cast` to f32, `× scale` (the activation's scale
//! times the weights'), `+ bias` per output channel.
//!
//! Why: onnxruntime's quantizer writes `ConvInteger → Cast → Mul → Add`,
//! and tract runs the three as separate passes over the i32 and f32
//! tensors: 4.3 of 18.8 s of the SD-Turbo int8 decoder once its
//! convolutions were ours (int8_conv3x3.rs). Same operations in the same
//! order (i32 → f32, multiply, add), so the values are tract's.

use super::thread_parts::Shared;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::cast::Cast;
use tract_nnef::tract_core::ops::math::{Add, Mul};

/// The nodes after the product that the product's op does itself.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct Finish {
    /// Cast to f32 (else the output is the i32 sum).
    pub float: bool,
    /// Multiplied by the op's third input (one f32 value).
    pub scaled: bool,
    /// Plus one f32 value per output channel.
    pub bias: Option<Arc<Tensor>>,
}

impl Finish {
    /// The output's datum type.
    pub fn datum_type(&self) -> DatumType {
        if self.float { f32::datum_type() } else { i32::datum_type() }
    }

    /// Where each output value goes: `out`, a new tensor of `shape` and the
    /// right type, and the scale from the op's inputs.
    pub fn output(&self, shape: &[usize], inputs: &[TValue]) -> TractResult<(Tensor, f32)> {
        let scale = if self.scaled {
            let scale = inputs[2].cast_to::<f32>()?;
            ensure!(scale.len() == 1, "int8 product scale of {} values", scale.len());
            scale.try_as_plain_ram()?.as_slice::<f32>()?[0]
        } else {
            1.0
        };
        // SAFETY: every value is written by the product (each kernel writes
        // every output point).
        Ok((unsafe { Tensor::uninitialized_dt(self.datum_type(), shape)? }, scale))
    }
}

/// One output tensor being written by the parts of a product.
#[derive(Clone, Copy)]
pub enum Out<'a> {
    I32(Shared<i32>),
    F32 { to: Shared<f32>, scale: f32, bias: Option<&'a [f32]> },
}

// SAFETY: the parts write disjoint values (see the callers); the bias is
// only read.
unsafe impl Send for Out<'_> {}
unsafe impl Sync for Out<'_> {}

impl<'a> Out<'a> {
    /// Over `tensor` (made by [`Finish::output`]).
    pub fn new(finish: &'a Finish, tensor: &mut Tensor, scale: f32) -> TractResult<Out<'a>> {
        let mut plain = tensor.try_as_plain_ram_mut()?;
        Ok(if finish.float {
            let bias = match &finish.bias {
                Some(b) => Some(b.try_as_plain_ram()?.as_slice::<f32>()?),
                None => None,
            };
            Out::F32 { to: Shared(plain.as_slice_mut::<f32>()?.as_mut_ptr()), scale, bias }
        } else {
            Out::I32(Shared(plain.as_slice_mut::<i32>()?.as_mut_ptr()))
        })
    }

    /// The same tensor from value `offset` on (the next image of a batch).
    pub fn offset(self, offset: usize) -> Out<'a> {
        match self {
            Out::I32(to) => Out::I32(Shared(to.at(offset))),
            Out::F32 { to, scale, bias } => Out::F32 { to: Shared(to.at(offset)), scale, bias },
        }
    }

    /// Write the sum `value` of output `channel` at `index`.
    ///
    /// # Safety
    /// `index` is inside the tensor and no other part writes it.
    #[inline]
    pub unsafe fn put(self, index: usize, channel: usize, value: i32) {
        match self {
            Out::I32(to) => *to.at(index) = value,
            Out::F32 { to, scale, bias } => {
                let v = value as f32 * scale;
                *to.at(index) = match bias {
                    Some(b) => v + b[channel],
                    None => v,
                };
            }
        }
    }
}

/// The one node reading `outlet`, if exactly one node (and no model
/// output) reads it.
fn sole_consumer(model: &TypedModel, outlet: OutletId) -> Option<&TypedNode> {
    let inlets = &model.node(outlet.node).outputs[outlet.slot].successors;
    let output = model.output_outlets().ok()?.contains(&outlet);
    (inlets.len() == 1 && !output).then(|| model.node(inlets[0].node))
}

/// The other input of a binary node, given one of them.
fn other_input(node: &TypedNode, this: OutletId) -> Option<OutletId> {
    match node.inputs.as_slice() {
        [a, b] if *a == this => Some(*b),
        [a, b] if *b == this => Some(*a),
        _ => None,
    }
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

/// Replace `product` and the nodes [`absorb`] took by `op`, reading
/// `inputs` plus the scale when there is one.
pub fn replace<O: TypedOp>(model: &mut TypedModel, product: usize, last: usize, inputs: &[OutletId], scale: Option<OutletId>, op: O) -> TractResult<()> {
    let mut patch = TypedModelPatch::default();
    let taps: TVec<OutletId> = inputs.iter().chain(scale.iter()).map(|&o| patch.tap_model(model, o)).collect::<TractResult<_>>()?;
    let name = model.node(product).name.clone();
    let out = patch.wire_node(name, op, &taps)?[0];
    patch.shunt_outside(model, OutletId::new(last, 0), out)?;
    patch.apply(model)
}
