"""A factory run's teacher, checked before pairs and a student are made from it:
200 prompts (the report's prompts and noise), flow-Euler steps with classifier-free
guidance as the pairs use them, decoded by the run's autoencoder, scored by the
attribute classifier (fidelity, count, per attribute) and the Frechet distance to renders
of the same prompts (as report.py computes it). About 25 s on one core.
`--checkpoint student.pt --guidance 1 --steps 4` checks a student while it trains
(its EMA weights in torch, before any export).

    python3 -m scripts.evaluate.teacher_check --runs runs/lever1b [--split heldout|any] [--classifier runs/classifier]
"""
import argparse
import json

import torch

from scripts.evaluate import fidelity as F
from scripts.evaluate.generators import teacher_images
from scripts.evaluate.targets import initial_latents
from scripts.factory import common as C
from scripts.factory import dm


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="the factory run (teacher.pt, ae.pt, latent_stats.json)")
    ap.add_argument("--split", default="heldout", choices=["heldout", "any", "train"])
    F.add_check_arguments(ap)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--interval", type=float, nargs=2, default=(0.0, 1.0), metavar=("LO", "HI"),
                    help="noise levels at which guidance is applied (default: all)")
    ap.add_argument("--checkpoint", default="teacher.pt", help="teacher.pt or student.pt of --runs")
    a = ap.parse_args(argv)
    F.start_check(a)
    captions, fixed, full = F.prompts(a.n, a.seed, a.split, return_full=True)
    ae = dm.load_ae(a.runs, "cpu")
    stats = C.read_json(f"{a.runs}/latent_stats.json")

    def decode(z):
        with torch.no_grad():
            return dm.to_uint8(dm.decode(ae, torch.from_numpy(z), stats["shift"], stats["scale"]))[0]

    noises = [initial_latents(a.seed, a.split, i, (1, 4, 16, 16)) for i in range(a.n)]
    images, extra = teacher_images(a.runs, captions, noises, a.steps, a.guidance, decode, interval=a.interval,
                                   log=lambda *_: None, checkpoint=a.checkpoint)
    step = extra["teacher_step"]
    r = F.score(images, fixed)
    fd = F.frechet_from_features(F.features(images), F.features(F.render_reference(full, a.seed)))
    print(json.dumps({"checkpoint": a.checkpoint, "step": step, "split": a.split, "fidelity": round(r["fidelity"], 3),
                      "exact": round(r["exact"], 3), "count": r["count"], "fd": round(fd, 1),
                      "guidance": a.guidance, "interval": list(a.interval), "two_or_more": r["two_or_more"],
                      "per_attribute": {k: round(v, 3) for k, v in r["per_attribute"].items() if v is not None},
                      "color_by_obj": {k: round(v, 3) for k, v in r["color_by_obj"].items()}}))


if __name__ == "__main__":
    main()
