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
The shipped scenes model uses the same form and the same quantizer
(scripts/factory/quantize.py `int8_behind_dequantize`); this module applies
it to real-size graphs whose weights are ONNX external data, one tensor at a
time, so the f32 weights are never all in memory.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.external_data_helper import load_external_data_for_model

from scripts.export.int8_quantize import quantize_gather_tables
from scripts.export.memory import release_memory
from scripts.export.onnx_data import inline_copy, store_weights_apart
from scripts.factory.quantize import int8_behind_dequantize


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
        tensors, dq = int8_behind_dequantize(init.name, numpy_helper.to_array(inline_copy(init, folder)), axes.pop())
        graph.initializer.remove(init)
        graph.initializer.extend(tensors)
        before.setdefault(min(ix for ix, _, _ in uses), []).append(dq)
        quantized += 1
        int8_bytes += len(tensors[0].raw_data)
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
