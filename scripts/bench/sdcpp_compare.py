#!/usr/bin/env python3
"""edgepaint against stable-diffusion.cpp on the same real-size model (issue 14).

One picture per run, 512x512, 1 step (--steps), cfg 1, Euler (--sampler), N threads, each program run under
`/usr/bin/time -v` (peak RSS, wall, CPU), the two programs alternated so that a busy
host slows both alike; the ratios within a round are the robust part. sd.cpp runs the
checkpoint written by scripts/bench/sdcpp_checkpoint.py from the same diffusers folder
our bundle was exported from (same random weights).

    scripts/bench/sdcpp_build.sh SDCPP_GIT GGML_GIT /work/sdcpp      # bin/sd-cli-{default,llamafile}
    python3 -m scripts.bench.sdcpp_compare --prepare --pipeline runs/real/sd-turbo \\
        --sdcpp /work/sdcpp/bin/sd-cli-default --sdcpp-bin llamafile=/work/sdcpp/bin/sd-cli-llamafile \\
        --edgepaint /tmp/ep-bin/edgepaint --bundle runs/real/bundle-sd-turbo --dir runs/sdcpp \\
        --rounds 2 --threads 2 [--variants sd-q8_0@llamafile,ep-int8,...]

SDXS-512-class (sd.cpp reads its pruned UNet as SD2_TINY_UNET) and LCM SD 1.5 (4 steps,
sd.cpp's lcm sampler; sd.cpp has no guidance embedding, so its UNet is the same one
without that 256 -> 1280 linear map, --drop-guidance-embedding), both with TAESD:

    python3 -m scripts.bench.sdcpp_compare --prepare --pipeline runs/real/sdxs-512 --name sdxs \
        --taesd-src runs/real/taesd --variants sd-q8_0-taesd@llamafile,ep-int8,sd-f32-taesd@llamafile,ep-f32 ...
    python3 -m scripts.bench.sdcpp_compare --prepare --pipeline runs/real/lcm-sd15 --name lcm \
        --drop-guidance-embedding --steps 4 --sampler lcm --taesd-src runs/real/taesd ...

Results and what the comparison leaves unequal: the README's real-size tables.

--prepare writes what is missing under --dir: NAME-f32.safetensors (the converter),
NAME-f16.gguf and NAME-q8_0.gguf (NAME: --name, default sd-turbo) (`sd-cli -M convert --type ...` from the f32
file, so q8_0 is quantized once, before the timed runs, not at load), and with
--taesd-src taesd.safetensors.

Variants (--variants, comma-separated, in this order within a round; the second round
runs them in reverse, ABBA):
  sd-q8_0   sd.cpp, sd-turbo-q8_0.gguf      ep-int8  edgepaint, BUNDLE (model.toml)
  sd-f32    sd.cpp, sd-turbo-f32.safetensors ep-f32   edgepaint, BUNDLE/model-f32.toml
  sd-f16    sd.cpp, sd-turbo-f16.gguf
Any sd variant may name another sd.cpp build as VARIANT@TAG with --sdcpp-bin TAG=PATH
(e.g. sd-q8_0@llamafile for a build with -DGGML_LLAMAFILE=ON).
extras (not by default): sd-q8_0-taesd (--taesd), sd-q8_0-fa (--diffusion-fa),
  sd-q8_0-convdirect (--diffusion-conv-direct --vae-conv-direct), sd-q8_0-tiling
  (--vae-tiling), sd-q8_0-lazy (without --eager-load), sd-q8_0-mmap (--mmap),
  sd-f32-taesd.

sd.cpp runs with --eager-load (all weights read before the first stage, so its "load"
is one number as edgepaint's is; its default loads each model on first use, inside the
stage timings) and --prediction eps (it otherwise runs a small UNet probe at load to
tell eps from v-prediction for SD 2.x; the probe picks eps for this model).

Stage times, sd.cpp: load = sum of its "loading tensors completed, taking" lines, text
= "get_learned_condition completed", step = "sampling completed" / steps, decode =
"decode_first_stage completed", total = "generate_image completed in" (text + steps +
decode); edgepaint: its --json timings (load = load + optimize of the three graphs).
Each run also records how much CPU the rest of the host took meanwhile (/proc/stat less
the run's own user+sys, "others' CPU %"): on a shared host that decides how far a
2-thread ggml run (a barrier after every operator) falls behind.
Writes --out (JSON: every run, with its command, log and PNG) and --md (tables); logs
and pictures go to DIR/logs and DIR/out, named after --out's stem.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from scripts.hashing import sha256

def sd_base(args: argparse.Namespace) -> list[str]:
    """sd.cpp's flags common to every variant: STEPS steps of SAMPLER, no guidance (cfg 1)."""
    return ["--steps", str(args.steps), "--cfg-scale", "1", "--sampling-method", args.sampler, "--scheduler",
            "discrete", "-W", "512", "-H", "512", "--prediction", "eps", "-v"]

