"""The report's paired comparison (numpy only): one noise per prompt for every row, fidelity, the targets."""

import numpy as np

SPLITS = ("heldout", "any")
SPLIT_CODE = {"heldout": 1, "any": 2}


def initial_latents(seed, split, i, shape):
    """The starting noise of prompt i of a split: the same for every row."""
    rng = np.random.default_rng([int(seed), SPLIT_CODE[split], int(i)])
    return rng.standard_normal(tuple(shape)).astype(np.float32)


def per_image_fidelity(pred, attrs_list, fixed_fn):
    """Fraction of each image's counted attributes the classifier finds (fidelity.score's per-image term)."""
    out = []
    for i, a in enumerate(attrs_list):
        keys = fixed_fn(a)
        out.append(float(np.mean([pred[k][i] == a[k] for k in keys])) if keys else 1.0)
    return np.asarray(out)


def paired(a, b):
    """Mean of a - b over paired samples and its standard error."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return float(d.mean()), se


def check_targets(results, teacher_id="teacher"):
    """Pass/fail of issue 3's targets. results[split][row_id] = {"fidelity": ..., "per_image": [...]}.
    Rows or splits that are missing give a check with result "missing"."""
    checks = []

    def fid(split, rid):
        r = results.get(split, {}).get(rid)
        return None if r is None or r.get("fidelity") is None else r

    def absolute(rid, split, thr, name):
        r = fid(split, rid)
        c = dict(target=name, split=split, rows=[rid], threshold=thr, op=">=")
        if r is None:
            c.update(value=None, result="missing")
        else:
            c.update(value=r["fidelity"], result="pass" if r["fidelity"] >= thr else "fail")
        checks.append(c)

    def cost(better, worse, split, thr, name):
        """better - worse <= thr (worse may exceed better: then it passes)."""
        a, b = fid(split, better), fid(split, worse)
        c = dict(target=name, split=split, rows=[worse, better], threshold=thr, op="<=")
        if a is None or b is None:
            c.update(value=None, result="missing")
        else:
            m, se = paired(a["per_image"], b["per_image"])
            c.update(value=m, se=se, fidelity={better: a["fidelity"], worse: b["fidelity"]},
                     result="pass" if m <= thr + 1e-12 else "fail")
        checks.append(c)

    absolute("rust-int8-4", "heldout", 0.90, "shipped int8, 4 steps: fidelity >= 0.90 (held-out)")
    absolute("rust-int8-1", "heldout", 0.80, "shipped int8, 1 step: fidelity >= 0.80 (held-out)")
    for split in SPLITS:
        for k in (4, 2, 1):
            cost(f"student-f32-{k}", f"rust-int8-{k}", split, 0.01,
                 f"int8 costs <= 0.01 vs f32 student, {k} step{'s' if k > 1 else ''}")
        cost(teacher_id, "student-f32-4", split, 0.03, "4-step f32 student within 0.03 of the teacher")
    return checks
