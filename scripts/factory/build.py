"""One command, from nothing to models/scenes (resumable):

  python3 -m scripts.factory.build --out runs/scenes [--device cpu|cuda] [--budget-minutes 60]

Stages: data -> autoencoder (+ latents) -> teacher -> pairs -> student ->
ONNX export -> int8 -> measurements + bundle. Every stage checkpoints under
OUT and is skipped when its target is reached, resumed when not. A stage
whose input changed (new AE -> new latents -> teacher restarts; new teacher
-> new pairs -> student restarts) starts over. --budget-minutes splits a
wall-clock budget over the training stages (15/50/15/20 %); without it the
per-stage --*-minutes caps apply."""
import argparse
import os
import sys
import time

from scripts.factory import common as C
from scripts.factory.distill import DEFAULTS as STUDENT_DEFAULTS


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/scenes")
    ap.add_argument("--dest", default=os.path.join(C.REPO, "models", "scenes"))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--budget-minutes", type=float, default=None)
    ap.add_argument("--images", type=int, default=50000)
    ap.add_argument("--ae-steps", type=int, default=4000)
    ap.add_argument("--ae-minutes", type=float, default=12)
    ap.add_argument("--teacher-steps", type=int, default=4000)
    ap.add_argument("--teacher-minutes", type=float, default=20)
    ap.add_argument("--teacher-bs", type=int, default=64)
    ap.add_argument("--detail", type=float, default=2.0, help="teacher detail loss weight (0: plain MSE)")
    ap.add_argument("--binding", type=float, default=0.0, help="teacher binding auxiliary loss weight (0: off)")
    ap.add_argument("--ae-weight", type=float, default=0.0, help="autoencoder object-weighted loss alpha (0: off)")
    ap.add_argument("--ae-dim", type=float, default=0.0, help="share of autoencoder crops dimmed (0: none)")
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--pair-minutes", type=float, default=6)
    ap.add_argument("--pair-teacher-steps", type=int, default=12)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--guidance-interval", type=float, nargs=2, default=(0.0, 1.0), metavar=("LO", "HI"),
                    help="noise levels (1 = pure noise) at which the pairs' teacher applies guidance")
    ap.add_argument("--object-pairs", nargs=2, metavar=("OBJ", "N"),
                    help="N more pairs whose prompts all ask for OBJ (boat, house, tree): pairs_1.npz, as distill --shard 1 --obj")
    ap.add_argument("--student-steps", type=int, default=2000)
    ap.add_argument("--student-minutes", type=float, default=8)
    ap.add_argument("--student-detail", type=float, default=0.0, help="student detail loss weight (0: plain MSE)")
    ap.add_argument("--student-lr", type=float, default=STUDENT_DEFAULTS["lr"], help="student learning rate")
    ap.add_argument("--student-freeze-text", action="store_true",
                    help="train the student's UNet only (keep the teacher's text encoder)")
    ap.add_argument("--student-one-step-weight", type=float,
                    help="share of s = 1 among the student's shipped timesteps (default 0.35)")
    ap.add_argument("--student-adv", type=float, default=0.0,
                    help="weight of the student's adversarial term (0: off; scripts/factory/adversarial.py)")
    ap.add_argument("--student-extra", type=int, nargs=3, default=STUDENT_DEFAULTS["extra"], metavar=("N16", "N8", "N4"),
                    help="identity-started blocks added to the student's UNet at 16x16, 8x8 and 4x4 (nets.UNet)")
    ap.add_argument("--student-pixel", type=float, default=STUDENT_DEFAULTS["pixel"],
                    help="weight of the student's error on decoded pictures (0: off; distill.pixel_term)")
    ap.add_argument("--student-dmd-guidance", type=float, default=STUDENT_DEFAULTS["dmd_guidance"],
                    help="the distribution-matching term's teacher guidance (0: the pairs' --guidance)")
    ap.add_argument("--student-dmd", type=float, default=STUDENT_DEFAULTS["dmd"],
                    help="weight of the student's distribution-matching term (0: off; distribution_matching.py)")
    ap.add_argument("--n-eval", type=int, default=200)
    ap.add_argument("--skip-bundle", action="store_true")
    a = ap.parse_args()
    if a.budget_minutes:
        b = a.budget_minutes
        a.ae_minutes, a.teacher_minutes, a.pair_minutes, a.student_minutes = 0.15 * b, 0.5 * b, 0.15 * b, 0.2 * b
    dev = C.setup(a.device)
    os.makedirs(a.out, exist_ok=True)
    lg = os.path.join(a.out, "log.jsonl")
    rp = os.path.join(a.out, "build_report.json")
    rep = C.read_json(rp, {"stage_minutes": {}})
    rep["command"] = "python3 -m scripts.factory.build " + " ".join(sys.argv[1:])

    def timed(name, fn):
        t0 = time.time()
        r = fn()
        rep["stage_minutes"][name] = round(rep["stage_minutes"].get(name, 0) + (time.time() - t0) / 60, 2)
        C.write_json(rp, rep)
        return r

    from scripts.factory import data as D
    from scripts.factory import distill
    from scripts.factory import dm
    from scripts.factory import export
    from scripts.factory import quantize
    from scripts.factory import train_ae
    from scripts.factory import train_teacher

    timed("data", lambda: (D.build(a.out, a.images, log=lg), D.build_vocab(a.out)))
    ae, ae_step = timed("autoencoder", lambda: train_ae.train(a.out, a.ae_steps, a.ae_minutes, dev, weight=a.ae_weight,
                                                                        dim_p=a.ae_dim, log=lg))
    timed("encode latents", lambda: train_ae.encode(a.out, ae, ae_step, dev, log=lg))
    train_ae.preview(a.out, ae, "/tmp/ae_preview.png", device=dev)
    timed("teacher", lambda: train_teacher.train(a.out, a.teacher_steps, a.teacher_minutes, dev, bs=a.teacher_bs,
                                                          detail=a.detail, binding=a.binding, log=lg))
    timed("pairs", lambda: distill.make_pairs(a.out, a.pairs, a.pair_teacher_steps, a.guidance, dev,
                                              minutes=a.pair_minutes, log=lg, interval=a.guidance_interval))
    if a.object_pairs:
        timed("pairs", lambda: distill.make_pairs(a.out, int(a.object_pairs[1]), a.pair_teacher_steps, a.guidance, dev,
                                                  minutes=a.pair_minutes, shard=1, log=lg, interval=a.guidance_interval,
                                                  obj=a.object_pairs[0]))
    timed("student", lambda: distill.train(a.out, a.student_steps, a.student_minutes, dev, lr=a.student_lr,
                                           detail=a.student_detail, freeze_text=a.student_freeze_text,
                                           one_step=a.student_one_step_weight, adv=a.student_adv,
                                           extra=a.student_extra, pixel=a.student_pixel,
                                           dmd=a.student_dmd, dmd_guidance=a.student_dmd_guidance, log=lg))
    if a.skip_bundle:
        return
    student, _ = distill.load_student(a.out, "cpu")
    timed("export", lambda: export.export_all(a.out, student, dm.load_ae(a.out, "cpu"), os.path.join(a.out, "onnx"), log=lg))
    timed("quantize", lambda: quantize.quantize_all(os.path.join(a.out, "onnx"), log=lg))
    from scripts.factory import card
    timed("measure + bundle", lambda: card.make_bundle(a.out, a.dest, a.n_eval, log=lg))


if __name__ == "__main__":
    main()
