//! ONNX graphs (tract-onnx, the `onnx` cargo feature): parsed, their
//! external data checked against the manifest, inputs pinned, decluttered.

use super::graph_checks::{check_axes, check_input_type};
use super::{chain, describe, InputSpec, Pin, RuntimeError};
use std::path::Path;
use tract_nnef::prelude::*;

/// An ONNX file as a decluttered graph with its inputs pinned by `pin` (the
/// specs used are returned); its external data, if any, must all be in the
/// file `data`.
pub(super) fn load_onnx(path: &Path, pin: &Pin, data: Option<&str>) -> Result<(TypedModel, Vec<InputSpec>), RuntimeError> {
    use tract_onnx::tract_hir::infer::Factoid;
    use tract_onnx::tract_hir::prelude::{InferenceFact, InferenceModelExt};
    let err = |message: String| RuntimeError::Graph { path: path.to_path_buf(), message };
    let mut onnx = tract_onnx::onnx();
    super::dynamic_quantize::onnx_form::register(&mut onnx);
    let proto = onnx
        .proto_model_for_path(path)
        .map_err(|e| err(format!("not a loadable ONNX model: {}", chain(&e))))?;
    check_opset(&proto).map_err(err)?;
    check_external_data(&proto, data).map_err(err)?;
    let dir = path.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d });
    let parsed = onnx
        .parse(&proto, dir.and_then(Path::to_str))
        .map_err(|e| err(format!("not a loadable ONNX model: {}", chain(&e))))?;
    // The protobuf (the weights a second time) is freed before optimizing.
    drop(proto);
    if !parsed.unresolved_inputs.is_empty() {
        return Err(err(format!("not a loadable ONNX model: unresolved inputs {:?}", parsed.unresolved_inputs)));
    }
    let mut model = parsed.model;
    let names: Vec<String> = model.inputs.iter().map(|o| model.node(o.node).name.clone()).collect();
    let inputs = pin.resolve(&names).map_err(err)?;
    for (ix, spec) in inputs.iter().enumerate() {
        let fact = model.input_fact(ix).map_err(|e| err(chain(&e)))?;
        let dt = fact.datum_type.concretize().unwrap_or(if spec.integer {
            i64::datum_type()
        } else {
            f32::datum_type()
        });
        check_input_type(ix, spec, dt).map_err(err)?;
        model
            .set_input_fact(ix, InferenceFact::dt_shape(dt, spec.shape.clone()))
            .map_err(|e| err(chain(&e)))?;
    }
    let prepare = |e: TractError| err(format!("cannot be prepared for inputs {}: {}", describe(&inputs), chain(&e)));
    let typed = model.into_typed().map_err(prepare)?;
    check_axes(&typed).map_err(err)?;
    let typed = typed.into_decluttered().map_err(prepare)?;
    Ok((typed, inputs))
}

/// The newest ONNX opset this runtime accepts: the specification's latest
/// when tract 0.23.9 came out. A graph declaring a newer one (an opset 9999
/// from a hostile or broken file) would be run with older operator meanings
/// without a word.
const NEWEST_OPSET: i64 = 23;

fn check_opset(proto: &tract_onnx::pb::ModelProto) -> Result<(), String> {
    for set in &proto.opset_import {
        let standard = set.domain.is_empty() || set.domain == "ai.onnx";
        if standard && set.version > NEWEST_OPSET {
            return Err(format!(
                "declares ONNX opset {}; this runtime reads opsets up to {NEWEST_OPSET} (export with an older opset)",
                set.version
            ));
        }
    }
    Ok(())
}

/// Every external-data file an ONNX model references must be `allowed`
/// (tract itself only keeps them inside the model's folder).
fn check_external_data(proto: &tract_onnx::pb::ModelProto, allowed: Option<&str>) -> Result<(), String> {
    use tract_onnx::pb::{GraphProto, TensorProto};
    fn tensors<'a>(g: &'a GraphProto, out: &mut Vec<&'a TensorProto>) {
        out.extend(&g.initializer);
        out.extend(g.sparse_initializer.iter().flat_map(|s| s.values.iter().chain(s.indices.iter())));
        for attr in g.node.iter().flat_map(|n| &n.attribute) {
            out.extend(attr.t.iter().chain(&attr.tensors));
            for sub in attr.g.iter().chain(&attr.graphs) {
                tensors(sub, out);
            }
        }
    }
    let mut all = Vec::new();
    if let Some(g) = &proto.graph {
        tensors(g, &mut all);
    }
    for t in all {
        let external = t.data_location == Some(tract_onnx::pb::tensor_proto::DataLocation::External as i32);
        if !external && t.external_data.is_empty() {
            continue;
        }
        let location = t.external_data.iter().find(|e| e.key == "location").map(|e| e.value.as_str()).unwrap_or("");
        let normalized = location.strip_prefix("./").unwrap_or(location);
        if Some(normalized) != allowed {
            return Err(match allowed {
                None => format!(
                    "tensor `{}` is stored in the external file `{location}`, which the manifest does not list \
                     (set `data` and `data_sha256` in the graph's section; python3 -m scripts.export.export_diffusers does)",
                    t.name
                ),
                Some(a) => format!("tensor `{}` is stored in `{location}`, the manifest's `data` is `{a}`", t.name),
            });
        }
    }
    Ok(())
}