SD_VARIANTS: dict[str, tuple[str, list[str]]] = {
    # name: (model file key, extra flags)
    "sd-q8_0": ("q8_0", []),
    "sd-f16": ("f16", []),
    "sd-f32": ("f32", []),
    "sd-q8_0-taesd": ("q8_0", ["--taesd", "{taesd}"]),
    "sd-q8_0-fa": ("q8_0", ["--diffusion-fa"]),
    "sd-q8_0-convdirect": ("q8_0", ["--diffusion-conv-direct", "--vae-conv-direct"]),
    "sd-q8_0-tiling": ("q8_0", ["--vae-tiling"]),
    "sd-q8_0-lazy": ("q8_0", ["--no-eager"]),
    "sd-q8_0-mmap": ("q8_0", ["--mmap"]),
    "sd-f32-taesd": ("f32", ["--taesd", "{taesd}"]),
}
EP_VARIANTS = {"ep-int8": "model.toml", "ep-f32": "model-f32.toml"}
DEFAULT_VARIANTS = "sd-q8_0,ep-int8,sd-f32,ep-f32,sd-f16"
PAIRS = [("sd-q8_0", "ep-int8"), ("sd-f32", "ep-f32"), ("sd-f16", "ep-f32"), ("sd-q8_0-taesd", "ep-int8"),
         ("sd-f32-taesd", "ep-f32")]


def model_files(d: Path, name: str = "sd-turbo") -> dict[str, Path]:
    return {"f32": d / f"{name}-f32.safetensors", "f16": d / f"{name}-f16.gguf",
            "q8_0": d / f"{name}-q8_0.gguf", "taesd": d / "taesd.safetensors"}


def prepare(args: argparse.Namespace) -> None:
    files = model_files(args.dir, args.name)
    args.dir.mkdir(parents=True, exist_ok=True)
    logs = args.dir / "logs"
    logs.mkdir(exist_ok=True)
    if not files["f32"].exists():
        if not args.pipeline:
            sys.exit(f"--prepare needs --pipeline to write {files['f32'].name}")
        drop = ["--drop-guidance-embedding"] if args.drop_guidance_embedding else []
        subprocess.run([sys.executable, "-m", "scripts.bench.sdcpp_checkpoint", str(args.pipeline),
                        str(files["f32"]), *drop], check=True)
    for t in ("f16", "q8_0"):
        if not files[t].exists():
            with open(logs / f"convert_{t}.log", "w") as log:
                subprocess.run([args.sdcpp, "-M", "convert", "-m", str(files["f32"]), "-o", str(files[t]),
                                "--type", t, "-t", str(args.threads), "-v"], check=True, stdout=log,
                               stderr=subprocess.STDOUT)
    if args.taesd_src and not files["taesd"].exists():
        subprocess.run([sys.executable, "-m", "scripts.bench.sdcpp_checkpoint", str(args.taesd_src),
                        str(files["taesd"]), "--taesd"], check=True)


_TIME_FIELDS = {
    "Maximum resident set size (kbytes)": ("max_rss_kib", int),
    "User time (seconds)": ("user_s", float),
    "System time (seconds)": ("sys_s", float),
    "Percent of CPU this job got": ("cpu_percent", lambda s: int(s.rstrip("%"))),
    "Exit status": ("exit_status", int),
}


