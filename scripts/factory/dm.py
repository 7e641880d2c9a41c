"""Diffusion helpers shared by teacher, student, export: model config,
latent/text data, flow-matching Euler sampler, previews."""
import os

import numpy as np
import torch

from scripts.factory import common as C
from scripts.factory import data as D
from scripts.factory import nets

CFG = dict(hidden=128, unet_ch=(32, 64, 128), te_layers=2)
PREVIEW_PROMPTS = [
    "a red house on a snowy field at night under the moon",
    "sunset over the ocean with a white boat on the left",
    "daytime desert with mountains and the sun on the right",
    "a tree on a green meadow at dusk, cloudy",
    "night in the dunes with hills and a full moon on the left",
    "snow at sunset",
    "a blue house on the desert at night",
    "sunny day over the sea, cloudy, with the sun on the left",
    "a purple house on the grass at night",
    "a green boat on the lake at night",
    "day, grass, sun on the left",
    "day, grass, sun on the right",
]


def vocab(out):
    ids = C.read_json(D.paths(out)["vocab"])["clip_ids"]
    return D.remap_table(ids)


def make_model(out, cfg=CFG):
    table, nv = vocab(out)
    return nets.CondModel(table, nv, hidden=cfg["hidden"], unet_ch=tuple(cfg["unet_ch"]), te_layers=cfg["te_layers"],
                          extra=tuple(cfg.get("extra", (0, 0, 0))))


class LatentData:
    def __init__(self, out, device):
        st = C.read_json(os.path.join(out, "latent_stats.json"))
        self.shift, self.scale = st["shift"], st["scale"]
        lat = np.load(os.path.join(out, "latents.npy"))
        self.lat = torch.from_numpy(((lat.astype(np.float32) - self.shift) * self.scale))
        self.tok = torch.from_numpy(np.load(D.paths(out)["tokens"])[: len(lat)])
        self.n, self.k = self.tok.shape[0], self.tok.shape[1]
        self.empty = torch.from_numpy(C.tokenize([""]))[0]
        self.device = device
        self.ae_step = st["ae_step"]

    def batch(self, bs, gen, p_uncond=0.0, labels=None):
        """Latents and ids of `bs` random images; with `labels` (a tensor with
        a row per image, binding.load_labels), also their rows of it."""
        idx = torch.randint(0, self.n, (bs,), generator=gen)
        kk = torch.randint(0, self.k, (bs,), generator=gen)
        ids = self.tok[idx, kk].clone()
        if p_uncond > 0:
            drop = torch.rand(bs, generator=gen) < p_uncond
            ids[drop] = self.empty
        if labels is not None:
            return self.lat[idx].to(self.device), ids.to(self.device), labels[idx].to(self.device)
        return self.lat[idx].to(self.device), ids.to(self.device)


@torch.no_grad()
def euler(model, noise, ids, sigmas, guidance=1.0, empty=None, interval=(0.0, 1.0)):
    """Flow Euler: x <- x + (s_next - s) * v, v at timestep s*1000.
    With guidance > 1: v = v_u + g (v_c - v_u), empty prompt as v_u, applied only at
    noise levels lo <= s <= hi of `interval` (guidance in a limited interval,
    Kynkaanniemi et al. 2024: strong guidance at every level over-saturates and
    pushes pictures away from the data)."""
    x = noise
    b = x.shape[0]
    ctx = model.te(ids)
    ctx_u = model.te(empty.to(ids.device).expand(b, -1)) if guidance != 1.0 else None
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        t = torch.full((b,), s * 1000.0, device=x.device)
        on = torch.full((b,), guidance != 1.0 and interval[0] <= s <= interval[1], device=x.device)
        v = guided_velocity(model.unet, x, t, ctx, ctx_u, guidance, on)
        x = x + (s_next - s) * v
    return x


def guided_velocity(unet, x, t, ctx, ctx_u, guidance, on):
    """Classifier-free guidance, v_u + g (v_c - v_u), for the samples where
    `on` (bool [B]), the conditional v_c elsewhere; one UNet call, the
    unconditional rows appended to the batch. ctx_u: the empty prompt's text
    states, one row per sample."""
    if guidance == 1.0 or not bool(on.any()):
        return unet(x, t, ctx)
    b = len(x)
    v2 = unet(torch.cat([x, x[on]]), torch.cat([t, t[on]]), torch.cat([ctx, ctx_u[on]]))
    v, vu = v2[:b], v2[b:]
    v[on] = vu + guidance * (v[on] - vu)
    return v


def sigmas_for(steps):
    return [1.0 - i / steps for i in range(steps + 1)]


def decode_with_gradients(ae, lat_norm, shift, scale):
    """Normalised latents -> decoder output in [-1,1] (a loss may flow back through it)."""
    return ae.decoder(lat_norm / scale + shift)


@torch.no_grad()
def decode(ae, lat_norm, shift, scale):
    return decode_with_gradients(ae, lat_norm, shift, scale)


@torch.no_grad()
def to_uint8(img):
    """Decoder output [B,3,H,W] in [-1,1] -> uint8 pictures [B,H,W,3]."""
    return ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def preview(model, ae, shift, scale, path, steps, guidance=1.0, seed=0, prompts=PREVIEW_PROMPTS, device="cpu"):
    from PIL import Image
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(len(prompts), 4, 16, 16, generator=g).to(device)
    ids = torch.from_numpy(C.tokenize(prompts)).to(device)
    empty = torch.from_numpy(C.tokenize([""])).to(device)
    model.eval()
    z = euler(model, noise, ids, sigmas_for(steps), guidance, empty)
    img = decode(ae, z, shift, scale)
    a = to_uint8(img)
    rows = [np.concatenate(list(a[i:i + 6]), 1) for i in range(0, len(a), 6)]
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def load_ae(out, device):
    ae = nets.AutoEncoder().to(device)
    base = C.load_ckpt(os.path.join(out, "ae.pt"))
    ae.load_state_dict(base["model"])
    ft = C.load_ckpt(os.path.join(out, "decoder_ft.pt"))
    if ft and ft["ae_step"] == base["step"]:
        ae.decoder.load_state_dict(ft["decoder"])
    ae.eval()
    return ae


def load_model(out, checkpoint, weights="ema", device="cpu"):
    """A trained denoiser from OUT/CHECKPOINT ("teacher.pt", "student.pt"), in
    eval mode; returns (model, step). weights: "ema" or "model"."""
    st = C.load_ckpt(os.path.join(out, checkpoint))
    m = make_model(out, st.get("cfg", CFG)).to(device)
    m.load_state_dict(st[weights])
    m.eval()
    return m, st["step"]
