#!/usr/bin/env python3
"""How much onnxruntime's own output of a dynamic-int8 graph moves when its input
moves by about one float32 ulp: the yardstick for tract-vs-onnxruntime
differences on int8 graphs (tests/diffusers_parity.rs, `vs_ort`).

    python3 -m scripts.tools.check_int8_sensitivity tests/fixtures/diffusers/sd-turbo

DynamicQuantizeLinear rounds every activation tensor to uint8 with a scale
taken from its min/max; an input change of 1e-7 (relative) can move one value
across a rounding boundary and the whole downstream picture by one
quantization step. If onnxruntime against itself moves as much as tract
differs from it, the difference is that effect, not a mis-executed op.
"""

import argparse
import os
import tomllib

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fixture", help="a tests/fixtures/diffusers/FAMILY folder")
    ap.add_argument("--tries", type=int, default=8)
    a = ap.parse_args()
    with open(os.path.join(a.fixture, "model.toml"), "rb") as f:
        dec = tomllib.load(f)["decoder"]
    sess = ort.InferenceSession(os.path.join(a.fixture, dec["file"]), providers=["CPUExecutionProvider"])
    z = np.load(os.path.join(a.fixture, "reference", "final.npy")) / dec["scaling_factor"] + dec["shift_factor"]
    z = z.astype(np.float32)
    base = sess.run(None, {"latents": z})[0]
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(a.tries):
        zp = (z * (1 + 1e-7 * rng.standard_normal(z.shape))).astype(np.float32)
        d = float(np.abs(sess.run(None, {"latents": zp})[0] - base).max())
        worst = max(worst, d)
        print(f"input moved by 1e-7 (relative): onnxruntime's output moved by {d:.6g}")
    print(f"worst {worst:.6g}")


if __name__ == "__main__":
    main()
