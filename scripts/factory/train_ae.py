"""Stage 2: autoencoder 128x128x3 <-> 16x16x4 on the rendered cache
(random 8-aligned crops: the nets are fully convolutional, crops are 4x
cheaper than whole images), then encode the whole cache to latents and
record shift/scale so that diffusion latents are ~unit scale.

  python3 -m scripts.factory.train_ae --out runs/scenes --steps 6000 --minutes 20"""
import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from scripts.factory import common as C
from scripts.factory import data as D
from scripts.factory import dm
from scripts.factory import nets


def to_t(u8, device):
    return torch.from_numpy(np.ascontiguousarray(u8)).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


# Dimming keeps at least this share of the brightness: a day sky (luminance
# >= 0.45, docs/scenes.md) stays above the night threshold (0.20), so a dimmed
# crop is never a night picture.
DIM_FLOOR = 0.6


def dim(x, p, gen=None):
    """Each picture of x ([-1, 1], [n,3,h,w]) dimmed with probability p: its
    brightness times a factor in [DIM_FLOOR, 1] (hues kept), as night dims
    drawn things (docs/scenes.md). Why: the autoencoder alone kept the colour
    of held-out night objects in 59-68 % of pictures (green, purple: never seen
    dim) and every other colour in about 100 % (scripts/evaluate/ae_check.py)."""
    if p <= 0:
        return x
    n = x.shape[0]
    factor = DIM_FLOOR + (1 - DIM_FLOOR) * torch.rand(n, 1, 1, 1, generator=gen, device=x.device)
    factor = torch.where(torch.rand(n, 1, 1, 1, generator=gen, device=x.device) < p, factor, torch.ones_like(factor))
    return (x + 1) * factor - 1


