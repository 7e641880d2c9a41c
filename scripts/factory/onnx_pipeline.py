"""The whole text-to-image chain run from the exported ONNX files with
onnxruntime, the way the Rust runtime runs a bundle (flow-Euler, guidance 1):
used to check the bundle end to end, to collect real sampler inputs for the
quantization measurements and to render sample images for the model card."""
import os

import numpy as np
import onnxruntime as ort

from scripts.factory import common as C

TIMESTEPS = {1: [1000.0], 2: [1000.0, 500.0], 3: [1000.0, 666.6667, 333.3333], 4: [1000.0, 750.0, 500.0, 250.0]}


class Pipeline:
    def __init__(self, odir, shift, scale, suffix="", files=None):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        f = files or {k: os.path.join(odir, f"{k}{suffix}.onnx") for k in ("text_encoder", "denoiser", "decoder")}
        self.s = {k: ort.InferenceSession(p, so, providers=["CPUExecutionProvider"]) for k, p in f.items()}
        self.shift, self.scale = shift, scale
        self.trace = []

    def __call__(self, prompt, seed=0, steps=4, noise=None, record=False):
        ids = C.tokenize([prompt])
        ctx = self.s["text_encoder"].run(None, {"input_ids": ids})[0]
        x = noise if noise is not None else np.random.default_rng(seed).standard_normal((1, 4, 16, 16)).astype(np.float32)
        ts = TIMESTEPS[steps]
        for i, t in enumerate(ts):
            tt = np.array([t], np.float32)
            if record:
                self.trace.append(dict(sample=x.copy(), timestep=tt, encoder_hidden_states=ctx))
            v = self.s["denoiser"].run(None, {"sample": x, "timestep": tt, "encoder_hidden_states": ctx})[0]
            nxt = ts[i + 1] / 1000.0 if i + 1 < len(ts) else 0.0
            x = (x + (nxt - t / 1000.0) * v).astype(np.float32)
        lat = (x / self.scale + self.shift).astype(np.float32)
        img = self.s["decoder"].run(None, {"latent_sample": lat})[0]
        u8 = ((np.clip(img[0], -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(1, 2, 0)
        return u8, dict(ids=ids, ctx=ctx, latent=lat)
