"""scripts/export/int8_weight_only.py on the tiny SD-Turbo fixture's UNet, whose
weights are ONNX external data as a real-size export's are: every matrix and
convolution weight becomes int8 behind a DequantizeLinear placed just before its
first reader, nothing else changes, and onnxruntime's output stays within int8
rounding of the f32 graph's. Needs numpy, onnx and onnxruntime."""
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from scripts.export.int8_weight_only import quantize_weight_only

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "diffusers", "sd-turbo")


def _run(path, feeds):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def _feeds(path):
    rng = np.random.default_rng(7)
    m = onnx.load(path, load_external_data=False)
    feeds = {}
    for i in m.graph.input:
        shape = [d.dim_value for d in i.type.tensor_type.shape.dim]
        feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    feeds["timestep"] = np.array([999.0], np.float32) if "timestep" in feeds else None
    return {k: v for k, v in feeds.items() if v is not None}


def test_weights_become_int8_behind_a_dequantize_just_before_their_reader(tmp_path):
    for f in ("denoiser.external.onnx", "denoiser.external.onnx.data"):
        shutil.copy(os.path.join(FIXTURE, f), tmp_path / f)
    src, dst = str(tmp_path / "denoiser.external.onnx"), str(tmp_path / "denoiser.w8.onnx")
    info = quantize_weight_only(src, dst, min_size=16)
    m = onnx.load(dst)
    inits = {t.name: t for t in m.graph.initializer}
    nodes = list(m.graph.node)
    weights = [(n, n.input[1]) for n in nodes if n.op_type in ("MatMul", "Conv", "Gemm") and n.input[1] not in
               {o for p in nodes if p.op_type != "DequantizeLinear" for o in p.output}]
    assert info["quantized_weights"] > 0
    checked = 0
    for node, w in weights:
        if w in inits:  # an f32 weight left: only a tiny one
            assert numpy_helper.to_array(inits[w]).size < 16, w
            continue
        ix = next(i for i, n in enumerate(nodes) if w in n.output)
        dq = nodes[ix]
        assert dq.op_type == "DequantizeLinear", w
        assert numpy_helper.to_array(inits[dq.input[0]]).dtype == np.int8
        first_reader = min(i for i, n in enumerate(nodes) if w in n.input)
        assert first_reader == ix + 1 or all(nodes[j].op_type == "DequantizeLinear" for j in range(ix + 1, first_reader))
        checked += 1
    assert checked == info["quantized_weights"] == sum(n.op_type == "DequantizeLinear" for n in nodes)
    feeds = _feeds(src)
    f32, w8 = _run(src, feeds), _run(dst, feeds)
    err = np.abs(w8 - f32).max() / np.abs(f32).max()
    print("max error / max output:", err)
    assert 0 < err < 0.05, err
    size = lambda p: os.path.getsize(p) + (os.path.getsize(p + ".data") if os.path.exists(p + ".data") else 0)
    assert size(dst) < 0.8 * size(src), (size(dst), size(src))  # the graph itself is most of this tiny file
