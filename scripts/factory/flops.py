"""Counts multiply-add FLOPs (2 per MAC) of the shipped graphs with forward
hooks on Conv2d/Linear and the attention matmuls. Usage:
  python3 -m scripts.factory.flops   (prints a table for the default configs)"""
import torch
import torch.nn as nn

from scripts.factory import nets

_counts = []


def _conv_hook(m, i, o):
    k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
    _counts.append(2 * o.numel() * k)


def _lin_hook(m, i, o):
    _counts.append(2 * o.numel() * m.in_features)


def _attn_hook(m, i, o):
    x = i[0]
    ctx = i[1] if len(i) > 1 and i[1] is not None else x
    b, n, d = x.shape
    _counts.append(2 * 2 * b * n * ctx.shape[1] * d)  # QK^T and AV


def count(model, *inputs):
    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(_conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(_lin_hook))
        elif isinstance(m, nets.Attention):
            hooks.append(m.register_forward_hook(_attn_hook))
    _counts.clear()
    with torch.no_grad():
        model(*inputs)
    for h in hooks:
        h.remove()
    return int(sum(_counts))


def report(te, unet, dec, hidden=128):
    ids = torch.zeros(1, 32, dtype=torch.long)
    r = {
        "text_encoder": count(te, ids),
        "denoiser_step": count(unet, torch.zeros(1, 4, 16, 16), torch.ones(1), torch.zeros(1, 32, hidden)),
        "decoder": count(dec, torch.zeros(1, 4, 16, 16)),
    }
    return r


if __name__ == "__main__":
    import numpy as np
    te = nets.TextEncoder(np.zeros(49408, np.int32), 300)
    un = nets.UNet()
    ae = nets.AutoEncoder()
    r = report(te, un, ae.decoder)
    r["encoder(training only)"] = count(ae.encoder, torch.zeros(1, 3, 128, 128))
    for k, v in r.items():
        print(f"{k:24s} {v / 1e9:.3f} GFLOP")
    for n, m in [("text_encoder", te), ("unet", un), ("decoder", ae.decoder), ("encoder", ae.encoder)]:
        print(f"{n:24s} {sum(p.numel() for p in m.parameters()) / 1e6:.3f} M params")
