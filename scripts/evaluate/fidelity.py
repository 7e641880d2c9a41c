"""Prompt fidelity and Frechet distance of scenes images, measured with the attribute classifier.

API (from the repository root: from scripts.evaluate import fidelity):

    captions, fixed = prompts(n, seed, split)    # split "train" | "heldout" | "any" (default "any")
        Evaluation prompts: captions from the docs/scenes.md grammar and, per caption,
        the attributes it fixes (parse_caption: docs/scenes.md defaults applied, None
        where the caption leaves a value open, e.g. an unsaid object place).
        The same (n, seed, split) always gives the same prompts.
    res = score(images, attrs_list)              # images uint8 [n,128,128,3]
        res["per_attribute"][attr] = accuracy over the images where the prompt fixes attr
        res["counts"][attr]        = how many images counted for attr
        res["fidelity"]            = mean over images of the fraction of its counted attributes
                                     that the classifier finds (the headline number)
        res["exact"]               = fraction of images with every counted attribute right
        res["count"]               = fraction of images with exactly the sun/moon and object the
                                     prompt asks for (1 each when named, 0 when not), by the
                                     classifier's count heads (counts.py; a classifier trained
                                     before them gives meaningless counts: retrain it)
        res["n"]                   = number of images
    fd = frechet_distance(images_a, images_b)    # in the classifier's 128-d penultimate features
    captions, fixed, full = prompts(n, seed, split, return_full=True)
    real = render_reference(full, seed)          # renderer images of those prompts (FD reference)
    preds = predict(images)                      # dict attr -> list of predicted value names
    feats = features(images)                     # float64 [n, 128]

Which attributes count for an image (attrs_list entries may be full attrs
dicts or parse_caption outputs): a key that is missing or None is not fixed
and is skipped; body_place is skipped when body is "none" (implied by the
body), color when obj is "none" or "tree" (implied), obj_place when obj is
"none" (implied). Everything else counts, including defaults such as
land "none" or weather "clear" ("no mountains" is part of what the prompt asks).

Frechet distance has a sample-size bias: compare sets of equal size and
report the renderer-vs-renderer floor beside it (render_reference of other
prompts). Measured with the 10-minute classifier, split "any": 1000 vs 1000
renders of different prompts ~60, 500 vs 500 ~135, same prompts re-rendered
~20; 4x-downsampled (blurred) renders vs the originals ~135, while their
fidelity stays 0.997 (the classifier is trained with blur/noise augmentation).
Left-right mirrored renders score obj_place 0.0 and body_place 0.34 (centre).

The classifier is loaded once from runs/classifier (override with
set_classifier(path=..., device=...), or pass model=...). Train it with
scripts/evaluate/train_classifier.py. Reference accuracy on fresh renders is in
runs/classifier/metrics.json.
"""

import os
import sys

import numpy as np
import torch

from scripts.evaluate.classifier import load_classifier, to_tensor
from scripts.evaluate.counts import COUNT_HEADS, expected_counts
from scripts.scenes import ATTRIBUTES, caption, parse_caption, render, sample_attributes

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(HERE)), "runs", "classifier")
_MODEL = {"path": DEFAULT_PATH, "device": "cpu", "model": None}


def set_classifier(path=DEFAULT_PATH, device="cpu"):
    """Choose the classifier checkpoint (directory or .pt) and device used by default."""
    _MODEL.update(path=path, device=device, model=None)


def add_check_arguments(ap):
    """The arguments every factory check shares: --n prompts of the report's
    --seed, scored by --classifier."""
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--classifier", default=DEFAULT_PATH)


def start_check(args):
    """One thread (the checks run beside training) and the chosen classifier."""
    torch.set_num_threads(1)
    set_classifier(args.classifier)


def get_classifier():
    if _MODEL["model"] is None:
        _MODEL["model"], _ = load_classifier(_MODEL["path"], _MODEL["device"])
    return _MODEL["model"]


def _device(model):
    return next(model.parameters()).device


@torch.no_grad()
def _run(images, model, fn, batch_size):
    model = model or get_classifier()
    dev = _device(model)
    outs = []
    for i in range(0, len(images), batch_size):
        outs.append(fn(model, to_tensor(images[i:i + batch_size], dev)))
    return outs


def predict(images, model=None, batch_size=256):
    """Predicted value names per attribute: dict attr -> list[str] (len n);
    also "body_count" and "obj_count" -> list[int] (0, 1, 2 = two or more)."""
    outs = _run(images, model, lambda m, x: {k: v.argmax(1).cpu() for k, v in m(x).items()}, batch_size)
    pred = {k: [ATTRIBUTES[k][i] for o in outs for i in o[k].tolist()] for k in ATTRIBUTES}
    pred.update({k: [i for o in outs for i in o[k].tolist()] for k in COUNT_HEADS})
    return pred


