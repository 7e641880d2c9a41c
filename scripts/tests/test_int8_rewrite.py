"""scripts/export/int8_rewrite.py: the export-time rewrites of dynamic-int8 graphs
for tract keep the graph's function in onnxruntime: the weight split bit for
bit, the expanded DynamicQuantizeLinear too. Needs numpy, onnx and
onnxruntime (scripts/requirements-ci.txt)."""
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from scripts.export import int8_rewrite as R


def _int8_model(tmp_path, k=16, n=24):
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "t",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, n])], [w])
    f32 = str(tmp_path / "f32.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), f32)
    q = str(tmp_path / "int8.onnx")
    quantize_dynamic(f32, q, weight_type=QuantType.QUInt8)
    return q


def _run(path, x):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _ops(path):
    return [n.op_type for n in onnx.load(path).graph.node]


def test_wide_weight_split_is_bit_exact(tmp_path):
    src = _int8_model(tmp_path)
    dst = str(tmp_path / "split.onnx")
    info = R.split_wide_matmulinteger(src, dst, max_elems=100)  # 16 x 24 = 384 > 100: 6 columns a block
    assert info["split_matmulinteger"] == 1 and info["chunks"] == 4
    assert _ops(dst).count("MatMulInteger") == 4 and "Concat" in _ops(dst)
    x = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
    np.testing.assert_array_equal(_run(dst, x), _run(src, x))
    # Weights within the budget are left alone.
    assert R.split_wide_matmulinteger(src, str(tmp_path / "same.onnx"))["split_matmulinteger"] == 0


def test_expanded_dynamic_quantize_linear_is_exact(tmp_path):
    src = _int8_model(tmp_path)
    dst = str(tmp_path / "dql.onnx")
    assert R.expand_dynamic_quantize_linear(src, dst)["expanded_dynamic_quantize_linear"] == 1
    assert "DynamicQuantizeLinear" not in _ops(dst)
    rng = np.random.default_rng(2)
    for scale in (0.01, 1.0, 30.0):
        x = (rng.standard_normal((3, 16)) * scale).astype(np.float32)
        np.testing.assert_array_equal(_run(dst, x), _run(src, x))
    # All positive input: the zero point is clamped to 0 as the spec says.
    x = np.abs(rng.standard_normal((3, 16))).astype(np.float32)
    np.testing.assert_array_equal(_run(dst, x), _run(src, x))


def test_wide_conv_kernel_split_is_bit_exact(tmp_path):
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(rng.standard_normal((6, 3, 3, 3)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], "t",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 5, 5])], [w])
    f32 = str(tmp_path / "conv.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), f32)
    src = str(tmp_path / "conv.int8.onnx")
    quantize_dynamic(f32, src, weight_type=QuantType.QUInt8)
    assert "ConvInteger" in _ops(src)
    dst = str(tmp_path / "split.onnx")
    info = R.split_wide_convinteger(src, dst, max_elems=60)  # 6 x 27 = 162 > 60: 2 channels a block
    assert info["split_convinteger"] == 1 and info["conv_chunks"] == 3
    x = np.random.default_rng(3).standard_normal((1, 3, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(_run(dst, x), _run(src, x))
