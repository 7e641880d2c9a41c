"""Weight-only int8 graphs (`model-w8.toml`): int8 weights, f32 arithmetic.

Why: the default int8 graphs (dynamic int8: DynamicQuantizeLinear +
MatMulInteger / ConvInteger) are fast only where tract has a fast integer
kernel (SDOT on Pi 5 / Orin, VNNI on recent x86). On an x86 CPU with AVX2
but without VNNI, tract 0.23.9's integer kernel is slower than its f32 one
by an order of magnitude (README "Real-size models"). A weight-only graph
stores every matrix and convolution weight as int8 with one scale per output
channel and a DequantizeLinear in front: the file and the weights in memory
stay int8 (tract dequantizes a weight of more than 1 Mi elements at every
call and folds a smaller one into f32 at load), the arithmetic is f32.
The shipped scenes model uses the same form (scripts/factory/quantize.py
`weight_only`); this module does it for real-size graphs whose weights are
ONNX external data, one tensor at a time, so the f32 weights are never all
in memory.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.external_data_helper import load_external_data_for_model

from scripts.export.int8_quantize import quantize_gather_tables
from scripts.export.memory import release_memory
from scripts.export.onnx_data import store_weights_apart


def _output_axis(node: onnx.NodeProto, k: int, ndim: int) -> int | None:
    """The output-channel axis of input k of node when it is the node's weight, else None."""
    if k != 1:
        return None
    if node.op_type == "Conv":
        return 0
    if node.op_type == "MatMul":
        return ndim - 1
    if node.op_type == "Gemm" and ndim == 2:
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return None


def _read(init: onnx.TensorProto, folder: str) -> np.ndarray:
    """The tensor's values. External data is read into a copy: read into `init`
    itself it would stay in the model's memory after `init` is removed (a
    protobuf message frees its parts only when the whole message goes), and
    all the f32 weights would be in memory at the end (7.4 GB for SD-Turbo's UNet)."""
    if init.data_location != onnx.TensorProto.EXTERNAL:
        return numpy_helper.to_array(init)
    t = onnx.TensorProto()
    t.CopyFrom(init)  # the metadata only: the weights are not read yet
    info = {e.key: e.value for e in t.external_data}
    with open(os.path.join(folder, info["location"]), "rb") as f:
        f.seek(int(info.get("offset", 0)))
        t.raw_data = f.read(int(info["length"])) if "length" in info else f.read()
    del t.external_data[:]
    t.data_location = onnx.TensorProto.DEFAULT
    return numpy_helper.to_array(t)


def quantize_weight_only(src: str, dst: str, min_size: int = 256) -> dict:
    """Write DST: the f32 graph SRC with every Conv / MatMul / Gemm weight of at least
    min_size elements stored as int8 (symmetric, one scale per output channel) behind
    a DequantizeLinear placed just before its first reader (so a segment cut never
    hands a dequantized weight on: segments.py copies it instead), and the big
    Gather tables as int8 rows (int8_quantize.quantize_gather_tables)."""
    folder = os.path.dirname(os.path.abspath(src))
    model = onnx.load(src, load_external_data=False)
    graph = model.graph
    readers: dict[str, list] = {}
    for ix, node in enumerate(graph.node):
        for k, name in enumerate(node.input):
            readers.setdefault(name, []).append((ix, node, k))
    before: dict[int, list] = {}  # node index -> DequantizeLinear nodes to insert before it
    quantized, int8_bytes = 0, 0
    for init in list(graph.initializer):
        uses = readers.get(init.name, [])
        ndim = len(init.dims)
        axes = {_output_axis(node, k, ndim) for _, node, k in uses}
        if (not uses or len(axes) != 1 or None in axes or init.data_type != onnx.TensorProto.FLOAT
                or ndim < 2 or int(np.prod(init.dims)) < min_size):
            continue
        axis = axes.pop()
        w = _read(init, folder)
        reduce = tuple(i for i in range(ndim) if i != axis)
        scale = np.maximum(np.abs(w).max(axis=reduce), 1e-12) / 127.0
        shape = [1] * ndim
        shape[axis] = -1
        q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        del w
        name = init.name
        graph.initializer.remove(init)
        graph.initializer.extend([numpy_helper.from_array(q, name + "_q"),
                                  numpy_helper.from_array(scale.astype(np.float32), name + "_scale"),
                                  numpy_helper.from_array(np.zeros(scale.shape, np.int8), name + "_zp")])
        dq = helper.make_node("DequantizeLinear", [name + "_q", name + "_scale", name + "_zp"], [name],
                              name=name + "_dq", axis=axis)
        before.setdefault(min(ix for ix, _, _ in uses), []).append(dq)
        quantized += 1
        int8_bytes += q.nbytes
    nodes = []
    for ix, node in enumerate(graph.node):
        nodes.extend(before.get(ix, []))
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    # What stays f32 (biases, norms) comes inline; store_weights_apart moves it back out.
    load_external_data_for_model(model, folder)
    inits = {t.name: t for t in graph.initializer}
    tables = any(n.op_type == "Gather" and n.input[0] in inits and inits[n.input[0]].data_type == onnx.TensorProto.FLOAT
                 for n in graph.node)
    onnx.save(model, dst)
    del model, graph, nodes, before, readers, inits
    release_memory()
    onnx.checker.check_model(dst)  # from the file: no second copy of the graph in Python
    tables = quantize_gather_tables(dst) if tables else 0
    data = store_weights_apart(dst)
    release_memory()
    return dict(quantized_weights=quantized, int8_weight_bytes=int8_bytes, int8_gather_tables=tables, data=data)
