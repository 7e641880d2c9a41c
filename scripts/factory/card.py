"""Measurements for the bundle and its model card: parameter counts, FLOPs,
onnxruntime checks of the int8 variants on real sampler inputs, prompt
fidelity (scripts/evaluate classifier, when trained) of the ONNX bundle and
the teacher; then writes models/scenes via bundle.py.

  python3 -m scripts.factory.card --out runs/scenes [--n-eval 200]"""
import argparse
import json
import os
import time

import numpy as np
import torch

from scripts.factory import bundle
from scripts.factory import common as C
from scripts.factory import distill
from scripts.factory import dm
from scripts.factory import flops
from scripts.factory import onnx_pipeline as OP
from scripts.factory import quantize as Q
from scripts.factory import train_teacher as T
from scripts.factory.pair_settings import pair_settings

EVAL_SEED = 4242


def quant_checks(odir, shift, scale, prompts):
    ref = OP.Pipeline(odir, shift, scale)
    for i, p in enumerate(prompts):
        ref(p, seed=i, steps=4, record=True)
    feeds = {
        "text_encoder": [{"input_ids": C.tokenize([p])} for p in prompts],
        "denoiser": ref.trace,
        "decoder": [],
    }
    imgs_ref = []
    for i, p in enumerate(prompts):
        im, st = ref(p, seed=i, steps=4)
        feeds["decoder"].append({"latent_sample": st["latent"]})
        imgs_ref.append(im.astype(np.float32))
    rep = Q.measure(odir, feeds)
    # end to end: pixels of the quantized chain vs the f32 chain (0..255)
    for var in ("int8", "wq"):
        for comp in ("text_encoder", "denoiser", "decoder", "all"):
            files = {k: os.path.join(odir, f"{k}.onnx") for k in ("text_encoder", "denoiser", "decoder")}
            for k in files:
                if comp in (k, "all"):
                    files[k] = os.path.join(odir, f"{k}.{var}.onnx")
            pl = OP.Pipeline(odir, shift, scale, files=files)
            d = [np.abs(pl(p, seed=i, steps=4)[0].astype(np.float32) - imgs_ref[i]).mean() for i, p in enumerate(prompts)]
            rep.setdefault("end_to_end_mean_abs_pixel_diff", {})[f"{var}:{comp}"] = float(np.mean(d))
    return rep


def fidelity_available():
    return os.path.exists(os.path.join(C.REPO, "runs", "classifier"))


def fidelity(gen_images, n, split="heldout"):
    from scripts.evaluate import fidelity as F
    caps, fixed = F.prompts(n, EVAL_SEED, split)
    t0 = time.time()
    imgs = gen_images(caps)
    r = F.score(imgs, fixed)
    return dict(fidelity=round(r["fidelity"], 4), exact=round(r["exact"], 4), n=r["n"],
                per_attribute={k: (round(v, 3) if v is not None else None) for k, v in r["per_attribute"].items()},
                seconds=round(time.time() - t0, 1))


def onnx_gen(odir, shift, scale, suffix_files, steps):
    pl = OP.Pipeline(odir, shift, scale, files=suffix_files)
    return lambda caps: np.stack([pl(c, seed=i, steps=steps)[0] for i, c in enumerate(caps)])


def torch_gen(model, ae, shift, scale, steps, guidance, interval=(0.0, 1.0), bs=100):
    def gen(caps):
        out = []
        for i in range(0, len(caps), bs):
            c = caps[i:i + bs]
            noise = torch.stack([torch.from_numpy(np.random.default_rng(i + j).standard_normal((4, 16, 16)).astype(np.float32))
                                 for j in range(len(c))])
            z = dm.euler(model, noise, torch.from_numpy(C.tokenize(c)), dm.sigmas_for(steps), guidance,
                         torch.from_numpy(C.tokenize([""])), interval)
            img = dm.decode(ae, z, shift, scale)
            out.append(dm.to_uint8(img))
        return np.concatenate(out)
    return gen


def student_settings(checkpoint):
    """The student's training settings its checkpoint records (older ones
    record only whether the text encoder was kept)."""
    return checkpoint.get("settings", dict(freeze_text=bool(checkpoint.get("freeze_text", False))))


