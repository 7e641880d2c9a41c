"""Where a Fréchet distance comes from: the report's FD split by the
prompt's time of day (day / sunset / night), with each group's mean pixel
level against the renders'. Reads the pictures report.py wrote.

  python3 -m scripts.evaluate.fd_by_time runs/eval/images/rust-int8-4 [more dirs] \\
      --classifier runs/classifier-count [--n 200 --seed 2026]
"""
import argparse
import os

import numpy as np


def fd_by_group(feats, real_feats, groups, frechet):
    """{group: FD of the rows of that group} (feats and real_feats paired by row)."""
    groups = np.asarray(groups)
    return {g: frechet(feats[groups == g], real_feats[groups == g]) for g in sorted(set(groups.tolist()))}


def main():
    from scripts.evaluate import fidelity as F
    from scripts.evaluate.png_decode import read_png
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", help="report.py image folders (holding heldout/ and any/)")
    ap.add_argument("--classifier", default="runs/classifier-count")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args()
    F.set_classifier(a.classifier, "cpu")
    for split in ("heldout", "any"):
        _, _, full = F.prompts(a.n, a.seed, split, return_full=True)
        real = F.render_reference(full, a.seed)
        real_feats = F.features(real)
        times = np.array([attrs.get("time") for attrs in full])
        for d in a.dirs:
            folder = os.path.join(d, split)
            imgs = np.stack([read_png(os.path.join(folder, f"{i:04d}.png")) for i in range(a.n)])
            feats = F.features(imgs)
            parts = [f"{split} {d}: FD {F.frechet_from_features(feats, real_feats):.0f}"]
            for t, fd in fd_by_group(feats, real_feats, times, F.frechet_from_features).items():
                m = times == t
                parts.append(f"{t} ({m.sum()}) FD {fd:.0f}, mean level {imgs[m].mean():.1f} (renders {real[m].mean():.1f})")
            print(" | ".join(parts))


if __name__ == "__main__":
    main()
