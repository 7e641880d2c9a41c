"""Stage 7: int8 variants of the exported graphs, measured with onnxruntime.
- dynamic: onnxruntime.quantization.quantize_dynamic (DynamicQuantizeLinear +
  MatMulInteger / ConvInteger, uint8 weights and activations). Only MatMul
  with a constant weight is quantized (attention score/value matmuls and
  Softmax stay f32).
- wq: weight-only QDQ: every Conv/MatMul/Gemm constant weight stored as int8
  + per-output-channel scale and a DequantizeLinear in front (f32 compute,
  ~4x smaller weights, no quantized activations anywhere near Softmax).

  python3 -m scripts.factory.quantize --out runs/scenes"""
import argparse
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper



def _init_names(m):
    return {i.name for i in m.graph.initializer}


def _const_weight_matmuls(m):
    """MatMul nodes whose second input is an initializer (possibly through a
    Transpose/Identity of one); others (activation x activation) are excluded."""
    inits = _init_names(m)
    producers = {o: n for n in m.graph.node for o in n.output}
    keep, skip = [], []
    for n in m.graph.node:
        if n.op_type != "MatMul":
            continue
        b = n.input[1]
        while b in producers and producers[b].op_type in ("Transpose", "Identity") and b not in inits:
            b = producers[b].input[0]
        (keep if b in inits else skip).append(n.name)
    return keep, skip


def dynamic(src, dst):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    m = onnx.load(src)
    keep, skip = _const_weight_matmuls(m)
    quantize_dynamic(src, dst, op_types_to_quantize=["MatMul", "Conv", "Gemm"], nodes_to_exclude=skip,
                     weight_type=QuantType.QUInt8, per_channel=False, reduce_range=False,
                     extra_options={"MatMulConstBOnly": True})
    return dict(quantized_matmuls=len(keep), excluded_matmuls=len(skip))


# Constant inputs stored as int8 + scale: (op, input index) -> quantization axis
# (None: the last axis). Conv weights per output channel; MatMul/Gemm weights per
# output column; the learned positional embeddings added in attention blocks
# and the token embedding table per feature.
WQ_INPUTS = {("Conv", 1): 0, ("MatMul", 1): None, ("Gemm", 1): None, ("Add", 0): None, ("Add", 1): None,
             ("Gather", 0): None}


def _wq_axis(us, w):
    axes = {WQ_INPUTS.get((n.op_type, k), "no") for n, k in us}
    if len(axes) != 1 or "no" in axes:
        return None
    axis = axes.pop()
    return w.ndim - 1 if axis is None else axis


def int8_behind_dequantize(name, w, axis):
    """The f32 weight `w` as int8 (symmetric, one scale per index of `axis`):
    its three initializers (NAME_q, NAME_scale, NAME_zp) and the
    DequantizeLinear node that gives NAME back. Also used by the exporter's
    weight-only graphs (scripts/export/int8_weight_only.py)."""
    red = tuple(i for i in range(w.ndim) if i != axis)
    scale = np.maximum(np.abs(w).max(axis=red), 1e-12) / 127.0
    shp = [1] * w.ndim
    shp[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shp)), -127, 127).astype(np.int8)
    tensors = [numpy_helper.from_array(q, name + "_q"),
               numpy_helper.from_array(scale.astype(np.float32), name + "_scale"),
               numpy_helper.from_array(np.zeros(scale.shape, np.int8), name + "_zp")]
    dq = helper.make_node("DequantizeLinear", [name + "_q", name + "_scale", name + "_zp"], [name],
                          name=name + "_dq", axis=axis)
    return tensors, dq


def weight_only(src, dst, min_size=256):
    m = onnx.load(src)
    inits = {i.name: i for i in m.graph.initializer}
    uses = {}
    for n in m.graph.node:
        for k, name in enumerate(n.input):
            uses.setdefault(name, []).append((n, k))
    new_nodes, n_q, n_narrow = [], 0, 0
    for name, init in list(inits.items()):
        us = uses.get(name, [])
        if not us:
            continue
        w = numpy_helper.to_array(init)
        if w.dtype == np.int32 and all(n.op_type == "Gather" and k == 0 for n, k in us) \
                and w.size >= min_size and np.abs(w).max() < 2 ** 15:
            # an index table (the text encoder's CLIP-id -> compact-id remap):
            # int16 holds it exactly; its consumer casts the gathered ids anyway
            init.CopyFrom(numpy_helper.from_array(w.astype(np.int16), name))
            n_narrow += 1
            continue
        axis = _wq_axis(us, w)
        if axis is None or w.dtype != np.float32 or w.size < min_size or w.ndim < 2:
            continue
        m.graph.initializer.remove(init)
        tensors, dq = int8_behind_dequantize(name, w, axis)
        m.graph.initializer.extend(tensors)
        new_nodes.append(dq)
        n_q += 1
    for i, nd in enumerate(new_nodes):
        m.graph.node.insert(i, nd)
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    return dict(quantized_weights=n_q, narrowed_index_tables=n_narrow)


def run(path, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def measure(odir, feeds_per_model):
    """Max abs diff of each variant against f32 on the given real inputs."""
    rep = {}
    for name, feeds_list in feeds_per_model.items():
        f32 = os.path.join(odir, name + ".onnx")
        r = {"f32_bytes": os.path.getsize(f32)}
        for var in ("int8", "wq"):
            p = os.path.join(odir, f"{name}.{var}.onnx")
            if not os.path.exists(p):
                continue
            d = [float(np.abs(run(p, f) - run(f32, f)).max()) for f in feeds_list]
            r[var] = dict(bytes=os.path.getsize(p), max_abs_diff=max(d), mean_max_abs_diff=float(np.mean(d)))
        rep[name] = r
    return rep


def quantize_all(odir, log=None):
    from scripts.factory import common as C  # torch: not needed by the quantizers the exporter shares

    info = {}
    for name in ("text_encoder", "denoiser", "decoder"):
        src = os.path.join(odir, name + ".onnx")
        info[name] = dict(int8=dynamic(src, os.path.join(odir, name + ".int8.onnx")),
                          wq=weight_only(src, os.path.join(odir, name + ".wq.onnx")))
    C.log(log, stage="quantize", info=info)
    return info


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/scenes")
    a = ap.parse_args()
    print(quantize_all(os.path.join(a.out, "onnx")))
