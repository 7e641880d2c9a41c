"""scripts/factory/graph_rewrite.py: the nearest-upsample + 3x3 conv rewrite
keeps the graph's function (checked in onnxruntime) and removes the
upsampling. Needs numpy, onnx and onnxruntime (scripts/requirements-ci.txt)."""

import numpy as np
import onnx
import pytest
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from scripts.factory import graph_rewrite as G


def _upsample_conv_model(path, stride=1, c=3, co=5, h=5, w=6, second_reader=False):
    rng = np.random.default_rng(1)
    const = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)
    inits = [const("s1", [1, c, h, 1, w, 1]), const("s2", [1, c, h, 2, w, 2]), const("s3", [1, c, 2 * h, 2 * w]),
             numpy_helper.from_array(rng.standard_normal((co, c, 3, 3)).astype(np.float32), "wt"),
             numpy_helper.from_array(rng.standard_normal(co).astype(np.float32), "bias")]
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["r1"]), helper.make_node("Expand", ["r1", "s2"], ["e"]),
             helper.make_node("Reshape", ["e", "s3"], ["up"]),
             helper.make_node("Conv", ["up", "wt", "bias"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              strides=[stride, stride], name="conv")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)]
    if second_reader:
        nodes.append(helper.make_node("Relu", ["up"], ["z"]))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [None] * 4))
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
                          outputs, inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


def _run(path, x):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})


def test_upsample_conv_becomes_four_phase_convs(tmp_path):
    src, dst = str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")
    _upsample_conv_model(src)
    info = G.upsample_conv_to_phases(src, dst)
    assert info["upsample_convs"] == 1
    ops = [n.op_type for n in onnx.load(dst).graph.node]
    assert "Expand" not in ops and ops.count("Conv") == 4 and "DepthToSpace" in ops
    x = np.random.default_rng(2).standard_normal((1, 3, 5, 6)).astype(np.float32)
    a, b = _run(src, x)[0], _run(dst, x)[0]
    assert a.shape == b.shape == (1, 5, 10, 12)
    assert np.abs(a - b).max() < 1e-5


def test_upsample_with_another_reader_is_kept(tmp_path):
    src, dst = str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")
    _upsample_conv_model(src, second_reader=True)
    assert G.upsample_conv_to_phases(src, dst)["upsample_convs"] == 1
    assert "Expand" in [n.op_type for n in onnx.load(dst).graph.node]
    x = np.random.default_rng(3).standard_normal((1, 3, 5, 6)).astype(np.float32)
    for a, b in zip(_run(src, x), _run(dst, x)):
        assert np.abs(a - b).max() < 1e-5


def test_strided_conv_is_left_alone(tmp_path):
    src, dst = str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")
    _upsample_conv_model(src, stride=2)
    assert G.upsample_conv_to_phases(src, dst)["upsample_convs"] == 0


def test_a_wrong_rewrite_is_refused_also_in_place(tmp_path, monkeypatch):
    path = str(tmp_path / "a.onnx")
    _upsample_conv_model(path)
    right = G.phase_kernels
    monkeypatch.setattr(G, "phase_kernels", lambda w: {k: v * 1.5 for k, v in right(w).items()})
    with pytest.raises(ValueError, match="differs from the original"):
        G.upsample_conv_to_phases(path, path)
