"""Does a student miss its teacher because it cannot fit it, or because it
does not carry over to new prompts? Compares, attribute by attribute, what
the attribute classifier reads in the student's picture with what it reads in
the teacher's picture from the same noise and prompt:
- train: the first N of the run's pairs (the student's own training targets);
- held-out: the report's held-out prompts and noise, the teacher run with the
  pairs' settings (steps, guidance, interval).
Low agreement on both: the student cannot fit the teacher (capacity, loss);
high on train and low held-out: it does not generalise (prompts, pairs).
Agreement on colour counts only pictures where the teacher drew a coloured
object. About a minute on one core per split.

    python3 -m scripts.evaluate.student_fit --runs runs/lever9 --steps 1 --classifier runs/classifier-count
"""
import argparse
import json

import numpy as np
import torch

from scripts.evaluate import fidelity as F
from scripts.evaluate.targets import initial_latents
from scripts.factory import common as C
from scripts.factory import distill
from scripts.factory import dm
from scripts.factory.pair_settings import pair_settings


def agreement(student_images, teacher_images):
    """Share of pictures where the classifier reads the same value in both, per attribute."""
    s, t = F.predict(student_images), F.predict(teacher_images)
    out = {}
    for k in s:
        keep = [i for i in range(len(s[k])) if k != "color" or t["obj"][i] not in ("none", "tree")]
        out[k] = round(float(np.mean([s[k][i] == t[k][i] for i in keep])), 3) if keep else None
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="the factory run (student.pt, teacher.pt, pairs.npz, ae.pt)")
    ap.add_argument("--steps", type=int, default=1, help="the student's steps")
    F.add_check_arguments(ap)
    a = ap.parse_args(argv)
    F.start_check(a)
    ae = dm.load_ae(a.runs, "cpu")
    stats = C.read_json(f"{a.runs}/latent_stats.json")
    student, step = dm.load_model(a.runs, "student.pt", "ema", "cpu")
    teacher, _ = dm.load_model(a.runs, "teacher.pt", "ema", "cpu")
    empty = torch.from_numpy(C.tokenize([""]))

    @torch.no_grad()
    def pictures(z):
        return dm.to_uint8(dm.decode(ae, z, stats["shift"], stats["scale"]))

    @torch.no_grad()
    def run(model, noise, ids, steps, guidance=1.0, interval=(0.0, 1.0)):
        return dm.euler(model, noise, ids, dm.sigmas_for(steps), guidance, empty, interval)

    noise, x0, ids, fp = distill.load_pairs(a.runs)
    noise, x0, ids = noise[: a.n], x0[: a.n], ids[: a.n]
    train = agreement(pictures(run(student, noise, ids, a.steps)), pictures(x0))

    settings = pair_settings(fp)
    captions, _ = F.prompts(a.n, a.seed, "heldout")
    h_ids = torch.from_numpy(C.tokenize(captions))
    h_noise = torch.from_numpy(np.concatenate([initial_latents(a.seed, "heldout", i, (1, 4, 16, 16))
                                               for i in range(a.n)]))
    taught = run(teacher, h_noise, h_ids, settings["steps"], settings["guidance"], settings["interval"])
    held_out = agreement(pictures(run(student, h_noise, h_ids, a.steps)), pictures(taught))
    print(json.dumps({"student_step": step, "steps": a.steps, "n": a.n, "train": train, "heldout": held_out}))


if __name__ == "__main__":
    main()
