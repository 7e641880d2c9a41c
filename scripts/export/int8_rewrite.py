#!/usr/bin/env python3
"""Export-time ONNX rewrites of dynamic-int8 graphs (onnxruntime quantize_dynamic:
DynamicQuantizeLinear + MatMulInteger) for tract 0.23.9 (issue 14; measurements in
runs/real/FINDINGS.md, made by scripts/bench/te_int8_gap.py).

Why: tract lowers every MatMulInteger to an i8 x i8 -> i32 matmul plus the
zero-point compensation (tract-core ops/einsum/einsum_matmul.rs `dequant`,
ops/matmul/quant.rs `compensate_zero_points`):

    Y = A.B - a0 * colsum(B) - b0 * rowsum(A) + K * a0 * b0
    colsum(B) = Reduce<Sum>(Cast<i32>(B), axis k)          ("sum_b")

and it builds both sums whatever the zero points are. colsum(B) only depends on
the constant weight, so tract's constant folding (optim/prop_const.rs) should
compute it once at load; but the fold is refused when its output is larger than
CONST_FOLD_MEM_BUDGET (4 MiB) and its input is shared (B also feeds the matmul):
the i32 copy of a weight with more than 1,048,576 elements (the 1024 x 4096 and
4096 x 1024 MLP weights of OpenCLIP-H) is 16 MiB, so the Cast and the Reduce<Sum>
stay in the plan and run at every call, through tract's generic (per output element
slice + fold, strided) integer reduction: tens of ms per weight.

`split_wide_matmulinteger` splits each such MatMulInteger along N into chunks of
at most 1,048,576 weight elements (same per-tensor zero point and scale) and
concatenates the int32 outputs. Bit-exact (an integer matmul over disjoint
column blocks), and every chunk's colsum now fits the budget and is folded at load.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

# tract-core 0.23.9 optim::CONST_FOLD_MEM_BUDGET is 4 MiB: an i32 weight copy of at most
# 1 Mi elements is folded
TRACT_FOLD_ELEMS = (4 << 20) // 4


def _load(path):
    return onnx.load(path)


def _save_with_nodes(m, nodes, dst):
    """Every rewrite's last step: the graph's nodes replaced, checked, written."""
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


def _split_wide_weights(src, dst, op_type, weight_axis, concat_axis, max_elems, ndim=None,
                        accept=lambda node: True):
    """Split every `op_type` node whose constant weight (input 1) has more than
    max_elems elements along `weight_axis` into blocks of at most max_elems elements,
    and Concat the integer outputs on `concat_axis`. A weight zero point (input 3)
    that has one value per slice of that axis is sliced with it; a scalar one is
    shared. Bit-exact: an integer product over disjoint blocks. Returns (split nodes,
    blocks)."""
    m = _load(src)
    inits = {i.name: i for i in m.graph.initializer}
    new_nodes, n_split, n_chunks = [], 0, 0
    for node in m.graph.node:
        if node.op_type != op_type or node.input[1] not in inits or not accept(node):
            new_nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        if w.size <= max_elems or (ndim is not None and w.ndim != ndim):
            new_nodes.append(node)
            continue
        length = w.shape[weight_axis]
        step = max(1, max_elems // (w.size // length))
        zp_name = node.input[3] if len(node.input) > 3 and node.input[3] else None
        zp = numpy_helper.to_array(inits[zp_name]) if zp_name in inits else None
        outs = []
        for c, lo in enumerate(range(0, length, step)):
            block = np.ascontiguousarray(np.take(w, range(lo, min(length, lo + step)), axis=weight_axis))
            wn = f"{node.input[1]}_part{c}"
            m.graph.initializer.append(numpy_helper.from_array(block, wn))
            ins = [node.input[0], wn] + list(node.input[2:3])
            if zp_name:
                if zp is not None and zp.ndim == 1 and zp.size == length:
                    zn = f"{zp_name}_part{c}"
                    m.graph.initializer.append(numpy_helper.from_array(zp[lo:lo + step].copy(), zn))
                    ins.append(zn)
                else:
                    ins.append(zp_name)
            out = f"{node.output[0]}_part{c}"
            part = helper.make_node(op_type, ins, [out], name=f"{node.name}_part{c}")
            part.attribute.extend(node.attribute)
            new_nodes.append(part)
            outs.append(out)
        new_nodes.append(helper.make_node("Concat", outs, [node.output[0]], name=f"{node.name}_concat",
                                          axis=concat_axis))
        n_split += 1
        n_chunks += len(outs)
    # drop the weights no node uses any more
    used = {i for nd in new_nodes for i in nd.input}
    for name in list(inits):
        if name not in used:
            m.graph.initializer.remove(inits[name])
    _save_with_nodes(m, new_nodes, dst)
    return n_split, n_chunks


def split_wide_matmulinteger(src: str, dst: str, max_elems: int = TRACT_FOLD_ELEMS) -> dict:
    """MatMulInteger with a constant weight B [K, N] of more than max_elems elements:
    split along N into column blocks, Concat on the last axis."""
    n, chunks = _split_wide_weights(src, dst, "MatMulInteger", 1, -1, max_elems, ndim=2)
    return dict(split_matmulinteger=n, chunks=chunks, max_weight_elems=max_elems)


def split_wide_convinteger(src: str, dst: str, max_elems: int = TRACT_FOLD_ELEMS) -> dict:
    """The same for ConvInteger (group 1) with a constant kernel W [M, C, kh, kw]: tract
    casts the kernel to i32 and sums it per output channel (tract-core
    ops/cnn/conv/conv.rs `wire_as_quant_im2col`: kernel_as_i32 -> Reduce<Sum>), refused by
    the fold for the same reason. Split along M, Concat on the channel axis (1)."""
    group1 = lambda node: next((a.i for a in node.attribute if a.name == "group"), 1) == 1  # noqa: E731
    n, chunks = _split_wide_weights(src, dst, "ConvInteger", 0, 1, max_elems, accept=group1)
    return dict(split_convinteger=n, conv_chunks=chunks)


def split_all_expand_dql(src: str, dst: str) -> dict:
    """split_then_expand_dql plus the ConvInteger split (not timed in tract: it repeats
    the im2col once per block, so the exporter does not apply it)."""
    info = split_wide_matmulinteger(src, dst)
    info.update(split_wide_convinteger(dst, dst))
    info.update(expand_dynamic_quantize_linear(dst, dst))
    return info


def matmulinteger_as_f32(src: str, dst: str) -> dict:
    """Comparison only (not int8 compute): each MatMulInteger(A, B, a0, b0) with a constant
    B becomes MatMul(Cast<f32>(A) - Cast<f32>(a0), DequantizeLinear(B, 1, b0)): the same
    integer products in f32 (exact below 2^24, else f32 rounding), the weight stored as
    uint8 and dequantized to f32 when tract folds it at load (4x the memory). The
    Cast<f32> that followed the int32 output becomes an f32 -> f32 no-op. Apply after
    split_wide_matmulinteger so every folded weight fits tract's 4 MiB budget."""
    m = _load(src)
    inits = {i.name: i for i in m.graph.initializer}
    new_nodes, n = [], 0
    one = "int8_rewrite_one"
    m.graph.initializer.append(numpy_helper.from_array(np.array(1.0, np.float32), one))
    for node in m.graph.node:
        if node.op_type != "MatMulInteger" or node.input[1] not in inits:
            new_nodes.append(node)
            continue
        a, b = node.input[0], node.input[1]
        a0 = node.input[2] if len(node.input) > 2 and node.input[2] else None
        b0 = node.input[3] if len(node.input) > 3 and node.input[3] else None
        p = node.name or node.output[0]
        af = f"{p}_a_f32"
        new_nodes.append(helper.make_node("Cast", [a], [af + "_raw" if a0 else af], to=onnx.TensorProto.FLOAT))
        if a0:
            new_nodes.append(helper.make_node("Cast", [a0], [f"{p}_a0_f32"], to=onnx.TensorProto.FLOAT))
            new_nodes.append(helper.make_node("Sub", [af + "_raw", f"{p}_a0_f32"], [af]))
        bf = f"{p}_b_f32"
        new_nodes.append(helper.make_node("DequantizeLinear", [b, one] + ([b0] if b0 else []), [bf]))
        new_nodes.append(helper.make_node("MatMul", [af, bf], [node.output[0]], name=p))
        n += 1
    _save_with_nodes(m, new_nodes, dst)
    return dict(matmulinteger_as_f32=n)


