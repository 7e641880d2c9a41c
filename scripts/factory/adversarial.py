"""An adversarial term for the student (the idea of SD-Turbo's adversarial
diffusion distillation, at the scenes' size): a small critic tells the
teacher's samples from the student's one-call predictions of them, given the
prompt, and the student is pushed towards what the critic takes for the
teacher's. Why: with the squared error alone a one-step student that cannot
tell where the teacher would draw a small object draws the average of the
places, faint or in a washed-out colour; the critic penalises faint and
washed-out objects, which the average loss does not.

The critic works on 4x16x16 latents: convolutions with spectral norm (keeps
it from overpowering the student without a gradient penalty), pooled, and a
projection onto the prompt's pooled text states (conditional: a purple house
drawn blue is "fake" for its prompt). Hinge losses."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm


class Critic(nn.Module):
    def __init__(self, zc=4, ctx_dim=128, ch=64):
        super().__init__()
        self.convs = nn.ModuleList([
            spectral_norm(nn.Conv2d(zc, ch, 3, padding=1)),
            spectral_norm(nn.Conv2d(ch, ch * 2, 4, stride=2, padding=1)),
            spectral_norm(nn.Conv2d(ch * 2, ch * 2, 3, padding=1)),
            spectral_norm(nn.Conv2d(ch * 2, ch * 2, 4, stride=2, padding=1)),
        ])
        self.out = spectral_norm(nn.Linear(ch * 2, 1))
        self.proj = spectral_norm(nn.Linear(ctx_dim, ch * 2))

    def forward(self, x, ctx):
        """x [B,4,16,16] latents, ctx [B,32,ctx_dim] text states -> [B] scores."""
        h = x
        for c in self.convs:
            h = F.leaky_relu(c(h), 0.2)
        h = h.sum((2, 3))
        return self.out(h)[:, 0] + (h * self.proj(ctx.mean(1))).sum(1)


def critic_loss(critic, real, fake, ctx):
    """Hinge loss of the critic: teacher samples above +1, the student's below -1."""
    return F.relu(1 - critic(real, ctx)).mean() + F.relu(1 + critic(fake.detach(), ctx)).mean()


def student_loss(critic, fake, ctx):
    """The student's adversarial term: raise the critic's score of its predictions."""
    return -critic(fake, ctx).mean()
