"""A distribution-matching term for the student's one-call pictures (the idea
of DMD, Yin et al. 2024, at the scenes' size). Why: the squared error against
the teacher's pairs teaches a one-call student the average of what the teacher
might draw; where it cannot tell which, it draws a washed-out mixture (a boat
in no clear colour). Distribution matching instead pulls each one-call picture
towards where the teacher's distribution is denser than the student's own.

Two score estimates at a random noise level tau of the student's picture x:
- real: the frozen teacher, with the pair settings' guidance;
- fake: a copy of the teacher that keeps learning to denoise the student's
  current pictures (so it knows what the student draws).
The student's gradient at x is (x0_fake - x0_real), normalised per picture
(DMD's form); it vanishes where the two agree.

Flow convention as everywhere here: x_tau = (1 - tau) x0 + tau eps, v = eps - x0,
x0 = x_tau - tau v."""
import copy

import torch

from scripts.factory import dm

TAU = (0.02, 0.98)  # noise levels the scores are compared at (DMD's range)


class DistributionMatching:
    def __init__(self, teacher, guidance, interval, empty, lr):
        """`teacher`: the frozen teacher (dm model: .te, .unet); `guidance`,
        `interval` and `empty` (token ids of the empty prompt) as the pairs were made."""
        self.real = teacher.eval().requires_grad_(False)
        self.fake = copy.deepcopy(teacher).train()
        self.fake.te = self.real.te  # one text encoder: the prompts' states stay the teacher's
        self.fake.unet.requires_grad_(True)
        self.opt = torch.optim.AdamW(self.fake.unet.parameters(), lr=lr, betas=(0.0, 0.99), weight_decay=0.0)
        self.guidance, self.interval = guidance, interval
        with torch.no_grad():  # the empty prompt's states, once
            self.ctx_u = self.real.te(empty.to(next(teacher.parameters()).device))

    def state_dict(self):
        return dict(fake=self.fake.state_dict(), opt=self.opt.state_dict())

    def load_state_dict(self, st):
        self.fake.load_state_dict(st["fake"])
        self.opt.load_state_dict(st["opt"])

    @torch.no_grad()
    def text(self, ids):
        """The teacher's text states of the prompts, for the three calls below."""
        return self.real.te(ids)

    def noised(self, x0, gen):
        tau = torch.empty(len(x0)).uniform_(*TAU, generator=gen).to(x0.device)
        eps = torch.randn(x0.shape, generator=gen).to(x0.device)
        t = tau[:, None, None, None]
        return (1 - t) * x0 + t * eps, tau, eps

    def fake_update(self, x0, ctx, gen):
        """One denoising step of the fake model on the student's pictures x0
        (detached). Returns its loss as a float."""
        x0 = x0.detach()
        xt, tau, eps = self.noised(x0, gen)
        loss = (self.fake.unet(xt, tau * 1000.0, ctx) - (eps - x0)).pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    @torch.no_grad()
    def real_x0(self, xt, tau, ctx):
        on = (tau >= self.interval[0]) & (tau <= self.interval[1])
        v = dm.guided_velocity(self.real.unet, xt, tau * 1000.0, ctx, self.ctx_u.expand(len(xt), -1, -1),
                               self.guidance, on)
        return xt - tau[:, None, None, None] * v

    @torch.no_grad()
    def fake_x0(self, xt, tau, ctx):
        return xt - tau[:, None, None, None] * self.fake.unet(xt, tau * 1000.0, ctx)

    def student_loss(self, x0, ctx, gen):
        """A loss whose gradient at the student's pictures x0 is DMD's
        (x0_fake - x0_real) / mean |x0 - x0_real| per picture."""
        xt, tau, _ = self.noised(x0.detach(), gen)
        real, fake = self.real_x0(xt, tau, ctx), self.fake_x0(xt, tau, ctx)
        norm = (x0.detach() - real).abs().mean((1, 2, 3), keepdim=True).clamp(min=1e-4)
        grad = (fake - real) / norm
        return 0.5 * (x0 - (x0 - grad).detach()).pow(2).sum() / len(x0)