def expand_dynamic_quantize_linear(src: str, dst: str) -> dict:
    """Replace each DynamicQuantizeLinear by the ONNX ops its specification defines
    (ReduceMin/ReduceMax over the whole tensor, Min/Max with 0, scale = range / 255,
    zero point = round(clip(-min / scale, 0, 255)), y = clip(round(x / scale) + zp, 0, 255),
    Cast to uint8), so that tract runs vectorised element-wise ops instead of its
    scalar DynamicQuantizeLinearU8. The same arithmetic (true division, round half to
    even); a runtime that rewrites x / scale as x * (1 / scale) can move an element
    by one quantization step. Comparison only since the runtime has its own
    vectorised DynamicQuantizeLinear (src/runtime/dynamic_quantize.rs): the
    expanded graph ran no faster per step and took tract 1.5-2x longer to
    optimize (README, "Real-size models")."""
    m = _load(src)
    new_nodes, n = [], 0
    consts = {"int8_rewrite_zero": np.array(0.0, np.float32), "int8_rewrite_255": np.array(255.0, np.float32)}
    for k, v in consts.items():
        m.graph.initializer.append(numpy_helper.from_array(v, k))
    zero, q = "int8_rewrite_zero", "int8_rewrite_255"
    for node in m.graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            new_nodes.append(node)
            continue
        x = node.input[0]
        y, scale, zp = node.output
        p = (node.name or y) + "_dql"
        mk = lambda op, ins, out, **kw: new_nodes.append(helper.make_node(op, ins, [out], **kw))  # noqa: E731
        mk("ReduceMin", [x], p + "_rmin", keepdims=0)
        mk("ReduceMax", [x], p + "_rmax", keepdims=0)
        mk("Min", [p + "_rmin", zero], p + "_min")
        mk("Max", [p + "_rmax", zero], p + "_max")
        mk("Sub", [p + "_max", p + "_min"], p + "_range")
        mk("Div", [p + "_range", q], scale)
        mk("Neg", [p + "_min"], p + "_nmin")
        mk("Div", [p + "_nmin", scale], p + "_zpf0")
        mk("Clip", [p + "_zpf0", zero, q], p + "_zpf1")
        mk("Round", [p + "_zpf1"], p + "_zpf")
        mk("Cast", [p + "_zpf"], zp, to=onnx.TensorProto.UINT8)
        mk("Div", [x, scale], p + "_xs")
        mk("Round", [p + "_xs"], p + "_xr")
        mk("Add", [p + "_xr", p + "_zpf"], p + "_xz")
        mk("Clip", [p + "_xz", zero, q], p + "_xc")
        mk("Cast", [p + "_xc"], y, to=onnx.TensorProto.UINT8)
        n += 1
    _save_with_nodes(m, new_nodes, dst)
    return dict(expanded_dynamic_quantize_linear=n)


def split_then_expand_dql(src: str, dst: str) -> dict:
    info = split_wide_matmulinteger(src, dst)
    info.update(expand_dynamic_quantize_linear(dst, dst))
    return info


def split_then_f32(src: str, dst: str) -> dict:
    info = split_wide_matmulinteger(src, dst)
    info.update(matmulinteger_as_f32(dst, dst))
    return info


VARIANTS = {
    "split": split_wide_matmulinteger,
    "split-f32mm": split_then_f32,
    "split-dql": split_then_expand_dql,
    "split-all-dql": split_all_expand_dql,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--variant", default="split", choices=sorted(VARIANTS))
    a = ap.parse_args(argv)
    print(VARIANTS[a.variant](a.src, a.dst))


if __name__ == "__main__":
    main()
