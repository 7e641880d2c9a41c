"""The teacher settings a distillation pairs file records (its `fp` array), and
how the cards and reports write them. Apart from distill.py so that the
evaluation reads them without torch."""


def pair_settings(fp):
    """The teacher settings a pairs file records: [teacher step, Euler steps, guidance,
    guidance interval lo, hi] (files made before the interval existed: all levels)."""
    fp = [float(v) for v in fp]
    if len(fp) == 3:
        fp += [0.0, 1.0]
    return dict(teacher_step=int(fp[0]), steps=int(fp[1]), guidance=fp[2], interval=(fp[3], fp[4]))


def guidance_words(guidance, interval=(0.0, 1.0)):
    """'CFG 4', or 'CFG 2 at noise 0.4-1' when guidance applies only in an interval."""
    lo, hi = interval
    return f"CFG {guidance:g}" + ("" if (lo, hi) == (0.0, 1.0) else f" at noise {lo:g}-{hi:g}")
