"""Auxiliary binding loss for the text encoder: the state of the sky body's
noun ("sun", "moon") must tell its place, and the state of the object's noun
("house", "tree", "boat", ...) its place and colour, through small linear
heads used only in training.

Why: measured on the shipped model (16 x 200 held-out pictures), the sun or
moon was drawn where the *object* was asked: asked centre with the object on
the left, it was drawn on the left 135 times in 176. The denoiser read "on
the left" without knowing which noun it belonged to. With the place in the
noun's own state, the cross-attention that finds the noun also finds where
it goes."""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from scripts.factory import common as C
from scripts.factory import data as D
from scripts.scenes import ATTRIBUTES

BODY_NOUNS = ["sun", "moon"]
OBJECT_NOUNS = ["house", "cabin", "cottage", "tree", "boat", "sailboat"]
BODY_PLACES = ["center", "left", "right"]
OBJECT_PLACES = ["left", "right"]
COLORS = ATTRIBUTES["color"][1:]


def _noun_ids(words):
    """The CLIP id of each word's last token (the one whose state is read)."""
    out = set()
    for row in C.tokenize(words):
        toks = [int(t) for t in row if int(t) != 0]  # [sot, ..., word's last token, eot]
        out.add(toks[-2])
    return sorted(out)


def load_labels(out, n):
    """labels() of the first n images of a factory run (OUT/data/captions.jsonl), as a tensor."""
    with open(D.paths(out)["captions"]) as f:
        attrs = [json.loads(line)["attrs"] for line in f][:n]
    return torch.from_numpy(labels(attrs))


def labels(attrs):
    """Per image: body place, object place and colour class (-1: none)."""
    def idx(values, v):
        return values.index(v) if v in values else -1
    body = np.array([idx(BODY_PLACES, a["body_place"]) if a["body"] != "none" else -1 for a in attrs])
    place = np.array([idx(OBJECT_PLACES, a["obj_place"]) if a["obj"] != "none" else -1 for a in attrs])
    color = np.array([idx(COLORS, a["color"]) if a["obj"] in ("house", "boat") else -1 for a in attrs])
    return np.stack([body, place, color], 1)


class BindingHeads(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.body = nn.Linear(hidden, len(BODY_PLACES))
        self.place = nn.Linear(hidden, len(OBJECT_PLACES))
        self.color = nn.Linear(hidden, len(COLORS))
        self.register_buffer("body_ids", torch.tensor(_noun_ids(BODY_NOUNS)), persistent=False)
        self.register_buffer("object_ids", torch.tensor(_noun_ids(OBJECT_NOUNS)), persistent=False)

    @staticmethod
    def _first(ids, nouns):
        """Position of the first noun token per row, or -1."""
        hit = torch.isin(ids, nouns)
        pos = torch.where(hit.any(1), hit.float().argmax(1), torch.full_like(ids[:, 0], -1))
        return pos

    def loss(self, ctx, ids, y):
        """Mean cross-entropy of the three heads over the rows that have the
        noun and the label (dropped prompts have neither)."""
        total, terms = ctx.new_zeros(()), 0
        rows = torch.arange(ids.shape[0], device=ids.device)
        for nouns, head, label in [(self.body_ids, self.body, y[:, 0]), (self.object_ids, self.place, y[:, 1]),
                                   (self.object_ids, self.color, y[:, 2])]:
            pos = self._first(ids, nouns)
            keep = (pos >= 0) & (label >= 0)
            if keep.any():
                states = ctx[rows[keep], pos[keep]]
                total = total + F.cross_entropy(head(states), label[keep])
                terms += 1
        return total / max(terms, 1)
