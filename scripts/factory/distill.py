"""Stage 5: few-step student by reflow / direct distillation.
(a) pairs: for prompts of the training cache, noise eps -> teacher sample x0
    with classifier-free guidance (Euler, --teacher-steps); resumable chunks.
(b) student = copy of the teacher (text encoder + UNet; --freeze-text: UNet only), trained on the
    straight line between the pair: x_s = (1-s) x0 + s eps, target v = eps - x0,
    with s drawn mostly from the shipped timesteps {1, 3/4, 2/3, 1/2, 1/3, 1/4}.
    On a straight coupling one Euler step from s=1 already lands on x0, so the
    same weights serve 1, 2, 3 and 4 steps, with guidance baked in (scale 1).

  python3 -m scripts.factory.distill --out runs/scenes --pairs 8000 --steps 3000"""
import argparse
import os
import time

import numpy as np
import torch

from scripts.factory import adversarial as A
from scripts.factory import common as C
from scripts.factory import data as D
from scripts.factory import distribution_matching as DM
from scripts.factory import dm
from scripts.factory import train_teacher as T
from scripts.factory.pair_settings import pair_settings

SHIPPED = [1.0, 0.75, 2 / 3, 0.5, 1 / 3, 0.25]
SHIPPED_W = [0.35, 0.15, 0.1, 0.15, 0.1, 0.15]
RAMP_STEPS = 1000  # the adversarial and distribution-matching terms are ramped in over these
PIXEL_BATCH = 16  # the pixel term decodes this many of each batch (those nearest s = 1)
DMD_BATCH = 32  # one-call pictures from fresh noise per step for the distribution-matching term
# The student's settings when not given; the generated card names those that differ.
DEFAULTS = dict(lr=2e-4, detail=0.0, one_step=SHIPPED_W[0], freeze_text=False, adv=0.0, extra=(0, 0, 0), pixel=0.0,
                dmd=0.0, dmd_guidance=0.0)


def make_pairs(out, n_pairs, teacher_steps, guidance, device, bs=256, minutes=1e9, shard=0, log=None,
               interval=(0.0, 1.0), obj=None):
    """shard k > 0 writes pairs_k.npz with other seeds (run shards in parallel
    processes; train() uses every pairs*.npz made by the same teacher).
    `interval`: the noise levels at which guidance applies (dm.euler).
    `obj` ("boat", ...): only prompts that ask for that object (a shard that
    gives the student more of it)."""
    p = os.path.join(out, "pairs.npz" if shard == 0 else f"pairs_{shard}.npz")
    teacher, tstep = T.load_teacher(out, device)
    data = dm.LatentData(out, device)
    key = [tstep, teacher_steps, guidance, float(interval[0]), float(interval[1])]
    fp = pair_settings(key)
    have = dict(np.load(p)) if os.path.exists(p) else None
    if have is not None and pair_settings(have["fp"].tolist()) != fp:
        have = None
    noise = have["noise"] if have is not None else np.zeros((0, 4, 16, 16), np.float32)
    x0 = have["x0"] if have is not None else np.zeros((0, 4, 16, 16), np.float32)
    ids = have["ids"] if have is not None else np.zeros((0, C.MAX_LEN), np.int64)
    t0 = time.time()
    gen = torch.Generator().manual_seed(5000 + 1_000_003 * shard + len(noise))
    empty = torch.from_numpy(C.tokenize([""])).to(device)
    pool = prompts_asking_for(out, data.n, obj) if obj else None
    while len(noise) < n_pairs and (time.time() - t0) < minutes * 60:
        m = min(bs, n_pairs - len(noise))
        if pool is None:
            idx = torch.randint(0, data.n, (m,), generator=gen)
            kk = torch.randint(0, data.k, (m,), generator=gen)
        else:
            idx, kk = pool[torch.randint(0, len(pool), (m,), generator=gen)].T
        tid = data.tok[idx, kk].to(device)
        eps = torch.randn(m, 4, 16, 16, generator=gen).to(device)
        x = dm.euler(teacher, eps, tid, dm.sigmas_for(teacher_steps), guidance, empty, interval)
        noise = np.concatenate([noise, eps.cpu().numpy()])
        x0 = np.concatenate([x0, x.cpu().numpy()])
        ids = np.concatenate([ids, tid.cpu().numpy()])
        np.savez(p + ".tmp.npz", noise=noise, x0=x0, ids=ids, fp=np.array(key))
        os.replace(p + ".tmp.npz", p)
        C.log(log, stage="pairs", shard=shard, n=len(noise), of=n_pairs, s=round(time.time() - t0, 1))
    return fp