def features(images, model=None, batch_size=256):
    """Penultimate classifier features, float64 [n, 128]."""
    outs = _run(images, model, lambda m, x: m.features(x).double().cpu(), batch_size)
    return torch.cat(outs).numpy()


def fixed_attributes(attrs):
    """The attribute names that count for one prompt (see module doc)."""
    keys = []
    for k in ATTRIBUTES:
        v = attrs.get(k)
        if v is None:
            continue
        if k == "body_place" and attrs.get("body") == "none":
            continue
        if k == "color" and attrs.get("obj") in ("none", "tree"):
            continue
        if k == "obj_place" and attrs.get("obj") == "none":
            continue
        keys.append(k)
    return keys


def score(images, attrs_list, model=None, batch_size=256):
    """Per-attribute accuracy on the attributes each prompt fixes, and mean fidelity (see module doc)."""
    assert len(images) == len(attrs_list)
    pred = predict(images, model, batch_size)
    right = {k: 0 for k in ATTRIBUTES}
    counts = {k: 0 for k in ATTRIBUTES}
    per_image, exact = [], 0
    colour_by_obj = {}  # asked object -> [right, asked]: a small boat's colour is harder than a house's
    for i, a in enumerate(attrs_list):
        keys = fixed_attributes(a)
        ok = [pred[k][i] == a[k] for k in keys]
        for k, o in zip(keys, ok):
            counts[k] += 1
            right[k] += o
            if k == "color":
                tally = colour_by_obj.setdefault(a["obj"], [0, 0])
                tally[0], tally[1] = tally[0] + o, tally[1] + 1
        per_image.append(np.mean(ok) if ok else 1.0)
        exact += all(ok)
    n = len(attrs_list)
    # Count check: exactly the one sun/moon and object asked for, none where none is.
    want = expected_counts(attrs_list)
    got = np.array([pred[k] for k in COUNT_HEADS], np.int64).T.reshape(n, len(COUNT_HEADS))
    asked = want >= 0
    count_ok = np.where(asked, got == want, True)
    counted = n and getattr(model or get_classifier(), "has_counts", True)
    return {
        "count": float(count_ok.all(1).mean()) if counted else None,
        "count_per_kind": {k: float(count_ok[asked[:, j], j].mean()) if counted and asked[:, j].any() else None
                           for j, k in enumerate(COUNT_HEADS)},
        "two_or_more": {k: int((got[:, j] >= 2).sum()) for j, k in enumerate(COUNT_HEADS)},
        "per_attribute": {k: (right[k] / counts[k] if counts[k] else None) for k in ATTRIBUTES},
        "color_by_obj": {obj: r / n_asked for obj, (r, n_asked) in sorted(colour_by_obj.items())},
        "counts": counts,
        "fidelity": float(np.mean(per_image)) if n else None,
        "exact": exact / n if n else None,
        "n": n,
    }


def frechet_from_features(fa, fb):
    """Frechet distance between two feature sets (rows = samples), numpy only."""
    fa, fb = np.asarray(fa, np.float64), np.asarray(fb, np.float64)
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    ca, cb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    # Tr(sqrt(ca cb)) = sum sqrt(eig(sqrt(ca) cb sqrt(ca))), all symmetric PSD
    w, v = np.linalg.eigh(ca)
    sa = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = sa @ cb @ sa
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * tr_sqrt)


def frechet_distance(images_a, images_b, model=None, batch_size=256):
    """Frechet distance between two image sets in the classifier's penultimate feature space.

    Use a few hundred images or more per set (the covariances are 128 x 128)."""
    return frechet_from_features(features(images_a, model, batch_size), features(images_b, model, batch_size))


def prompts(n, seed, split="any", return_full=False):
    """(captions, fixed attrs) for an evaluation set; see module doc.

    Seeds are salted, so prompts(n, s, ...) never repeats render_batch(n, s)'s
    training captions. With return_full=True also returns the full attrs the
    captions were written from (for render_reference)."""
    rng = np.random.default_rng([seed, 7919])
    caps, fixed, full = [], [], []
    for _ in range(n):
        a = sample_attributes(rng, split)
        c = caption(a, rng)
        caps.append(c)
        fixed.append(parse_caption(c))
        full.append(a)
    return (caps, fixed, full) if return_full else (caps, fixed)


def render_reference(full_attrs, seed=0):
    """Renderer images (uint8 [n,128,128,3]) of full attrs dicts: the "real" set for
    frechet_distance and an upper bound for score (it should be ~1.0)."""
    rng = np.random.default_rng([seed, 104729])
    return np.stack([render(a, rng) for a in full_attrs]) if full_attrs else np.zeros((0, 128, 128, 3), np.uint8)
