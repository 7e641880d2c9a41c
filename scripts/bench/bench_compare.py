#!/usr/bin/env python3
"""edgepaint (tract) against onnxruntime on the same ONNX files, in one run.

For each bundle variant (the shipped int8 model.toml and its f32
model-f32.toml) and each thread count, runs ``edgepaint bench --json
--save-inputs DIR`` and then times onnxruntime on the same files with the
tensors edgepaint wrote, and a float32 matmul microbenchmark (numpy/OpenBLAS)
for the machine's measured peak. Prints a markdown table:

    stage | edgepaint ms | onnxruntime ms | ratio | GFLOP/s | % of f32 peak

Usage (after ``cargo build --release``):

    python3 -m scripts.bench.bench_compare                       # models/scenes, 1 and 2 threads
    python3 -m scripts.bench.bench_compare --threads 1 --runs 20 --out runs/bench.json

Times are medians of ``--runs`` runs after warm-up. FLOPs are the ones tract
counts on each graph (2 per multiply-add), reported by ``edgepaint bench``.
Needs numpy and onnxruntime (pinned in scripts/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGES = ("text encoder", "denoiser step", "decoder", "whole image")


def run_edgepaint(binary, manifest, threads, steps, runs, warmup, inputs_dir):
    cmd = [binary, "bench", "--model", manifest, "--threads", str(threads), "--runs", str(runs),
           "--warmup", str(warmup), "--json", "--save-inputs", inputs_dir]
    if steps:
        cmd += ["--steps", str(steps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# The names of each component's inputs (edgepaint pins a graph stored in
# segments by these names; a single file by position).
INPUT_NAMES = {
    "text_encoder": ["input_ids"],
    "denoiser": ["sample", "timestep", "encoder_hidden_states"],
    "decoder": ["latents"],
}


def graph_files(manifest):
    """Each component's files (one, or its segments in order) and input names."""
    import tomllib

    with open(manifest, "rb") as f:
        m = tomllib.load(f)
    folder = os.path.dirname(os.path.abspath(manifest))
    return [([os.path.join(folder, m[c]["file"])] + [os.path.join(folder, t["file"]) for t in m[c].get("then", [])],
             INPUT_NAMES[c]) for c in ("text_encoder", "denoiser", "decoder")]


DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
          "tensor(float16)": np.float16}


class Graph:
    """One ONNX file, or segments run one after another with values handed on
    by name (docs/bundle.md "Segments"), as edgepaint runs them."""

    def __init__(self, paths, names, session):
        self.sessions = [session(p) for p in paths]
        self.names = names

    def feed(self, arrays):
        """The graph's inputs, cast once to the type their first reader declares (as edgepaint does)."""
        if len(self.sessions) == 1:
            metas = self.sessions[0].get_inputs()
            return {m.name: a.astype(DTYPES.get(m.type, a.dtype)) for m, a in zip(metas, arrays)}
        declared = {}
        for s in reversed(self.sessions):
            declared.update({m.name: m.type for m in s.get_inputs()})
        return {n: a.astype(DTYPES.get(declared.get(n), a.dtype)) for n, a in zip(self.names, arrays)}

    def run(self, _outputs, values):
        if len(self.sessions) == 1:
            return self.sessions[0].run(None, values)
        values = dict(values)
        for s in self.sessions:
            outs = s.run(None, {m.name: values[m.name] for m in s.get_inputs()})
            values.update(zip((o.name for o in s.get_outputs()), outs))
        return outs


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.min(times)), float(np.median(times))


