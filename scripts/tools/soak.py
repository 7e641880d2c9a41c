#!/usr/bin/env python3
"""Soak the kiosk: N pictures through `edgepaint kiosk` on stdin, with the png
display, and a line every REPORT pictures: pictures done, the kiosk's RSS,
seconds per picture over the last stretch, and the disk used by pictures and
frames. Ends with a summary; exits 1 if the kiosk died, a picture is missing
or RSS grew by more than --max-growth-mib after the first report.

    cargo build --release
    python3 -m scripts.tools.soak --pictures 10000 [--keep 500] [--binary target/release/edgepaint]

Linux only (reads /proc); needs nothing but Python.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPTS = ["a red house on a snowy field at night", "a boat on the sea at sunset", "three green trees on a hill",
           "a yellow boat on the sea at night", "a blue cottage on the grassland at noon"]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def disk_mib(path: str) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total / 2**20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pictures", type=int, default=1000)
    ap.add_argument("--report", type=int, default=0, help="a line every N pictures (default: pictures / 20)")
    ap.add_argument("--keep", type=int, help="[output] keep for the run (default: keep every picture)")
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "edgepaint"))
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--max-growth-mib", type=float, default=20.0)
    ap.add_argument("--json", help="write the reports here")
    a = ap.parse_args(argv)
    report_every = a.report or max(1, a.pictures // 20)
    work = tempfile.mkdtemp(prefix="edgepaint-soak-")
    board = os.path.join(work, "board.toml")
    keep = f"keep = {a.keep}\n" if a.keep else ""
    with open(board, "w") as f:
        f.write(f'name = "soak"\n[output]\ndir = "{work}/pictures"\n{keep}[queue]\ncapacity = 2\n'
                f'[stdin]\nenabled = true\n[display]\nkind = "png"\ndir = "{work}/frames"\n')
    kiosk = subprocess.Popen([a.binary, "kiosk", "--board", board, "--model", os.path.join(REPO, "models", "scenes")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             bufsize=1)
    done = 0
    ready = threading.Event()
    finished = threading.Condition()
    errors = []

    def read():
        nonlocal done
        for line in kiosk.stdout:
            event = json.loads(line)
            if event.get("event") == "ready":
                ready.set()
            elif event.get("event") == "done":
                with finished:
                    done += 1
                    finished.notify_all()
            elif event.get("event") == "error" and event.get("code") != "busy":
                errors.append(event)

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        print("the kiosk did not start", file=sys.stderr)
        return 1
    kiosk.stdin.write(f"/steps {a.steps}\n")
    reports = []
    started = last_t = time.monotonic()
    last_done = 0
    sent = 0
    while done < a.pictures and kiosk.poll() is None:
        with finished:
            # Keep the queue fed, one picture ahead.
            while sent < a.pictures and sent - done < 2:
                kiosk.stdin.write(PROMPTS[sent % len(PROMPTS)] + "\n")
                sent += 1
            finished.wait(1.0)
        if done - last_done >= report_every or done >= a.pictures:
            now = time.monotonic()
            r = {"pictures": done, "rss_mib": round(rss_mib(kiosk.pid), 1),
                 "s_per_picture": round((now - last_t) / max(1, done - last_done), 3),
                 "pictures_mib": round(disk_mib(os.path.join(work, "pictures")), 1),
                 "frames_mib": round(disk_mib(os.path.join(work, "frames")), 1)}
            reports.append(r)
            print(json.dumps(r), flush=True)
            last_t, last_done = now, done
    alive = kiosk.poll() is None
    kiosk.stdin.close()
    kiosk.wait(60)
    elapsed = time.monotonic() - started
    files = len(os.listdir(os.path.join(work, "pictures")))
    expected = min(a.pictures, a.keep) if a.keep else a.pictures
    growth = reports[-1]["rss_mib"] - reports[0]["rss_mib"] if reports else 0.0
    summary = {"pictures": done, "seconds": round(elapsed, 1), "alive_until_the_end": alive, "errors": len(errors),
               "picture_files": files, "expected_files": expected, "rss_growth_mib": round(growth, 1), "dir": work}
    print(json.dumps(summary))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"reports": reports, "summary": summary}, f, indent=1)
    ok = alive and done >= a.pictures and files == expected and growth <= a.max_growth_mib and not errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
