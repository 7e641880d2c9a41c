//! Our own kernels in place of tract's (src/runtime/kernels/conv3x3.rs,
//! matmul.rs, attention.rs):
//! taken where they should be when a graph is loaded, and the graph's output
//! still onnxruntime's. (The diffusers parity tests cover the 3x3
//! convolutions at UNet and decoder level; the fixtures there are too small
//! for our matrix products.)

mod common;
use common::*;
use edgepaint::runtime::{Graph, Input, InputSpec};
use edgepaint::tensor::Tensor;

/// tests/fixtures/graphs/attention_256.onnx: one attention head over 256
/// tokens and a linear layer, against onnxruntime's output
/// (scripts/fixtures/make_graph_fixtures.py): the attention as one
/// FusedAttention, the linear layer as our product.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn attention_runs_fused_and_matches_onnxruntime() {
    let path = fixture("graphs/attention_256.onnx");
    let shape = vec![1, 256, 64];
    let graph = Graph::load(&path, &[InputSpec::new("x", false, shape.clone())]).unwrap();
    let n: usize = shape.iter().product();
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
    let input = [Input::F32(Tensor::new(shape.clone(), x))];
    let ops = graph.profile(&input, 1).unwrap();
    let nodes = |op: &str| ops.iter().find(|o| o.op == op).map_or(0, |o| o.nodes);
    assert_eq!((nodes("FusedAttention"), nodes("GemmMatMul")), (1, 1), "{ops:?}");
    let got = graph.run(&input).unwrap();
    let (expected_shape, expected) = read_npy_f32(&fixture("graphs/attention_256.output.npy"));
    assert_eq!(got.shape, expected_shape);
    let worst = got.data.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "off by {worst}");
}

/// tests/fixtures/graphs/conv_block_48.onnx: a TAESD-like block (16
/// channels at 48x48) and a 16 -> 3 convolution, against onnxruntime's
/// output (scripts/fixtures/make_graph_fixtures.py): five of our
/// convolutions (the block's by Winograd F(4x4, 3x3), the last by taps),
/// with the block's Relus and its residual Add absorbed: nothing else left.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn conv_block_absorbs_relu_and_residual_and_matches_onnxruntime() {
    let path = fixture("graphs/conv_block_48.onnx");
    let shape = vec![1, 16, 48, 48];
    let graph = Graph::load(&path, &[InputSpec::new("x", false, shape.clone())]).unwrap();
    let n: usize = shape.iter().product();
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
    let input = [Input::F32(Tensor::new(shape.clone(), x))];
    let ops = graph.profile(&input, 1).unwrap();
    let kinds: Vec<(&str, usize)> = ops.iter().filter(|o| o.op != "Source").map(|o| (o.op.as_str(), o.nodes)).collect();
    assert_eq!(kinds, [("TapConv3x3", 5)], "{ops:?}");
    let got = graph.run(&input).unwrap();
    let (expected_shape, expected) = read_npy_f32(&fixture("graphs/conv_block_48.output.npy"));
    assert_eq!(got.shape, expected_shape);
    let worst = got.data.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "off by {worst}");
}
