"""Fit a bundle's `fast` preview: a linear map from a latent pixel to its colour.

    python3 -m scripts.export.preview_fit BUNDLE/model.toml [--samples 4] [--write]

The `fast` preview (docs/bundle.md "Previews") colours each latent pixel with
RGB = bias + sum_c x0[c] * matrix[c], where x0 are the clean latents in the
denoiser's space. This script decodes a few smooth random latents with the
manifest's own decoder graph (onnxruntime, at the graph's fixed input size:
a tile for tiled decoders), averages each decoded block of pixels back to
one colour per latent pixel, and solves the least-squares map. Smooth
latents (blurred noise at unit variance, with random per-channel offsets)
stand in for real ones: their decoded colours come from the same channels.
It prints the fit's mean error in 8-bit levels and, with --write, puts
`[preview] kind = "fast"` with the map into the manifest (replacing an
earlier [preview] table; the bundle id changes with the manifest).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib

import numpy as np


def smooth_latents(rng: np.random.Generator, channels: int, h: int, w: int) -> np.ndarray:
    """Unit-variance latents with structure at several scales."""
    z = rng.standard_normal((channels, h, w)).astype(np.float32)
    # Box-blur by a random radius in the frequency-free way: cumulative sums.
    r = int(rng.integers(1, max(2, min(h, w) // 4)))
    k = 2 * r + 1
    pad = np.pad(z, ((0, 0), (r, r), (r, r)), mode="wrap")
    c = pad.cumsum(1).cumsum(2)
    c = np.pad(c, ((0, 0), (1, 0), (1, 0)))
    blurred = c[:, k:, k:] - c[:, :-k, k:] - c[:, k:, :-k] + c[:, :-k, :-k]
    blurred /= blurred.std(axis=(1, 2), keepdims=True) + 1e-6
    offsets = rng.standard_normal((channels, 1, 1)).astype(np.float32) * 0.5
    return (blurred + offsets).astype(np.float32)


def fit(manifest_path: str, samples: int = 4, seed: int = 0) -> dict:
    import onnxruntime as ort

    with open(manifest_path, "rb") as f:
        m = tomllib.load(f)
    folder = os.path.dirname(os.path.abspath(manifest_path))
    d = m["decoder"]
    if d.get("then"):
        raise SystemExit("preview_fit: a decoder stored in segments is not supported")
    channels, lh, lw = m["latent"]["channels"], m["latent"]["height"], m["latent"]["width"]
    tile = d.get("tile")
    h, w = (min(tile, lh), min(tile, lw)) if tile else (lh, lw)
    scale, shift = d["scaling_factor"], d.get("shift_factor", 0.0)
    lo, hi = d.get("output_range", [-1.0, 1.0])
    session = ort.InferenceSession(os.path.join(folder, d["file"]), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(samples):
        x0 = smooth_latents(rng, channels, h, w)
        out = session.run(None, {name: (x0 / scale + shift)[None]})[0][0]  # [3, H, W]
        f = out.shape[1] // h
        rgb = ((out - lo) / (hi - lo)).clip(0, 1).reshape(3, h, f, w, f).mean(axis=(2, 4))
        xs.append(x0.reshape(channels, -1).T)
        ys.append(rgb.reshape(3, -1).T)
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    a = np.concatenate([x, np.ones((len(x), 1), np.float32)], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    pred = (a @ coef).clip(0, 1)
    err = float(np.abs(pred - y).mean() * 255)
    baseline = float(np.abs(y - y.mean(axis=0)).mean() * 255)
    return {
        "matrix": [[round(float(v), 6) for v in row] for row in coef[:channels]],
        "bias": [round(float(v), 6) for v in coef[channels]],
        "mean_error_levels": err,
        "flat_mean_error_levels": baseline,
        "pixels": len(x),
    }


def preview_table(result: dict) -> str:
    rows = ", ".join("[" + ", ".join(repr(v) for v in row) + "]" for row in result["matrix"])
    bias = ", ".join(repr(v) for v in result["bias"])
    return (
        "[preview]\n"
        'kind = "fast"\n'
        f"# fitted by scripts/export/preview_fit.py: mean error {result['mean_error_levels']:.1f} levels\n"
        f"matrix = [{rows}]\n"
        f"bias = [{bias}]\n"
    )


def write(manifest_path: str, result: dict) -> None:
    with open(manifest_path) as f:
        text = f.read()
    # Drop an earlier [preview] table (up to the next table header).
    text = re.sub(r"(?ms)^\[preview\]\n.*?(?=^\[|\Z)", "", text).rstrip("\n") + "\n"
    with open(manifest_path, "w") as f:
        f.write(text + "\n" + preview_table(result))


def write_tiny(manifest_path: str, tiny: dict) -> None:
    """Add the `tiny` decoder (file, sha256, its scaling) to the manifest's [preview]. A
    fitted map of an earlier table stays, and stays the default (`fast`: a TAESD run per
    step costs most of a step at 512x512, README "Previews"); without one `tiny` is."""
    with open(manifest_path) as f:
        text = f.read()
    match = re.search(r"(?ms)^\[preview\]\n.*?(?=^\[|\Z)", text)
    kept = ""
    if match:
        kept = "".join(l + "\n" for l in match.group(0).splitlines()[1:] if not l.startswith("kind ="))
        text = text[: match.start()] + text[match.end():]
    kind = "fast" if "matrix =" in kept else "tiny"
    table = (
        "[preview]\n"
        f'kind = "{kind}"\n'
        f'file = "{tiny["file"]}"\n'
        f'sha256 = "{tiny["sha256"]}"\n'
        f"scaling_factor = {tiny['scaling_factor']!r}\n"
        f"shift_factor = {tiny['shift_factor']!r}\n"
        "output_range = [-1.0, 1.0]\n"
    )
    with open(manifest_path, "w") as f:
        f.write(text.rstrip("\n") + "\n\n" + table + kept)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("manifest", help="a bundle's model.toml (or another manifest of the folder)")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="put the fitted [preview] into the manifest")
    args = ap.parse_args(argv)
    result = fit(args.manifest, args.samples, args.seed)
    print(
        f"{args.manifest}: fast preview fitted on {result['pixels']} latent pixels: mean error "
        f"{result['mean_error_levels']:.1f} levels (a flat colour: {result['flat_mean_error_levels']:.1f})"
    )
    print(preview_table(result), end="")
    if args.write:
        write(args.manifest, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