def make_bundle(out, dest, n_eval=200, teacher_steps=20, guidance=None, log=None):
    odir = os.path.join(out, "onnx")
    st = C.read_json(os.path.join(out, "latent_stats.json"))
    shift, scale = st["shift"], st["scale"]
    student, s_step = distill.load_student(out, "cpu")
    teacher, t_step = T.load_teacher(out, "cpu")
    ae = dm.load_ae(out, "cpu")
    pr_noise, _, _, fp = distill.load_pairs(out)
    pairs = pair_settings(fp)
    guidance = guidance or pairs["guidance"]
    m = dict(
        params=dict(text_encoder=C.count_params(student.te), denoiser=C.count_params(student.unet),
                    decoder=C.count_params(ae.decoder), encoder_training_only=C.count_params(ae.encoder)),
        flops=flops.report(student.te, student.unet, ae.decoder),
        steps=dict(ae=C.load_ckpt(os.path.join(out, "ae.pt"))["step"], teacher=t_step, student=s_step,
                   pairs=int(len(pr_noise)), pair_teacher_steps=pairs["steps"], pair_guidance=pairs["guidance"],
                   pair_guidance_interval=list(pairs["interval"]),
                   student_settings=student_settings(C.load_ckpt(os.path.join(out, "student.pt"))),
                   student_defaults=distill.DEFAULTS),
        latent=dict(shift=shift, scale=scale),
        export_check=C.read_json(os.path.join(odir, "export_check.json")),
    )
    prompts = dm.PREVIEW_PROMPTS[:8]
    m["quant"] = Q_rep = quant_checks(odir, shift, scale, prompts)
    # choice of the default (model.toml) files: weight-only int8 where it stays
    # close to f32. Measured in tract (README "Performance"): weight-only int8
    # runs at f32 speed, dynamic int8 1.5-4x slower on x86, at the same size.
    e2e = Q_rep["end_to_end_mean_abs_pixel_diff"]
    files = {}
    for k in ("text_encoder", "denoiser", "decoder"):
        files[k] = f"{k}.wq.onnx" if e2e[f"wq:{k}"] < 2.0 else f"{k}.onnx"
    m["default_files"] = files
    if fidelity_available() and n_eval > 0:
        fid = {}
        f32 = {k: os.path.join(odir, f"{k}.onnx") for k in files}
        dflt = {k: os.path.join(odir, f) for k, f in files.items()}
        for steps in (1, 2, 4):
            fid[f"student_f32_{steps}step"] = fidelity(onnx_gen(odir, shift, scale, f32, steps), n_eval)
        fid["student_default_4step"] = fidelity(onnx_gen(odir, shift, scale, dflt, 4), n_eval)
        fid["student_default_1step"] = fidelity(onnx_gen(odir, shift, scale, dflt, 1), n_eval)
        fid[f"teacher_{teacher_steps}step_cfg{guidance}"] = fidelity(
            torch_gen(teacher, ae, shift, scale, teacher_steps, guidance, pairs["interval"]), n_eval)
        fid["student_f32_4step_train_split"] = fidelity(onnx_gen(odir, shift, scale, f32, 4), n_eval, "train")
        m["fidelity_heldout"] = fid
    else:  # keep the fidelity measured for these same weights by an earlier run, if any
        old = C.read_json(os.path.join(out, "measurements.json"), {})
        if old.get("steps") == m["steps"] and old.get("fidelity_heldout"):
            m["fidelity_heldout"] = old["fidelity_heldout"]
    report = C.read_json(os.path.join(out, "build_report.json"), {})
    m["wall_minutes"] = report.get("stage_minutes", {})
    m["command"] = report.get("command", "python3 -m scripts.factory.build --out runs/scenes")
    m["notes"] = report.get("notes", [])
    C.write_json(os.path.join(out, "measurements.json"), m)
    variants = {"model.toml": files,
                "model-dynamic.toml": {k: f"{k}.int8.onnx" for k in files},
                "model-f32.toml": {k: f"{k}.onnx" for k in files}}
    desc = "Procedural landscape scenes (docs/scenes.md), 128x128, distilled 1-4 step flow model"
    from scripts.factory import card_text
    sizes = bundle.write(out, dest, variants, "", desc)
    text = card_text.render(m, sizes)
    with open(os.path.join(dest, "README.md"), "w") as fh:
        fh.write(text)
    sizes = {f: os.path.getsize(os.path.join(dest, f)) for f in sorted(os.listdir(dest))}
    m["bundle_bytes"] = sizes
    C.write_json(os.path.join(out, "measurements.json"), m)
    C.log(log, stage="bundle", sizes=sizes, total=sum(sizes.values()))
    return m


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/scenes")
    ap.add_argument("--dest", default=os.path.join(C.REPO, "models", "scenes"))
    ap.add_argument("--n-eval", type=int, default=200)
    a = ap.parse_args()
    C.setup("cpu")
    print(json.dumps(make_bundle(a.out, a.dest, a.n_eval, log=os.path.join(a.out, "log.jsonl")), indent=1))
