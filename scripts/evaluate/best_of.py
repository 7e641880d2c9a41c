#!/usr/bin/env python3
"""Best-of-N with the self-check scorer, measured (issue 16, lever 2): the
model card's scorer table.

    cargo build --release --example best_of_candidates
    python3 -m scripts.evaluate.best_of [--bundle models/scenes] [--n 200] [--steps 1,4] [--max-n 8]
                                         [--out runs/best_of] [--markdown FILE]

For each step count, `examples/best_of_candidates` makes MAX_N candidates per
held-out prompt (seeds seed, seed + 1, ... exactly as `generate --best-of`
does, watermarked as `generate` saves them) and prints each one's score.
Best-of-N for N = 1, 2, 4, ... MAX_N keeps, per prompt, the highest-scored of
the first N candidates: the picture `generate --best-of N` keeps. The
independent attribute classifier (scripts/evaluate, trained on renders,
never on the scorer) then gives each N's fidelity. Also measured: the
scorer's top-1 retrieval among 10 captions (the prompt against 9 captions
that change one attribute of it, and against 9 captions of other prompts) on
renders of the held-out prompts and on the generated pictures (first
candidates), with the bundle's own ONNX towers in onnxruntime (tests/scorer.rs
checks that edgepaint's scores match them), and the scorer's time per
candidate against the picture's.
"""

import argparse
import json
import os
import subprocess
import tomllib

import numpy as np

from scripts.evaluate import fidelity
from scripts.evaluate.png_decode import read_png
from scripts.scenes import caption

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Towers:
    """The bundle's scorer graphs in onnxruntime."""

    def __init__(self, bundle):
        import onnxruntime as ort
        from scripts.fixtures import clip_tokenizer

        with open(os.path.join(bundle, "model.toml"), "rb") as f:
            m = tomllib.load(f)
        s = m["scorer"]
        self.max_len = m["tokenizer"]["max_length"]
        self.tokenize = lambda texts: np.asarray(clip_tokenizer.tokenize(texts, self.max_len), np.int64)
        self.image = ort.InferenceSession(os.path.join(bundle, s["image"]["file"]), providers=["CPUExecutionProvider"])
        self.text = ort.InferenceSession(os.path.join(bundle, s["text"]["file"]), providers=["CPUExecutionProvider"])
        self.mean = np.asarray(s.get("mean", [0, 0, 0]), np.float32).reshape(1, 3, 1, 1)
        self.std = np.asarray(s.get("std", [1, 1, 1]), np.float32).reshape(1, 3, 1, 1)

    def images(self, pictures):
        out = []
        for p in pictures:
            x = (p.astype(np.float32).transpose(2, 0, 1)[None] / 255.0 - self.mean) / self.std
            out.append(self.image.run(None, {self.image.get_inputs()[0].name: x})[0][0])
        return _unit(np.stack(out))

    def texts(self, captions):
        ids = self.tokenize(captions)
        name = self.text.get_inputs()[0].name
        return _unit(np.stack([self.text.run(None, {name: ids[i:i + 1]})[0][0] for i in range(len(captions))]))


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def retrieval(towers, pictures, captions, full, seed):
    """Top-1 among 10 captions: the prompt against 9 one-attribute edits of it, and
    against 9 other prompts."""
    from scripts.factory.scorer import edits as valid_edits

    rng = np.random.default_rng([seed, 31])
    img = towers.images(pictures)
    true = np.sum(img * towers.texts(captions), -1)
    edits_won = others_won = 0
    for i, a in enumerate(full):
        edits = [b for _, b in valid_edits(a)]
        picks = [edits[j] for j in rng.choice(len(edits), size=min(9, len(edits)), replace=False)]
        edits_won += int(true[i] > (towers.texts([caption(b, rng) for b in picks]) @ img[i]).max())
        others = [captions[j] for j in rng.choice([j for j in range(len(full)) if j != i], size=9, replace=False)]
        others_won += int(true[i] > (towers.texts(others) @ img[i]).max())
    return edits_won / len(full), others_won / len(full)


