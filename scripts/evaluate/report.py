"""The model card's evaluation table: prompt fidelity of a scenes bundle, run by the Rust binary.

    python3 -m scripts.evaluate.report --bundle models/scenes [--n 100] [--out runs/eval] [--markdown FILE]

Every row is scored on the SAME prompts and the SAME initial latents:
  - two prompt sets from fidelity.prompts(n, seed, split): held-out attribute
    combinations (split "heldout") and fresh random prompts (split "any");
  - per prompt i one N(0,1) latent, float32 [1, C, H, W] from
    numpy default_rng([seed, split, i]), handed to the Rust binary with
    `--latents` and used as the starting noise of every Python row too, so the
    differences between rows are the models', not the noise's.

Rows (see --rows):
  rust-int8-{4,2,1}  the shipped bundle (BUNDLE/model.toml) run by `edgepaint generate`, one
                     process per image, exactly as a user runs it (per-image time measured)
  rust-f32-4         the same binary on BUNDLE/model-f32.toml (optional row: tract vs onnxruntime)
  student-f32-{4,2,1} BUNDLE/model-f32.toml files in onnxruntime, flow-Euler on the manifest's timesteps
  teacher            the factory's teacher checkpoint (RUNS/teacher.pt, torch), --teacher-steps
                     flow-Euler steps with classifier-free guidance --guidance (default: the
                     guidance the student was distilled with, RUNS/pairs.npz), decoded by the
                     bundle's f32 decoder in onnxruntime
  renderer           reference rows: the renderer itself (fidelity ceiling), re-rendered with another
                     seed (the Frechet floor for the same prompts) and renders of other prompts of
                     the same split (the floor between unrelated sets of the same size)

Columns: per-attribute accuracy (over the images whose prompt fixes the
attribute), mean fidelity (the headline), exact (all fixed attributes right),
Frechet distance in the classifier's 128-d features against
render_reference() of the same prompts (compare rows of one table only: FD
depends on n), seconds per image.

Targets checked (issue 3): shipped int8 at 4 steps >= 0.90 and at 1 step >= 0.80
on held-out prompts; int8 costs <= 0.01 fidelity against the f32 student (at
each step count); the 4-step f32 student is at most 0.03 below the teacher.
Differences are paired (same prompt, same noise): the +- is one standard error
of the per-image difference.

Writes OUT/report.json (everything), OUT/report.md (or --markdown) with the
exact command at the top, the Rust PNGs under OUT/images/, and a cache of each
row's images under OUT/cache/ (re-running reuses rows whose inputs did not
change; --no-cache to redo). Needs torch + onnxruntime (scripts/requirements.txt)
and the classifier (runs/classifier); the pure helpers (targets.py, report_table.py,
png_decode.py) import with numpy only.
"""

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time

import numpy as np

from scripts.evaluate.generators import OrtChain, run_rust, teacher_images
from scripts.evaluate.png_decode import decode_png  # noqa: F401 (imported from here by scripts/tests)
from scripts.evaluate.report_bundle import Bundle, _file_shas, f32_bundle_dir, read_toml
from scripts.factory.pair_settings import pair_settings
from scripts.hashing import sha256
from scripts.evaluate.report_table import markdown, row_table
from scripts.evaluate.targets import check_targets, initial_latents, per_image_fidelity

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
REPO = os.path.dirname(SCRIPTS)