def parse_time_v(text: str) -> dict:
    out: dict = {}
    for line in text.splitlines():
        line = line.strip()
        for key, (name, conv) in _TIME_FIELDS.items():
            if line.startswith(key + ":"):
                out[name] = conv(line.split(":", 1)[1].strip())
        if line.startswith("Elapsed (wall clock) time"):
            v = line.rsplit(" ", 1)[1]
            parts = [float(p) for p in v.split(":")]
            secs = 0.0
            for p in parts:
                secs = secs * 60 + p
            out["wall_s"] = secs
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def parse_sdcpp_log(text: str, steps: int = 1) -> dict:
    text = _ANSI.sub("", text).replace("\r", "\n")
    def secs(pattern: str) -> list[float]:
        return [float(m) for m in re.findall(pattern, text)]
    loads = secs(r"loading tensors completed, taking ([0-9.]+)s")
    text_s = secs(r"get_learned_condition completed, taking ([0-9.]+)s")
    samp = secs(r"sampling completed, taking ([0-9.]+)s")
    dec = secs(r"decode_first_stage completed, taking ([0-9.]+)s")
    total = secs(r"generate_image completed in ([0-9.]+)s")
    params = re.search(r"total params memory size = ([0-9.]+)MB", text)
    compute = {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+) compute buffer size: ([0-9.]+) MB", text)}
    out = {
        "load_ms": 1000 * sum(loads) if loads else None,
        "load_parts_ms": [1000 * x for x in loads],
        "text_ms": 1000 * text_s[-1] if text_s else None,
        "step_ms": 1000 * samp[-1] / steps if samp else None,
        "decode_ms": 1000 * dec[-1] if dec else None,
        "total_ms": 1000 * total[-1] if total else None,
        "params_mb": float(params.group(1)) if params else None,
        "compute_buffers_mb": compute,
        "weight_types": re.findall(r"Weight type stat:\s+(.*)", text)[:1],
        "errors": [l for l in text.splitlines() if l.startswith("[ERROR]")][:20],
        "prediction": (re.findall(r"running in ([\w-]+) mode", text) or [None])[-1],
        "version": (re.findall(r"Version: (.*)", text) or [None])[0],
    }
    return out


