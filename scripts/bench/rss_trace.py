#!/usr/bin/env python3
"""Peak memory of a command, and where it happens.

Runs COMMAND with RUST_LOG=info, samples its resident set size
(/proc/PID/status VmRSS) every 10 ms and prints the overall peak and the peak
between consecutive log lines of the program (edgepaint logs every graph it
loads: "FILE: read N ms, optimized M ms"; generate logs each stage), so a
streamed UNet shows one row per segment. Linux only; needs nothing but Python.

    python3 -m scripts.bench.rss_trace [--json OUT] -- ./target/release/edgepaint --low-memory \\
        generate "a red fox" --model runs/real/bundle/model.toml -o /tmp/fox.png

The peak agrees with `/usr/bin/time -v` within the sampling interval (a
spike shorter than 10 ms can be missed; time -v cannot be).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return 0


def trace(cmd: list[str], interval: float = 0.01) -> dict:
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    phases = [{"after": "(start)", "t": 0.0, "peak_mib": 0.0}]
    started = time.monotonic()
    lines: list[str] = []

    def read_stderr():
        for line in proc.stderr:
            line = line.rstrip("\n")
            lines.append(line)
            phases.append({"after": line[-160:], "t": round(time.monotonic() - started, 2), "peak_mib": 0.0})

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    peak = 0
    samples = []
    while proc.poll() is None:
        kib = _rss_kib(proc.pid)
        if kib:
            samples.append((round(time.monotonic() - started, 3), round(kib / 1024, 1)))
            peak = max(peak, kib)
            phase = phases[-1]
            phase["peak_mib"] = max(phase["peak_mib"], round(kib / 1024, 1))
        time.sleep(interval)
    reader.join(timeout=5)
    stdout = proc.stdout.read()
    return {"command": cmd, "exit_code": proc.returncode, "seconds": round(time.monotonic() - started, 1),
            "peak_mib": round(peak / 1024, 1), "phases": phases, "samples_s_mib": samples, "stdout": stdout, "stderr": lines}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the whole trace here")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command given")
    result = trace(cmd)
    for p in result["phases"]:
        print(f"{p['t']:8.2f} s  {p['peak_mib']:8.1f} MiB  {p['after']}")
    print(f"peak {result['peak_mib']:.1f} MiB, {result['seconds']} s, exit {result['exit_code']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
