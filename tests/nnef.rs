//! `edgepaint convert`: a bundle in tract's NNEF form makes the same pictures
//! as the ONNX bundle it came from, and what cannot be converted is refused
//! with a clear error, leaving no half-written bundle.

mod common;
use common::*;
use edgepaint::bundle::Bundle;
use edgepaint::pipeline::{graph_spec, Component, Options, Pipeline, Request};
use edgepaint::runtime::{Graph, InputSpec};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

fn shipped(manifest: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/scenes").join(manifest)
}

fn picture(bundle: &Path, prompt: &str, seed: u64) -> Vec<u8> {
    let mut pipeline = Pipeline::load(bundle, Options::default()).unwrap();
    let request = Request { prompt: prompt.into(), seed, steps: None, initial_latents: None };
    pipeline.generate(&request, &mut |_| ControlFlow::Continue(())).unwrap().image.pixels
}

/// Convert, then generate from both bundles: the same graph in another file
/// format must give the same picture, byte for byte.
fn check_same_pictures(source: &Path) {
    let out = tempfile::tempdir().unwrap();
    let nnef_dir = out.path().join("nnef");
    let original = Bundle::load(source).unwrap();
    let converted = edgepaint::convert::to_nnef(&original, &nnef_dir).unwrap();
    // Three graphs, and the scorer's two towers when the bundle has them.
    let towers = if original.manifest.scorer.is_some() { 2 } else { 0 };
    assert_eq!(converted.len(), 3 + towers);
    for g in &converted {
        assert!(g.file.ends_with(".nnef.tgz") && g.bytes > 0, "{g:?}");
    }
    let nnef = Bundle::load(&nnef_dir).unwrap();
    assert_eq!(nnef.manifest.denoiser.file, "denoiser.nnef.tgz");
    for (prompt, seed) in [("a red house on a hill at sunset", 3), ("a boat on the sea at night", 11)] {
        let (a, b) = (picture(source, prompt, seed), picture(&nnef_dir, prompt, seed));
        assert_eq!(a.len(), b.len());
        let worst = a.iter().zip(&b).map(|(x, y)| (*x as i32 - *y as i32).abs()).max().unwrap();
        assert_eq!(worst, 0, "{}: NNEF picture differs by {worst} levels for {prompt:?}", source.display());
    }
    if towers > 0 {
        // The converted scorer scores a picture as the original does.
        use edgepaint::scorer::{cosine, Scorer};
        let image = edgepaint::image::RgbImage { width: 128, height: 128, pixels: picture(source, "a tree", 5) };
        let score = |b: &Bundle| {
            let s = Scorer::load(b).unwrap();
            cosine(&s.image_embedding(&image).unwrap(), &s.text_embedding("a tree on the grass").unwrap())
        };
        let (a, b) = (score(&original), score(&nnef));
        assert!((a - b).abs() < 1e-5, "NNEF scorer {b} against {a}");
        assert_eq!(nnef.manifest.scorer.as_ref().unwrap().image.file, "scorer.image.nnef.tgz");
    }
}

#[test]
fn shipped_model_converts_and_makes_the_same_pictures() {
    check_same_pictures(&shipped("model.toml"));
}

#[test]
fn fixture_with_guidance_and_integer_timestep_converts() {
    check_same_pictures(&fixture("bundles/tiny-euler"));
}

#[test]
fn diffusers_export_with_hf_tokenizer_converts() {
    // The f32 graphs of an exported bundle.
    check_same_pictures(&fixture("diffusers/sd-turbo/model-f32.toml"));
}

#[test]
fn external_data_bundle_converts_into_one_archive() {
    check_same_pictures(&fixture("diffusers/sd-turbo/model-external.toml"));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("nnef");
    edgepaint::convert::to_nnef(&Bundle::load(&fixture("diffusers/sd-turbo/model-external.toml")).unwrap(), &dir).unwrap();
    let m = Bundle::load(&dir).unwrap().manifest;
    assert_eq!((m.denoiser.data, m.denoiser.data_sha256), (None, None));
}