def prompts_asking_for(out, n, obj):
    """(image, caption) indices of the run's first n images whose caption asks for `obj`."""
    import json
    from scripts.scenes import parse_caption
    with open(D.paths(out)["captions"]) as f:
        rows = [json.loads(line)["captions"] for line in f][:n]
    pool = [(i, k) for i, caps in enumerate(rows) for k, c in enumerate(caps) if parse_caption(c).get("obj") == obj]
    if not pool:
        raise SystemExit(f"no training caption asks for {obj!r}")
    return torch.tensor(pool)


def load_pairs(out):
    """All pairs*.npz of OUT made by the teacher of pairs.npz."""
    import glob
    pr = np.load(os.path.join(out, "pairs.npz"))
    fp = pr["fp"].tolist()
    parts = [pr]
    for f in sorted(glob.glob(os.path.join(out, "pairs_*.npz"))):
        q = np.load(f)
        if q["fp"].tolist() == fp:
            parts.append(q)
    cat = lambda k: torch.from_numpy(np.concatenate([q[k] for q in parts]))
    return cat("noise"), cat("x0"), cat("ids"), fp


def shipped_weights(one_step=None):
    """How often each shipped timestep is drawn; `one_step` sets s = 1's share
    (the only one a 1-step picture uses), the others keep their proportions."""
    w = torch.tensor(SHIPPED_W)
    if one_step is not None:
        w = torch.cat([torch.tensor([one_step]), w[1:] * (1 - one_step) / w[1:].sum()])
    return w


