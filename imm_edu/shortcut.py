"""Shortcut models ([SC]): a flow-matching velocity v(x_t, t, d) that also sees the step size d, trained so
that one step of size 2d equals two chained steps of size d. One network samples with any power-of-two
number of steps, 1 to M.

    step:     x_{t-d} = x_t - d v(x_t, t, d),  d in {1, 1/2, ..., 1/M}                        [SC] Sec. 3, Alg. 2
    FM rows:  v(x_t, t, 1/M)  ->  eps - x                          flow matching at the finest step size
    SC rows:  v(x_t, t, 2d)   ->  stopgrad (v~(x_t, t, d) + v~(x', t - d, d)) / 2,  x' = x_t - d v~(x_t, t, d)
    loss:     mean over the batch of ||v - target||^2, 1 row in `bootstrap_every` an SC row      [SC] Sec. 3
The network is v = sigma_d G(c_in(t) x_t, 1000 t, 1000 d) on the OT path x_t = (1 - t) x + t eps, with d as
the second time input (IMM's net with the stride t - s). v~ is the teacher: an EMA of the weights (or the
current weights when teacher_ema = 0), always without gradient. SC rows take 2d = 1, 1/2, ..., 2/M in equal
shares and t in {2d, 4d, ..., 1}; FM rows take t in {1/M, ..., 1}: training only visits times of the sampling
grids. x' and the SC target are clipped to +-clip sigma_d.

Time convention: [SC] puts noise at t' = 0 and data at t' = 1, so t' = 1 - t, their velocity (data minus
noise) is -v, their step x + d s is our x - d v, and d is the same number in both.

Where this follows [SC]'s reference code (kvfrans/shortcut-models, targets_shortcut.py and the train.py
defaults) rather than the paper's equations: FM rows are conditioned on d = 1/M (the paper's combined loss in
Sec. 3 writes that term at d = 0); 1 row in 8 is bootstrapped (bootstrap_every = 8); the teacher is the EMA model,
rate 0.999 (bootstrap_ema = 1); x' and the target are clipped at +-4 for unit-variance noise (here 4 sigma_d).
Our own choices: d enters the net as a time (1000 d) instead of an embedded integer log2(1/d); the teacher's EMA
warms up like train.fit's; plain Adam without [SC]'s weight decay 0.1, so that every method shares one recipe.

[SC] = Frans, Hafner, Levine, Abbeel, "One Step Diffusion via Shortcut Models", ICLR 2025, arXiv 2410.12557.
"""
import math
from dataclasses import dataclass

import torch
from torch.func import functional_call

from .ddim import column
from .model import ToyModel, ema_step
from .nets import MLP
from .parameterization import C_NOISE, c_in
from .schedules import as_time, interpolate


@dataclass
class ShortcutConfig:
    sigma_d: float = 0.5  # data std = prior std
    t_max: float = 1.0  # x_1 = eps exactly on the OT path: sampling starts at pure noise
    max_steps: int = 128  # M, a power of two: step sizes d = 1, 1/2, ..., 1/M ([SC]: 128)
    bootstrap_every: int = 8  # 1 batch row in 8 gets the self-consistency target ([SC] code: bootstrap_every = 8)
    teacher_ema: float = 0.999  # SC targets from an EMA of the weights ([SC] code: bootstrap_ema = 1); 0: current
    clip: float = 4.0  # x' and the SC target clipped to +-clip sigma_d ([SC] code: +-4 for unit-variance noise)
    dim: int = 2  # D, the dimension of a data point (2 for the toys)
    width: int = 128
    depth: int = 3
    emb_dim: int = 64


def shortcut_target(v, x_t, t, d, clip=None):
    """Self-consistency target for one step of size 2d from time t ([SC] Sec. 3, in our time convention):
        x' = x_t - d v(x_t, t, d),   target = (v(x_t, t, d) + v(x', t - d, d)) / 2,
    so x_t - 2d target is exactly two chained d-steps of v. t, d: numbers or (B,) tensors; clip: x' and the
    target are clamped to [-clip, clip] (None: no clipping)."""
    v1 = v(x_t, t, d)
    x_mid = x_t - column(d, x_t) * v1
    if clip is not None:
        x_mid = x_mid.clamp(-clip, clip)
    target = 0.5 * (v1 + v(x_mid, t - d, d))
    return target if clip is None else target.clamp(-clip, clip)


