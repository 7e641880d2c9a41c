"""A CLIP model (a transformers CLIPModel folder, e.g. openai/clip-vit-base-patch32)
as the bundle's self-check scorer (docs/bundle.md "Self-check scorer"):
`scorer_image.onnx` (pixel_values -> image_embeds, CLIP's visual projection
included) and `scorer_text.onnx` (input_ids -> text_embeds), f32, batch 1,
fixed shapes, each checked against torch with onnxruntime, and the
`[scorer]` tables every manifest of the bundle gets.

The text tower reads the bundle's own tokenizer ids, so the CLIP model must
share its vocabulary (Stable Diffusion's CLIP BPE: 49408 tokens); a CLIP
folder that ships its own vocab.json must ship the bundle's.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from scripts.hashing import sha256

# CLIPImageProcessor's defaults, used when the folder has no preprocessor_config.json.
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


class ScorerError(Exception):
    pass


class _ImageTower(torch.nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, pixel_values):
        return self.clip.get_image_features(pixel_values=pixel_values)


class _TextTower(torch.nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, input_ids):
        return self.clip.get_text_features(input_ids=input_ids)


def _normalisation(clip_dir):
    path = os.path.join(clip_dir, "preprocessor_config.json")
    if not os.path.exists(path):
        return CLIP_MEAN, CLIP_STD
    with open(path) as f:
        cfg = json.load(f)
    return [float(v) for v in cfg.get("image_mean", CLIP_MEAN)], [float(v) for v in cfg.get("image_std", CLIP_STD)]


def check(clip_dir: str, vocab_path: str, max_length: int):
    """Refuse a CLIP model the bundle's tokenizer cannot feed; returns it loaded."""
    from transformers import CLIPModel

    try:
        clip = CLIPModel.from_pretrained(clip_dir).eval()
    except (OSError, ValueError) as e:
        raise ScorerError(f"--scorer-clip {clip_dir}: not a transformers CLIPModel folder ({e})") from e
    text_cfg = clip.config.text_config
    with open(vocab_path) as f:
        vocab = json.load(f)
    if int(text_cfg.vocab_size) != len(vocab):
        raise ScorerError(f"--scorer-clip {clip_dir}: its text tower has {text_cfg.vocab_size} tokens, the bundle's "
                          f"tokenizer {len(vocab)}; the scorer reads the bundle's token ids")
    own_vocab = os.path.join(clip_dir, "vocab.json")
    if os.path.exists(own_vocab) and sha256(own_vocab) != sha256(vocab_path):
        raise ScorerError(f"--scorer-clip {clip_dir}: its vocab.json differs from the bundle's tokenizer")
    if int(text_cfg.max_position_embeddings) < max_length:
        raise ScorerError(f"--scorer-clip {clip_dir}: its text tower reads {text_cfg.max_position_embeddings} "
                          f"tokens, the bundle's tokenizer gives {max_length}")
    return clip


def export(clip_dir: str, out: str, max_length: int, eos_id: int) -> dict:
    """Write OUT/scorer_image.onnx and OUT/scorer_text.onnx from the CLIPModel in
    CLIP_DIR for token ids of length MAX_LENGTH (OUT holds the bundle's
    vocab.json); returns the [scorer] fields."""
    import onnxruntime as ort

    clip = check(clip_dir, os.path.join(out, "vocab.json"), max_length)
    vision_cfg = clip.config.vision_config
    size = int(vision_cfg.image_size)
    pixels = torch.rand(1, 3, size, size) * 2 - 1
    ids = torch.zeros(1, max_length, dtype=torch.int64)
    ids[0, :3] = torch.tensor([eos_id - 1, 320, eos_id])
    worst = 0.0
    for tower, arg, name, in_name, out_name in ((_ImageTower(clip), pixels, "scorer_image.onnx", "pixel_values",
                                                 "image_embeds"),
                                                (_TextTower(clip), ids, "scorer_text.onnx", "input_ids", "text_embeds")):
        path = os.path.join(out, name)
        with torch.no_grad():
            want = tower(arg).numpy()
        torch.onnx.export(tower, (arg,), path, opset_version=17, dynamo=False, do_constant_folding=True,
                          input_names=[in_name], output_names=[out_name])
        got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {in_name: arg.numpy()})[0]
        worst = max(worst, float(np.abs(got - want).max() / max(1e-6, np.abs(want).max())))
    if worst > 1e-4:
        raise ScorerError(f"--scorer-clip {clip_dir}: onnxruntime differs from torch by {worst:.2e} (relative)")
    mean, std = _normalisation(clip_dir)
    return dict(image_size=[size, size], mean=mean, std=std, embed_dim=int(clip.config.projection_dim),
                image=dict(file="scorer_image.onnx", sha256=sha256(os.path.join(out, "scorer_image.onnx"))),
                text=dict(file="scorer_text.onnx", sha256=sha256(os.path.join(out, "scorer_text.onnx"))),
                max_relative_difference=worst)


def section(fields: dict) -> str:
    """The [scorer] tables for a manifest."""
    vec = lambda v: "[" + ", ".join(repr(float(x)) for x in v) + "]"
    return (f"\n[scorer]\nimage_size = [{fields['image_size'][0]}, {fields['image_size'][1]}]\n"
            f"mean = {vec(fields['mean'])}\nstd = {vec(fields['std'])}\nembed_dim = {fields['embed_dim']}\n"
            f"[scorer.image]\nfile = \"{fields['image']['file']}\"\nsha256 = \"{fields['image']['sha256']}\"\n"
            f"[scorer.text]\nfile = \"{fields['text']['file']}\"\nsha256 = \"{fields['text']['sha256']}\"\n")


def write(manifest_path: str, fields: dict) -> None:
    with open(manifest_path, "a") as f:
        f.write(section(fields))