def train(out, steps, minutes, device, bs=64, lr=DEFAULTS["lr"], detail=DEFAULTS["detail"],
          freeze_text=DEFAULTS["freeze_text"], one_step=None, adv=DEFAULTS["adv"], extra=DEFAULTS["extra"],
          pixel=DEFAULTS["pixel"], dmd=DEFAULTS["dmd"],
          dmd_guidance=DEFAULTS["dmd_guidance"], log=None):
    """`freeze_text`: keep the teacher's text encoder as it is (only the UNet
    learns), so that the words' embeddings the teacher learned from every
    training caption are not re-fitted to the pairs' prompts alone.
    `one_step`: the share of s = 1 among the shipped timesteps (default 0.35).
    `adv` > 0: add the adversarial term (adversarial.py) on the student's
    predictions of x0, its gradient at the last layer `adv` times that of the
    squared error (adaptive, so the weight means the same at any loss scale).
    `extra` = (n16, n8, n4): ExtraBlocks (nets.UNet) that make the student
    deeper than its teacher; they start as the identity, so the student still
    starts as the teacher.
    `pixel` > 0: add the squared error between the decoded pictures of the
    student's and the teacher's x0 (the frozen decoder), its gradient at the
    last layer `pixel` times the latent error's: a small boat is a few latent
    cells but a few hundred pixels.
    `dmd` > 0: add the distribution-matching term (distribution_matching.py)
    on one-call pictures from fresh noise, balanced at the last layer as `adv`;
    its teacher guided with `dmd_guidance` (0: the guidance the pairs were made with)."""
    ck = os.path.join(out, "student.pt")
    noise, x0, ids, fp = load_pairs(out)
    extra = tuple(int(n) for n in extra)
    cfg = dict(dm.CFG, extra=extra)
    model = dm.make_model(out, cfg).to(device)
    model.te.requires_grad_(not freeze_text)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    critic = A.Critic().to(device) if adv > 0 else None
    critic_opt = torch.optim.AdamW(critic.parameters(), lr=lr, betas=(0.0, 0.99)) if critic else None
    decode = pixel_decoder(out, device) if pixel > 0 else None
    matcher = distribution_matcher(out, fp, lr, device, dmd_guidance) if dmd > 0 else None
    settings = dict(lr=lr, detail=detail, one_step=float(shipped_weights(one_step)[0]), freeze_text=freeze_text,
                    adv=adv, extra=extra, pixel=pixel, dmd=dmd,
                    dmd_guidance=dmd_guidance)
    st = C.load_ckpt(ck)
    step = 0
    if resumable(st, fp, settings):
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        ema = C.EMA(model)
        ema.load_state_dict(st["ema"])
        step = st["step"]
        if critic:
            critic.load_state_dict(st["critic"])
            critic_opt.load_state_dict(st["critic_opt"])
        if matcher:
            matcher.load_state_dict(st["matcher"])
    else:
        tst = C.load_ckpt(os.path.join(out, "teacher.pt"))
        missing, unexpected = model.load_state_dict(tst["ema"], strict=False)
        assert not unexpected and all(k.split(".")[1] in ("x16", "x8", "x4") for k in missing), (missing, unexpected)
        ema = C.EMA(model, 0.998)
    n_pairs = len(noise)

    def save():
        C.save_ckpt(ck, dict(model=model.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(), step=step,
                             teacher_fp=fp, cfg=cfg, freeze_text=freeze_text, settings=settings,
                             **(dict(critic=critic.state_dict(), critic_opt=critic_opt.state_dict()) if critic else {}),
                             **(dict(matcher=matcher.state_dict()) if matcher else {})))

    if step >= steps:
        return step
    gen = torch.Generator().manual_seed(9000 + step)
    sh = torch.tensor(SHIPPED)
    shw = shipped_weights(one_step)
    t0 = last = time.time()
    acc = critic_acc = pixel_acc = fake_acc = 0.0
    model.train()
    while step < steps and (time.time() - t0) < minutes * 60:
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 100)
        idx = torch.randint(0, n_pairs, (bs,), generator=gen)
        e, x, tid = noise[idx].to(device), x0[idx].to(device), ids[idx].to(device)
        s = sh[torch.multinomial(shw, bs, replacement=True, generator=gen)]
        uni = torch.rand(bs, generator=gen) < 0.2
        s = torch.where(uni, torch.rand(bs, generator=gen).clamp(0.02, 1.0), s).to(device)
        xt = (1 - s)[:, None, None, None] * x + s[:, None, None, None] * e
        ctx = model.te(tid)
        v = model(xt, s * 1000.0, ctx=ctx)
        err = (v - (e - x)).pow(2)
        # As the teacher's loss: the object and the sun or moon cover few
        # latent cells; without a weight their colour is a tiny part of it.
        w = C.detail_weight(x, detail, 3)
        loss = err.mean() if w is None else (err * w).mean() / w.mean()
        acc += loss.item()  # the squared error alone, comparable between runs
        # the extra terms are scaled against the squared error's gradient at the last layer, taken once
        g_mse = last_layer_grad(model, loss) if decode or critic or matcher else None
        if decode:
            sel = torch.argsort(s, descending=True)[:PIXEL_BATCH]
            term = pixel_term(decode, (xt - s[:, None, None, None] * v)[sel], x[sel])
            loss, pixel_acc = loss + pixel * balance(model, g_mse, term) * term, pixel_acc + term.item()
        if critic:
            # ramped in: the critic starts untrained, its first gradients are noise
            term, c_loss = adversarial_term(critic, critic_opt, model, g_mse, xt - s[:, None, None, None] * v, x,
                                            ctx.detach(), adv * min(1.0, step / RAMP_STEPS))
            loss, critic_acc = loss + term, critic_acc + c_loss
        if matcher:
            term, f_loss = distribution_matching_term(matcher, model, g_mse, ids, gen, device,
                                                      dmd * min(1.0, step / RAMP_STEPS))
            loss, fake_acc = loss + term, fake_acc + f_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model, step)
        step += 1
        if step % 50 == 0:
            C.log(log, stage="student", step=step, loss=round(acc / 50, 5), ips=round(50 * bs / (time.time() - last), 1),
                  **(dict(critic_loss=round(critic_acc / 50, 4)) if critic else {}),
                  **(dict(pixel_loss=round(pixel_acc / 50, 5)) if decode else {}),
                  **(dict(fake_loss=round(fake_acc / 50, 5)) if matcher else {}))
            acc, critic_acc, pixel_acc, fake_acc, last = 0.0, 0.0, 0.0, 0.0, time.time()
        if step % 500 == 0:
            save()
    save()
    C.log(log, stage="student", step=step, done=step >= steps, minutes=round((time.time() - t0) / 60, 2))
    return step


