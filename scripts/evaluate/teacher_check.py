"""A factory run's teacher, checked before pairs and a student are made from it:
200 prompts (the report's prompts and noise), flow-Euler steps with classifier-free
guidance as the pairs use them, decoded by the run's autoencoder, scored by the
attribute classifier (fidelity, count, per attribute). About 25 s on one core.

    python3 -m scripts.evaluate.teacher_check --runs runs/lever1b [--split heldout|any] [--classifier runs/classifier]
"""
import argparse
import json

import numpy as np
import torch

from scripts.evaluate import fidelity as F
from scripts.evaluate.targets import initial_latents
from scripts.factory import common as C
from scripts.factory import dm
from scripts.factory.train_teacher import load_teacher


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="the factory run (teacher.pt, ae.pt, latent_stats.json)")
    ap.add_argument("--split", default="heldout", choices=["heldout", "any", "train"])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--classifier", default=F.DEFAULT_PATH)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    F.set_classifier(a.classifier)
    captions, fixed = F.prompts(a.n, a.seed, a.split)
    model, step = load_teacher(a.runs, "cpu")
    ae = dm.load_ae(a.runs, "cpu")
    stats = C.read_json(f"{a.runs}/latent_stats.json")
    noise = torch.from_numpy(np.stack([initial_latents(a.seed, a.split, i, (4, 16, 16)) for i in range(a.n)]))
    ids, empty = torch.from_numpy(C.tokenize(captions)), torch.from_numpy(C.tokenize([""]))
    images = []
    for i in range(0, a.n, 50):
        z = dm.euler(model, noise[i:i + 50], ids[i:i + 50], dm.sigmas_for(a.steps), a.guidance, empty)
        x = dm.decode(ae, z, stats["shift"], stats["scale"])
        images.append(((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy())
    r = F.score(np.concatenate(images), fixed)
    print(json.dumps({"teacher_step": step, "split": a.split, "fidelity": round(r["fidelity"], 3),
                      "exact": round(r["exact"], 3), "count": r["count"], "two_or_more": r["two_or_more"],
                      "per_attribute": {k: round(v, 3) for k, v in r["per_attribute"].items() if v is not None}}))


if __name__ == "__main__":
    main()
