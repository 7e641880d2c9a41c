"""scripts/export/onnx_data.py: a graph stored as torch stores one over 2 GB (one
loose file per tensor) is packed into one data file; onnxruntime gives the
same output before and after, and the loose files are gone. Needs numpy,
onnx and onnxruntime (scripts/requirements-ci.txt)."""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from scripts.export.onnx_data import external_files, pack_external_data, store_weights_apart


def _model(path):
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((5, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("MatMul", ["h", "w2"], ["y0"]),
             helper.make_node("Add", ["y0", "b"], ["y"])]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)


def _run(path, x):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_loose_tensor_files_are_packed_into_one(tmp_path):
    path = str(tmp_path / "g.onnx")
    _model(path)
    loose = external_files(path)
    assert len(loose) == 3
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    before = _run(path, x)
    assert pack_external_data(path) == "g.onnx.data"
    assert external_files(path) == {"g.onnx.data"}
    assert sorted(os.listdir(tmp_path)) == ["g.onnx", "g.onnx.data"]
    np.testing.assert_array_equal(_run(path, x), before)
    # Packing again is a no-op on the content.
    assert pack_external_data(path) == "g.onnx.data"
    np.testing.assert_array_equal(_run(path, x), before)


def test_graph_without_external_data_is_left_alone(tmp_path):
    path = str(tmp_path / "g.onnx")
    _model(path)
    m = onnx.load(path)
    onnx.save(m, str(tmp_path / "inline.onnx"))
    data = (tmp_path / "inline.onnx").read_bytes()
    assert pack_external_data(str(tmp_path / "inline.onnx")) is None
    assert (tmp_path / "inline.onnx").read_bytes() == data


def _inline_model(path, n=64):
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(rng.standard_normal((n, n)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "t",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, n])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


def test_big_graph_weights_are_stored_apart(tmp_path):
    path = str(tmp_path / "g.int8.onnx")
    _inline_model(path)
    x = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    before = _run(path, x)
    assert store_weights_apart(path, min_bytes=1000) == "g.int8.onnx.data"
    assert external_files(path) == {"g.int8.onnx.data"}
    assert os.path.getsize(path) < 1000 < os.path.getsize(path + ".data")
    np.testing.assert_array_equal(_run(path, x), before)


def test_small_graph_stays_inline_and_a_stale_data_file_goes(tmp_path):
    path = str(tmp_path / "g.int8.onnx")
    _inline_model(path)
    (tmp_path / "g.int8.onnx.data").write_bytes(b"left by an earlier export")
    data = (tmp_path / "g.int8.onnx").read_bytes()
    assert store_weights_apart(path, min_bytes=1 << 20) is None
    assert (tmp_path / "g.int8.onnx").read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["g.int8.onnx"]