def resumable(checkpoint, teacher_fp, settings):
    """Whether a student checkpoint continues: the same teacher's pairs and the
    same settings that change what is trained (the others may change on resume)."""
    if not checkpoint or checkpoint["teacher_fp"] != teacher_fp:
        return False
    old = {**DEFAULTS, "freeze_text": checkpoint.get("freeze_text", False), **checkpoint.get("settings", {})}
    same = lambda k: (tuple(old[k]) == tuple(settings[k])) if k == "extra" else old[k] == settings[k]
    return all(same(k) for k in ("freeze_text", "adv", "extra", "pixel", "dmd", "dmd_guidance"))


def adversarial_term(critic, critic_opt, model, g_mse, x0_pred, x0, ctx, adv):
    """One critic update on (teacher x0, student's x0 prediction), then the
    student's adversarial loss, scaled so that its gradient at the UNet's
    last layer is `adv` times the squared error's (as VQGAN's adaptive weight;
    `g_mse` = last_layer_grad of the squared error). Returns (that term, the critic's loss as a float)."""
    critic.requires_grad_(True)
    critic_opt.zero_grad(set_to_none=True)
    c_loss = A.critic_loss(critic, x0, x0_pred, ctx)
    c_loss.backward()
    critic_opt.step()
    critic.requires_grad_(False)
    g_loss = A.student_loss(critic, x0_pred, ctx)
    return adv * balance(model, g_mse, g_loss) * g_loss, c_loss.item()


def distribution_matcher(out, pair_key, lr, device, guidance=0.0):
    """The distribution-matching term's two score models, the real one being the
    run's teacher with `guidance` (0: the guidance the pairs were made with,
    `pair_key`) in the pairs' noise interval."""
    teacher, _ = T.load_teacher(out, device)
    guidance, interval = guidance or float(pair_key[2]), (float(pair_key[3]), float(pair_key[4]))
    return DM.DistributionMatching(teacher, guidance, interval, torch.from_numpy(C.tokenize([""])), lr)


def distribution_matching_term(matcher, model, g_mse, ids, gen, device, weight):
    """One-call pictures of DMD_BATCH prompts of the pairs from fresh noise;
    one update of the fake score model on them, then the student's
    distribution-matching loss, scaled as the adversarial term. Returns (that
    term, the fake model's loss as a float)."""
    tid = ids[torch.randint(0, len(ids), (DMD_BATCH,), generator=gen)].to(device)
    e = torch.randn(DMD_BATCH, 4, 16, 16, generator=gen).to(device)
    x0 = e - model(e, torch.full((DMD_BATCH,), 1000.0, device=device), ctx=model.te(tid))
    ctx = matcher.text(tid)
    f_loss = matcher.fake_update(x0, ctx, gen)
    term = matcher.student_loss(x0, ctx, gen)
    return weight * balance(model, g_mse, term) * term, f_loss