def train(out, steps, minutes, device, bs=16, crop=64, lr=2e-3, weight=0.0, dim_p=0.0, log=None):
    ck = os.path.join(out, "ae.pt")
    meta = C.read_json(D.paths(out)["meta"])
    n = meta["n_done"]
    images = D.open_images(out, meta["n"])
    ae = nets.AutoEncoder().to(device)
    ae = ae.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(ae.parameters(), lr=lr, weight_decay=0.0)
    st = C.load_ckpt(ck)
    step = 0
    if st:
        ae.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
    if step >= steps:
        return ae, step
    rng = np.random.default_rng(step + 7)
    t0 = time.time()
    last = t0
    ae.train()
    while step < steps and (time.time() - t0) < minutes * 60:
        idx = np.sort(rng.integers(0, n, bs))
        oy, ox = rng.integers(0, (128 - crop) // 8 + 1, 2) * 8
        x = to_t(images[idx, oy:oy + crop, ox:ox + crop], device)
        x = dim(x, dim_p).contiguous(memory_format=torch.channels_last)
        cur_lr = lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(1.0, step / steps))))
        for g in opt.param_groups:
            g["lr"] = cur_lr
        z = ae.encoder(x)
        zn = z + 0.1 * z.detach().std() * torch.randn_like(z) * (torch.rand(z.shape[0], 1, 1, 1, device=device) < 0.5)
        y = ae.decoder(zn)
        # A house, a boat or the sun is a few hundred pixels that differ from
        # the sky or ground around them; with the plain loss the autoencoder
        # kept 0.70 of held-out object colours.
        w = C.detail_weight(x, weight, 9)
        if w is None:
            loss = F.l1_loss(y, x) + F.mse_loss(y, x) * 2
        else:
            # Divided by the mean weight, so the step size stays that of the
            # plain loss (undivided, it diverged at step 2300 with lr 2e-3).
            loss = (((y - x).abs() * w).mean() + ((y - x).pow(2) * w).mean() * 2) / w.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if w is not None:
            torch.nn.utils.clip_grad_norm_(ae.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            C.log(log, stage="ae", step=step, loss=round(loss.item(), 5), lr=round(cur_lr, 6),
                  ips=round(50 * bs / (time.time() - last), 1))
            last = time.time()
        if step % 500 == 0:
            C.save_ckpt(ck, dict(model=ae.state_dict(), opt=opt.state_dict(), step=step))
    C.save_ckpt(ck, dict(model=ae.state_dict(), opt=opt.state_dict(), step=step))
    C.log(log, stage="ae", step=step, done=step >= steps, minutes=round((time.time() - t0) / 60, 2))
    return ae, step


@torch.no_grad()
def encode(out, ae, ae_step, device, bs=128, log=None):
    """Latents of the whole cache (f16) + stats; redone when the AE changed."""
    lat_p = os.path.join(out, "latents.npy")
    stats_p = os.path.join(out, "latent_stats.json")
    meta = C.read_json(D.paths(out)["meta"])
    st = C.read_json(stats_p)
    if st and st["ae_step"] == ae_step and st["n"] == meta["n_done"] and os.path.exists(lat_p):
        return st
    images = D.open_images(out, meta["n"])
    n = meta["n_done"]
    lat = np.zeros((n, 4, 16, 16), np.float16)
    ae.eval()
    t0 = time.time()
    for i in range(0, n, bs):
        lat[i:i + bs] = ae.encoder(to_t(images[i:i + bs], device)).cpu().numpy()
    shift = float(lat.astype(np.float32).mean())
    scale = float(1.0 / lat.astype(np.float32).std())
    np.save(lat_p + ".tmp.npy", lat)
    os.replace(lat_p + ".tmp.npy", lat_p)
    st = dict(ae_step=ae_step, n=n, shift=shift, scale=scale,
              per_channel_mean=lat.astype(np.float32).mean((0, 2, 3)).tolist(),
              per_channel_std=lat.astype(np.float32).std((0, 2, 3)).tolist())
    C.write_json(stats_p, st)
    C.log(log, stage="encode", n=n, s=round(time.time() - t0, 1), shift=shift, scale=scale)
    return st


@torch.no_grad()
def preview(out, ae, path, n=16, device="cpu"):
    from PIL import Image
    meta = C.read_json(D.paths(out)["meta"])
    images = D.open_images(out, meta["n"])
    idx = np.linspace(0, meta["n_done"] - 1, n).astype(int)
    x = to_t(images[idx], device)
    ae.eval()
    y = ae.decoder(ae.encoder(x))
    a = dm.to_uint8(torch.cat([x, y], 2))
    grid = np.concatenate(list(a), 1)
    Image.fromarray(grid).save(path)
    return float((x - y).abs().mean())


def finetune_decoder(out, steps, minutes, device, bs=8, lr=3e-4, log=None):
    """Decoder-only fine-tuning on whole 128x128 images with the encoder
    frozen: the latents (and so the teacher/student) stay valid. Saved to
    OUT/decoder_ft.pt, which dm.load_ae prefers for the decoder."""
    ck = os.path.join(out, "decoder_ft.pt")
    meta = C.read_json(D.paths(out)["meta"])
    n = meta["n_done"]
    images = D.open_images(out, meta["n"])
    base = C.load_ckpt(os.path.join(out, "ae.pt"))
    ae = nets.AutoEncoder().to(device)
    ae.load_state_dict(base["model"])
    ae = ae.to(memory_format=torch.channels_last)
    ae.encoder.eval()
    for p in ae.encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(ae.decoder.parameters(), lr=lr, weight_decay=0.0)
    st = C.load_ckpt(ck)
    step = 0
    if st and st["ae_step"] == base["step"]:
        ae.decoder.load_state_dict(st["decoder"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
    rng = np.random.default_rng(step + 77)
    t0 = last = time.time()
    while step < steps and (time.time() - t0) < minutes * 60:
        idx = np.sort(rng.integers(0, n, bs))
        x = to_t(images[idx], device).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            z = ae.encoder(x)
            z = z + 0.1 * z.std() * torch.randn_like(z) * (torch.rand(bs, 1, 1, 1, device=device) < 0.5)
        y = ae.decoder(z)
        loss = F.l1_loss(y, x) + F.mse_loss(y, x) * 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            C.log(log, stage="decoder_ft", step=step, loss=round(loss.item(), 5), ips=round(50 * bs / (time.time() - last), 1))
            last = time.time()
        if step % 200 == 0:
            C.save_ckpt(ck, dict(decoder=ae.decoder.state_dict(), opt=opt.state_dict(), step=step, ae_step=base["step"]))
    C.save_ckpt(ck, dict(decoder=ae.decoder.state_dict(), opt=opt.state_dict(), step=step, ae_step=base["step"]))
    C.log(log, stage="decoder_ft", step=step, minutes=round((time.time() - t0) / 60, 2))
    return step


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/scenes")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preview", default="/tmp/ae_preview.png")
    ap.add_argument("--decoder-ft-steps", type=int, default=0, help="then fine-tune the decoder alone")
    ap.add_argument("--weight", type=float, default=0.0, help="object-weighted loss alpha (0: plain)")
    ap.add_argument("--dim", type=float, default=0.0, help="share of crops dimmed (train_ae.dim; 0: none)")
    a = ap.parse_args()
    dev = C.setup(a.device)
    lg = os.path.join(a.out, "log.jsonl")
    if a.decoder_ft_steps:
        finetune_decoder(a.out, a.decoder_ft_steps, a.minutes, dev, log=lg)
        from scripts.factory import dm
        print("l1", preview(a.out, dm.load_ae(a.out, dev), a.preview, device=dev))
        raise SystemExit
    ae, step = train(a.out, a.steps, a.minutes, dev, weight=a.weight, dim_p=a.dim, log=lg)
    print("l1", preview(a.out, ae, a.preview, device=dev))
    encode(a.out, ae, step, dev, log=lg)
