use super::super::thread_parts::Shared;
use super::*;
use super::super::test_bytes as bytes;


/// Rows and columns that are not multiples of the blocks, u8 and i8
/// weights, zero points at 128 (no row sums) and elsewhere, both kernels:
/// the definition Σ (a - a0)(b - b0) + bias.
#[test]
fn matches_the_definition() {
    let (rows, k, n) = (61, 44, 70);
    let a = bytes(rows * k, 1);
    let a0 = 91u8;
    for (offset, b0) in [(128, vec![128; n]), (128, (0..n as i32).map(|c| 60 + c).collect()), (0, vec![5; n])] {
        let b: Vec<i32> = bytes(k * n, 2).iter().map(|&v| i32::from(v) - 128 + offset).collect();
        let bias: Vec<i32> = (0..n as i32).map(|c| 17 * c - 300).collect();
        let op = Int8MatMul::new(&b, offset, &b0, &bias, k, ShapeFact::from_dims([rows, n])).unwrap();
        let mut expected = vec![0; rows * n];
        for r in 0..rows {
            for c in 0..n {
                expected[r * n + c] = bias[c]
                    + (0..k).map(|j| (i32::from(a[r * k + j]) - i32::from(a0)) * (b[j * n + c] - b0[c])).sum::<i32>();
            }
        }
        for vnni in [false, true].into_iter().filter(|&v| !v || has_vnni()) {
            let mut out = vec![0; rows * n];
            multiply(&op, &a, a0, Out::I32(Shared(out.as_mut_ptr())), vnni).unwrap();
            assert_eq!(out, expected, "offset {offset}, b0 {:?}, vnni {vnni}", &b0[..2]);
        }
    }
}

/// In a graph: an int8 EinSum as tract declutters MatMulInteger (a batch
/// axis, B with a unit leading axis), then the quantizer's Cast, × scale
/// and + bias, is swapped on a VNNI CPU with those three done in its pass,
/// and gives tract's own output.
#[test]
fn swapped_in_a_graph_gives_tracts_output() -> TractResult<()> {
    use tract_nnef::tract_core::ops::{cast::cast, math};
    let (batch, rows, k, n) = (2, 13, 24, 40);
    let mut model = TypedModel::default();
    let a = model.add_source("a", u8::fact([batch, rows, k]))?;
    let a0 = model.add_source("a0", u8::scalar_fact())?;
    let b = model.add_const("b", tensor1(&bytes(k * n, 3)).into_shape(&[1, k, n])?)?;
    let bias = model.add_const("bias", tensor0(0i32))?;
    let b0 = model.add_const("b0", tensor0(117u8))?;
    let one = model.add_const("one", tensor0(1f32))?;
    let zero = model.add_const("zero", tensor0(0i32))?;
    let einsum = EinSum { axes: "bmk,bkn,,,,,,,->bmn".parse()?, operating_dt: i32::datum_type(), q_params: Some(i32::datum_type()) };
    let y = model.wire_node("product", einsum, &[a, b, bias, a0, one, b0, one, zero, one])?;
    let scale = model.add_source("scale", f32::fact([1, 1, 1]))?;
    let y = model.wire_node("cast", cast(f32::datum_type()), &y)?[0];
    let y = model.wire_node("scaled", math::mul(), &[scale, y])?[0];
    let float_bias: Vec<f32> = (0..n).map(|c| c as f32 * 0.5 - 7.0).collect();
    let float_bias = model.add_const("float_bias", tensor1(&float_bias).into_shape(&[1, 1, n])?)?;
    let y = model.wire_node("biased", math::add(), &[y, float_bias])?;
    model.select_output_outlets(&y)?;
    let inputs = tvec!(
        tensor1(&bytes(batch * rows * k, 4)).into_shape(&[batch, rows, k])?.into_tvalue(),
        tensor0(3u8).into_tvalue(),
        tensor1(&[0.031f32]).into_shape(&[1, 1, 1])?.into_tvalue()
    );
    super::super::assert_swap_gives_tracts_output(model, inputs, use_int8_matmuls, "Int8MatMul")
}
