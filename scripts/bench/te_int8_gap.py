#!/usr/bin/env python3
"""Why the dynamic-int8 SD-Turbo text encoder (OpenCLIP ViT-H, 23 layers) is many
times slower in tract than in onnxruntime, and what the export-time rewrite in
scripts/export/int8_rewrite.py buys (issue 14). Findings: runs/real/FINDINGS.md.

    python3 -m scripts.bench.make_real_size_pipelines runs/real --only sd-turbo
    python3 -m scripts.bench.te_int8_gap bundle runs/real/sd-turbo runs/real/te-bundle
    python3 -m scripts.bench.te_int8_gap variants runs/real/te-bundle       # te-bundle-<variant>/ next to it
    python3 -m scripts.bench.te_int8_gap time runs/real/te-bundle* --edgepaint /tmp/ep-bin/edgepaint \
        --threads 1,2 --json runs/real/te_timings.json

`bundle`: an edgepaint bundle whose text encoder is the real-size one of the
pipeline folder and whose UNet and decoder are the tiny sd-turbo fixtures of
make_diffusers_fixtures.py (UNet cross-attention widened to 1024), exported by
export_diffusers.export (f32 + dynamic int8), so `edgepaint bench --profile`
times and profiles the real text encoder while the other stages cost nothing.

`variants`: copies of the bundle (other files hard-linked) whose
text_encoder.int8.onnx is rewritten by each function of scripts/export/int8_rewrite.py,
with model.toml's sha256 updated; prints onnxruntime's max abs difference of each
against the original int8 graph and the f32 graph on the same ids.

`time`: per bundle and thread count, the text encoder in edgepaint (`bench
--json`, min of --runs) and in onnxruntime 1.22 (same file, same ids,
intra_op_num_threads = N, min of --runs), and `bench --profile` per operator kind.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import numpy as np

from scripts.bench.tract_gap import min_median_ms
from scripts.hashing import sha256


PROMPT = "a photo of a red fox in the snow, 35mm, golden hour"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- bundle


def make_bundle(pipeline_dir, out, real="text_encoder"):
    """real = "text_encoder" (tiny UNet and decoder) or "unet" (tiny text encoder and decoder)."""
    import torch
    from diffusers import StableDiffusionPipeline  # noqa: F401  (import check)

    from scripts.export import export_diffusers
    from scripts.fixtures import make_diffusers_fixtures as fx

    with open(os.path.join(pipeline_dir, "text_encoder", "config.json")) as f:
        hidden = json.load(f)["hidden_size"]
    tmp = tempfile.mkdtemp(prefix="te-hybrid-")
    try:
        for sub in ("tokenizer", "scheduler", real):
            os.symlink(os.path.abspath(os.path.join(pipeline_dir, sub)), os.path.join(tmp, sub))
        fx.HIDDEN = hidden  # tiny modules as wide as the real text encoder / cross-attention
        with torch.no_grad():
            if real == "text_encoder":
                fx.unet("sd2").save_pretrained(os.path.join(tmp, "unet"))
            else:
                fx.text_encoder().save_pretrained(os.path.join(tmp, "text_encoder"))
            fx.decoder("vae").save_pretrained(os.path.join(tmp, "vae"))
        with open(os.path.join(pipeline_dir, "model_index.json")) as f:
            index = json.load(f)
        index["vae"] = ["diffusers", "AutoencoderKL"]
        with open(os.path.join(tmp, "model_index.json"), "w") as f:
            json.dump(index, f)
        t = time.time()
        export_diffusers.export(tmp, out, "sd-turbo", name="real-text-encoder", log=log)
        log(f"exported {out} in {time.time() - t:.0f} s")
    finally:
        shutil.rmtree(tmp)


def ids_for(bundle):
    """The ids edgepaint feeds the text encoder for PROMPT (CLIPTokenizer, pad from model.toml)."""
    from transformers import CLIPTokenizer

    toml = open(os.path.join(bundle, "model.toml")).read()
    pad_id = int(re.search(r"^pad_id = (\d+)", toml, re.M).group(1))
    tok = CLIPTokenizer(os.path.join(bundle, "vocab.json"), os.path.join(bundle, "merges.txt"), model_max_length=77)
    tok.pad_token = tok.convert_ids_to_tokens(pad_id)
    return np.array(tok(PROMPT, padding="max_length", max_length=77, truncation=True).input_ids,
                    np.int64)[None, :]


# ----------------------------------------------------------------------------- onnxruntime


def ort_session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_run(path, ids, threads=2):
    return ort_session(path, threads).run(None, {"input_ids": ids})[0]


def ort_time(path, ids, threads, runs, warmup=2):
    return min_median_ms(ort_session(path, threads), {"input_ids": ids}, runs, warmup)


def ort_profile(path, ids, threads, runs=3):
    """onnxruntime's own per-op-type profile (ms per run)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "ort_prof")
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(runs + 1):
        s.run(None, {"input_ids": ids})
    prof = s.end_profiling()
    with open(prof) as f:
        events = json.load(f)
    os.remove(prof)
    by_op, counts = {}, {}
    runs_seen = [e for e in events if e.get("name") == "model_run"]
    skip_first = runs_seen[0]["ts"] + runs_seen[0]["dur"] if runs_seen else 0
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or e["ts"] < skip_first:
            continue
        op = e["args"]["op_name"]
        by_op[op] = by_op.get(op, 0.0) + e["dur"] / 1000 / runs
        counts[op] = counts.get(op, 0) + 1
    return sorted(([op, ms, counts[op] // runs] for op, ms in by_op.items()), key=lambda r: -r[1])


# ----------------------------------------------------------------------------- edgepaint


def edgepaint_bench(binary, bundle, threads, runs, profile=False):
    args = [binary, "--threads", str(threads), "bench", "--model", bundle, "--runs", str(runs), "--warmup", "1",
            "--json"] + (["--profile"] if profile else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def te_stage(report):
    for s in report["stages"]:
        if "text" in s["name"]:
            return s
    raise KeyError("no text encoder stage in " + json.dumps([s["name"] for s in report["stages"]]))


# ----------------------------------------------------------------------------- variants


def make_variant(bundle, name, rewrite, graph="text_encoder"):
    out = os.path.normpath(bundle) + "-" + name
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    for f in os.listdir(bundle):
        if f != f"{graph}.int8.onnx" and os.path.isfile(os.path.join(bundle, f)):
            os.link(os.path.join(bundle, f), os.path.join(out, f))
    src, dst = os.path.join(bundle, f"{graph}.int8.onnx"), os.path.join(out, f"{graph}.int8.onnx")
    info = rewrite(src, dst)
    old, new = sha256(src), sha256(dst)
    os.remove(os.path.join(out, "model.toml"))
    with open(os.path.join(bundle, "model.toml")) as f:
        toml = f.read().replace(old, new)
    with open(os.path.join(out, "model.toml"), "w") as f:
        f.write(toml)
    return out, info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bundle")
    b.add_argument("pipeline")
    b.add_argument("out")
    b.add_argument("--real", default="text_encoder", choices=["text_encoder", "unet"])
    v = sub.add_parser("variants")
    v.add_argument("bundle")
    v.add_argument("--only", help="comma-separated int8_rewrite.VARIANTS names")
    t = sub.add_parser("time")
    t.add_argument("bundles", nargs="+")
    t.add_argument("--edgepaint", default="/tmp/ep-bin/edgepaint")
    t.add_argument("--threads", default="1,2")
    t.add_argument("--runs", type=int, default=5)
    t.add_argument("--profile", action="store_true", help="also edgepaint bench --profile and ort's profile")
    t.add_argument("--f32", action="store_true", help="also time text_encoder.onnx (f32) in onnxruntime and "
                   "edgepaint (model-f32.toml)")
    t.add_argument("--json")
    a = ap.parse_args(argv)

    if a.cmd == "bundle":
        make_bundle(a.pipeline, a.out, a.real)
        return
    if a.cmd == "variants":
        from scripts.export import int8_rewrite

        ids = ids_for(a.bundle)
        ref = ort_run(os.path.join(a.bundle, "text_encoder.int8.onnx"), ids)
        f32 = ort_run(os.path.join(a.bundle, "text_encoder.onnx"), ids)
        log(f"int8 vs f32 (onnxruntime): max abs {np.abs(ref - f32).max():.4g}, output scale "
            f"{np.abs(f32).max():.3g}")
        names = a.only.split(",") if a.only else list(int8_rewrite.VARIANTS)
        vpath = os.path.join(os.path.dirname(os.path.normpath(a.bundle)), "variants.json")
        rep = json.load(open(vpath)) if os.path.exists(vpath) else {}
        for n in names:
            out, info = make_variant(a.bundle, n, int8_rewrite.VARIANTS[n])
            y = ort_run(os.path.join(out, "text_encoder.int8.onnx"), ids)
            rep[n] = dict(info=info, max_abs_vs_int8=float(np.abs(y - ref).max()),
                          max_abs_vs_f32=float(np.abs(y - f32).max()),
                          int8_max_abs_vs_f32=float(np.abs(ref - f32).max()))
            log(f"{out}: {info}; onnxruntime max abs vs original int8 {rep[n]['max_abs_vs_int8']:.4g}, "
                f"vs f32 {rep[n]['max_abs_vs_f32']:.4g}")
        with open(vpath, "w") as f:
            json.dump(rep, f, indent=1)
        return

    rows = []
    threads = [int(x) for x in a.threads.split(",")]
    for bundle in a.bundles:
        ids = ids_for(bundle)
        graphs = [("int8", "text_encoder.int8.onnx", "model.toml")]
        if a.f32:
            graphs.append(("f32", "text_encoder.onnx", "model-f32.toml"))
        for kind, graph, toml in graphs:
            model = bundle if toml == "model.toml" else os.path.join(bundle, toml)
            for n in threads:
                rep = edgepaint_bench(a.edgepaint, model, n, a.runs)
                st = te_stage(rep)
                o_min, o_med = ort_time(os.path.join(bundle, graph), ids, n, a.runs)
                row = dict(bundle=bundle, graph=kind, threads=n, tract_min_ms=st["times_ms"]["min"],
                           tract_median_ms=st["times_ms"]["median"], ort_min_ms=o_min, ort_median_ms=o_med,
                           ratio=st["times_ms"]["min"] / o_min, startup_ms=rep.get("startup_ms"))
                log(f"{bundle} {kind} {n} thread(s): tract {row['tract_min_ms']:.1f} ms, onnxruntime "
                    f"{o_min:.1f} ms, ratio {row['ratio']:.2f}")
                if a.profile:
                    prof = edgepaint_bench(a.edgepaint, model, n, max(2, a.runs // 2), profile=True)
                    row["tract_profile"] = [g for g in prof["profile"] if "text" in g["graph"]][0]["ops"]
                    row["ort_profile"] = ort_profile(os.path.join(bundle, graph), ids, n)
                    for o in row["tract_profile"][:8]:
                        log(f"    tract {o['op']:<34} {o['nodes']:>4} nodes {o['ms']:>9.2f} ms")
                    for op, ms, c in row["ort_profile"][:8]:
                        log(f"    ort   {op:<34} {c:>4} nodes {ms:>9.2f} ms")
                rows.append(row)
                if a.json:
                    with open(a.json, "w") as f:
                        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