def host_busy_s() -> float | None:
    """CPU seconds all processes have spent busy since boot (/proc/stat), to tell how
    much of each run's wall time other programs took."""
    try:
        fields = open("/proc/stat").readline().split()[1:]
    except OSError:
        return None
    vals = [int(x) for x in fields]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return (sum(vals[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def sha256_if_present(path: Path) -> str | None:
    return sha256(path) if path.exists() else None


def run_one(args: argparse.Namespace, variant: str, rnd: int) -> dict:
    files = model_files(args.dir, args.name)
    logs = args.dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    tag = f"{args.run_name}-t{args.threads}-r{rnd}-{variant}".replace("@", "-at-")
    png = args.dir / "out" / f"{tag}.png"
    png.parent.mkdir(exist_ok=True)
    log = logs / f"{tag}.log"
    if variant in EP_VARIANTS:
        model = args.bundle / EP_VARIANTS[variant]
        if EP_VARIANTS[variant] == "model.toml":
            model = args.bundle
        cmd = [args.edgepaint, "--threads", str(args.threads), "generate", args.prompt, "--seed", str(args.seed),
               "--steps", str(args.steps), "--model", str(model), "-o", str(png), "--json"]
    else:
        base, _, bin_tag = variant.partition("@")
        key, extra = SD_VARIANTS[base]
        binary = args.sdcpp_bins[bin_tag] if bin_tag else args.sdcpp
        eager = "--no-eager" not in extra
        extra = [e.format(taesd=files["taesd"]) for e in extra if e != "--no-eager"]
        cmd = [binary, "-m", str(files[key]), "-p", args.prompt, "-s", str(args.seed), "-t", str(args.threads),
               *sd_base(args), *(["--eager-load"] if eager else []), *extra, "-o", str(png)]
    full = ["/usr/bin/time", "-v", *cmd]
    t0 = time.time()
    busy0 = host_busy_s()
    with open(log, "w") as f:
        f.write("$ " + shlex.join(full) + "\n")
        f.flush()
        proc = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        f.write(proc.stdout)
    busy1 = host_busy_s()
    rec: dict = {"variant": variant, "round": rnd, "cmd": shlex.join(cmd), "rc": proc.returncode,
                 "log": str(log), "png": str(png), "started": time.strftime("%H:%M:%S", time.localtime(t0))}
    rec.update(parse_time_v(proc.stdout))
    if busy0 is not None and busy1 is not None and rec.get("wall_s"):
        own = rec.get("user_s", 0.0) + rec.get("sys_s", 0.0)
        # other programs' CPU during this run, in % of one core (0: the host was ours)
        rec["other_cpu_percent"] = round(100 * max(0.0, (busy1 - busy0) - own) / rec["wall_s"])
    if variant in EP_VARIANTS:
        js = None
        for line in proc.stdout.splitlines():
            line = line.strip()
            if line.startswith("{") and '"timings"' in line:
                js = json.loads(line)
        if js:
            t = js["timings"]
            rec.update({"load_ms": t["load_ms"], "text_ms": t["text_ms"],
                        "step_ms": sum(t["steps_ms"]) / max(1, len(t["steps_ms"])), "decode_ms": t["decode_ms"],
                        "total_ms": t["total_ms"] - t["load_ms"], "watermark_ms": js.get("watermark_ms"),
                        "model": js.get("model")})
    else:
        rec.update(parse_sdcpp_log(proc.stdout, args.steps))
    rec["png_sha256"] = sha256_if_present(png)
    return rec


def fmt_s(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f}"


def summarize(runs: list[dict]) -> dict[str, dict]:
    by: dict[str, list[dict]] = {}
    for r in runs:
        if r.get("rc") == 0:
            by.setdefault(r["variant"], []).append(r)
    out = {}
    for v, rs in by.items():
        agg = {}
        for k in ("load_ms", "text_ms", "step_ms", "decode_ms", "total_ms", "wall_s", "max_rss_kib", "user_s",
                  "cpu_percent", "other_cpu_percent"):
            vals = [r[k] for r in rs if r.get(k) is not None]
            if vals:
                agg[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}
        out[v] = agg
    return out


def round_ratios(runs: list[dict]) -> list[dict]:
    """sd.cpp / edgepaint per stage, within each round (same host load)."""
    rows = []
    rounds = sorted({r["round"] for r in runs})
    present = sorted({r["variant"] for r in runs})
    pairs = [(v, b) for a, b in PAIRS for v in present if v == a or v.startswith(a + "@")]
    for a, b in pairs:
        per = {k: [] for k in ("load_ms", "text_ms", "step_ms", "decode_ms", "total_ms", "wall_s", "max_rss_kib")}
        for rnd in rounds:
            ra = [r for r in runs if r["round"] == rnd and r["variant"] == a and r.get("rc") == 0]
            rb = [r for r in runs if r["round"] == rnd and r["variant"] == b and r.get("rc") == 0]
            if not ra or not rb:
                continue
            for k in per:
                if ra[0].get(k) and rb[0].get(k):
                    per[k].append(ra[0][k] / rb[0][k])
        if any(per.values()):
            rows.append({"pair": f"{a} / {b}", **{k: (statistics.median(v) if v else None) for k, v in per.items()},
                         "rounds": len(per["step_ms"])})
    return rows


def markdown(runs: list[dict], meta: dict) -> str:
    summ = summarize(runs)
    lines = ["| variant | load s | text s | 1 step s | decode s | text+step+decode s | wall s | peak RSS GB | CPU % | others' CPU % | n |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in [x for x in meta["variants"] if x in summ]:
        a = summ[v]
        def cell(k: str, scale: float = 1000.0, nd: int = 1) -> str:
            if k not in a:
                return "–"
            m = a[k]
            if m["n"] == 1:
                return f"{m['median'] / scale:.{nd}f}"
            return f"{m['median'] / scale:.{nd}f} ({m['min'] / scale:.{nd}f}–{m['max'] / scale:.{nd}f})"
        lines.append(f"| {v} | {cell('load_ms')} | {cell('text_ms', nd=2)} | {cell('step_ms')} | {cell('decode_ms')} | "
                     f"{cell('total_ms')} | {cell('wall_s', 1.0)} | {cell('max_rss_kib', 1e6 / 1.024, 2)} | "
                     f"{cell('cpu_percent', 1.0, 0)} | {cell('other_cpu_percent', 1.0, 0)} | "
                     f"{a.get('wall_s', {}).get('n', 0)} |")
    lines += ["", "Ratios sd.cpp / edgepaint, median over rounds of the within-round ratio (< 1: sd.cpp faster or smaller):", "",
              "| pair | load | text | step | decode | text+step+decode | wall | peak RSS | rounds |", "|---|---|---|---|---|---|---|---|---|"]
    for row in round_ratios(runs):
        f = lambda k: "–" if row[k] is None else f"{row[k]:.2f}"
        lines.append(f"| {row['pair']} | {f('load_ms')} | {f('text_ms')} | {f('step_ms')} | {f('decode_ms')} | "
                     f"{f('total_ms')} | {f('wall_s')} | {f('max_rss_kib')} | {row['rounds']} |")
    lines += ["", "Runs in order (CPU %: this program, of one core; others': the rest of the host during the run):", "",
              "| start | round | variant | rc | load | text | step | decode | wall | RSS GB | CPU % | others' CPU % |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        rss = r.get("max_rss_kib")
        lines.append(f"| {r['started']} | {r['round']} | {r['variant']} | {r['rc']} | {fmt_s(r.get('load_ms'))} | "
                     f"{fmt_s(r.get('text_ms'))} | {fmt_s(r.get('step_ms'))} | {fmt_s(r.get('decode_ms'))} | "
                     f"{r.get('wall_s', 0):.1f} | {'–' if rss is None else f'{rss * 1.024 / 1e6:.2f}'} | "
                     f"{r.get('cpu_percent', '–')} | {r.get('other_cpu_percent', '–')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--sdcpp", required=True, help="sd.cpp's CLI (build/bin/sd-cli)")
    ap.add_argument("--edgepaint", required=True, help="edgepaint binary (a copy, not target/)")
    ap.add_argument("--bundle", type=Path, required=True, help="edgepaint bundle folder (model.toml, model-f32.toml)")
    ap.add_argument("--dir", type=Path, default=Path("runs/sdcpp"), help="sd.cpp model files, logs, outputs")
    ap.add_argument("--prepare", action="store_true", help="write the sd.cpp model files that are missing")
    ap.add_argument("--pipeline", type=Path, help="with --prepare: the diffusers folder")
    ap.add_argument("--taesd-src", type=Path, help="with --prepare: an AutoencoderTiny folder")
    ap.add_argument("--drop-guidance-embedding", action="store_true",
                    help="with --prepare: leave out an LCM UNet's guidance embedding (sd.cpp has none)")
    ap.add_argument("--name", default="sd-turbo", help="stem of the sd.cpp model files in DIR (NAME-q8_0.gguf, ...)")
    ap.add_argument("--steps", type=int, default=1, help="denoiser steps, both programs")
    ap.add_argument("--sampler", default="euler", help="sd.cpp's --sampling-method (lcm for an LCM model)")
    ap.add_argument("--sdcpp-bin", action="append", default=[], metavar="TAG=PATH",
                    help="another sd.cpp build, for variants VARIANT@TAG")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", default="a red fox")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="JSON of every run (default DIR/compare.json)")
    ap.add_argument("--md", type=Path, help="tables (default DIR/compare.md)")
    args = ap.parse_args(argv)
    out = args.out or args.dir / "compare.json"
    args.run_name = out.stem  # names the logs and pictures of this invocation
    md = args.md or args.dir / "compare.md"
    if args.prepare:
        prepare(args)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    args.sdcpp_bins = dict(b.split("=", 1) for b in args.sdcpp_bin)
    for v in variants:
        base, _, tag = v.partition("@")
        if base not in SD_VARIANTS and v not in EP_VARIANTS:
            sys.exit(f"unknown variant {v!r}")
        if tag and (base not in SD_VARIANTS or tag not in args.sdcpp_bins):
            sys.exit(f"variant {v!r}: no --sdcpp-bin {tag}=PATH")
    meta = {"variants": variants, "threads": args.threads, "name": args.name, "steps": args.steps,
            "sampler": args.sampler, "prompt": args.prompt, "seed": args.seed,
            "sdcpp": args.sdcpp, "sdcpp_bins": args.sdcpp_bins, "edgepaint": args.edgepaint, "bundle": str(args.bundle),
            "host": os.uname().nodename, "nproc": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        meta["sdcpp_version"] = subprocess.run([args.sdcpp, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    runs: list[dict] = []
    for rnd in range(1, args.rounds + 1):
        order = variants if rnd % 2 == 1 else list(reversed(variants))
        for v in order:
            rec = run_one(args, v, rnd)
            runs.append(rec)
            print(json.dumps({k: rec.get(k) for k in ("round", "variant", "rc", "load_ms", "text_ms", "step_ms",
                                                      "decode_ms", "wall_s", "max_rss_kib", "cpu_percent",
                                                      "other_cpu_percent")}),
                  flush=True)
            out.write_text(json.dumps({"meta": meta, "runs": runs, "summary": summarize(runs),
                                       "ratios": round_ratios(runs)}, indent=1))
            md.write_text(markdown(runs, meta))
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    out.write_text(json.dumps({"meta": meta, "runs": runs, "summary": summarize(runs), "ratios": round_ratios(runs)},
                              indent=1))
    md.write_text(markdown(runs, meta))
    print(md.read_text())
    return 0 if all(r["rc"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
