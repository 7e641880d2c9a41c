"""Stage 8: write the shipped bundle models/scenes/ from OUT/onnx: ONNX
files (f32 and int8), the CLIP vocab, model.toml (docs/bundle.md, sha256 of
every file), model-f32.toml (same model, all-f32 files) and the model card.

The writer only: card.py measures the model, renders the card and calls
`write` (run it as `python3 -m scripts.factory.card --out runs/scenes --dest
models/scenes`)."""
import os
import shutil

from scripts.export import preview_fit
from scripts.factory import common as C
from scripts.hashing import sha256

TIMESTEPS = {1: [1000.0], 2: [1000.0, 500.0], 3: [1000.0, 666.6667, 333.3333], 4: [1000.0, 750.0, 500.0, 250.0]}


def manifest(dest, files, shift, scale, description):
    vocab = "bpe_simple_vocab_16e6.txt.gz"
    ts = "\n".join(f"{k} = [{', '.join(f'{v:.4f}'.rstrip('0').rstrip('.') if v % 1 else f'{v:.1f}' for v in vs)}]"
                   for k, vs in TIMESTEPS.items())
    return f'''format = 1
name = "scenes"
description = "{description}"
license = "MIT"
image_size = [128, 128]

[tokenizer]
kind = "clip-bpe"
merges = "{vocab}"
merges_sha256 = "{sha256(os.path.join(dest, vocab))}"
max_length = {C.MAX_LEN}
pad_id = {C.PAD_ID}

[text_encoder]
file = "{files['text_encoder']}"
sha256 = "{sha256(os.path.join(dest, files['text_encoder']))}"
hidden_size = 128

[denoiser]
file = "{files['denoiser']}"
sha256 = "{sha256(os.path.join(dest, files['denoiser']))}"
prediction = "flow"

[decoder]
file = "{files['decoder']}"
sha256 = "{sha256(os.path.join(dest, files['decoder']))}"
scaling_factor = {scale:.8f}
shift_factor = {shift:.8f}
output_range = [-1.0, 1.0]

[latent]
channels = 4
height = 16
width = 16

[scheduler]
kind = "flow-euler"
train_timesteps = 1000
default_steps = 4

[scheduler.timesteps]
{ts}

[guidance]
scale = 1.0
'''


def write(out, dest, variants, card_text, description):
    """variants: {"model.toml": {component: file in OUT/onnx}, ...}"""
    os.makedirs(dest, exist_ok=True)
    odir = os.path.join(out, "onnx")
    st = C.read_json(os.path.join(out, "latent_stats.json"))
    want = {f for v in variants.values() for f in v.values()}
    for f in os.listdir(dest):  # drop stale model files of older exports
        if f.endswith(".onnx") and f not in want:
            os.remove(os.path.join(dest, f))
    for f in want:
        shutil.copyfile(os.path.join(odir, f), os.path.join(dest, f))
    shutil.copyfile(C.tokenizer().vocab_path(), os.path.join(dest, "bpe_simple_vocab_16e6.txt.gz"))
    for name, files in variants.items():
        with open(os.path.join(dest, name), "w") as fh:
            fh.write(manifest(dest, files, st["shift"], st["scale"], description))
    # Previews (docs/bundle.md): the decoder costs about two denoiser steps
    # here (README "Previews"), the fitted `fast` map under 1 % of one.
    reference = "model-f32.toml" if "model-f32.toml" in variants else next(iter(variants))
    fitted = preview_fit.fit(os.path.join(dest, reference), samples=8)
    for name in variants:
        preview_fit.write(os.path.join(dest, name), fitted)
    with open(os.path.join(dest, "README.md"), "w") as fh:
        fh.write(card_text)
    sizes = {f: os.path.getsize(os.path.join(dest, f)) for f in sorted(os.listdir(dest))}
    return sizes
