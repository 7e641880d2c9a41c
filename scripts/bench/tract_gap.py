"""Where tract is slower than onnxruntime, one operator at a time: a minimal
reproduction to report upstream (tract 0.23.9, single thread).

Writes one-operator ONNX graphs (opset 17) with the shapes of the shipped
scenes model (3x3 convolutions of the denoiser and decoder, the attention
projections, the decoder's broadcast upsampling), times each in plain
tract-onnx (examples/tract_gap.rs, no edgepaint code) and in onnxruntime on
the same file and inputs, and prints a markdown table with GFLOP/s.

  cargo build --release --example tract_gap
  python3 -m scripts.bench.tract_gap [--runs 50] [--out runs/tract_gap] [--json FILE]
  python3 -m scripts.bench.tract_gap --real-size --runs 5     # SD shapes at 512x512 (int8 matmul, attention, ...)

Needs numpy, onnx and onnxruntime."""
import argparse
import json
import os
import subprocess
import time


import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def conv_graph(c_in, c_out, hw, k=3):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((c_out, c_in, k, k)) * 0.1).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(c_out, np.float32), "b")
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[k, k], pads=[k // 2] * 4)
    shape = [1, c_in, hw, hw]
    g = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)], [w, b])
    return g, [shape], 2 * c_in * c_out * k * k * hw * hw


def matmul_graph(n, k, m):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((k, m)) * 0.1).astype(np.float32), "w")
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    shape = [1, n, k]
    g = helper.make_graph([node], "matmul", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 3)], [w])
    return g, [shape], 2 * n * k * m


def upsample_graph(c, hw):
    """Nearest 2x as torch exports x.reshape(..,1,..,1).expand(..,2,..,2).reshape(..)."""
    cs = lambda name, v: helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.int64)))
    nodes = [cs("s1", [1, c, hw, 1, hw, 1]), cs("s2", [1, c, hw, 2, hw, 2]), cs("s3", [1, c, 2 * hw, 2 * hw]),
             helper.make_node("Reshape", ["x", "s1"], ["r1"]), helper.make_node("Expand", ["r1", "s2"], ["e"]),
             helper.make_node("Reshape", ["e", "s3"], ["y"])]
    shape = [1, c, hw, hw]
    g = helper.make_graph(nodes, "upsample", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)])
    return g, [shape], 0


def int8_matmul_graph(n, k, m, chunks=1, expand_dql=False):
    """x f32 [1, n, k] -> DynamicQuantizeLinear -> MatMulInteger with a constant uint8
    weight [k, m] (zero point 128, as onnxruntime's quantize_dynamic writes them) ->
    Cast f32 * scale: one MatMul of a real-size dynamic-int8 graph. With chunks > 1
    the weight is split into column blocks as scripts/export/int8_rewrite.py does; with
    expand_dql the DynamicQuantizeLinear is replaced by its definition's ops."""
    rng = np.random.default_rng(0)
    w = rng.integers(0, 256, size=(k, m), dtype=np.uint8)
    inits = [numpy_helper.from_array(np.array(128, np.uint8), "wzp"),
             numpy_helper.from_array(np.array(0.01, np.float32), "s")]
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xzp"])]
    outs, cols = [], m // chunks
    for c in range(chunks):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w[:, c * cols:(c + 1) * cols]), f"w{c}"))
        nodes.append(helper.make_node("MatMulInteger", ["xq", f"w{c}", "xzp", "wzp"], [f"acc{c}"]))
        outs.append(f"acc{c}")
    if chunks > 1:
        nodes.append(helper.make_node("Concat", outs, ["acc"], axis=-1))
    else:
        nodes.append(helper.make_node("Identity", outs, ["acc"]))
    nodes += [helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
              helper.make_node("Mul", ["xs", "s"], ["scale"]), helper.make_node("Mul", ["accf", "scale"], ["y"])]
    shape = [1, n, k]
    g = helper.make_graph(nodes, "int8_matmul", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 3)], inits)
    if expand_dql:
        import tempfile
        from scripts.export import int8_rewrite
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "g.onnx")
            onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), src)
            int8_rewrite.expand_dynamic_quantize_linear(src, src)
            g = onnx.load(src).graph
    return g, [shape], 2 * n * k * m


def attention_graph(tokens, dim):
    """softmax(q k^T) v for one head of an SD UNet's first level (4,096 tokens at 512x512)."""
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["x", "xt"], ["scores"]),
             helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "x"], ["y"])]
    shape = [1, tokens, dim]
    g = helper.make_graph(nodes, "attention", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 3)])
    return g, [shape], 4 * tokens * tokens * dim


