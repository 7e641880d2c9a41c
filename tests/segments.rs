//! A graph stored in segments (manifest `then`, docs/bundle.md): the tiny
//! sd-turbo fixture's int8 denoiser split in three and its text encoder in
//! two (token ids in, integer input) by the exporter's code
//! (scripts/fixtures/make_segments_fixture.py). Held loaded, streamed
//! (`--low-memory`) and converted to NNEF it computes what the whole graph
//! computes, every segment is hashed, and a broken chain is refused clearly.

mod common;
use common::*;
use edgepaint::bundle::Bundle;
use edgepaint::pipeline::{load_graph, residency, stream_graph, Component, Memory, Options, Pipeline, Request};
use edgepaint::runtime::Input;
use edgepaint::tensor::Tensor;
use std::ops::ControlFlow;
use std::path::Path;

const WHOLE: &str = "diffusers/sd-turbo/model.toml";
const SPLIT: &str = "diffusers/sd-turbo/model-segments.toml";

fn denoiser_inputs(seed: u64) -> Vec<Input> {
    let mut noise = edgepaint::noise::Noise::new(seed);
    vec![
        Input::F32(Tensor::new(vec![1, 4, 8, 8], noise.normals(256))),
        Input::F32(Tensor::new(vec![1], vec![999.0])),
        Input::F32(Tensor::new(vec![1, 77, 8], noise.normals(77 * 8))),
    ]
}

fn picture(manifest: &Path, low_memory: bool) -> Vec<u8> {
    picture_with(manifest, Options::new(low_memory, None))
}

fn picture_with(manifest: &Path, options: Options) -> Vec<u8> {
    let mut pipeline = Pipeline::load(manifest, options).unwrap();
    let request = Request { prompt: "a red fox in the snow".into(), seed: 7, steps: Some(2), initial_latents: None };
    pipeline.generate(&request, &mut |_| ControlFlow::Continue(())).unwrap().image.pixels
}

#[test]
fn segments_compute_what_the_whole_graph_computes() {
    let whole = load_graph(&Bundle::load(&fixture(WHOLE)).unwrap(), Component::Denoiser).unwrap();
    let split_bundle = Bundle::load(&fixture(SPLIT)).unwrap();
    let held = load_graph(&split_bundle, Component::Denoiser).unwrap();
    let streamed = stream_graph(&split_bundle, Component::Denoiser).unwrap();
    assert_eq!((whole.segments(), held.segments(), streamed.segments()), (1, 3, 3));
    assert!(streamed.is_streamed() && !held.is_streamed());
    assert_eq!(held.output_shape(), whole.output_shape());
    for seed in [1, 2] {
        let inputs = denoiser_inputs(seed);
        let reference = whole.run(&inputs).unwrap();
        for graph in [&held, &streamed] {
            let out = graph.run(&inputs).unwrap();
            assert_eq!(out.shape, reference.shape);
            let diff = max_abs_diff(&out.data, &reference.data);
            assert!(diff == 0.0, "segments differ from the whole graph by {diff}");
        }
    }
}

#[test]
fn split_text_encoder_computes_what_the_whole_one_computes() {
    let whole = load_graph(&Bundle::load(&fixture(WHOLE)).unwrap(), Component::TextEncoder).unwrap();
    let split = stream_graph(&Bundle::load(&fixture(SPLIT)).unwrap(), Component::TextEncoder).unwrap();
    assert_eq!(split.segments(), 2);
    let ids: Vec<i64> = (0..77).map(|i| [49406, 320, 736, 49407][i.min(3)]).collect();
    let input = [Input::I64 { shape: vec![1, 77], data: ids }];
    assert_eq!(split.run(&input).unwrap().data, whole.run(&input).unwrap().data);
}

#[test]
fn split_bundle_makes_the_same_picture_held_and_streamed() {
    let reference = picture(&fixture(WHOLE), false);
    for low_memory in [false, true] {
        let pixels = picture(&fixture(SPLIT), low_memory);
        let worst = reference.iter().zip(&pixels).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
        assert!(worst == 0, "low_memory={low_memory}: the picture differs by {worst} levels");
    }
}

