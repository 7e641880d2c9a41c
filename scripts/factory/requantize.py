"""Re-derive a shipped scenes bundle's int8 graphs from its f32 graphs,
without the training checkpoints: the decoder's upsample+conv rewrite
(graph_rewrite.py; a no-op when already applied), weight-only int8
(`*.wq.onnx`, the default model.toml) and dynamic int8 (`*.int8.onnx`,
model-dynamic.toml), and the three manifests with fresh sha256. The latent
shift/scale are read from the bundle's model-f32.toml.

  python3 -m scripts.factory.requantize [--bundle models/scenes]

This is how the shipped bundle's current int8 files were made from the f32
graphs of the build described in its model card."""
import argparse
import os
import tomllib

from scripts.factory import bundle
from scripts.factory import common as C
from scripts.factory import graph_rewrite
from scripts.factory import quantize

PARTS = ("text_encoder", "denoiser", "decoder")
VARIANTS = {"model.toml": "wq", "model-dynamic.toml": "int8", "model-f32.toml": None}


def requantize(dest):
    with open(os.path.join(dest, "model-f32.toml"), "rb") as fh:
        f32 = tomllib.load(fh)
    shift, scale = f32["decoder"]["shift_factor"], f32["decoder"]["scaling_factor"]
    src = lambda k: os.path.join(dest, f"{k}.onnx")
    info = dict(rewrite=graph_rewrite.upsample_conv_to_phases(src("decoder"), src("decoder")))
    for k in PARTS:
        info[k] = dict(wq=quantize.weight_only(src(k), os.path.join(dest, f"{k}.wq.onnx")),
                       int8=quantize.dynamic(src(k), os.path.join(dest, f"{k}.int8.onnx")))
    for name, var in VARIANTS.items():
        files = {k: f"{k}.{var}.onnx" if var else f"{k}.onnx" for k in PARTS}
        with open(os.path.join(dest, name), "w") as fh:
            fh.write(bundle.manifest(dest, files, shift, scale, f32["description"]))
    return info


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default=os.path.join(C.REPO, "models", "scenes"))
    print(requantize(ap.parse_args().bundle))
