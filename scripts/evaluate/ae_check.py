"""A factory run's autoencoder, checked on its own: renders of the evaluation's
prompts, encoded and decoded, scored by the attribute classifier, with the
round trip's Fréchet distance to the renders (all, and by time of day). What
the round trip loses no denoiser can draw, so this bounds every model made on
this autoencoder (per attribute; issue 16 found the object colour lost here
first). About 20 s on one core.

    python3 -m scripts.evaluate.ae_check --runs runs/lever2 [--split heldout|any] [--classifier runs/classifier-count]
"""
import argparse
import json

import numpy as np
import torch

from scripts.evaluate import fidelity as F
from scripts.evaluate.fd_by_time import fd_by_group
from scripts.factory import dm
from scripts.factory.train_ae import to_t


def round_trip(ae, images, batch=50):
    """uint8 [n,128,128,3] -> the same, encoded and decoded."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            y = ae.decoder(ae.encoder(to_t(images[i:i + batch], "cpu")))
            out.append(dm.to_uint8(y))
    return np.concatenate(out) if out else images[:0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="the factory run (ae.pt)")
    ap.add_argument("--split", default="heldout", choices=["heldout", "any", "train"])
    F.add_check_arguments(ap)
    a = ap.parse_args(argv)
    F.start_check(a)
    _, fixed, full = F.prompts(a.n, a.seed, a.split, return_full=True)
    renders = F.render_reference(full, a.seed)
    ae = dm.load_ae(a.runs, "cpu")
    result = {"split": a.split, "n": a.n}
    decoded = round_trip(ae, renders)
    result["mean_abs_error"] = round(float(np.abs(decoded.astype(np.float32) - renders).mean()), 2)  # levels of 255
    real_feats, feats = F.features(renders), F.features(decoded)
    result["fd"] = round(F.frechet_from_features(feats, real_feats), 1)
    times = [attrs.get("time") for attrs in full]
    result["fd_by_time"] = {t: round(v, 1) for t, v in
                            fd_by_group(feats, real_feats, times, F.frechet_from_features).items()}
    for name, images in (("renders", renders), ("round_trip", decoded)):
        r = F.score(images, fixed)
        result[name] = {"fidelity": round(r["fidelity"], 3), "exact": round(r["exact"], 3),
                        "per_attribute": {k: round(v, 3) for k, v in r["per_attribute"].items() if v is not None},
                        "color_by_obj": {k: round(v, 3) for k, v in r["color_by_obj"].items()}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
