#!/usr/bin/env python3
"""Compare the speed of edgepaint builds (profiles, features) on one model.

    python3 -m scripts.bench.bench_builds --model DIR A=path/to/edgepaint B=path/to/other [--rounds 3]

Runs `edgepaint bench --json --threads 1` of each build in turn, `--rounds`
times (alternating, so a busy moment hits every build alike), and prints per
stage the best median over the rounds and its ratio to the first build.
Ratios within one run are the result; absolute times move between runs.
"""
import argparse
import json
import subprocess
import sys


def bench(binary, model, runs, warmup):
    out = subprocess.run(
        [binary, "--threads", "1", "bench", "--model", model, "--json", "--runs", str(runs), "--warmup", str(warmup)],
        check=True, capture_output=True, text=True,
    ).stdout
    report = json.loads(out)
    stages = {s["name"]: s["times_ms"]["median"] for s in report["stages"]}
    stages["start-up"] = report["startup_ms"]
    return stages


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="NAME=path/to/edgepaint")
    ap.add_argument("--model", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    builds = [b.split("=", 1) for b in a.builds]
    if any(len(b) != 2 for b in builds):
        sys.exit("each build is NAME=path")
    best = {name: {} for name, _ in builds}
    for r in range(a.rounds):
        for name, path in builds:
            for stage, ms in bench(path, a.model, a.runs, a.warmup).items():
                best[name][stage] = min(ms, best[name].get(stage, float("inf")))
            print(f"round {r + 1}/{a.rounds}: {name} done", file=sys.stderr)
    base = builds[0][0]
    stages = list(best[base])
    print("| stage | " + " | ".join(f"{n} ms" for n, _ in builds) + " | " + " | ".join(f"{n}/{base}" for n, _ in builds[1:]) + " |")
    print("|---" * (1 + 2 * len(builds) - 1) + "|")
    for s in stages:
        times = [best[n][s] for n, _ in builds]
        ratios = [best[n][s] / best[base][s] for n, _ in builds[1:]]
        print(f"| {s} | " + " | ".join(f"{t:.1f}" for t in times) + " | " + " | ".join(f"{x:.2f}" for x in ratios) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "rounds": a.rounds, "runs": a.runs, "builds": dict(builds), "best_median_ms": best}, f, indent=1)


if __name__ == "__main__":
    main()
