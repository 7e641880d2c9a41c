#!/usr/bin/env python3
"""Train the scenes attribute classifier (evaluation model, see classifier.py).

    python3 -m scripts.evaluate.train_classifier --out runs/classifier [--device cpu|cuda] [--minutes M]

Renders fresh training scenes on the fly (split "any", seeds [seed, step], so
a run is reproducible and resumable), with light blur/noise augmentation so
that it also reads slightly imperfect generated images; a third of them get a
second sun, moon or object pasted in (counts.py) for the count heads. Resumes from
OUT/classifier.pt when it exists; --minutes is the total training time over all
resumed runs (the cosine learning-rate schedule follows it). Checkpoints every
minute. At the end it measures per-attribute accuracy on fresh renders and
writes OUT/metrics.json. Uses one CPU thread by default (--threads).
"""

import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F


from scripts.evaluate.classifier import AttributeClassifier, attrs_to_targets, checkpoint_path, to_tensor
from scripts.evaluate.counts import COUNT_HEADS, render_counted
from scripts.scenes import ATTRIBUTES, render_batch

EVAL_SEED = 987654321


def augment(x, gen):
    """Blur a third of the batch and add pixel noise to another third (no flips: left/right matter)."""
    n = x.shape[0]
    r = torch.rand(n, generator=gen)
    blur = r < 0.33
    if blur.any():
        xb = x[blur]
        xb = F.interpolate(F.avg_pool2d(xb, 2), scale_factor=2, mode="bilinear", align_corners=False)
        x[blur] = xb
    noisy = r > 0.67
    if noisy.any():
        x[noisy] = (x[noisy] + 0.04 * torch.randn(x[noisy].shape, generator=gen)).clamp_(0, 1)
    return x


def counted_loss(out, y, counts):
    """Cross-entropy of every head; a pasted second body makes body_place
    meaningless (a second object: obj_place and color), so those are left out."""
    keep = {"body_place": counts[:, 0] < 2, "obj_place": counts[:, 1] < 2, "color": counts[:, 1] < 2}
    loss = 0.0
    for k in ATTRIBUTES:
        m = keep.get(k)
        per = F.cross_entropy(out[k], y[k], reduction="none")
        loss = loss + (per.mean() if m is None else (per * m).sum() / m.sum().clamp(min=1))
    for j, k in enumerate(COUNT_HEADS):
        loss = loss + F.cross_entropy(out[k], counts[:, j])
    return loss


@torch.no_grad()
def evaluate_counts(model, n=1000, seed=EVAL_SEED + 3, device="cpu", batch=250):
    """Count-head accuracy on renders with pasted second bodies and objects."""
    model.eval()
    right, done = {k: 0 for k in COUNT_HEADS}, 0
    while done < n:
        k = min(batch, n - done)
        imgs, _, counts = render_counted(k, [seed, done], split="any", second_share=0.5)
        out = model(to_tensor(imgs, device))
        for j, h in enumerate(COUNT_HEADS):
            right[h] += (out[h].argmax(1).cpu() == torch.from_numpy(counts[:, j])).sum().item()
        done += k
    model.train()
    return {h: r / n for h, r in right.items()}


@torch.no_grad()
def evaluate(model, n=2000, seed=EVAL_SEED, split="any", device="cpu", batch=250, blur=False):
    model.eval()
    correct = {k: 0 for k in ATTRIBUTES}
    done = 0
    while done < n:
        k = min(batch, n - done)
        imgs, attrs, _ = render_batch(k, [seed, done], split=split)
        x = to_tensor(imgs, device)
        if blur:
            x = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="bilinear", align_corners=False)
        y = attrs_to_targets(attrs, device)
        out = model(x)
        for a in ATTRIBUTES:
            correct[a] += (out[a].argmax(1) == y[a]).sum().item()
        done += k
    model.train()
    return {a: c / n for a, c in correct.items()}


def save(path, model, opt, step, elapsed, args):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
                "width": args.width, "seed": args.seed, "minutes": args.minutes}, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/classifier")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--minutes", type=float, default=10.0, help="total training time (all resumed runs)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-n", type=int, default=3000)
    ap.add_argument("--eval-only", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    path = checkpoint_path(args.out)
    dev = args.device
    model = AttributeClassifier(width=args.width).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step, elapsed = 0, 0.0
    if os.path.exists(path):
        ck = torch.load(path, map_location=dev, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        print(f"resumed from {path}: step {step}, {elapsed / 60:.1f} min trained", flush=True)

    budget = args.minutes * 60.0
    gen = torch.Generator().manual_seed(args.seed * 1000003 + step)
    last_save = time.time()
    t_run = time.time()
    elapsed0 = elapsed
    model.train()
    ema = None
    while not args.eval_only and elapsed < budget:
        frac = elapsed / budget
        lr = args.lr * (min(1.0, (step + 1) / 100) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac))))
        for g in opt.param_groups:
            g["lr"] = lr
        imgs, attrs, counts = render_counted(args.batch, [args.seed, step], split="any")
        x = augment(to_tensor(imgs, dev), gen) if dev == "cpu" else augment(to_tensor(imgs, "cpu"), gen).to(dev)
        y = attrs_to_targets(attrs, dev)
        out = model(x)
        loss = counted_loss(out, y, torch.from_numpy(counts).to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        elapsed = elapsed0 + (time.time() - t_run)
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 100 == 0:
            print(f"step {step} {elapsed / 60:.1f}/{args.minutes:g} min loss {ema:.4f} lr {lr:.2e}", flush=True)
        if time.time() - last_save > 60:
            save(path, model, opt, step, elapsed, args)
            last_save = time.time()
    if not args.eval_only:
        save(path, model, opt, step, elapsed, args)
        print(f"saved {path} after {step} steps ({step * args.batch} images), {elapsed / 60:.1f} min", flush=True)

    t = time.time()
    metrics = {"steps": step, "images": step * args.batch, "train_minutes": elapsed / 60,
               "eval_n": args.eval_n}
    metrics["accuracy_any"] = evaluate(model, args.eval_n, device=dev)
    metrics["accuracy_heldout"] = evaluate(model, args.eval_n // 2, seed=EVAL_SEED + 1, split="heldout", device=dev)
    metrics["accuracy_any_blurred"] = evaluate(model, args.eval_n // 2, seed=EVAL_SEED + 2, device=dev, blur=True)
    metrics["count_accuracy"] = evaluate_counts(model, args.eval_n // 3, device=dev)
    for k in ("accuracy_any", "accuracy_heldout", "accuracy_any_blurred", "count_accuracy"):
        accs = metrics[k]
        print(k, " ".join(f"{a}={v:.4f}" for a, v in accs.items()), f"mean={np.mean(list(accs.values())):.4f}",
              flush=True)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    print(f"eval took {time.time() - t:.0f} s; wrote {os.path.join(args.out, 'metrics.json')}")


if __name__ == "__main__":
    main()
