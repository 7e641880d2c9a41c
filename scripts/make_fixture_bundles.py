"""Tiny random-weight model bundles and onnxruntime/diffusers reference outputs
for the Rust pipeline's golden tests (tests/pipeline_golden.rs).

    python3 scripts/make_fixture_bundles.py   # writes tests/fixtures/bundles/

Two bundles, each a few hundred KB, exercising different paths of the runtime:
- tiny-flow:  flow-matching velocity, FlowMatchEulerDiscreteScheduler, 4 steps,
              open_clip padding (0), f32 timestep, guidance 1.
- tiny-euler: epsilon prediction, EulerDiscreteScheduler, 2 steps, HF CLIP
              padding (49407), int64 timestep input, classifier-free guidance 3.
For each: token ids from open_clip's tokenizer, the text encoder's output, one
denoiser call and the decoder's output from onnxruntime, and a whole pipeline
run from fixed noise with diffusers' scheduler driving onnxruntime graphs.
"""

import gzip
import hashlib
import json
import os
import shutil
import sys

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "bundles")
L = 16          # tokens
D = 32          # text hidden size
C, H, W = 4, 8, 8
IMG = 64
PROMPTS = ["a red house on a snowy field at night", "sunset over the ocean with a white boat on the left"]


class TextEncoder(nn.Module):
    """Hashed embedding (keeps the fixture small) + one attention block."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(997, D)
        self.pos = nn.Parameter(torch.randn(1, L, D) * 0.1)
        self.norm = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)

    def forward(self, ids):
        x = self.emb(torch.remainder(ids, 997)) + self.pos
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(1, 2) / D**0.5, dim=-1)
        return x + self.proj(a @ v)


class Denoiser(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.inp = nn.Conv2d(C, ch, 3, padding=1)
        self.t = nn.Linear(16, ch)
        self.norm = nn.GroupNorm(4, ch)
        self.q = nn.Linear(ch, ch)
        self.kv = nn.Linear(D, 2 * ch)
        self.mid = nn.Conv2d(ch, ch, 3, padding=1)
        self.out = nn.Conv2d(ch, C, 3, padding=1)

    def forward(self, sample, timestep, text):
        t = timestep.float().reshape(1, 1) / 1000.0
        freqs = torch.exp(torch.arange(8, dtype=torch.float32) * -1.0)
        temb = torch.cat([torch.sin(t * freqs * 100), torch.cos(t * freqs * 100)], dim=1)
        h = F.silu(self.inp(sample)) + self.t(temb)[:, :, None, None]
        b, c, hh, ww = h.shape
        seq = self.norm(h).flatten(2).transpose(1, 2)
        k, v = self.kv(text).chunk(2, dim=-1)
        a = torch.softmax(self.q(seq) @ k.transpose(1, 2) / c**0.5, dim=-1)
        h = h + (a @ v).transpose(1, 2).reshape(b, c, hh, ww)
        return self.out(F.silu(self.mid(h)))


class Decoder(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.inp = nn.Conv2d(C, ch, 3, padding=1)
        self.ups = nn.ModuleList([nn.Conv2d(ch, ch, 3, padding=1) for _ in range(3)])
        self.out = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, z):
        h = F.silu(self.inp(z))
        for conv in self.ups:
            h = F.silu(conv(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        return torch.tanh(self.out(h))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def export(model, args, names, path):
    torch.onnx.export(model, args, path, input_names=names, output_names=["out"],
                      opset_version=17, dynamo=False)


def build(name, kind, prediction, steps_table, pad_id, guidance, int_timestep, seed):
    torch.manual_seed(seed)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    te, dn, dec = TextEncoder().eval(), Denoiser().eval(), Decoder().eval()
    ids0 = torch.zeros(1, L, dtype=torch.int64)
    ts0 = torch.zeros(1, dtype=torch.int64 if int_timestep else torch.float32)
    export(te, (ids0,), ["input_ids"], os.path.join(d, "text_encoder.onnx"))
    export(dn, (torch.zeros(1, C, H, W), ts0, torch.zeros(1, L, D)),
           ["sample", "timestep", "encoder_hidden_states"], os.path.join(d, "denoiser.onnx"))
    export(dec, (torch.zeros(1, C, H, W),), ["latents"], os.path.join(d, "decoder.onnx"))
    vocab = "bpe_simple_vocab_16e6.txt.gz"
    shutil.copy(clip_tokenizer.vocab_path(), os.path.join(d, vocab))
    scaling = 0.5
    steps_toml = "\n".join(f"{k} = [{', '.join(f'{v:.1f}' for v in vs)}]" for k, vs in steps_table.items())
    default_steps = max(steps_table)
    manifest = f"""format = 1
name = "{name}"
description = "random-weight fixture for the pipeline golden tests (scripts/make_fixture_bundles.py)"
license = "MIT"
image_size = [{IMG}, {IMG}]

