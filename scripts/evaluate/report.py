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
and the classifier (runs/classifier); the pure helpers below import with numpy only.
"""

import argparse
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
REPO = os.path.dirname(SCRIPTS)

SPLITS = ("heldout", "any")
SPLIT_CODE = {"heldout": 1, "any": 2}
SPLIT_TITLE = {"heldout": "Held-out-combination prompts", "any": "Fresh random prompts"}
ATTRS = ("time", "ground", "body", "body_place", "land", "weather", "obj", "color", "obj_place")
DEFAULT_ROWS = "rust-int8-4,rust-int8-2,rust-int8-1,student-f32-4,student-f32-2,student-f32-1,teacher,renderer"

# --------------------------------------------------------------------------- pure helpers (numpy only)


def initial_latents(seed, split, i, shape):
    """The starting noise of prompt i of a split: the same for every row."""
    rng = np.random.default_rng([int(seed), SPLIT_CODE[split], int(i)])
    return rng.standard_normal(tuple(shape)).astype(np.float32)


def read_png(path):
    """uint8 [H, W, 3] from an 8-bit RGB/RGBA PNG (PIL when present, else a small zlib decoder)."""
    try:
        from PIL import Image
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except ImportError:
        pass
    with open(path, "rb") as f:
        return decode_png(f.read(), path)


def decode_png(data, name="PNG"):
    """uint8 [H, W, 3] from the bytes of an 8-bit RGB/RGBA non-interlaced PNG (numpy + zlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: not a PNG"
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        ln = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + ln]
        if kind == b"IHDR":
            hdr = (int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big"), body[8], body[9], body[12])
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + ln
    w, h, depth, ctype, interlace = hdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, f"{name}: unsupported PNG {hdr}"
    bpp = 3 if ctype == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), np.int32)
    prev = np.zeros(w * bpp, np.int32)
    for y in range(h):
        ft, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ft == 0:
            cur = line
        elif ft == 2:
            cur = (line + prev) & 255
        else:  # 1 sub, 3 average, 4 paeth: sequential along the row
            cur = np.zeros_like(line)
            for x in range(w * bpp):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                if ft == 1:
                    p = a
                elif ft == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + p) & 255
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3].astype(np.uint8)


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


def _f(v, nd=3):
    return "-" if v is None else f"{v:.{nd}f}"


def markdown(rep):
    """The Markdown report: command, set-up, one table per split, the targets."""
    L = [f"# Evaluation: {rep['bundle']['name']} ({rep['bundle']['path']})", "",
         "Reproduce with:", "", "```sh", rep["command"], "```", ""]
    b = rep["bundle"]
    L += [f"- bundle: `{b['path']}/model.toml` sha256 `{b['model_toml_sha256'][:16]}`, "
          f"{b.get('bytes', 0) / 1e6:.1f} MB; date {rep['date']}; host {rep['host']}; report wall time "
          f"{rep['wall_minutes']:.1f} min" + (f" ({rep['cached_rows']} row results reused from an earlier run's "
                                              "cache: see its time there)" if rep.get("cached_rows") else ""),
          f"- prompts: {rep['n']} per set from `fidelity.prompts(n, {rep['seed']}, split)`; the same prompts and "
          f"the same initial latents (N(0,1), `numpy.random.default_rng([{rep['seed']}, split, i])`, given to "
          "the Rust binary with `--latents`) for every row",
          "- fidelity: mean over images of the fraction of the attributes its prompt fixes that the attribute "
          "classifier finds; per-attribute columns: accuracy over the images whose prompt fixes it; exact: "
          "every fixed attribute right",
          f"- FD: Frechet distance in the classifier's 128-d features to renderer images of the same prompts "
          f"(n = {rep['n']}; FD depends on n, compare within a table)",
          *([f"- teacher: `{rep['teacher']['checkpoint']}` (step {rep['teacher'].get('step')}), "
             f"{rep['teacher_steps']} flow-Euler steps, CFG {rep['guidance']:g}; the student was distilled from "
             f"teacher step {rep['teacher'].get('pairs_teacher_step')} (`{rep['teacher']['pairs']}`): pass the "
             "factory run that made the bundle with `--runs`"] if rep.get("teacher") else []),
          "- s/img: wall seconds per image on this host (Rust: one `edgepaint generate` process per image, "
          "model load included; in brackets the denoise+decode time without load)", ""]
    rows = rep["rows"]
    for split in SPLITS:
        res = rep["results"].get(split)
        if not res:
            continue
        L += [f"## {SPLIT_TITLE[split]} (split `{split}`, n = {rep['n']})", "",
              "| model | runtime | steps | fidelity | exact | " + " | ".join(ATTRS) + " | FD | s/img |",
              "|---|---|---|---|---|" + "---|" * len(ATTRS) + "---|---|"]
        for rid, meta in rows.items():
            r = res.get(rid)
            if r is None:
                continue
            t = r.get("seconds_per_image")
            ts = "-" if t is None else f"{t:.2f}"
            if r.get("gen_seconds_per_image") is not None:
                ts += f" ({r['gen_seconds_per_image']:.2f})"
            pa = r.get("per_attribute", {})
            L.append(f"| {meta['label']} | {meta['runtime']} | {meta.get('steps') or '-'} | {_f(r.get('fidelity'))} "
                     f"| {_f(r.get('exact'))} | " + " | ".join(_f(pa.get(k)) for k in ATTRS)
                     + f" | {_f(r.get('fd'), 1)} | {ts} |")
        L.append("")
    if rep.get("checks"):
        L += ["## Targets", "", "| target | prompts | value | threshold | result |", "|---|---|---|---|---|"]
        for c in rep["checks"]:
            if c["value"] is None:
                v = "-"
            elif "se" in c:
                v = f"{c['rows'][1]} {c['fidelity'][c['rows'][1]]:.3f} - {c['rows'][0]} " \
                    f"{c['fidelity'][c['rows'][0]]:.3f} = {c['value']:+.3f} +- {c['se']:.3f}"
            else:
                v = f"{c['value']:.3f}"
            thr = f"{c['op']} {c['threshold']:.2f}"
            L.append(f"| {c['target']} | {c['split']} | {v} | {thr} | **{c['result'].upper()}** |")
        L.append("")
    if rep.get("notes"):
        L += ["Notes:", ""] + [f"- {n}" for n in rep["notes"]] + [""]
    return "\n".join(L)


