"""The images of the report's rows: the Rust binary per image, the f32 files in onnxruntime, the torch teacher."""

import json
import os
import shlex
import subprocess
import time

import numpy as np

from scripts.evaluate.png_decode import read_png
from scripts.hashing import sha256


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
    return f"{sha256(os.path.join(bundle_dir, 'model.toml'))}:{int(st.st_mtime)}:{st.st_size}"


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


def teacher_images(runs_dir, captions, noises, steps, guidance, decode, bs=50, log=print, interval=(0.0, 1.0),
                   checkpoint="teacher.pt"):
    """The factory's teacher (EMA weights) in torch: flow-Euler with CFG, decoded by `decode`.
    checkpoint="student.pt" runs the run's student the same way (guidance 1: its own is baked in)."""
    import torch
    from scripts.factory import common as C
    from scripts.factory import dm
    model, tstep = dm.load_model(runs_dir, checkpoint, "ema", "cpu")
    empty = torch.from_numpy(C.tokenize([""]))
    out = []
    t0 = time.time()
    for i in range(0, len(captions), bs):
        ids = torch.from_numpy(C.tokenize(captions[i:i + bs]))
        noise = torch.from_numpy(np.concatenate(noises[i:i + bs]))
        z = dm.euler(model, noise, ids, dm.sigmas_for(steps), guidance, empty, interval).numpy()
        out += [decode(z[j:j + 1]) for j in range(len(z))]
        log(f"    teacher {len(out)}/{len(captions)} ({(time.time() - t0) / len(out):.2f} s/img)")
    return np.stack(out), dict(teacher_step=int(tstep))