DEFAULT_ROWS = "rust-int8-4,rust-int8-2,rust-int8-1,student-f32-4,student-f32-2,student-f32-1,teacher,renderer"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="models/scenes")
    ap.add_argument("--n", type=int, default=100, help="prompts per set (each of heldout and any)")
    ap.add_argument("--seed", type=int, default=2026, help="prompt and noise seed")
    ap.add_argument("--out", default="runs/eval")
    ap.add_argument("--markdown", default=None, help="default OUT/report.md")
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "edgepaint"))
    ap.add_argument("--runs", default=os.path.join(REPO, "runs", "scenes"), help="factory run folder (teacher)")
    ap.add_argument("--rows", default=DEFAULT_ROWS, help=f"comma list (default {DEFAULT_ROWS}; also rust-f32-K)")
    ap.add_argument("--splits", default="heldout,any")
    ap.add_argument("--teacher-steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=None, help="teacher CFG (default: RUNS/pairs.npz, else 3)")
    ap.add_argument("--guidance-interval", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="noise levels at which the teacher's CFG applies (default: RUNS/pairs.npz, else all)")
    ap.add_argument("--classifier", default=os.path.join(REPO, "runs", "classifier"))
    ap.add_argument("--jobs", type=int, default=1, help="parallel edgepaint processes")
    ap.add_argument("--threads", type=int, default=1, help="torch / onnxruntime threads")
    ap.add_argument("--no-cache", action="store_true")
    a = ap.parse_args(argv)
    t_all = time.time()
    command = "python3 -m scripts.evaluate.report " + shlex.join(argv if argv is not None else sys.argv[1:])

    import torch
    torch.set_num_threads(a.threads)
    from scripts.evaluate import fidelity as F
    F.set_classifier(a.classifier, "cpu")

    bundle = Bundle(a.bundle)
    rows_req = [r.strip() for r in a.rows.split(",") if r.strip()]
    splits = [s.strip() for s in a.splits.split(",") if s.strip()]
    pp = os.path.join(a.runs, "pairs.npz")
    pairs = pair_settings(np.load(pp)["fp"].tolist()) if os.path.exists(pp) else None
    pairs_teacher_step = pairs["teacher_step"] if pairs else None
    guidance = a.guidance if a.guidance is not None else pairs["guidance"] if pairs else 3.0
    interval = tuple(a.guidance_interval) if a.guidance_interval else pairs["interval"] if pairs else (0.0, 1.0)
    rows = row_table(rows_req, a.teacher_steps, guidance, interval)

    def teacher_meta(meta, extra):
        if "step" not in meta["label"]:
            meta["label"] = meta["label"].replace("teacher f32", f"teacher f32 (step {extra['teacher_step']})")
        if pairs_teacher_step is not None and pairs_teacher_step != extra["teacher_step"]:
            note = (f"WARNING: the teacher checkpoint is at step {extra['teacher_step']}, the student was "
                    f"distilled from its step {pairs_teacher_step} ({a.runs}/pairs.npz)")
            if note not in notes:
                notes.append(note)
    if bundle.toml_f32 is None:
        for meta in rows.values():
            meta["label"] = meta["label"].replace("model-f32.toml", "model.toml: no model-f32.toml")
    os.makedirs(a.out, exist_ok=True)
    lat_dir = os.path.join(a.out, "latents")
    cache_dir = os.path.join(a.out, "cache")
    os.makedirs(lat_dir, exist_ok=True)
    os.makedirs(cache_dir, exist_ok=True)
    notes = []
    log = lambda s: print(s, flush=True)  # noqa: E731

    f32_chain = None
    if any(r.startswith(("student-f32", "teacher")) for r in rows):
        if bundle.toml_f32 is None:
            notes.append("BUNDLE/model-f32.toml missing: the 'student f32' rows run model.toml's files")
        f32_chain = OrtChain(bundle, bundle.toml_f32 or bundle.toml)
    tmp = tempfile.mkdtemp(prefix="edgepaint-eval-")
    if "teacher" in rows:
        st_path = os.path.join(a.runs, "latent_stats.json")
        if os.path.exists(st_path):  # the teacher must share the bundle's autoencoder
            with open(st_path) as f:
                st = json.load(f)
            dec = bundle.toml["decoder"]
            if abs(st["scale"] - dec["scaling_factor"]) > 1e-6 or abs(st["shift"] - dec["shift_factor"]) > 1e-6:
                notes.append(f"WARNING: {st_path} (scale {st['scale']:.6f}, shift {st['shift']:.6f}) differs from the "
                             "bundle's decoder: the teacher comes from another factory run than the bundle")
                log(notes[-1])

    results, timings = {}, {}
    for split in splits:
        caps, fixed, full = F.prompts(a.n, a.seed, split, return_full=True)
        noises = []
        for i in range(a.n):
            z = initial_latents(a.seed, split, i, bundle.shape)
            np.save(os.path.join(lat_dir, f"{split}_{i:04d}.npy"), z)
            noises.append(z)
        real = F.render_reference(full, a.seed)
        real_feats = F.features(real)
        res = results[split] = {}

        def score(rid, imgs, extra):
            if imgs.shape[1:3] != real.shape[1:3]:  # e.g. a 64x64 fixture bundle: nearest upsampling
                fy, fx = real.shape[1] // imgs.shape[1], real.shape[2] // imgs.shape[2]
                imgs = imgs.repeat(fy, 1).repeat(fx, 2)
                note = f"{imgs.shape[1] // fy}px images upsampled x{fy} (nearest) for the classifier"
                if note not in notes:
                    notes.append(note)
            s = F.score(imgs, fixed)
            pred = F.predict(imgs)
            pim = per_image_fidelity(pred, fixed, F.fixed_attributes)
            assert abs(pim.mean() - s["fidelity"]) < 1e-9
            feats = F.features(imgs)
            fd = F.frechet_from_features(feats, real_feats) if rid != "renderer" else 0.0
            r = dict(fidelity=s["fidelity"], exact=s["exact"], per_attribute=s["per_attribute"], counts=s["counts"],
                     count=s["count"],
                     n=s["n"], fd=fd, per_image=[round(float(v), 4) for v in pim], **extra)
            res[rid] = r
            log(f"  {split:8s} {rid:16s} fidelity {r['fidelity']:.3f} exact {r['exact']:.3f} FD {fd:7.1f}"
                + (f"  {r['seconds_per_image']:.2f} s/img" if r.get("seconds_per_image") is not None else ""))

        for rid, meta in rows.items():
            key = json.dumps(dict(rid=rid, split=split, n=a.n, seed=a.seed, bundle=bundle.sha,
                                  teacher=(a.teacher_steps, guidance, list(interval),
                                           _mtime(os.path.join(a.runs, "teacher.pt")))
                                  if rid == "teacher" else None,
                                  binary=_mtime(a.binary) if rid.startswith("rust") else None))
            cp = os.path.join(cache_dir, f"{rid}.{split}.npz")
            if not a.no_cache and os.path.exists(cp):
                c = np.load(cp, allow_pickle=False)
                if str(c["key"]) == key:
                    log(f"  {split:8s} {rid:16s} (cached)")
                    extra = json.loads(str(c["extra"]))
                    if rid == "teacher":
                        teacher_meta(meta, extra)
                    score(rid, c["images"], extra)
                    res[rid]["cached"] = True
                    continue
            t0 = time.time()
            extra = {}
            if rid.startswith("rust-"):
                if not os.path.exists(a.binary):
                    notes.append(f"{rid}: no binary at {a.binary} (cargo build --release)")
                    continue
                k = meta["steps"]
                bdir = bundle.path if rid.startswith("rust-int8") else f32_bundle_dir(bundle, tmp)
                if k not in bundle.timesteps:
                    notes.append(f"{rid}: the bundle has no {k}-step timesteps")
                    continue
                log(f"  {split:8s} {rid:16s} running {a.n} x edgepaint generate --steps {k}")
                man = os.path.join(bdir, "model.toml")
                mid = f"{read_toml(man).get('name')}@{sha256(man)[:12]}"
                want = bundle.sha if rid.startswith("rust-int8") else sha256(os.path.join(bundle.path, "model-f32.toml"))
                if mid.split("@")[1] != want[:12]:
                    raise RuntimeError(f"{man} changed since the report started; run it again when it is stable")
                imgs, extra = run_rust(a.binary, bdir, caps, os.path.abspath(lat_dir),
                                       os.path.join(a.out, "images", rid, split), k, split, a.seed, a.jobs, log,
                                       model_id=mid, reuse=not a.no_cache)
            elif rid.startswith("student-f32-"):
                k = meta["steps"]
                imgs = np.stack([f32_chain(c, z, k) for c, z in zip(caps, noises)])
                extra = dict(seconds_per_image=(time.time() - t0) / a.n)
            elif rid == "teacher":
                if not os.path.exists(os.path.join(a.runs, "teacher.pt")):
                    notes.append(f"teacher: no checkpoint {a.runs}/teacher.pt")
                    continue
                imgs, extra = teacher_images(a.runs, caps, noises, a.teacher_steps, guidance, f32_chain.decode, log=log,
                                              interval=interval)
                extra["seconds_per_image"] = (time.time() - t0) / a.n
                extra["note"] = "batched (50) torch, 2 UNet evaluations per step"
                teacher_meta(meta, extra)
            elif rid == "renderer":
                imgs = real
            elif rid == "renderer-reseed":
                imgs = F.render_reference(full, a.seed + 1)
            elif rid == "renderer-other":
                _, _, full2 = F.prompts(a.n, a.seed + 1, split, return_full=True)
                imgs = F.render_reference(full2, a.seed + 2)
            timings[f"{rid}.{split}"] = time.time() - t0
            np.savez_compressed(cp, images=imgs, key=key, extra=json.dumps(extra))
            score(rid, imgs, extra)

    if sha256(os.path.join(bundle.path, "model.toml")) != bundle.sha or (
            bundle.toml_f32 is not None and _file_shas(bundle, bundle.toml_f32) != bundle.f32_shas):
        raise RuntimeError(f"{bundle.path} changed while the report ran; run it again when it is stable")
    teacher_id = "teacher"
    checks = check_targets(results, teacher_id)
    rep = dict(command=command, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               host=f"{platform.machine()}, {os.cpu_count()} cores",
               bundle=dict(name=bundle.toml.get("name"), path=os.path.relpath(bundle.path, REPO)
                           if bundle.path.startswith(REPO) else bundle.path,
                           model_toml_sha256=bundle.sha, bytes=bundle.bytes, timesteps=bundle.timesteps,
                           files={k: bundle.toml[k]["file"] for k in ("text_encoder", "denoiser", "decoder")},
                           files_f32={k: bundle.toml_f32[k]["file"] for k in ("text_encoder", "denoiser", "decoder")}
                           if bundle.toml_f32 else None),
               n=a.n, seed=a.seed, teacher_steps=a.teacher_steps, guidance=guidance, guidance_interval=list(interval),
               teacher=dict(checkpoint=_rel(os.path.join(a.runs, "teacher.pt")), pairs=_rel(pp),
                            pairs_teacher_step=pairs_teacher_step,
                            step=next((r["teacher"].get("teacher_step") for r in results.values() if "teacher" in r),
                                      None))
               if "teacher" in rows and any("teacher" in r for r in results.values()) else None,
               rows=rows, results=results, checks=checks, notes=notes, stage_seconds=timings,
               wall_minutes=(time.time() - t_all) / 60,
               cached_rows=sum(1 for r in results.values() for v in r.values() if v.get("cached")))
    md = markdown(rep)
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(rep, f, indent=1)
    mdp = a.markdown or os.path.join(a.out, "report.md")
    with open(mdp, "w") as f:
        f.write(md + "\n")
    print()
    for c in checks:
        v = "-" if c["value"] is None else (f"{c['value']:+.3f} +- {c['se']:.3f}" if "se" in c else f"{c['value']:.3f}")
        print(f"{c['result'].upper():7s} {c['split']:8s} {c['target']}: {v}")
    print(f"\nwrote {os.path.join(a.out, 'report.json')} and {mdp} in {rep['wall_minutes']:.1f} min")
    return rep


def _rel(p):
    p = os.path.abspath(p)
    return os.path.relpath(p, REPO) if p.startswith(REPO + os.sep) else p


def _mtime(p):
    return int(os.path.getmtime(p)) if os.path.exists(p) else None


if __name__ == "__main__":
    main()