def read_toml(path):
    try:
        import tomllib
    except ImportError:  # python < 3.11
        import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def row_table(rows, teacher_steps, guidance):
    """Row id -> label / runtime / steps, in display order."""
    out = {}
    for rid in rows:
        if rid.startswith("rust-int8-"):
            k = int(rid.rsplit("-", 1)[1])
            out[rid] = dict(label="shipped bundle (model.toml)", runtime="Rust edgepaint (tract)", steps=k)
        elif rid.startswith("rust-f32-"):
            k = int(rid.rsplit("-", 1)[1])
            out[rid] = dict(label="student f32 (model-f32.toml)", runtime="Rust edgepaint (tract)", steps=k)
        elif rid.startswith("student-f32-"):
            k = int(rid.rsplit("-", 1)[1])
            out[rid] = dict(label="student f32 (model-f32.toml)", runtime="Python onnxruntime", steps=k)
        elif rid == "teacher":
            out[rid] = dict(label=f"teacher f32, CFG {guidance:g}", runtime="Python torch", steps=teacher_steps)
        elif rid == "renderer":
            out["renderer"] = dict(label="renderer, same prompts (ceiling)", runtime="numpy", steps=None)
            out["renderer-reseed"] = dict(label="renderer, same prompts, other seed (FD floor)", runtime="numpy",
                                          steps=None)
            out["renderer-other"] = dict(label="renderer, other prompts (chance level)", runtime="numpy", steps=None)
        else:
            raise SystemExit(f"unknown row {rid!r}")
    return out


# --------------------------------------------------------------------------- generators


class Bundle:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.toml = read_toml(os.path.join(self.path, "model.toml"))
        f32 = os.path.join(self.path, "model-f32.toml")
        self.toml_f32 = read_toml(f32) if os.path.exists(f32) else None
        lat = self.toml["latent"]
        self.shape = (1, lat["channels"], lat["height"], lat["width"])
        self.timesteps = {int(k): [float(x) for x in v] for k, v in self.toml["scheduler"]["timesteps"].items()}
        self.sha = sha256_file(os.path.join(self.path, "model.toml"))
        self.f32_shas = _file_shas(self, self.toml_f32) if self.toml_f32 else None
        self.bytes = sum(os.path.getsize(os.path.join(self.path, f)) for f in os.listdir(self.path)
                         if os.path.isfile(os.path.join(self.path, f)))


def _file_shas(bundle, manifest):
    """sha256 of the model files a manifest names (the onnxruntime rows read them without the runtime's check)."""
    out = {}
    for k in ("text_encoder", "denoiser", "decoder"):
        out[k] = sha256_file(os.path.join(bundle.path, manifest[k]["file"]))
        if out[k] != manifest[k].get("sha256", out[k]):
            raise RuntimeError(f"{manifest[k]['file']}: sha256 differs from the manifest's")
    return out


