"""Attribute classifier of the scenes world (evaluation only, never trained with the generator).

A small CNN over the image plus two coordinate channels (x, y in [-1, 1], so
placement is easy to read off) with one softmax head per attribute of
scenes.ATTRIBUTES (values in the same order, "none" included), and two count
heads (counts.py: how many suns or moons, how many objects: 0, 1, 2+).

    model = AttributeClassifier()
    logits = model(x)             # x: float [n, 3, 128, 128] in [0, 1]; dict attr -> [n, n_values]
    feats = model.features(x)     # penultimate features [n, 128] (used by the Frechet distance)
    model, meta = load_classifier("runs/classifier")   # from train_classifier.py's checkpoint
"""

import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from scripts.evaluate.counts import COUNT_HEADS, COUNT_VALUES
from scripts.scenes import ATTRIBUTES

FEATURE_DIM = 128


def _block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class AttributeClassifier(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _block(5, w),           # 64
            _block(w, 2 * w),       # 32
            _block(2 * w, 3 * w),   # 16
            _block(3 * w, 4 * w),   # 8
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 8 * 8, FEATURE_DIM), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({k: nn.Linear(FEATURE_DIM, len(v)) for k, v in ATTRIBUTES.items()})
        self.heads.update({k: nn.Linear(FEATURE_DIM, COUNT_VALUES) for k in COUNT_HEADS})
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, 128), torch.linspace(-1, 1, 128), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)
        self.has_counts = True  # False when loaded from a checkpoint older than the count heads

    def features(self, x):
        if x.shape[-1] != 128 or x.shape[-2] != 128:
            x = F.interpolate(x, size=(128, 128), mode="bilinear", align_corners=False)
        x = torch.cat([x * 2.0 - 1.0, self.coords.expand(x.shape[0], -1, -1, -1)], 1)
        return self.fc(self.body(x))

    def forward(self, x):
        f = self.features(x)
        return {k: h(f) for k, h in self.heads.items()}


def to_tensor(images, device="cpu"):
    """uint8 [n, H, W, 3] numpy -> float [n, 3, H, W] in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


def attrs_to_targets(attrs_list, device="cpu"):
    """List of full attrs dicts -> dict attr -> long tensor of value indices."""
    idx = {k: {v: i for i, v in enumerate(vals)} for k, vals in ATTRIBUTES.items()}
    return {k: torch.tensor([idx[k][a[k]] for a in attrs_list], dtype=torch.long, device=device)
            for k in ATTRIBUTES}


def checkpoint_path(out):
    return out if out.endswith(".pt") else os.path.join(out, "classifier.pt")


def load_classifier(path="runs/classifier", device="cpu"):
    """Load the trained classifier (eval mode). Returns (model, meta dict)."""
    ck = torch.load(checkpoint_path(path), map_location=device, weights_only=False)
    model = AttributeClassifier(width=ck.get("width", 16)).to(device)
    # A classifier trained before the count heads existed loads without them
    # (meta["counts"] False: its count predictions mean nothing).
    missing, _ = model.load_state_dict(ck["model"], strict=False)
    if any(not m.startswith(tuple(f"heads.{k}." for k in COUNT_HEADS)) for m in missing):
        raise RuntimeError(f"{path}: checkpoint lacks {missing}")
    model.eval()
    model.has_counts = not missing
    meta = {k: v for k, v in ck.items() if k not in ("model", "opt")}
    meta["counts"] = not missing
    return model, meta
