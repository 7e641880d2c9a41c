//! A bundle's graphs in NNEF form (`edgepaint convert`), so that a
//! runtime built without the ONNX parser (the small board build) can run it.
//!
//! Each graph is pinned to the shapes its manifest promises, decluttered and
//! written as `FIELD.nnef.tgz`; it is then loaded back and run against the
//! original on the same inputs before the new bundle's manifest is written,
//! so a conversion that changes a result never produces a bundle.

use crate::bundle::{sha256_file, Bundle, BundleError};
use crate::noise::Noise;
use crate::pipeline::{graph_spec, scorer_specs, Component};
use crate::runtime::{Graph, Input, InputSpec, RuntimeError, SegmentFile, NNEF_SUFFIX};
use crate::tensor::Tensor;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConvertError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{field}: the NNEF graph differs from the original by {diff} (allowed {allowed}); not converted")]
    Mismatch { field: &'static str, diff: f32, allowed: f32 },
}

/// One converted graph.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConvertedGraph {
    pub field: &'static str,
    pub file: String,
    pub bytes: u64,
    /// Largest difference between the original and the NNEF graph's output
    /// on the same (seeded) inputs.
    pub max_abs_diff: f32,
}

/// Convert `bundle` into a new bundle folder `out` (created; must not hold a
/// model.toml yet): NNEF graphs, the same tokenizer files and model card, and
/// a model.toml naming the new files with their sha256.
pub fn to_nnef(bundle: &Bundle, out: &Path) -> Result<Vec<ConvertedGraph>, ConvertError> {
    let io = |path: &Path, e: std::io::Error| ConvertError::Io { path: path.to_path_buf(), message: e.to_string() };
    let manifest_out = out.join("model.toml");
    if manifest_out.exists() {
        return Err(ConvertError::Io { path: manifest_out, message: "already exists; choose an empty folder".into() });
    }
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let text = std::fs::read_to_string(&bundle.manifest_path).map_err(|e| io(&bundle.manifest_path, e))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| ConvertError::Io { path: bundle.manifest_path.clone(), message: e.to_string() })?;

    let mut converted = Vec::new();
    let preview = bundle.manifest.preview.file.is_some().then_some(Component::Preview);
    let components = [Component::TextEncoder, Component::Denoiser, Component::Decoder].into_iter().chain(preview);
    for spec in components.map(|c| graph_spec(bundle, c)).chain(scorer_specs(bundle)) {
        let sources = spec.files(bundle);
        // `denoiser.nnef.tgz`, then `denoiser.seg2.nnef.tgz` ... for segments.
        let files: Vec<String> = (1..=sources.len())
            .map(|k| match k {
                1 => format!("{}{NNEF_SUFFIX}", spec.field),
                k => format!("{}.seg{k}{NNEF_SUFFIX}", spec.field),
            })
            .collect();
        let dests: Vec<PathBuf> = files.iter().map(|f| out.join(f)).collect();
        crate::runtime::write_nnef(&sources, &spec.inputs, &dests).map_err(|e| with_f32_hint(e, bundle))?;
        let converted_files: Vec<SegmentFile> = dests.iter().map(|d| SegmentFile { path: d.clone(), data: None }).collect();
        let max_abs_diff = compare(&sources, &converted_files, &spec.inputs, spec.field)?;
        let mut bytes = 0;
        for (k, (file, dest)) in files.iter().zip(&dests).enumerate() {
            let hash = sha256_file(dest).map_err(|e| io(dest, e))?;
            // A dotted field (`scorer.image`) is a table inside a table.
            let table = spec.field.split('.').fold(doc.as_item_mut(), |item, key| &mut item[key]);
            let section = match k {
                0 => table.as_table_like_mut(),
                k => table["then"].as_array_of_tables_mut().and_then(|a| a.get_mut(k - 1)).map(|t| t as _),
            };
            let section = section.ok_or_else(|| ConvertError::Io {
                path: bundle.manifest_path.clone(),
                message: format!("no table for segment {} of {}", k + 1, spec.field),
            })?;
            section.insert("file", toml_edit::value(file.as_str()));
            section.insert("sha256", toml_edit::value(hash));
            // The NNEF archive holds the weights: no external data any more.
            section.remove("data");
            section.remove("data_sha256");
            bytes += std::fs::metadata(dest).map_err(|e| io(dest, e))?.len();
        }
        converted.push(ConvertedGraph { field: spec.field, file: files.join(", "), bytes, max_abs_diff });
    }

    let t = &bundle.manifest.tokenizer;
    let mut copies: Vec<&str> = vec![&t.merges];
    copies.extend(t.vocab.as_deref());
    if bundle.dir.join("README.md").is_file() {
        copies.push("README.md");
    }
    for rel in copies {
        let dest = out.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::copy(bundle.path(rel), &dest).map_err(|e| io(&dest, e))?;
    }
    std::fs::write(&manifest_out, doc.to_string()).map_err(|e| io(&manifest_out, e))?;
    // The new bundle must load like any other (hashes, fields).
    Bundle::load(out)?;
    Ok(converted)
}

/// Run the original and the converted graph on the same seeded inputs; their
/// outputs must agree to float rounding (the NNEF form is the same graph).
fn compare(
    original: &[SegmentFile],
    nnef: &[SegmentFile],
    inputs: &[InputSpec],
    field: &'static str,
) -> Result<f32, ConvertError> {
    let a = Graph::load_segments(original, inputs)?;
    let b = Graph::load_segments(nnef, inputs)?;
    let mut noise = Noise::new(20261126);
    let values: Vec<Input> = inputs
        .iter()
        .map(|spec| {
            let n: usize = spec.shape.iter().product();
            if spec.integer {
                // Index 0 is valid for every embedding table.
                Input::I64 { shape: spec.shape.clone(), data: vec![0; n] }
            } else {
                Input::F32(Tensor::new(spec.shape.clone(), noise.normals(n)))
            }
        })
        .collect();
    let (ra, rb) = (a.run(&values)?, b.run(&values)?);
    let scale = ra.data.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let diff = ra.data.iter().zip(&rb.data).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    let allowed = 1e-4 * scale;
    if !(diff <= allowed) {
        return Err(ConvertError::Mismatch { field, diff, allowed });
    }
    Ok(diff)
}

/// A graph without an NNEF form: the error says which manifest of the
/// folder to convert instead.
fn with_f32_hint(e: RuntimeError, bundle: &Bundle) -> RuntimeError {
    let RuntimeError::NoNnefForm { path, message } = e else { return e };
    let f32_manifest = bundle.dir.join("model-f32.toml");
    let hint = if f32_manifest.is_file() && f32_manifest != bundle.manifest_path {
        format!("convert the f32 graphs instead: edgepaint convert --model {}", f32_manifest.display())
    } else {
        "convert a manifest with f32 or weight-only int8 graphs instead".to_string()
    };
    RuntimeError::NoNnefForm { path, message: format!("{message}; {hint}") }
}
