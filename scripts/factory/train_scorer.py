#!/usr/bin/env python3
"""Train the self-check scorer (scorer.py) on scenes renders and export it.

    python3 -m scripts.factory.train_scorer --out runs/scorer [--minutes 30] [--device cpu|cuda]
    python3 -m scripts.factory.train_scorer --out runs/scorer --eval-only --export runs/scorer/onnx --install models/scenes

Each step renders a fresh batch (split "train", seeds [seed, step]: a run is
reproducible and resumable) with light blur/noise augmentation, captions each
render once as the positive and `--negatives` times with one attribute
changed (scorer.hard_negatives), and minimises CLIP's contrastive loss: each
picture against the batch's captions plus its own hard negatives, each
caption against the batch's pictures. Resumes from OUT/scorer.pt; --minutes
is the total over all resumed runs (the cosine learning-rate schedule
follows it); checkpoints every minute.

At the end it measures top-1 retrieval among 10 captions on held-out renders
(the true caption against 9 one-attribute edits of it, and against 9
captions of other scenes), and how often the true caption outscores each
kind of edit; writes OUT/metrics.json. With --export DIR it writes
DIR/scorer_image.onnx and DIR/scorer_text.onnx (checked with onnxruntime).
"""

import argparse
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from scripts.factory import common as C
from scripts.factory import scorer as S
from scripts.evaluate.train_classifier import augment

EVAL_SEED = 24681357


def batch(n, seed, split, negatives, tokens):
    """(pixels, positive ids [n, 32], negative ids [n, k, 32])."""
    world = C.scenes()
    imgs, attrs, caps = world.render_batch(n, seed, split=split)
    rng = np.random.default_rng([*seed, 7])
    neg_caps = [world.caption(b, rng) for a in attrs for b in S.hard_negatives(a, rng, negatives)]
    pos = torch.from_numpy(tokens(caps))
    neg = torch.from_numpy(tokens(neg_caps)).reshape(n, negatives, -1) if negatives else None
    return imgs, pos, neg


def loss_of(model, pixels, pos, neg):
    img, txt = model.embed(pixels, pos)
    scale = model.logit_scale.exp().clamp(max=100.0)
    logits = img @ txt.T
    if neg is not None:
        n, k, length = neg.shape
        neg_txt = F.normalize(model.text(neg.reshape(n * k, length)), dim=-1).reshape(n, k, -1)
        logits = torch.cat([logits, torch.einsum("nd,nkd->nk", img, neg_txt)], 1)
    target = torch.arange(pixels.shape[0])
    return (F.cross_entropy(scale * logits, target) + F.cross_entropy(scale * logits[:, :pixels.shape[0]].T, target)) / 2


