"""The README's real-size summary table, from `bench_compare.py --out` files.

    python3 -m scripts.bench.real_size_table "SD-Turbo=runs/real/bench_compare_sdturbo_w3.json" \\
        "SDXS-class=runs/real/bench_compare_sdxs_w3.json" "LCM SD 1.5=runs/real/bench_compare_lcm_w3.json"

One row per architecture and manifest: start-up, then each stage as
"edgepaint ms (onnxruntime ms: ratio)", and the held peak RSS of the
`edgepaint bench` process. Stages over the goal (1.25x onnxruntime) are
marked, so the table says by how much a goal is missed.
"""
import argparse
import json
import sys

GOAL_RATIO = 1.25
STAGES = ("text encoder", "denoiser step", "decoder", "whole image")
MANIFEST_NAMES = {"model.toml": "int8", "model-f32.toml": "f32", "model-f32dec.toml": "int8, f32 decoder"}


def stage_cell(row):
    ratio = row["ratio"]
    mark = "" if ratio <= GOAL_RATIO or row["stage"] == "whole image" else " ✗"
    return f"{row['edgepaint_ms']:,.0f} ({row['ort_ms']:,.0f}: {ratio:.2f}×){mark}"


def table_rows(name, result):
    """Markdown rows for one bench_compare result (one per manifest and thread count)."""
    lines = []
    for report in result["reports"]:
        variant, threads = report["variant"], report["threads"]
        by_stage = {r["stage"]: r for r in result["rows"] if r["variant"] == variant and r["threads"] == threads}
        missing = [s for s in STAGES if s not in by_stage]
        if missing:
            raise ValueError(f"{name}: {variant} has no {', '.join(missing)} row")
        e = report["edgepaint"]
        rss = e.get("peak_rss_bytes")
        cells = [name, MANIFEST_NAMES.get(variant, variant), str(e["steps"]), f"{e['startup_ms'] / 1000:.1f} s"]
        cells += [stage_cell(by_stage[s]) for s in STAGES]
        cells.append(f"{rss / 1e9:.2f} GB" if rss else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def table(named_results):
    header = ("| model | weights | steps | start-up | text encoder, ms (onnxruntime: ratio) | denoiser step | "
              "decoder | whole picture | peak RSS (all held) |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name, result in named_results:
        lines += table_rows(name, result)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="NAME=bench_compare.json")
    args = ap.parse_args(argv)
    named = []
    for item in args.results:
        name, sep, path = item.partition("=")
        if not sep:
            sys.exit(f"error: {item!r} is not NAME=FILE.json")
        with open(path) as f:
            named.append((name, json.load(f)))
    hosts = sorted({r["host"] for _, r in named})
    print(table(named))
    print()
    print("host: " + "; ".join(hosts))


if __name__ == "__main__":
    main()