#[test]
fn exported_int8_bundle_converts_and_makes_the_same_pictures() {
    // Dynamic int8 graphs (DynamicQuantizeLinear + MatMulInteger/ConvInteger)
    // have an NNEF form: the board builds run them with int8 weights.
    check_same_pictures(&fixture("diffusers/sd-turbo/model.toml"));
}

#[test]
fn shipped_dynamic_int8_variant_converts_and_makes_the_same_pictures() {
    // onnxruntime's quantizer output as is: DynamicQuantizeLinear nodes kept.
    check_same_pictures(&shipped("model-dynamic.toml"));
}

/// tiny-flow with its decoder replaced by a graph tract runs but cannot
/// write as NNEF (MaxPool returning its indices), and a model-f32.toml beside.
fn bundle_without_nnef_form(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(fixture("bundles/tiny-flow")).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    std::fs::copy(fixture("graphs/maxpool_indices.onnx"), dir.join("decoder.onnx")).unwrap();
    let manifest = std::fs::read_to_string(dir.join("model.toml")).unwrap();
    let old = edgepaint::bundle::sha256_file(&fixture("bundles/tiny-flow/decoder.onnx")).unwrap();
    let new = edgepaint::bundle::sha256_file(&dir.join("decoder.onnx")).unwrap();
    std::fs::write(dir.join("model.toml"), manifest.replace(&old, &new)).unwrap();
    std::fs::write(dir.join("model-f32.toml"), manifest.replace(&old, &new)).unwrap();
}

#[test]
fn graph_without_nnef_form_is_refused_with_a_hint_and_leaves_no_bundle() {
    let out = tempfile::tempdir().unwrap();
    let src = out.path().join("src");
    bundle_without_nnef_form(&src);
    let dir = out.path().join("nnef");
    let err = edgepaint::convert::to_nnef(&Bundle::load(&src).unwrap(), &dir).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("decoder.onnx: cannot be written as NNEF"), "{msg}");
    let hint = format!("edgepaint convert --model {}", src.join("model-f32.toml").display());
    assert!(msg.contains(&hint), "{msg}");
    assert!(!dir.join("model.toml").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(leftovers.iter().all(|f| !f.to_string_lossy().ends_with(".part")), "{leftovers:?}");
}

#[test]
fn converting_over_a_bundle_is_refused() {
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("model.toml"), "format = 1\n").unwrap();
    let err = edgepaint::convert::to_nnef(&Bundle::load(&fixture("bundles/tiny-flow")).unwrap(), out.path()).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn nnef_graph_with_other_shapes_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("nnef");
    edgepaint::convert::to_nnef(&Bundle::load(&fixture("bundles/tiny-flow")).unwrap(), &dir).unwrap();
    let bundle = Bundle::load(&dir).unwrap();
    let spec = graph_spec(&bundle, Component::Denoiser);
    let mut inputs: Vec<InputSpec> = spec.inputs.clone();
    inputs[0].shape[2] *= 2;
    let err = Graph::load(&bundle.path(&spec.file), &inputs).err().expect("a graph with other input shapes loaded");
    let msg = err.to_string();
    assert!(msg.contains("denoiser.nnef.tgz") && msg.contains("has shape"), "{msg}");
}

#[test]
fn convert_command_prints_what_it_wrote() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("scenes-nnef");
    let result = edgepaint_command()
        .args(["convert", "--json", "--model"])
        .arg(fixture("bundles/tiny-flow"))
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let report: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(report["graphs"].as_array().unwrap().len(), 3);
    assert!(dir.join("model.toml").is_file());

    // A second run into the same folder: one error line, exit code 2.
    let again = edgepaint_command()
        .args(["convert", "--model"])
        .arg(fixture("bundles/tiny-flow"))
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("already exists") && stderr.lines().count() == 1, "{stderr}");
}