def candidates(binary, bundle, captions, seeds, steps, max_n, out):
    """Run the helper; returns (scores [n, max_n], generate_ms, score_ms, pictures dir)."""
    os.makedirs(out, exist_ok=True)
    tsv = os.path.join(out, "prompts.tsv")
    with open(tsv, "w") as f:
        f.writelines(f"{s}\t{c}\n" for s, c in zip(seeds, captions))
    run = subprocess.run([binary, bundle, tsv, str(steps), str(max_n), out], check=True, capture_output=True, text=True)
    lines = [json.loads(x) for x in run.stdout.splitlines()]
    scores = np.zeros((len(captions), max_n))
    for x in lines:
        scores[x["prompt"], x["candidate"]] = x["score"]
    gen = float(np.median([x["generate_ms"] for x in lines]))
    # Per candidate: the image tower (the first candidate also carries the prompt's embedding).
    sc = float(np.median([x["score_ms"] for x in lines if x["candidate"] > 0]))
    return scores, gen, sc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=os.path.join(ROOT, "models", "scenes"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--steps", default="1,4")
    ap.add_argument("--max-n", type=int, default=8)
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "best_of"))
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "examples", "best_of_candidates"))
    ap.add_argument("--markdown", help="also write the tables here")
    ap.add_argument("--classifier", default=fidelity.DEFAULT_PATH,
                    help="the attribute classifier's checkpoint (runs/classifier-count also counts suns and objects)")
    args = ap.parse_args()
    fidelity.set_classifier(args.classifier)

    captions, fixed, full = fidelity.prompts(args.n, args.seed, "heldout", return_full=True)
    seeds = [1000 + 100 * i for i in range(args.n)]
    towers = Towers(args.bundle)
    renders = fidelity.render_reference(full, args.seed)
    result = {"n": args.n, "split": "heldout", "seed": args.seed, "rows": {}}
    result["retrieval_renders"] = retrieval(towers, renders, captions, full, args.seed)
    ns = [k for k in (1, 2, 4, 8, 16) if k <= args.max_n]
    for steps in [int(s) for s in args.steps.split(",")]:
        d = os.path.join(args.out, f"steps{steps}")
        scores, gen_ms, score_ms = candidates(args.binary, args.bundle, captions, seeds, steps, args.max_n, d)
        pictures = lambda picks: np.stack([read_png(os.path.join(d, f"{k}-{j}.png")) for k, j in enumerate(picks)])
        row = {"generate_ms": gen_ms, "score_ms": score_ms, "best_of": {}}
        for n in ns:
            kept = scores[:, :n].argmax(1)
            res = fidelity.score(pictures(kept), fixed)
            row["best_of"][n] = {"fidelity": res["fidelity"], "exact": res["exact"], "count": res["count"],
                                 "per_attribute": res["per_attribute"], "mean_score": float(scores[np.arange(args.n), kept].mean())}
        row["retrieval_generated"] = retrieval(towers, pictures([0] * args.n), captions, full, args.seed)
        result["rows"][steps] = row
        print(json.dumps({"steps": steps, **{f"best_of_{n}": round(row["best_of"][n]["fidelity"], 4) for n in ns}}),
              flush=True)
    with open(os.path.join(args.out, "best_of.json"), "w") as f:
        json.dump(result, f, indent=1)
    md = markdown(result, ns, args)
    print(md)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)


def markdown(result, ns, args):
    cmd = (f"python3 -m scripts.evaluate.best_of --n {args.n} --steps {args.steps} --max-n {args.max_n}")
    lines = [f"`{cmd}` ({result['n']} held-out prompts, seed {result['seed']}; candidates from seeds "
             f"1000 + 100·i onward)", "",
             "| steps | " + " | ".join(f"best of {n}: fidelity / exact / count" for n in ns) + " | scorer per candidate |",
             "|---|" + "---|" * (len(ns) + 1)]
    for steps, row in result["rows"].items():
        cells = [f"{row['best_of'][n]['fidelity']:.3f} / {row['best_of'][n]['exact']:.2f} / "
                 f"{row['best_of'][n].get('count', float('nan')):.2f}" for n in ns]
        lines.append(f"| {steps} | " + " | ".join(cells) +
                     f" | {row['score_ms']:.2f} ms = {100 * row['score_ms'] / row['generate_ms']:.1f} % of a picture |")
    r = result["retrieval_renders"]
    lines += ["", "Scorer top-1 among 10 captions (the prompt against 9 one-attribute edits / against 9 other "
              "prompts):", "", "| pictures | one-attribute edits | other prompts |", "|---|---|---|",
              f"| renders of the held-out prompts | {r[0]:.3f} | {r[1]:.3f} |"]
    for steps, row in result["rows"].items():
        g = row["retrieval_generated"]
        lines.append(f"| generated, {steps} step(s), first candidate | {g[0]:.3f} | {g[1]:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
