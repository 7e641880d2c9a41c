use super::super::thread_parts::Shared;
use super::*;
use super::super::test_bytes as bytes;
use tract_nnef::tract_core::ops::cnn::conv::KernelFormat;
use tract_nnef::tract_core::ops::cnn::{PaddingSpec, PoolSpec};
use tract_nnef::tract_core::ops::nn::DataFormat;


/// The definition, point by point: Σ (x - x0)(k - k0) + bias, the input
/// padded with x0.
fn reference(x: &[u8], x0: u8, (c_in, h, w): (usize, usize, usize), k: &[i32], k0: &[i32], bias: &[i32]) -> Vec<i32> {
    let c_out = bias.len();
    let mut out = vec![0; c_out * h * w];
    for o in 0..c_out {
        for y in 0..h {
            for xx in 0..w {
                let mut s = bias[o];
                for i in 0..c_in {
                    for t in 0..9 {
                        let (yy, xs) = ((y + t / 3).checked_sub(1), (xx + t % 3).checked_sub(1));
                        let v = match (yy, xs) {
                            (Some(yy), Some(xs)) if yy < h && xs < w => x[(i * h + yy) * w + xs],
                            _ => x0,
                        };
                        s += (i32::from(v) - i32::from(x0)) * (k[(o * c_in + i) * 9 + t] - k0[o]);
                    }
                }
                out[o * h * w + y * w + xx] = s;
            }
        }
    }
    out
}

/// Channels that are not multiples of 4 or of MR, a width whose padded
/// rows do not fill whole blocks, two bands; weight zero points at 128 (no
/// window sums) and elsewhere; u8 and i8 weights; both kernels.
#[test]
fn matches_the_definition() {
    let (c_in, c_out, h, w) = (7, 9, 40, 29);
    let x = bytes(c_in * h * w, 1);
    for (offset, k0) in [(128, vec![128; c_out]), (128, (0..c_out as i32).map(|o| 100 + 7 * o).collect()), (0, vec![-3; c_out])] {
        let k: Vec<i32> = bytes(c_out * c_in * 9, 2).iter().map(|&b| i32::from(b) - 128 + offset).collect();
        let bias: Vec<i32> = (0..c_out as i32).map(|o| 1000 * o - 4000).collect();
        let conv = Int8TapConv::new(&k, offset, &k0, &bias, c_in).unwrap();
        let expected = reference(&x, 37, (c_in, h, w), &k, &k0, &bias);
        for vnni in [false, true].into_iter().filter(|&v| !v || has_vnni()) {
            let mut out = vec![0; c_out * h * w];
            convolve(&conv, &x, 37, (h, w), Out::I32(Shared(out.as_mut_ptr())), vnni).unwrap();
            assert_eq!(out, expected, "weights offset {offset}, k0 {k0:?}, vnni {vnni}");
        }
    }
}

/// Weights outside 8 bits are refused, not wrapped.
#[test]
fn refuses_weights_outside_8_bits() {
    assert!(Int8TapConv::new(&[200; 9], 0, &[0], &[0], 1).is_err());
}

/// In a graph: a ConvInteger as tract's ONNX parser declutters it, then
/// the quantizer's Cast, × scale and + bias, is swapped (on a VNNI CPU) with
/// those three done in its pass, and gives tract's own output.
#[test]
fn swapped_in_a_graph_gives_tracts_output() -> TractResult<()> {
    use tract_nnef::tract_core::ops::{cast::cast, math};
    let (c_in, c_out, h, w) = (12, 10, 9, 23);
    let mut model = TypedModel::default();
    let x = model.add_source("x", u8::fact([1, c_in, h, w]))?;
    let x0 = model.add_source("x0", i32::scalar_fact())?;
    let scale = model.add_source("scale", f32::fact([1, 1, 1, 1]))?;
    let k = bytes(c_out * c_in * 9, 3);
    let k = model.add_const("k", tensor1(&k).into_shape(&[c_out, c_in, 3, 3])?)?;
    let bias = model.add_const("bias", tensor1(&(0..c_out as i32).collect::<Vec<_>>()))?;
    let k0 = model.add_const("k0", tensor0(131i32))?;
    let one = model.add_const("one", tensor0(1f32))?;
    let zero = model.add_const("zero", tensor0(0i32))?;
    let pool_spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec!(3, 3),
        padding: PaddingSpec::Explicit(tvec!(1, 1), tvec!(1, 1)),
        dilations: None,
        strides: None,
        input_channels: c_in,
        output_channels: c_out,
    };
    let conv = Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: Some(i32::datum_type()) };
    let y = model.wire_node("conv", conv, &[x, k, bias, x0, one, k0, one, zero, one])?;
    let y = model.wire_node("cast", cast(f32::datum_type()), &y)?[0];
    let y = model.wire_node("scaled", math::mul(), &[y, scale])?[0];
    let float_bias: Vec<f32> = (0..c_out).map(|o| o as f32 * 0.25 - 1.0).collect();
    let float_bias = model.add_const("float_bias", tensor1(&float_bias).into_shape(&[1, c_out, 1, 1])?)?;
    let y = model.wire_node("biased", math::add(), &[y, float_bias])?;
    model.select_output_outlets(&y)?;
    let inputs = tvec!(
        tensor1(&bytes(c_in * h * w, 4)).into_shape(&[1, c_in, h, w])?.into_tvalue(),
        tensor0(29i32).into_tvalue(),
        tensor1(&[0.0123f32]).into_shape(&[1, 1, 1, 1])?.into_tvalue()
    );
    super::super::assert_swap_gives_tracts_output(model, inputs, use_int8_tap_convolutions, "Int8TapConv3x3")
}