def run_onnxruntime(report, inputs_dir, threads, runs, warmup):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL

    def session(path):
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def load(name):
        return np.load(os.path.join(inputs_dir, name + ".npy"))

    te, den, dec = (Graph(paths, names, session) for paths, names in graph_files(report["manifest"]))
    ids = load("input_ids")
    te_feed = te.feed([ids])
    states = te.run(None, te_feed)[0]
    den_feed = den.feed([load("sample"), load("timestep"), load("encoder_hidden_states")])
    dec_feed = dec.feed([load("latents")])
    calls = 2 if report["guidance"] > 1.0 else 1
    steps = report["steps"]

    def step():
        for _ in range(calls):
            den.run(None, den_feed)

    def image():
        # The same graph calls as one edgepaint image (scheduler arithmetic is negligible).
        for _ in range(calls):
            te.run(None, te_feed)
        for _ in range(steps):
            step()
        dec.run(None, dec_feed)

    diff = float(np.max(np.abs(states - load("encoder_hidden_states"))))
    return {
        "text encoder": timed(lambda: te.run(None, te_feed), runs, warmup),
        "denoiser step": timed(step, runs, warmup),
        "decoder": timed(lambda: dec.run(None, dec_feed), runs, warmup),
        "whole image": timed(image, max(3, runs // 2), 1),
        "text_states_max_abs_diff": diff,
    }


PEAK_SNIPPET = r"""
import time, numpy as np
n = 512
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
for _ in range(3): a @ b
best = 1e9
for _ in range(20):
    t0 = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t0)
print(2 * n ** 3 / best / 1e9)
"""


def f32_peak_gflops(threads):
    """Best-of-20 512x512 float32 matmul in numpy (OpenBLAS), on `threads` threads."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", PEAK_SNIPPET], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def table(rows):
    lines = ["| variant | threads | stage | MFLOP | edgepaint ms | onnxruntime ms | ratio | edgepaint GFLOP/s | % of f32 peak |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['threads']} | {r['stage']} | {r['mflop']:.1f} | {r['edgepaint_ms']:.2f} | "
                     f"{r['ort_ms']:.2f} | {r['ratio']:.2f} | {r['gflops']:.2f} | {r['peak_pct']:.0f} % |")
    return "\n".join(lines)


def cpu_name() -> str:
    """The CPU's model name and the int8 units that decide onnxruntime's speed
    (its int8 step halved from an AVX-512 VNNI host to one with AMX)."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or platform.platform()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith(("flags", "Features"))), [])
    units = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm") if f in flags]
    return f"{model or platform.processor() or platform.platform()} ({', '.join(units) or 'no int8 dot-product units'})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "models/scenes"), help="bundle folder")
    ap.add_argument("--variants", default="model.toml,model-f32.toml",
                    help="comma list of manifests in the bundle folder (default: int8 and f32)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/edgepaint"))
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts")
    ap.add_argument("--steps", type=int, default=None, help="steps of a whole image (default: the model's)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write all numbers as JSON here")
    args = ap.parse_args()

    if not os.path.exists(args.binary):
        sys.exit(f"error: {args.binary} not found (cargo build --release)")
    threads_list = [int(t) for t in args.threads.split(",")]
    peaks = {t: f32_peak_gflops(t) for t in threads_list}
    rows, reports = [], []
    for variant in args.variants.split(","):
        manifest = os.path.join(args.model, variant)
        if not os.path.exists(manifest):
            print(f"skipping {manifest}: not found", file=sys.stderr)
            continue
        for threads in threads_list:
            with tempfile.TemporaryDirectory() as tmp:
                rep = run_edgepaint(args.binary, manifest, threads, args.steps, args.runs, args.warmup, tmp)
                rep["manifest"] = manifest
                # onnxruntime needs more warm-up than edgepaint: on the LCM bundle (20 UNet
                # segments, 2026-12-04) its step took 3,629 ms after one warm-up run and
                # 1,897 ms after three, while its whole image (timed last) implied ~1.9 s
                # per step either way; edgepaint's times did not move. At least 3.
                ort_times = run_onnxruntime(rep, tmp, threads, args.runs, max(3, args.warmup))
            reports.append({"variant": variant, "threads": threads, "edgepaint": rep, "onnxruntime": ort_times})
            for stage in rep["stages"]:
                ep = stage["times_ms"]["median"]
                ort_ms = ort_times[stage["name"]][1]
                gflops = stage["gflops_per_s"]
                rows.append(dict(variant=variant, threads=threads, stage=stage["name"], mflop=stage["flops"] / 1e6,
                                 edgepaint_ms=ep, ort_ms=ort_ms, ratio=ep / ort_ms, gflops=gflops,
                                 peak_pct=100.0 * gflops / peaks[threads]))
    host = f"{platform.machine()}, {os.cpu_count()} cores, {cpu_name()}"
    print(f"host: {host}")
    print("f32 peak (numpy 512x512 matmul): " + ", ".join(f"{t} thread(s) {p:.1f} GFLOP/s" for t, p in peaks.items()))
    print()
    print(table(rows))
    print()
    for rep in reports:
        e = rep["edgepaint"]
        rss = e.get("peak_rss_bytes")
        print(f"{rep['variant']}, {rep['threads']} thread(s): start-up {e['startup_ms']:.0f} ms = "
              f"{e['startup_vs_image']:.1f} images; denoiser steps {100 * e['denoise_share']:.0f} % of an image; "
              f"peak RSS {rss / 1e6 if rss else float('nan'):.1f} MB; "
              f"text states tract vs onnxruntime max |diff| {rep['onnxruntime']['text_states_max_abs_diff']:.2e}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"host": host, "f32_peak_gflops": peaks, "rows": rows, "reports": reports}, f, indent=1)


if __name__ == "__main__":
    main()
