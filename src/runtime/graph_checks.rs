//! What a graph file must satisfy before tract prepares it, checked the same
//! way for ONNX and NNEF: its inputs (count and types against the pipeline's
//! specs) and the axes of its operators.

use super::{chain, InputSpec};
use tract_nnef::prelude::*;

pub(super) fn check_input_count(declared: usize, inputs: &[InputSpec]) -> Result<(), String> {
    if declared == inputs.len() {
        return Ok(());
    }
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    Err(format!("has {declared} inputs, expected {} ({})", inputs.len(), names.join(", ")))
}

pub(super) fn check_input_type(ix: usize, spec: &InputSpec, dt: DatumType) -> Result<(), String> {
    let ok = if spec.integer { dt.is_integer() } else { dt.is_float() || dt.is_integer() };
    if ok {
        Ok(())
    } else {
        Err(format!("input {ix} ({}) has type {dt:?}", spec.name))
    }
}

/// Axes past a tensor's rank, which tract 0.23.9 accepts and then computes
/// something else than asked without a word (a Softmax with `axis = 99` ran
/// and gave a wrong picture): refused before decluttering, while the graph
/// still has its file's node names. Both formats (ONNX and NNEF) call it.
pub(super) fn check_axes(model: &TypedModel) -> Result<(), String> {
    use tract_nnef::tract_core::ops::nn::Softmax;
    for node in model.nodes() {
        let Some(softmax) = node.op_as::<Softmax>() else { continue };
        let rank = model.outlet_fact(node.inputs[0]).map_err(|e| chain(&e))?.rank();
        if let Some(axis) = softmax.axes.iter().find(|&&a| a >= rank) {
            return Err(format!(
                "node {:?}: a Softmax over axis {axis} of a rank-{rank} tensor (an axis must be below the rank)",
                node.name
            ));
        }
    }
    Ok(())
}
