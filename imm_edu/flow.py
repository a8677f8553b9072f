"""Flow matching on the OT path x_t = (1 - t) x + t eps: a velocity field and its Euler / Heun samplers.

    loss:   E ||v(x_t, t) - (eps - x)||^2,  t ~ U(0, 1)          (conditional FM; the target is dx_t/dt)
    Euler:  x_s = x_t - (t - s) v(x_t, t)
    Heun:   x'  = Euler step;  x_s = x_t - (t - s) (v(x_t, t) + v(x', s)) / 2   (2 network evaluations per step)
The network is v = sigma_d G(c_in x_t, 1000 t), the Euler-FM parameterization of [P] App. C.5 with s = 0.
Time runs from t = 1 (noise) to t = 0 (data); flow_matching / torchcfm use t' = 1 - t.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
from dataclasses import dataclass

import torch

from .model import ToyModel, on_points
from .nets import MLP
from .parameterization import C_NOISE, c_in
from .schedules import as_time, interpolate

SOLVERS = ("euler", "heun")


@dataclass
class FMConfig:
    sigma_d: float = 0.5  # data std = prior std
    t_max: float = 1.0  # x_1 = eps exactly on the OT path
    solver: str = "euler"  # default solver for sample(); "heun" costs 2 evaluations per step
    dim: int = 2  # D, the dimension of a data point (2 for the toys)
    width: int = 128
    depth: int = 3
    emb_dim: int = 64


class FlowMatching(ToyModel):
    """Velocity field v(x_t, t) trained by conditional flow matching."""

    method = "fm"

    def __init__(self, cfg=None):
        super().__init__(cfg or FMConfig())
        if self.cfg.solver not in SOLVERS:
            raise ValueError(f"unknown solver {self.cfg.solver!r}; choose one of {SOLVERS}")
        self.net = MLP(dim=self.cfg.dim, width=self.cfg.width, depth=self.cfg.depth, emb_dim=self.cfg.emb_dim, two_times=False)

    @on_points
    def velocity(self, x_t, t):
        """v(x_t, t) = sigma_d G(c_in(t) x_t, 1000 t); t of shape () or (B,)."""
        t = as_time(t, x_t).expand(len(x_t))
        return self.cfg.sigma_d * self.net(c_in(t, "fm", self.cfg.sigma_d)[:, None] * x_t, C_NOISE * t)

    def loss(self, x, gen):
        """E ||v(x_t, t) - (eps - x)||^2 with t ~ U(0, 1), eps ~ N(0, sigma_d^2 I)."""
        t = torch.rand(len(x), generator=gen).to(x.device)
        eps = (self.cfg.sigma_d * torch.randn(x.shape, generator=gen)).to(x.device)
        return (self.velocity(interpolate(x, eps, t), t) - (eps - x)).pow(2).sum(1).mean()

    def sampler(self, x, times, seed=None, solver=None):
        """Euler or Heun steps along `times` (decreasing); yields x at every time, x_T first."""
        times, solver = self.check_grid(times), solver or self.cfg.solver
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
        yield x
        for t, s in zip(times[:-1], times[1:]):
            v = self.velocity(x, t)
            x_euler = x - (t - s) * v
            x = x_euler if solver == "euler" else x - (t - s) * 0.5 * (v + self.velocity(x_euler, s))
            yield x