#[test]
fn a_budget_for_the_denoiser_alone_holds_it_and_streams_the_rest_to_the_same_picture() {
    let manifest = fixture(SPLIT);
    let bundle = Bundle::load(&manifest).unwrap();
    let denoiser = residency::graph_bytes(&bundle, Component::Denoiser);
    let text = residency::graph_bytes(&bundle, Component::TextEncoder);
    let decoder = residency::graph_bytes(&bundle, Component::Decoder);
    // Room for the denoiser and less than either other graph.
    let budget = denoiser + text.min(decoder) - 1;
    let pipeline = Pipeline::load(&manifest, Options { memory: Memory::Budget(budget) }).unwrap();
    assert_eq!(pipeline.plan().held, vec![Component::Denoiser]);
    drop(pipeline);
    assert_eq!(picture_with(&manifest, Options { memory: Memory::Budget(budget) }), picture(&fixture(WHOLE), false));
    // Below the denoiser's size nothing is held.
    let pipeline = Pipeline::load(&manifest, Options { memory: Memory::Budget(denoiser - 1) }).unwrap();
    assert!(pipeline.plan().held.is_empty());
}

#[test]
fn split_bundle_converts_to_nnef_segment_by_segment() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("nnef");
    let converted = edgepaint::convert::to_nnef(&Bundle::load(&fixture(SPLIT)).unwrap(), &dir).unwrap();
    let denoiser = converted.iter().find(|g| g.field == "denoiser").unwrap();
    assert_eq!(denoiser.file, "denoiser.nnef.tgz, denoiser.seg2.nnef.tgz, denoiser.seg3.nnef.tgz");
    let text = converted.iter().find(|g| g.field == "text_encoder").unwrap();
    assert_eq!(text.file, "text_encoder.nnef.tgz, text_encoder.seg2.nnef.tgz");
    let m = Bundle::load(&dir).unwrap().manifest;
    assert_eq!(m.denoiser.then.len(), 2);
    assert!(m.denoiser.then.iter().all(|s| s.data.is_none()));
    let reference = picture(&fixture(SPLIT), false);
    let pixels = picture(&dir.join("model.toml"), true);
    assert_eq!(reference, pixels, "the NNEF segments, streamed, make another picture");
}

/// A copy of the fixture folder with `edit` applied to model-segments.toml.
fn edited(dir: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    for entry in std::fs::read_dir(fixture("diffusers/sd-turbo")).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    let path = dir.join("model-segments.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
    path
}

#[test]
fn every_segment_is_hashed() {
    let out = tempfile::tempdir().unwrap();
    let manifest = edited(out.path(), |t| t);
    let seg3 = out.path().join("denoiser.int8.seg3.onnx");
    let mut bytes = std::fs::read(&seg3).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&seg3, bytes).unwrap();
    let msg = Bundle::load(&manifest).err().expect("a changed segment was accepted").to_string();
    assert!(msg.contains("denoiser.then[1].sha256") && msg.contains("sha256 mismatch"), "{msg}");
}

#[test]
fn segments_out_of_order_are_refused_with_the_missing_input() {
    let out = tempfile::tempdir().unwrap();
    // Swap the two `then` segments: the third runs before the second.
    let manifest = edited(out.path(), |t| {
        let a = t.find("[[denoiser.then]]").unwrap();
        let b = a + 1 + t[a + 1..].find("[[denoiser.then]]").unwrap();
        let c = b + t[b..].find("\n\n").unwrap() + 2;
        format!("{}{}{}{}", &t[..a], &t[b..c], &t[a..b], &t[c..])
    });
    let bundle = Bundle::load(&manifest).unwrap();
    let err = load_graph(&bundle, Component::Denoiser).err().expect("segments out of order loaded");
    let msg = err.to_string();
    assert!(msg.contains("denoiser.int8.seg3.onnx") && msg.contains("nor an output of an earlier segment"), "{msg}");
    let streamed = stream_graph(&bundle, Component::Denoiser).unwrap();
    let msg = streamed.run(&denoiser_inputs(1)).unwrap_err().to_string();
    assert!(msg.contains("nor an output of an earlier segment"), "{msg}");
}