class Shortcut(ToyModel):
    """Velocity v(x_t, t, d) conditioned on the step size, trained with flow matching + self-consistency."""

    method = "shortcut"

    def __init__(self, cfg=None):
        super().__init__(cfg or ShortcutConfig())
        c = self.cfg
        if isinstance(c.max_steps, bool) or not isinstance(c.max_steps, int) or c.max_steps < 2 or \
                c.max_steps & (c.max_steps - 1):
            raise ValueError(f"max_steps must be a power of two >= 2 (the finest step is 1/max_steps), "
                             f"got {c.max_steps!r}")
        if not isinstance(c.bootstrap_every, int) or c.bootstrap_every < 1:
            raise ValueError(f"bootstrap_every must be a positive integer, got {c.bootstrap_every!r}")
        if not 0 <= c.teacher_ema < 1:
            raise ValueError(f"teacher_ema must lie in [0, 1) (0: current weights), got {c.teacher_ema!r}")
        self.levels = int(math.log2(c.max_steps))  # step sizes 2^-k, k = 0 ... levels
        self.net = MLP(dim=c.dim, width=c.width, depth=c.depth, emb_dim=c.emb_dim, two_times=True)
        self.teacher, self.teacher_updates = None, 0  # EMA weights {name: tensor}: training state, never saved

    def velocity(self, x_t, t, d, weights=None):
        """v(x_t, t, d) = sigma_d G(c_in(t) x_t, 1000 t, 1000 d); t, d of shape () or (B,); `weights` a
        {name: tensor} dict used instead of the net's own parameters (the EMA teacher)."""
        x_t = self.points(x_t, "x_t")
        t, d = (as_time(v, x_t).expand(len(x_t)) for v in (t, d))
        args = (c_in(t, "fm", self.cfg.sigma_d)[:, None] * x_t, C_NOISE * t, C_NOISE * d)
        return self.cfg.sigma_d * (self.net(*args) if weights is None else functional_call(self.net, weights, args))

    def step_size(self, d):
        """d as the exact trained size 2^-k (k = 0 ... log2 M), or 0; any other size is an error."""
        d = float(d)
        k = round(-math.log2(d)) if d > 0 else -1
        if d != 0 and (not 0 <= k <= self.levels or abs(d - 2.0**-k) > 1e-9):
            raise ValueError(f"a shortcut step has size 0 or 1/2^k with 2^k <= {self.cfg.max_steps} (max_steps), "
                             f"got {d:.6g}; sample with a power-of-two number of steps up to {self.cfg.max_steps}")
        return 0.0 if d == 0 else 2.0**-k

    def step(self, x_t, s, t):
        """x_s = x_t - (t - s) v(x_t, t, t - s): one step from t down to s (numbers); x_t itself when s = t."""
        d = self.step_size(t - s)
        x_t = self.points(x_t, "x_t")
        return x_t if d == 0 else x_t - d * self.velocity(x_t, t, d)

    def update_teacher(self):
        """Move the EMA teacher one step toward the current weights (made on the first call; warm-up as fit's)."""
        params = dict(self.net.named_parameters())
        if self.teacher is None or next(iter(self.teacher.values())).device != self.device:
            self.teacher, self.teacher_updates = {k: p.detach().clone() for k, p in params.items()}, 0
        else:
            self.teacher_updates += 1
            ema_step(self.teacher.values(), params.values(), self.teacher_updates, self.cfg.teacher_ema)

    @torch.no_grad()
    def targets(self, x, gen):
        """(x_t, t, d, target) for a batch x (B, D): the first B // bootstrap_every rows get the self-consistency
        target of the teacher for a step of size d (their 2d), the others the FM target eps - x at d = 1/M.
        Times and step sizes are float32 (B,) and exact (dyadic). Before the first loss() call there is no EMA
        teacher yet and the current weights make the targets."""
        c, B = self.cfg, len(x)
        n_sc = B // c.bootstrap_every
        k = torch.cat([torch.arange(n_sc) % self.levels, torch.full((B - n_sc,), self.levels)])  # SC: 2d = 2^-k
        d = 2.0 ** -k.double()
        t = d * (1 + (torch.rand(B, generator=gen, dtype=torch.float64) * 2.0**k).floor())  # t in {d, 2d, ..., 1}
        t, d = t.float().to(x.device), d.float().to(x.device)
        eps = (c.sigma_d * torch.randn(x.shape, generator=gen)).to(x.device)
        x_t = interpolate(x, eps, t)
        target = eps - x
        if n_sc:
            weights = self.teacher if c.teacher_ema > 0 else None
            teacher = lambda x_, t_, d_: self.velocity(x_, t_, d_, weights)
            target[:n_sc] = shortcut_target(teacher, x_t[:n_sc], t[:n_sc], d[:n_sc] / 2, clip=c.clip * c.sigma_d)
        return x_t, t, d, target

    def loss(self, x, gen):
        """Mean over the batch of ||v(x_t, t, d) - target||^2 (see targets); each call first updates the teacher."""
        if self.cfg.teacher_ema > 0:
            self.update_teacher()
        x_t, t, d, target = self.targets(x, gen)
        return (self.velocity(x_t, t, d) - target).pow(2).sum(1).mean()

    def sampler(self, x, times, seed=None):
        """Shortcut steps along `times` (decreasing, each gap 0 or 1/2^k); yields x at every time, x_T first."""
        times = self.check_grid(times)
        yield x
        for t, s in zip(times[:-1], times[1:]):
            x = self.step(x, s, t)
            yield x
