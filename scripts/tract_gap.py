"""Where tract is slower than onnxruntime, one operator at a time: a minimal
reproduction to report upstream (tract 0.23.9, single thread).

Writes one-operator ONNX graphs (opset 17) with the shapes of the shipped
scenes model (3x3 convolutions of the denoiser and decoder, the attention
projections, the decoder's broadcast upsampling), times each in plain
tract-onnx (examples/tract_gap.rs, no edgepaint code) and in onnxruntime on
the same file and inputs, and prints a markdown table with GFLOP/s.

  cargo build --release --example tract_gap
  python3 scripts/tract_gap.py [--runs 50] [--out runs/tract_gap] [--json FILE]

Needs numpy, onnx and onnxruntime."""
import argparse
import json
import os
import subprocess
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def ort_time(path, shapes, runs):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feeds = {i.name: (np.arange(int(np.prod(sh))) * 7919 % 1000 / 500.0 - 1.0).astype(np.float32).reshape(sh)
             for i, sh in zip(s.get_inputs(), shapes)}
    for _ in range(5):
        s.run(None, feeds)
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, feeds)
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
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    print("| graph | MFLOP | tract ms | onnxruntime ms | tract / ort | tract GFLOP/s | ort GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, make) in enumerate(CASES.items()):
        g, shapes, flops = make()
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        path = os.path.join(a.out, f"case{i}.onnx")
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
