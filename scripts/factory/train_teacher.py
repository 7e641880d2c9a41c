"""Stage 3+4: text encoder + UNet teacher trained jointly with the
rectified-flow objective (x_t = (1-s) x0 + s eps, target v = eps - x0,
timestep = s*1000) on cached latents, 10 % empty-prompt dropout for CFG,
EMA weights. Resumable; restarted when the latents changed (new AE).

  python3 -m scripts.factory.train_teacher --out runs/scenes --steps 20000 --minutes 30"""
import argparse
import os
import time

import torch

from scripts.factory import common as C
from scripts.factory import dm
from scripts.factory.binding import BindingHeads, load_labels


def sample_sigma(bs, gen, device):
    u = torch.rand(bs, generator=gen)
    ln = torch.sigmoid(torch.randn(bs, generator=gen))
    s = torch.where(torch.rand(bs, generator=gen) < 0.5, u, ln)
    return s.clamp(1e-3, 1.0).to(device)


def train(out, steps, minutes, device, bs=128, lr=1e-3, p_uncond=0.1, detail=0.0, binding=0.0, log=None):
    """binding > 0 adds binding.py's auxiliary loss with that weight."""
    ck = os.path.join(out, "teacher.pt")
    data = dm.LatentData(out, device)
    model = dm.make_model(out).to(device)
    heads = BindingHeads(dm.CFG["hidden"]).to(device) if binding > 0 else None
    labels = load_labels(out, data.n) if heads is not None else None
    params = list(model.parameters()) + (list(heads.parameters()) if heads is not None else [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    st = C.load_ckpt(ck)
    step = 0
    if st and st["ae_step"] == data.ae_step and (heads is not None) == ("binding" in st):
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        if heads is not None:
            heads.load_state_dict(st["binding"])
        ema = C.EMA(model)
        ema.load_state_dict(st["ema"])
    else:
        ema = C.EMA(model, 0.999)
    if step >= steps:
        return step
    gen = torch.Generator().manual_seed(1000 + step)
    t0 = last = time.time()
    model.train()
    acc = acc_aux = 0.0

    def save():
        C.save_ckpt(ck, dict(model=model.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(), step=step,
                             ae_step=data.ae_step, cfg=dm.CFG,
                             **({"binding": heads.state_dict()} if heads is not None else {})))

    while step < steps and (time.time() - t0) < minutes * 60:
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 300)
        if heads is None:
            x0, ids = data.batch(bs, gen, p_uncond)
        else:
            x0, ids, y = data.batch(bs, gen, p_uncond, labels)
        eps = torch.randn(x0.shape, generator=gen).to(device)
        s = sample_sigma(bs, gen, device)
        xt = (1 - s)[:, None, None, None] * x0 + s[:, None, None, None] * eps
        ctx = model.te(ids)
        v = model.unet(xt, s * 1000.0, ctx)
        err = (v - (eps - x0)).pow(2)
        # Small things (sun, moon, objects, cloud and mountain edges) cover
        # few latent cells and would otherwise be a tiny part of the loss.
        w = C.detail_weight(x0, detail, 3)
        loss = err.mean() if w is None else (err * w).mean() / w.mean()
        aux = heads.loss(ctx, ids, y) if heads is not None else None
        total = loss if aux is None else loss + binding * aux
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update(model, step)
        step += 1
        acc += loss.item()
        acc_aux += aux.item() if aux is not None else 0.0
        if step % 50 == 0:
            C.log(log, stage="teacher", step=step, loss=round(acc / 50, 5),
                  **({"binding": round(acc_aux / 50, 4)} if heads is not None else {}),
                  ips=round(50 * bs / (time.time() - last), 1))
            acc, acc_aux, last = 0.0, 0.0, time.time()
        if step % 500 == 0:
            save()
    save()
    C.log(log, stage="teacher", step=step, done=step >= steps, minutes=round((time.time() - t0) / 60, 2))
    return step


def load_teacher(out, device, use_ema=True):
    return dm.load_model(out, "teacher.pt", "ema" if use_ema else "model", device)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/scenes")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--bs", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preview", default="/tmp/teacher_preview.png")
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--detail", type=float, default=2.0, help="detail loss weight alpha (0: plain MSE)")
    ap.add_argument("--binding", type=float, default=0.0, help="binding auxiliary loss weight (0: off)")
    a = ap.parse_args()
    dev = C.setup(a.device)
    train(a.out, a.steps, a.minutes, dev, bs=a.bs, detail=a.detail, binding=a.binding, log=os.path.join(a.out, "log.jsonl"))
    m, _ = load_teacher(a.out, dev)
    ae = dm.load_ae(a.out, dev)
    d = dm.LatentData(a.out, dev)
    dm.preview(m, ae, d.shift, d.scale, a.preview, steps=20, guidance=a.guidance, device=dev)