def run_rust(binary, bundle_dir, captions, latents_dir, img_dir, steps, split, seed, jobs=1, log=print,
             model_id=None, reuse=True):
    """One `edgepaint generate` per prompt; returns images, wall seconds and the binary's timings.

    model_id ("name@sha256[:12]" of model.toml, as the binary reports it): every image must come
    from that bundle; an image made from another one (the bundle rewritten during the run) is an error."""
    os.makedirs(img_dir, exist_ok=True)
    n = len(captions)
    todo, metas = [], [None] * n
    key = _rust_key(bundle_dir, binary)
    for i, c in enumerate(captions):
        js = os.path.join(img_dir, f"{i:04d}.json")
        if reuse and os.path.exists(js) and os.path.exists(os.path.join(img_dir, f"{i:04d}.png")):
            with open(js) as f:
                m = json.load(f)
            if (m.get("prompt") == c and m.get("steps") == steps and m.get("seed") == seed * 100000 + i
                    and m.get("_key") == key and (model_id is None or m.get("model") == model_id)):
                metas[i] = m
                continue
        todo.append(i)
    procs = {}
    t_start = time.time()
    done = 0

    def start(i):
        cmd = [binary, "generate", captions[i], "--seed", str(seed * 100000 + i), "--steps", str(steps),
               "--model", bundle_dir, "--latents", os.path.join(latents_dir, f"{split}_{i:04d}.npy"),
               "--output", os.path.join(img_dir, f"{i:04d}.png"), "--json"]
        procs[i] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), time.time(), cmd)

    queue = list(todo)
    while queue or procs:
        while queue and len(procs) < jobs:
            start(queue.pop(0))
        for i in list(procs):
            p, t0, cmd = procs[i]
            if p.poll() is None:
                continue
            out, err = p.communicate()
            wall = time.time() - t0
            del procs[i]
            if p.returncode != 0:
                raise RuntimeError(f"edgepaint failed ({p.returncode}): {shlex.join(cmd)}\n{err.strip()}")
            m = json.loads(out.strip().splitlines()[-1])
            if model_id is not None and m.get("model") != model_id:
                raise RuntimeError(f"image {i} was made by bundle {m.get('model')}, not {model_id}: "
                                   f"{bundle_dir} changed during the report; run it again when it is stable")
            m["_wall_s"] = wall
            m["_key"] = key
            with open(os.path.join(img_dir, f"{i:04d}.json"), "w") as f:
                json.dump(m, f)
            metas[i] = m
            done += 1
            if done % 25 == 0:
                log(f"    {done}/{len(todo)} images, {(time.time() - t_start) / done:.2f} s/img")
        time.sleep(0.005)
    imgs = np.stack([read_png(os.path.join(img_dir, f"{i:04d}.png")) for i in range(n)])
    wall = [m["_wall_s"] for m in metas]
    gen = [(m["timings"]["total_ms"] - m["timings"].get("load_ms", 0)) / 1000 for m in metas]
    timing = dict(seconds_per_image=float(np.mean(wall)), gen_seconds_per_image=float(np.mean(gen)),
                  load_ms=float(np.mean([m["timings"].get("load_ms", 0) for m in metas])),
                  text_ms=float(np.mean([m["timings"].get("text_ms", 0) for m in metas])),
                  step_ms=float(np.mean([np.mean(m["timings"]["steps_ms"]) for m in metas])),
                  decode_ms=float(np.mean([m["timings"].get("decode_ms", 0) for m in metas])),
                  total_ms=float(np.mean([m["timings"]["total_ms"] for m in metas])), jobs=jobs)
    return imgs, timing


def _rust_key(bundle_dir, binary):
    st = os.stat(binary)
    return f"{sha256_file(os.path.join(bundle_dir, 'model.toml'))}:{int(st.st_mtime)}:{st.st_size}"


def f32_bundle_dir(bundle, tmp):
    """A folder whose model.toml is BUNDLE/model-f32.toml (links to the bundle's files), for the binary."""
    d = os.path.join(tmp, "bundle-f32")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(bundle.path):
        src, dst = os.path.join(bundle.path, f), os.path.join(d, f if f != "model-f32.toml" else "model.toml")
        if f == "model.toml" or os.path.lexists(dst):
            continue
        os.symlink(src, dst)
    return d