def group_norm_graph(c, hw, groups=32):
    """GroupNorm as torch exports it for opset 17 (Reshape, InstanceNormalization, Reshape, Mul, Add)."""
    inits = [numpy_helper.from_array(np.array([1, groups, -1], np.int64), "gshape"),
             numpy_helper.from_array(np.ones(groups, np.float32), "gs"), numpy_helper.from_array(np.zeros(groups, np.float32), "gb"),
             numpy_helper.from_array(np.array([1, c, hw, hw], np.int64), "shape"),
             numpy_helper.from_array(np.ones((c, 1, 1), np.float32), "g"), numpy_helper.from_array(np.zeros((c, 1, 1), np.float32), "b")]
    nodes = [helper.make_node("Reshape", ["x", "gshape"], ["r"]),
             helper.make_node("InstanceNormalization", ["r", "gs", "gb"], ["n"], epsilon=1e-5),
             helper.make_node("Reshape", ["n", "shape"], ["n4"]), helper.make_node("Mul", ["n4", "g"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["y"])]
    shape = [1, c, hw, hw]
    g = helper.make_graph(nodes, "group_norm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)], inits)
    return g, [shape], 0


# Real-size SD shapes (issue 14): the ops where tract lost most at 512x512.
REAL_SIZE_CASES = {
    "int8 matmul 77x1024 @ 1024x4096 (OpenCLIP-H MLP, dynamic int8 as exported)": lambda: int8_matmul_graph(77, 1024, 4096),
    "same, weight split in 4 column blocks (int8_rewrite.py)": lambda: int8_matmul_graph(77, 1024, 4096, chunks=4),
    "same, split + DynamicQuantizeLinear expanded": lambda: int8_matmul_graph(77, 1024, 4096, chunks=4, expand_dql=True),
    "int8 matmul 4096x320 @ 320x1280 (UNet level-1 feed-forward)": lambda: int8_matmul_graph(4096, 320, 1280),
    "attention 4096 tokens x 64 (UNet level 1, one head)": lambda: attention_graph(4096, 64),
    "GroupNorm 320ch @64x64 (UNet level 1)": lambda: group_norm_graph(320, 64),
    "conv3x3 320->320 @64x64 f32 (UNet level 1)": lambda: conv_graph(320, 320, 64),
    "conv3x3 64->64 @128x128 f32 (TAESD decoder)": lambda: conv_graph(64, 64, 128),
    "conv3x3 64->64 @256x256 f32 (TAESD decoder)": lambda: conv_graph(64, 64, 256),
    "conv3x3 64->64 @512x512 f32 (TAESD decoder, last level)": lambda: conv_graph(64, 64, 512),
}

CASES = {
    "conv3x3 32->32 @16x16 (denoiser, level 1)": lambda: conv_graph(32, 32, 16),
    "conv3x3 64->64 @8x8 (denoiser, level 2)": lambda: conv_graph(64, 64, 8),
    "conv3x3 128->128 @4x4 (denoiser, level 3)": lambda: conv_graph(128, 128, 4),
    "conv3x3 48->48 @32x32 (decoder)": lambda: conv_graph(48, 48, 32),
    "conv3x3 32->32 @64x64 (decoder)": lambda: conv_graph(32, 32, 64),
    "matmul 256x32 @ 32x32 (attention projection, 16x16)": lambda: matmul_graph(256, 32, 32),
    "matmul 64x64 @ 64x64 (attention projection, 8x8)": lambda: matmul_graph(64, 64, 64),
    "matmul 256x512 @ 512x512 (large, reference)": lambda: matmul_graph(256, 512, 512),
    "upsample 2x (Reshape/Expand/Reshape) 32ch 64->128": lambda: upsample_graph(32, 64),
}


def ort_time(path, shapes, runs, threads=1):
    """(min, median) ms of `path` in onnxruntime on `threads` threads, its inputs
    filled with the same values as examples/tract_gap.rs and graph_time.rs."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feeds = {i.name: (np.arange(int(np.prod(sh))) * 7919 % 1000 / 500.0 - 1.0).astype(np.float32).reshape(sh)
             for i, sh in zip(s.get_inputs(), shapes)}
    return min_median_ms(s, feeds, runs, warmup=5)


def min_median_ms(session, feeds, runs, warmup):
    """An onnxruntime session timed after `warmup` runs: (min, median) ms of `runs`."""
    for _ in range(warmup):
        session.run(None, feeds)
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, feeds)
        ms.append((time.perf_counter() - t) * 1000)
    return float(np.min(ms)), float(np.median(ms))


def tract_time(binary, path, shapes, runs):
    args = [binary, path] + [",".join(map(str, s)) for s in shapes] + [str(runs)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["min_ms"], r["median_ms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--out", default=os.path.join(REPO, "runs", "tract_gap"))
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "examples", "tract_gap"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--real-size", action="store_true", help="the real-size SD shapes (REAL_SIZE_CASES) instead")
    ap.add_argument("--only", default=None, help="only the cases whose name contains this text")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cases = REAL_SIZE_CASES if a.real_size else CASES
    if a.only:
        cases = {k: v for k, v in cases.items() if a.only in k}
    rows = []
    print("| graph | MFLOP | tract ms | onnxruntime ms | tract / ort | tract GFLOP/s | ort GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, make) in enumerate(cases.items()):
        g, shapes, flops = make()
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        path = os.path.join(a.out, f"{'real' if a.real_size else 'case'}{i}.onnx")
        onnx.save(m, path)
        t_min, _ = tract_time(a.binary, path, shapes, a.runs)
        o_min, _ = ort_time(path, shapes, a.runs)
        gf = lambda ms: f"{flops / ms / 1e6:.1f}" if flops else "-"
        rows.append(dict(graph=name, file=path, mflop=flops / 1e6, tract_min_ms=t_min, ort_min_ms=o_min))
        print(f"| {name} | {flops / 1e6:.1f} | {t_min:.3f} | {o_min:.3f} | {t_min / o_min:.2f} | {gf(t_min)} | {gf(o_min)} |",
              flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(dict(rows=rows, runs=a.runs, note="min over runs, 1 thread"), fh, indent=1)


if __name__ == "__main__":
    main()
