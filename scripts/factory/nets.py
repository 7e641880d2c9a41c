"""Networks of the scenes model: autoencoder (TAESD-like), text encoder,
UNet denoiser. Plain ops only (conv, matmul, softmax, SiLU, hand-written
norms) so that the ONNX graphs are fixed-shape and friendly to tract; the
same code runs in train and eval (no fused fast paths)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- norms
# Training uses torch's fused norms; export switches (EXPORT = True) to the
# same math written with reductions, which maps onto basic ONNX ops.
EXPORT = False


class GroupNorm(nn.Module):
    """GroupNorm written with reductions (exports to ReduceMean/Sub/Mul/Sqrt,
    not InstanceNormalization)."""

    def __init__(self, groups, ch, eps=1e-5):
        super().__init__()
        self.g, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(ch))
        self.bias = nn.Parameter(torch.zeros(ch))

    def forward(self, x):
        if not EXPORT:
            return F.group_norm(x, self.g, self.weight, self.bias, self.eps)
        b, c, h, w = x.shape
        y = x.reshape(b, self.g, c // self.g * h * w)
        mu = y.mean(-1, keepdim=True)
        y = y - mu
        var = (y * y).mean(-1, keepdim=True)
        y = y / torch.sqrt(var + self.eps)
        return y.reshape(b, c, h, w) * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)


class LayerNorm(nn.Module):
    def __init__(self, ch, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(ch))
        self.bias = nn.Parameter(torch.zeros(ch))

    def forward(self, x):
        if not EXPORT:
            return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
        mu = x.mean(-1, keepdim=True)
        y = x - mu
        var = (y * y).mean(-1, keepdim=True)
        return y / torch.sqrt(var + self.eps) * self.weight + self.bias


def up2(x):
    """Nearest 2x upsampling; exported as Reshape/Expand/Reshape (no Resize op)."""
    if not EXPORT:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
    b, c, h, w = x.shape
    return x.reshape(b, c, h, 1, w, 1).expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


class Up2(nn.Module):
    def forward(self, x):
        return up2(x)


# ---------------------------------------------------------------- autoencoder
class AEBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.c2(F.silu(self.c1(F.silu(x))))


class Encoder(nn.Module):
    """128x128x3 in [-1,1] -> 16x16x4 (soft-clamped to +-3). Light: it only
    runs in training (to make the latents), never on the device."""

    def __init__(self, zc=4):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.SiLU(),       # 64
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.SiLU(),      # 32
            nn.Conv2d(64, 64, 3, padding=1),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), AEBlock(64),   # 16
            nn.SiLU(), nn.Conv2d(64, zc, 3, padding=1))

    def forward(self, x):
        return torch.tanh(self.net(x) / 3) * 3


class Decoder(nn.Module):
    """16x16x4 -> 128x128x3 in [-1,1] (nearest upsampling + convs)."""

    def __init__(self, zc=4):
        super().__init__()
        up = Up2
        self.net = nn.Sequential(
            nn.Conv2d(zc, 64, 3, padding=1), AEBlock(64), AEBlock(64),            # 16
            up(), nn.Conv2d(64, 48, 3, padding=1), AEBlock(48),                     # 32
            up(), nn.Conv2d(48, 32, 3, padding=1), nn.SiLU(),                       # 64
            nn.Conv2d(32, 32, 3, padding=1), nn.SiLU(),
            up(), nn.Conv2d(32, 3, 3, padding=1))                                   # 128

    def forward(self, z):
        return torch.tanh(self.net(z))


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()


# ---------------------------------------------------------------- attention
class Attention(nn.Module):
    """Multi-head attention with explicit matmuls (identical in train/eval)."""

    def __init__(self, dim, ctx_dim=None, heads=4):
        super().__init__()
        ctx_dim = ctx_dim or dim
        self.h, self.dh = heads, dim // heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(ctx_dim, dim, bias=False)
        self.v = nn.Linear(ctx_dim, dim, bias=False)
        self.o = nn.Linear(dim, dim)

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        b, n, d = x.shape
        m = ctx.shape[1]
        q = self.q(x).reshape(b, n, self.h, self.dh).transpose(1, 2)
        k = self.k(ctx).reshape(b, m, self.h, self.dh).transpose(1, 2)
        v = self.v(ctx).reshape(b, m, self.h, self.dh).transpose(1, 2)
        a = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * (self.dh ** -0.5), dim=-1)
        y = torch.matmul(a, v).transpose(1, 2).reshape(b, n, d)
        return self.o(y)


class MLP(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim * mult)
        self.fc2 = nn.Linear(dim * mult, dim)

    def forward(self, x):
        return self.fc2(F.silu(self.fc1(x)))


# ---------------------------------------------------------------- text encoder
class TextEncoder(nn.Module):
    """CLIP BPE ids [B,32] -> states [B,32,hidden]. A constant table maps the
    49408 CLIP ids onto a compact vocabulary (0 pad, 1 unk, 2 sot, 3 eot,
    4.. scenes tokens) inside the graph, so the input stays plain CLIP ids."""

    def __init__(self, remap, n_vocab, dim=128, layers=3, heads=4, max_len=32):
        super().__init__()
        self.register_buffer("remap", torch.as_tensor(remap, dtype=torch.int32), persistent=True)
        self.tok = nn.Embedding(n_vocab, dim)
        self.pos = nn.Parameter(torch.randn(1, max_len, dim) * 0.02)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict(dict(
                n1=LayerNorm(dim), attn=Attention(dim, heads=heads), n2=LayerNorm(dim), mlp=MLP(dim))))
        self.norm = LayerNorm(dim)

    def forward(self, ids):
        x = self.tok(self.remap[ids].long()) + self.pos
        for b in self.blocks:
            x = x + b["attn"](b["n1"](x))
            x = x + b["mlp"](b["n2"](x))
        return self.norm(x)


# ---------------------------------------------------------------- UNet
def timestep_embedding(t, dim):
    """t: [B] model timesteps (sigma*1000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim, groups=8):
        super().__init__()
        self.n1 = GroupNorm(groups, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = GroupNorm(groups, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class SpatialTransformer(nn.Module):
    """(optional self-attention) + cross-attention to text + MLP on the HxW tokens,
    with a learned 2-D position embedding added to the tokens."""

    def __init__(self, c, ctx_dim, hw, heads=4, self_attn=True, groups=8):
        super().__init__()
        self.norm = GroupNorm(groups, c)
        self.pos = nn.Parameter(torch.zeros(1, hw * hw, c))
        self.self_attn = self_attn
        if self_attn:
            self.n1 = LayerNorm(c)
            self.a1 = Attention(c, heads=heads)
        self.n2 = LayerNorm(c)
        self.a2 = Attention(c, ctx_dim, heads=heads)
        self.n3 = LayerNorm(c)
        self.mlp = MLP(c, 2)

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        t = self.norm(x).reshape(b, c, h * w).transpose(1, 2) + self.pos
        if self.self_attn:
            t = t + self.a1(self.n1(t))
        t = t + self.a2(self.n2(t), ctx)
        t = t + self.mlp(self.n3(t))
        return x + t.transpose(1, 2).reshape(b, c, h, w)


class ExtraBlock(nn.Module):
    """A ResBlock and a SpatialTransformer that start as the identity (their
    last layers zero), so a student may be deeper than its teacher and still
    start as the teacher (UNet's `extra`)."""

    def __init__(self, c, ctx_dim, hw, tdim, heads=4):
        super().__init__()
        self.res = ResBlock(c, c, tdim)
        self.attn = SpatialTransformer(c, ctx_dim, hw, heads)
        zero = [self.res.c2, self.attn.a1.o, self.attn.a2.o, self.attn.mlp.fc2]
        for layer in zero:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.zeros_(self.attn.norm.weight)  # the transformer adds norm(x) itself

    def forward(self, x, temb, ctx):
        return self.attn(self.res(x, temb), ctx)


class UNet(nn.Module):
    """Velocity model on 16x16x4 latents. Inputs: sample [B,4,16,16],
    timestep [B] (sigma*1000), text states [B,32,ctx]. Coordinate channels
    (x, y in [-1,1]) are concatenated to the input. `extra` = (n16, n8, n4):
    that many ExtraBlocks after the up path's 16x16 and 8x8 levels and the
    4x4 middle (more depth for the one-call student; none in the teacher)."""

    def __init__(self, ch=(64, 128, 128), ctx_dim=128, zc=4, size=16, heads=4, extra=(0, 0, 0)):
        super().__init__()
        c1, c2, c3 = ch
        tdim = c1 * 4
        self.c1 = c1
        self.temb = nn.Sequential(nn.Linear(c1, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)
        self.cin = nn.Conv2d(zc + 2, c1, 3, padding=1)
        s = size
        self.d1 = ResBlock(c1, c1, tdim)
        self.d1a = SpatialTransformer(c1, ctx_dim, s, heads, self_attn=False)
        self.down1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.d2 = ResBlock(c2, c2, tdim)
        self.d2a = SpatialTransformer(c2, ctx_dim, s // 2, heads)
        self.down2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.m1 = ResBlock(c3, c3, tdim)
        self.ma = SpatialTransformer(c3, ctx_dim, s // 4, heads)
        self.m2 = ResBlock(c3, c3, tdim)
        self.up2 = nn.Conv2d(c3, c2, 3, padding=1)
        self.u2 = ResBlock(c2 * 2, c2, tdim)
        self.u2a = SpatialTransformer(c2, ctx_dim, s // 2, heads)
        self.up1 = nn.Conv2d(c2, c1, 3, padding=1)
        self.u1 = ResBlock(c1 * 2, c1, tdim)
        self.u1a = SpatialTransformer(c1, ctx_dim, s, heads, self_attn=False)
        self.x16, self.x8, self.x4 = (nn.ModuleList(ExtraBlock(c, ctx_dim, hw, tdim, heads) for _ in range(n))
                                      for c, hw, n in zip((c1, c2, c3), (s, s // 2, s // 4), extra))
        self.nout = GroupNorm(8, c1)
        self.cout = nn.Conv2d(c1, zc, 3, padding=1)
        nn.init.zeros_(self.cout.weight)
        nn.init.zeros_(self.cout.bias)

    def forward(self, x, t, ctx):
        b = x.shape[0]
        e = self.temb(timestep_embedding(t, self.c1))
        h = self.cin(torch.cat([x, self.coords.expand(b, -1, -1, -1)], 1))
        h1 = self.d1a(self.d1(h, e), ctx)
        h = self.down1(h1)
        h2 = self.d2a(self.d2(h, e), ctx)
        h = self.down2(h2)
        h = self.through(self.x4, self.m2(self.ma(self.m1(h, e), ctx), e), e, ctx)
        h = self.up2(up2(h))
        h = self.through(self.x8, self.u2a(self.u2(torch.cat([h, h2], 1), e), ctx), e, ctx)
        h = self.up1(up2(h))
        h = self.through(self.x16, self.u1a(self.u1(torch.cat([h, h1], 1), e), ctx), e, ctx)
        return self.cout(F.silu(self.nout(h)))

    @staticmethod
    def through(blocks, h, e, ctx):
        for b in blocks:
            h = b(h, e, ctx)
        return h


class CondModel(nn.Module):
    """Text encoder + UNet trained jointly (teacher and student)."""

    def __init__(self, remap, n_vocab, hidden=128, unet_ch=(64, 128, 128), te_layers=3, extra=(0, 0, 0)):
        super().__init__()
        self.te = TextEncoder(remap, n_vocab, dim=hidden, layers=te_layers)
        self.unet = UNet(ch=unet_ch, ctx_dim=hidden, extra=extra)

    def forward(self, x, t, ids=None, ctx=None):
        if ctx is None:
            ctx = self.te(ids)
        return self.unet(x, t, ctx)
