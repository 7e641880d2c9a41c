#!/usr/bin/env python3
"""Same prompt and seed on two builds (e.g. x86_64 native and aarch64 under
qemu-user): how far apart are the pictures?

    python3 -m scripts.tools.cross_arch_diff \\
        --a target/release/edgepaint \\
        --b "qemu-aarch64 -L /usr/aarch64-linux-gnu target/aarch64-unknown-linux-gnu/release/edgepaint" \\
        --n 20

Prints the max and mean absolute pixel difference (0..255) over all images,
the share of identical pixels and of identical files' pixel data. Seeds must
give the same noise on every platform (ChaCha20 + libm Box-Muller); float
kernels (tract's SIMD per architecture) may round differently.
Needs numpy and Pillow (scripts/requirements.txt).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import tempfile

import numpy as np

PROMPTS = [
    "a red house on a snowy field at night",
    "a yellow tree on a green hill at sunset, the sun on the left",
    "a blue boat on the sea in the morning, rain",
    "a small green car in the desert at noon, the moon on the right",
    "mountains under a starry sky with a white house",
]


def read_png_rgb(path: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def generate(cmd: list[str], prompt: str, seed: int, out: str, extra: list[str]):
    subprocess.run(cmd + ["generate", prompt, "--seed", str(seed), "--output", out] + extra,
                   check=True, capture_output=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="first edgepaint command (e.g. the native binary)")
    ap.add_argument("--b", required=True, help="second edgepaint command (e.g. qemu-aarch64 ... binary)")
    ap.add_argument("--n", type=int, default=10, help="images (prompts cycle, seeds 1..n)")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    extra = ["--model", args.model] if args.model else []
    a_cmd, b_cmd = shlex.split(args.a), shlex.split(args.b)
    diffs, same_files = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            prompt, seed = PROMPTS[i % len(PROMPTS)], i + 1
            pa, pb = os.path.join(tmp, f"a{i}.png"), os.path.join(tmp, f"b{i}.png")
            generate(a_cmd, prompt, seed, pa, extra)
            generate(b_cmd, prompt, seed, pb, extra)
            d = np.abs(read_png_rgb(pa).astype(np.int16) - read_png_rgb(pb).astype(np.int16))
            same_files += int(d.max() == 0)
            diffs.append(d)
            print(f"{i:3d} seed {seed:3d} max {d.max():3d} mean {d.mean():.4f}  {prompt}")
    d = np.stack(diffs)
    print(f"\n{args.n} images: max abs diff {d.max()} (0..255), mean {d.mean():.4f}, "
          f"identical pixels {100 * (d == 0).mean():.2f} %, identical images {same_files}/{args.n}")


if __name__ == "__main__":
    main()