@torch.no_grad()
def evaluate(model, n, seed=EVAL_SEED, split="heldout"):
    """Retrieval among 10 captions and per-kind pairwise accuracy, on renders."""
    model.eval()
    world = C.scenes()
    tokens = S.CaptionTokens()
    imgs, attrs, caps = world.render_batch(n, [seed], split=split)
    rng = np.random.default_rng([seed, 1])
    img = F.normalize(model.image(S.normalise(imgs)), dim=-1)
    txt = lambda texts: F.normalize(model.text(torch.from_numpy(tokens(texts))), dim=-1)
    true = (img * txt(caps)).sum(-1)
    hard_hits, random_hits, kinds = 0, 0, {}
    for i, a in enumerate(attrs):
        edits = S.edits(a)
        picks = [edits[j] for j in rng.choice(len(edits), size=min(9, len(edits)), replace=False)]
        scores = img[i] @ txt([world.caption(b, rng) for _, b in picks]).T
        hard_hits += int(true[i] > scores.max())
        for (name, _), s in zip(picks, scores):
            won, seen = kinds.get(name, (0, 0))
            kinds[name] = (won + int(true[i] > s), seen + 1)
        others = [caps[j] for j in rng.choice([j for j in range(n) if j != i], size=9, replace=False)]
        random_hits += int(true[i] > (img[i] @ txt(others).T).max())
    model.train()
    return {"n": n, "split": split, "top1_of_10_one_attribute_edits": hard_hits / n,
            "top1_of_10_other_captions": random_hits / n,
            "true_beats_edit": {k: w / s for k, (w, s) in sorted(kinds.items())}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/scorer")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--minutes", type=float, default=30.0, help="total training time (all resumed runs)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--negatives", type=int, default=3, help="hard-negative captions per picture")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-n", type=int, default=1000)
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--export", metavar="DIR", help="write DIR/scorer_image.onnx and DIR/scorer_text.onnx")
    ap.add_argument("--install", metavar="BUNDLE", help="with --export: also copy them into BUNDLE (e.g. "
                    "models/scenes) and write its manifests' [scorer]")
    args = ap.parse_args()

    dev = C.setup(args.device, args.threads, args.seed)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "scorer.pt")
    remap, n_vocab = S.vocabulary()
    model = S.Scorer(remap, n_vocab).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step, elapsed = 0, 0.0
    ck = C.load_ckpt(path)
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        print(f"resumed from {path}: step {step}, {elapsed / 60:.1f} min trained", flush=True)
    print(f"scorer: image tower {C.count_params(model.image):,} parameters, text tower "
          f"{C.count_params(model.text):,}", flush=True)

    save = lambda: C.save_ckpt(path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                                      "elapsed": elapsed, "seed": args.seed, "minutes": args.minutes})
    tokens = S.CaptionTokens()
    gen = torch.Generator().manual_seed(args.seed * 1000003 + step)
    budget, elapsed0, t_run, last_save, ema = args.minutes * 60.0, elapsed, time.time(), time.time(), None
    model.train()
    while not args.eval_only and elapsed < budget:
        frac = elapsed / budget
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        imgs, pos, neg = batch(args.batch, [args.seed, step], "train", args.negatives, tokens)
        pixels = augment(S.normalise(imgs) * 0.5 + 0.5, gen) * 2 - 1
        loss = loss_of(model, pixels.to(dev), pos.to(dev), None if neg is None else neg.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        elapsed = elapsed0 + (time.time() - t_run)
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 100 == 0:
            print(f"step {step} {elapsed / 60:.1f}/{args.minutes:g} min loss {ema:.4f} lr {lr:.2e} "
                  f"scale {model.logit_scale.exp().item():.1f}", flush=True)
        if time.time() - last_save > 60:
            save()
            last_save = time.time()
    if not args.eval_only:
        save()
        print(f"saved {path} after {step} steps ({step * args.batch} pictures), {elapsed / 60:.1f} min", flush=True)

    model = model.cpu()
    metrics = {"steps": step, "pictures": step * args.batch, "train_minutes": elapsed / 60,
               "heldout": evaluate(model, args.eval_n), "any": evaluate(model, args.eval_n, EVAL_SEED + 1, "any")}
    for k in ("heldout", "any"):
        m = metrics[k]
        print(f"{k}: top-1 of 10 edits {m['top1_of_10_one_attribute_edits']:.3f}, of 10 other captions "
              f"{m['top1_of_10_other_captions']:.3f};",
              " ".join(f"{name}={v:.3f}" for name, v in m["true_beats_edit"].items()), flush=True)
    C.write_json(os.path.join(args.out, "metrics.json"), metrics)
    if args.export:
        os.makedirs(args.export, exist_ok=True)
        worst = S.export(model, os.path.join(args.export, "scorer_image.onnx"),
                         os.path.join(args.export, "scorer_text.onnx"))
        print(f"exported to {args.export}; onnxruntime vs torch: {worst:.2e} at most", flush=True)
        if args.install:
            written = S.install(args.install, os.path.join(args.export, "scorer_image.onnx"),
                                os.path.join(args.export, "scorer_text.onnx"))
            print("installed into", ", ".join(written), flush=True)


if __name__ == "__main__":
    main()
