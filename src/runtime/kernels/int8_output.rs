//! What follows an int8 product in a dynamic-int8 graph, done in the
//! product's own pass: `Cast` to f32, `× scale` (the activation's scale
//! times the weights'), `+ bias` per output channel (found by
//! int8_graph.rs's `absorb`).
//!
//! Why: onnxruntime's quantizer writes `ConvInteger → Cast → Mul → Add`,
//! and tract runs the three as separate passes over the i32 and f32
//! tensors: 4.3 of 18.8 s of the SD-Turbo int8 decoder once its
//! convolutions were ours (int8_conv3x3.rs). Same operations in the same
//! order (i32 → f32, multiply, add), so the values are tract's.

use super::thread_parts::Shared;
use tract_nnef::internal::*;

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
