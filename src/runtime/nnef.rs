//! tract's NNEF form (`*.nnef.tgz`, written by `edgepaint convert`): what
//! the board builds read, without the ONNX parser.

use super::graph_checks::{check_axes, check_input_type};
use super::{chain, InputSpec, Pin, RuntimeError};
use std::path::Path;
use tract_nnef::prelude::*;

/// An NNEF archive written by [`write_nnef`]: its input shapes are fixed
/// already, so they must be exactly the specs `pin` gives (returned).
pub(super) fn load_nnef(path: &Path, pin: &Pin) -> Result<(TypedModel, Vec<InputSpec>), RuntimeError> {
    let err = |message: String| RuntimeError::Graph { path: path.to_path_buf(), message };
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    // Decompressed here with our flate2: tract-nnef's own gzip feature would
    // rebuild all of tract for the same thing.
    let mut reader = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    let model = nnef()
        .model_for_read(&mut reader)
        .map_err(|e| err(format!("not a loadable NNEF archive: {}", chain(&e))))?;
    let names: Vec<String> = model.inputs.iter().map(|o| model.node(o.node).name.clone()).collect();
    let inputs = pin.resolve(&names).map_err(err)?;
    for (ix, spec) in inputs.iter().enumerate() {
        let fact = model.input_fact(ix).map_err(|e| err(chain(&e)))?;
        check_input_type(ix, spec, fact.datum_type).map_err(err)?;
        if fact.shape.as_concrete() != Some(spec.shape.as_slice()) {
            return Err(err(format!(
                "input {ix} ({}) has shape {:?}, expected {:?} (convert the bundle again)",
                spec.name, fact.shape, spec.shape
            )));
        }
    }
    check_axes(&model).map_err(err)?;
    let model = model.into_decluttered().map_err(|e| err(chain(&e)))?;
    Ok((model, inputs))
}

/// Convert a graph stored in one ONNX file or in segments (`files`, in order;
/// see [`super::Graph::load_segments`]), pinned to `inputs`, to tract's NNEF
/// form: one archive per file, at `dests`.
#[cfg(feature = "onnx")]
pub fn write_nnef(files: &[super::SegmentFile], inputs: &[InputSpec], dests: &[std::path::PathBuf]) -> Result<(), RuntimeError> {
    let mut chain = super::segments::Chain::new(files, inputs);
    for (file, dest) in files.iter().zip(dests) {
        let outputs = write_one(&file.path, &chain.pin(), file.data.as_deref(), dest)?;
        chain.learn(&outputs);
    }
    Ok(())
}

/// Convert an ONNX graph, pinned by `pin` and decluttered, to tract's NNEF
/// form at `dest` (a `.nnef.tgz`), written to a temporary file then renamed.
/// Returns the graph's outputs (what a following segment is pinned with).
#[cfg(feature = "onnx")]
fn write_one(src: &Path, pin: &Pin, data: Option<&str>, dest: &Path) -> Result<Vec<InputSpec>, RuntimeError> {
    super::contain::contain(src, || write_one_uncontained(src, pin, data, dest))
}

#[cfg(feature = "onnx")]
fn write_one_uncontained(src: &Path, pin: &Pin, data: Option<&str>, dest: &Path) -> Result<Vec<InputSpec>, RuntimeError> {
    let (model, _) = super::load_onnx(src, pin, data)?;
    let outputs = super::segments::output_specs(&model)
        .map_err(|message| RuntimeError::Graph { path: src.to_path_buf(), message })?;
    let nnef = nnef();
    // Translated once in memory first, so that a graph with an operator that
    // has no NNEF form is told apart from a failed write.
    if let Err(e) = tract_nnef::ser::to_proto_model(&nnef, &model) {
        return Err(RuntimeError::NoNnefForm { path: src.to_path_buf(), message: chain(&e) });
    }
    let err = |message: String| RuntimeError::Graph { path: dest.to_path_buf(), message };
    let tmp = dest.with_extension("tgz.part");
    let io = |e: std::io::Error| err(e.to_string());
    let written = (|| {
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::default());
        let gz = nnef.write_to_tar(&model, gz).map_err(|e| RuntimeError::Graph {
            path: src.to_path_buf(),
            message: format!("cannot be written as NNEF: {}", chain(&e)),
        })?;
        let file = gz.finish().and_then(|w| w.into_inner().map_err(|e| e.into_error())).map_err(io)?;
        file.sync_all().map_err(io)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, dest).map_err(|e| err(format!("cannot rename {}: {e}", tmp.display())))?;
    Ok(outputs)
}

/// tract's NNEF reader and writer with the ONNX-specific operators (Resize,
/// ...: converted Stable Diffusion bundles use them) and ours.
fn nnef() -> tract_nnef::framework::Nnef {
    tract_onnx_opl::WithOnnx::with_onnx(tract_nnef::nnef()).with_registry(edgepaint_registry())
}

/// NNEF forms for operators that tract 0.23.9 runs but cannot write: erf-GELU
/// as decluttering fuses it (Stable Diffusion UNets) and the integer
/// remainder of ONNX Mod; and our DynamicQuantizeLinear (dynamic_quantize.rs).
/// Registering the first two upstream the same way would fix them there.
fn edgepaint_registry() -> tract_nnef::internal::Registry {
    use tract_nnef::tract_core::ops::{math::Rem, nn::GeluExact};
    let mut registry = tract_nnef::internal::Registry::new("edgepaint");
    registry.register_unit_element_wise("edgepaint_gelu_exact", &GeluExact {});
    registry.register_binary("edgepaint_rem", &Rem {});
    super::dynamic_quantize::register_nnef(&mut registry);
    registry
}
