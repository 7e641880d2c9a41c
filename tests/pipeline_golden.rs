//! The Rust pipeline against onnxruntime + diffusers on the random-weight
//! fixture bundles (scripts/fixtures/make_fixture_bundles.py makes them and the
//! reference outputs).
//!
//! Tolerances: one graph run agrees with onnxruntime to 1e-4 (f32 kernels
//! differ only in summation order); the picture of a whole pipeline run (our
//! tokenizer, scheduler and graphs) to one 8-bit level.

mod common;
use common::*;
use edgepaint::bundle::Bundle;
use edgepaint::pipeline::{load_graph, Component, Options, Pipeline, Request};
use edgepaint::runtime::Input;
use edgepaint::tensor::Tensor;
use std::ops::ControlFlow;

const GRAPH_TOL: f32 = 1e-4;

fn check_bundle(name: &str) {
    let dir = fixture(&format!("bundles/{name}"));
    let reference = read_json(&dir.join("reference.json"));
    let bundle = Bundle::load(&dir).unwrap();
    let m = &bundle.manifest;
    let text_encoder = load_graph(&bundle, Component::TextEncoder).unwrap();
    let denoiser = load_graph(&bundle, Component::Denoiser).unwrap();
    let decoder = load_graph(&bundle, Component::Decoder).unwrap();
    let mut pipeline = Pipeline::load(&dir, Options::default()).unwrap();
    let latent_shape = pipeline.latent_shape();

    for case in reference["cases"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let ids: Vec<i64> = case["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();

        // Text encoder.
        let text = text_encoder
            .run(&[Input::I64 { shape: vec![1, ids.len()], data: ids.clone() }])
            .unwrap();
        assert_eq!(text.shape, vec![1, m.tokenizer.max_length, m.text_encoder.hidden_size]);
        let d = max_abs_diff(&text.data, &floats(&case["text_states"]));
        assert!(d < GRAPH_TOL, "{name} text encoder differs from onnxruntime by {d}");

        // One denoiser call on the fixed noise.
        let (shape, noise) = read_npy_f32(&dir.join(case["noise_file"].as_str().unwrap()));
        let t = case["one_call_timestep"].as_f64().unwrap() as f32;
        let out = denoiser
            .run(&[
                Input::F32(Tensor::new(shape.clone(), noise.clone())),
                Input::F32(Tensor::new(vec![1], vec![t])),
                Input::F32(text.clone()),
            ])
            .unwrap();
        let d = max_abs_diff(&out.data, &floats(&case["one_call_output"]));
        assert!(d < GRAPH_TOL, "{name} denoiser differs from onnxruntime by {d}");

        // Decoder on the reference's final latents.
        let final_latents = floats(&case["final_latents"]);
        let dec = &m.decoder;
        let dec_in: Vec<f32> = final_latents.iter().map(|v| v / dec.scaling_factor + dec.shift_factor).collect();
        let image = decoder.run(&[Input::F32(Tensor::new(latent_shape.clone(), dec_in))]).unwrap();
        let reference_image = floats(&case["image"]);
        let d = max_abs_diff(&image.data, &reference_image);
        assert!(d < GRAPH_TOL, "{name} decoder differs from onnxruntime by {d}");

        // The whole pipeline from the same noise, through our tokenizer and scheduler.
        let request = Request {
            prompt: prompt.into(),
            seed: 0,
            steps: Some(case["steps"].as_u64().unwrap() as usize),
            initial_latents: Some(Tensor::new(shape, noise)),
        };
        let generated = pipeline.generate(&request, &mut |_| ControlFlow::Continue(())).unwrap();
        let expected = edgepaint::image::RgbImage::from_chw(
            &reference_image,
            m.image_size[1],
            m.image_size[0],
            dec.output_range,
        );
        let worst = generated
            .image
            .pixels
            .iter()
            .zip(&expected.pixels)
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap();
        assert!(worst <= 1, "{name}: pipeline image differs from the reference by {worst} levels for {prompt:?}");
    }
}

#[test]
fn tiny_flow_matches_onnxruntime_and_diffusers() {
    check_bundle("tiny-flow");
}

#[test]
fn tiny_euler_with_guidance_matches_onnxruntime_and_diffusers() {
    check_bundle("tiny-euler");
}