def last_layer_grad(model, loss):
    """The norm of `loss`'s gradient at the UNet's last layer."""
    return torch.autograd.grad(loss, model.unet.cout.weight, retain_graph=True)[0].norm()


def balance(model, g_mse, term):
    """The factor that makes `term`'s gradient at the UNet's last layer as
    large as the squared error's, `g_mse` = last_layer_grad(model, squared
    error) (a constant: no gradient flows through it)."""
    return (g_mse / (last_layer_grad(model, term) + 1e-8)).clamp(max=1e4).detach()


def pixel_decoder(out, device):
    """The run's decoder, frozen, from the student's (normalised) latents to pictures."""
    ae = dm.load_ae(out, device)
    ae.requires_grad_(False)
    stats = C.read_json(os.path.join(out, "latent_stats.json"))
    return lambda z: dm.decode_with_gradients(ae, z, stats["shift"], stats["scale"])


def pixel_term(decode, x0_pred, x0):
    """Squared error between the decoded pictures of the student's and the teacher's x0."""
    with torch.no_grad():
        target = decode(x0)
    return (decode(x0_pred) - target).pow(2).mean()


def load_student(out, device):
    return dm.load_model(out, "student.pt", "ema", device)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/scenes")
    ap.add_argument("--pairs", type=int, default=8000)
    ap.add_argument("--teacher-steps", type=int, default=16)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--guidance-interval", type=float, nargs=2, default=(0.0, 1.0), metavar=("LO", "HI"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--detail", type=float, default=0.0, help="student detail loss weight (0: plain MSE)")
    ap.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="student learning rate")
    ap.add_argument("--freeze-text", action="store_true", help="train the UNet only (keep the teacher's text encoder)")
    ap.add_argument("--one-step-weight", type=float, help="share of s = 1 among the shipped timesteps (default 0.35)")
    ap.add_argument("--adv", type=float, default=0.0, help="adversarial term's weight (0: off; adversarial.py)")
    ap.add_argument("--extra", type=int, nargs=3, default=DEFAULTS["extra"], metavar=("N16", "N8", "N4"),
                    help="identity-started blocks added to the student's UNet at 16x16, 8x8 and 4x4 (nets.UNet)")
    ap.add_argument("--pixel", type=float, default=0.0, help="weight of the decoded pictures' error (0: off)")
    ap.add_argument("--dmd", type=float, default=0.0, help="distribution-matching term's weight (0: off)")
    ap.add_argument("--dmd-guidance", type=float, default=0.0, help="its teacher's guidance (0: the pairs')")
    ap.add_argument("--pair-minutes", type=float, default=1e9)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shard", type=int, default=0, help="k > 0: only make pairs_k.npz (parallel helper)")
    ap.add_argument("--obj", help="with --shard: only prompts that ask for this object (boat, house, tree)")
    a = ap.parse_args()
    dev = C.setup(a.device)
    lg = os.path.join(a.out, "log.jsonl")
    make_pairs(a.out, a.pairs, a.teacher_steps, a.guidance, dev, minutes=a.pair_minutes, shard=a.shard, log=lg,
               interval=a.guidance_interval, obj=a.obj)
    if a.shard:
        raise SystemExit
    train(a.out, a.steps, a.minutes, dev, lr=a.lr, detail=a.detail, freeze_text=a.freeze_text,
          one_step=a.one_step_weight, adv=a.adv, extra=a.extra, pixel=a.pixel, dmd=a.dmd, dmd_guidance=a.dmd_guidance,
          log=lg)
    m, _ = load_student(a.out, dev)
    ae = dm.load_ae(a.out, dev)
    d = dm.LatentData(a.out, dev)
    for k in (1, 2, 4):
        dm.preview(m, ae, d.shift, d.scale, f"/tmp/student_{k}step.png", steps=k, device=dev)