class OrtChain:
    """text encoder -> flow-Euler on the manifest's timesteps -> decoder, in onnxruntime (f32 files)."""

    def __init__(self, bundle, manifest):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.s = {k: ort.InferenceSession(os.path.join(bundle.path, manifest[k]["file"]), so,
                                          providers=["CPUExecutionProvider"])
                  for k in ("text_encoder", "denoiser", "decoder")}
        self.inp = {k: [i.name for i in s.get_inputs()] for k, s in self.s.items()}
        dec = manifest["decoder"]
        self.scale, self.shift = float(dec["scaling_factor"]), float(dec["shift_factor"])
        self.lo, self.hi = [float(x) for x in dec.get("output_range", [-1.0, 1.0])]
        self.timesteps = {int(k): [float(x) for x in v] for k, v in manifest["scheduler"]["timesteps"].items()}
        self.guidance = float(manifest.get("guidance", {}).get("scale", 1.0))
        self.max_len = int(manifest["tokenizer"]["max_length"])

    def encode(self, caption):
        ids = tokenize([caption], self.max_len)
        return self.s["text_encoder"].run(None, {self.inp["text_encoder"][0]: ids})[0]

    def decode(self, lat_norm):
        lat = (lat_norm / self.scale + self.shift).astype(np.float32)
        img = self.s["decoder"].run(None, {self.inp["decoder"][0]: lat})[0][0]
        u = (np.clip(img, self.lo, self.hi) - self.lo) / (self.hi - self.lo) * 255.0
        return np.round(u).astype(np.uint8).transpose(1, 2, 0)

    def __call__(self, caption, noise, steps):
        assert self.guidance == 1.0, "guidance > 1 bundles: not implemented in the report's onnxruntime path"
        ctx = self.encode(caption)
        x = noise.astype(np.float32)
        ts = self.timesteps[steps]
        names = self.inp["denoiser"]
        for i, t in enumerate(ts):
            v = self.s["denoiser"].run(None, {names[0]: x, names[1]: np.array([t], np.float32), names[2]: ctx})[0]
            nxt = ts[i + 1] if i + 1 < len(ts) else 0.0
            x = (x + (nxt - t) / 1000.0 * v).astype(np.float32)
        return self.decode(x)


def tokenize(texts, max_len):
    from scripts.fixtures import clip_tokenizer
    return np.asarray(clip_tokenizer.tokenize(list(texts), max_len), dtype=np.int64)


def teacher_images(runs_dir, captions, noises, steps, guidance, decode, bs=50, log=print):
    """The factory's teacher (EMA weights) in torch: flow-Euler with CFG, decoded by `decode`."""
    import torch
    from scripts.factory import common as C
    from scripts.factory import dm
    from scripts.factory import train_teacher as T
    model, tstep = T.load_teacher(runs_dir, "cpu")
    empty = torch.from_numpy(C.tokenize([""]))
    out = []
    t0 = time.time()
    for i in range(0, len(captions), bs):
        ids = torch.from_numpy(C.tokenize(captions[i:i + bs]))
        noise = torch.from_numpy(np.concatenate(noises[i:i + bs]))
        z = dm.euler(model, noise, ids, dm.sigmas_for(steps), guidance, empty).numpy()
        out += [decode(z[j:j + 1]) for j in range(len(z))]
        log(f"    teacher {len(out)}/{len(captions)} ({(time.time() - t0) / len(out):.2f} s/img)")
    return np.stack(out), dict(teacher_step=int(tstep))


# --------------------------------------------------------------------------- main


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
    guidance = a.guidance
    if guidance is None:
        pp = os.path.join(a.runs, "pairs.npz")
        guidance = float(np.load(pp)["fp"][2]) if os.path.exists(pp) else 3.0
    pairs_teacher_step = None
    pp = os.path.join(a.runs, "pairs.npz")
    if os.path.exists(pp):
        pairs_teacher_step = int(np.load(pp)["fp"][0])
    rows = row_table(rows_req, a.teacher_steps, guidance)

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
                     n=s["n"], fd=fd, per_image=[round(float(v), 4) for v in pim], **extra)
            res[rid] = r
            log(f"  {split:8s} {rid:16s} fidelity {r['fidelity']:.3f} exact {r['exact']:.3f} FD {fd:7.1f}"
                + (f"  {r['seconds_per_image']:.2f} s/img" if r.get("seconds_per_image") is not None else ""))

        for rid, meta in rows.items():
            key = json.dumps(dict(rid=rid, split=split, n=a.n, seed=a.seed, bundle=bundle.sha,
                                  teacher=(a.teacher_steps, guidance, _mtime(os.path.join(a.runs, "teacher.pt")))
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
                mid = f"{read_toml(man).get('name')}@{sha256_file(man)[:12]}"
                want = bundle.sha if rid.startswith("rust-int8") else sha256_file(os.path.join(bundle.path, "model-f32.toml"))
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
                imgs, extra = teacher_images(a.runs, caps, noises, a.teacher_steps, guidance, f32_chain.decode, log=log)
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

    if sha256_file(os.path.join(bundle.path, "model.toml")) != bundle.sha or (
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
               n=a.n, seed=a.seed, teacher_steps=a.teacher_steps, guidance=guidance,
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