[tokenizer]
kind = "clip-bpe"
merges = "{vocab}"
merges_sha256 = "{sha256(os.path.join(d, vocab))}"
max_length = {L}
pad_id = {pad_id}

[text_encoder]
file = "text_encoder.onnx"
sha256 = "{sha256(os.path.join(d, 'text_encoder.onnx'))}"
hidden_size = {D}

[denoiser]
file = "denoiser.onnx"
sha256 = "{sha256(os.path.join(d, 'denoiser.onnx'))}"
prediction = "{prediction}"

[decoder]
file = "decoder.onnx"
sha256 = "{sha256(os.path.join(d, 'decoder.onnx'))}"
scaling_factor = {scaling}
shift_factor = 0.1
output_range = [-1.0, 1.0]

[latent]
channels = {C}
height = {H}
width = {W}

[scheduler]
kind = "{kind}"
train_timesteps = 1000
beta_schedule = "scaled_linear"
beta_start = 0.00085
beta_end = 0.012
default_steps = {default_steps}

[scheduler.timesteps]
{steps_toml}

[guidance]
scale = {guidance}
"""
    with open(os.path.join(d, "model.toml"), "w") as f:
        f.write(manifest)
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write(f"# {name}\n\nRandom weights: a test fixture, not a model. Made by scripts/make_fixture_bundles.py.\n")

    sess = {k: ort.InferenceSession(os.path.join(d, f"{k}.onnx"), providers=["CPUExecutionProvider"])
            for k in ["text_encoder", "denoiser", "decoder"]}

    def tok(texts):
        ids = clip_tokenizer.tokenize(texts, L)
        if pad_id != 0:  # HF CLIP pads with the end token after it
            ids = np.where(ids == 0, pad_id, ids)
        return ids.astype(np.int64)

    def encode(text):
        return sess["text_encoder"].run(None, {"input_ids": tok([text])})[0]

    def denoise(x, t, text):
        tv = np.array([t], dtype=np.int64 if int_timestep else np.float32)
        return sess["denoiser"].run(None, {"sample": x.astype(np.float32), "timestep": tv,
                                           "encoder_hidden_states": text})[0]

    rng = np.random.default_rng(seed)
    cases = []
    for i, prompt in enumerate(PROMPTS):
        ids = tok([prompt])
        text = encode(prompt)
        uncond = encode("")
        steps = default_steps
        noise = rng.standard_normal((1, C, H, W)).astype(np.float32)
        one_call = denoise(noise, steps_table[steps][0], text)
        final = run_pipeline(kind, prediction, steps_table[steps], noise, text, uncond, guidance, denoise)
        dec_in = (final / scaling + 0.1).astype(np.float32)
        image = sess["decoder"].run(None, {"latents": dec_in})[0]
        np.save(os.path.join(d, f"noise{i}.npy"), noise)
        cases.append({
            "prompt": prompt, "ids": ids[0].tolist(), "steps": steps,
            "text_states": text.flatten().tolist(),
            "one_call_timestep": steps_table[steps][0], "one_call_output": one_call.flatten().tolist(),
            "noise_file": f"noise{i}.npy",
            "final_latents": final.flatten().tolist(),
            "image": image.flatten().tolist(),
        })
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump({"bundle": name, "cases": cases}, f)
    print(name, "written:", sorted(os.listdir(d)))


def run_pipeline(kind, prediction, timesteps, noise, text, uncond, guidance, denoise):
    """diffusers' scheduler driving the onnxruntime denoiser, as a diffusers pipeline does."""
    from diffusers import EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler

    if kind == "flow-euler":
        s = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
        s.set_timesteps(sigmas=[t / 1000.0 for t in timesteps])
    elif kind == "euler":
        s = EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                   beta_schedule="scaled_linear", prediction_type=prediction,
                                   timestep_spacing="trailing")
        s.set_timesteps(timesteps=[int(t) for t in timesteps])
    else:
        raise ValueError(kind)
    x = torch.from_numpy(noise) * getattr(s, "init_noise_sigma", 1.0)  # flow: none, i.e. 1
    for t in s.timesteps:
        inp = (s.scale_model_input(x, t) if hasattr(s, "scale_model_input") else x).numpy()
        out = denoise(inp, float(t), text)
        if guidance > 1.0:
            u = denoise(inp, float(t), uncond)
            out = u + guidance * (out - u)
        x = s.step(torch.from_numpy(out), t, x).prev_sample
    return x.numpy().astype(np.float32)


if __name__ == "__main__":
    build("tiny-flow", "flow-euler", "flow", {1: [1000.0], 2: [1000.0, 500.0], 4: [1000.0, 750.0, 500.0, 250.0]},
          pad_id=0, guidance=1.0, int_timestep=False, seed=1)
    build("tiny-euler", "euler", "epsilon", {1: [999.0], 2: [999.0, 499.0]},
          pad_id=49407, guidance=3.0, int_timestep=True, seed=2)
