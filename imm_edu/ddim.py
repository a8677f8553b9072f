"""DDIM: the interpolant DDIM(x_t, x, s, t) of [P] Eq. 11, a denoiser trained by regression, and its sampler.

    DDIM(x_t, x, s, t) = (alpha_s - sigma_s alpha_t / sigma_t) x + (sigma_s / sigma_t) x_t      [P] Eq. 11

For a fixed x_t and x this is *linear* in (alpha_s, sigma_s): one DDIM step can only slide along a straight
line as the target time s moves. IMM removes that limit by letting the network see s.

The denoiser is the parameterized map at s = 0, x_hat(x_t, t) = f_{0,t}(x_t) = c_skip x_t + c_out G(c_in x_t, t)
(see parameterization.py), trained with the L2 loss ||x_hat - x||^2 / c_out^2, i.e. unit-weighted regression of G
on its own target (for the cosine schedule, v-prediction). Its minimizer is the posterior mean E[x | x_t].
By default DDIM uses the cosine schedule, variance preserving like the original DDIM (which ran on DDPM's linear
beta schedule; the cosine one is from improved DDPM, Nichol & Dhariwal 2021). Under "fm" a DDIM step with
x_hat = x_t - t v is exactly an Euler step of flow matching (a test checks it).

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
from dataclasses import dataclass

import torch

from .model import ToyModel, on_points
from .nets import MLP
from .parameterization import C_NOISE, c_in, coefficients
from .schedules import alpha_sigma, as_time, interpolate


def column(v, like):
    """Time(s) as a tensor that broadcasts against points `like` (B, D): shape () or (B, 1)."""
    v = as_time(v, like)
    return v[:, None] if v.dim() == 1 else v


def ddim(x_t, x, s, t, schedule="fm"):
    """DDIM(x_t, x, s, t) = (alpha_s - sigma_s alpha_t / sigma_t) x + (sigma_s / sigma_t) x_t  [P] Eq. 11 (sigma_t > 0)."""
    (a_s, s_s), (a_t, s_t) = alpha_sigma(column(s, x_t), schedule), alpha_sigma(column(t, x_t), schedule)
    return (a_s - s_s * a_t / s_t) * x + (s_s / s_t) * x_t


@dataclass
class DDIMConfig:
    schedule: str = "cosine"  # VP as in DDIM (its paper used DDPM's linear beta; cosine is improved DDPM's)
    param: str = "simple_edm"  # x_hat = c_skip x_t + c_out G, [P] App. C.5
    sigma_d: float = 0.5  # data std = prior std, [P] Sec. 4.1
    t_max: float = 1.0  # sampling starts at pure noise: alpha_1 = 0, no division by zero in DDIM
    t_min_train: float = 1e-3  # avoids dividing by c_out -> 0 in the loss weight
    dim: int = 2  # D, the dimension of a data point (2 for the toys)
    width: int = 128
    depth: int = 3
    emb_dim: int = 64


class DDIM(ToyModel):
    """Denoiser x_hat(x_t, t) sampled with deterministic DDIM steps x_s = DDIM(x_t, x_hat, s, t)."""

    method = "ddim"

    def __init__(self, cfg=None):
        super().__init__(cfg or DDIMConfig())
        self.net = MLP(dim=self.cfg.dim, width=self.cfg.width, depth=self.cfg.depth, emb_dim=self.cfg.emb_dim, two_times=False)

    def _coefficients(self, t):
        t = t.double()
        return (c.float() for c in coefficients(torch.zeros_like(t), t, param=self.cfg.param,
                                                schedule=self.cfg.schedule, sigma_d=self.cfg.sigma_d))

    @on_points
    def denoise(self, x_t, t):
        """x_hat = f_{0,t}(x_t) = c_skip(0,t) x_t + c_out(0,t) G(c_in(t) x_t, 1000 t); t of shape () or (B,)."""
        t = as_time(t, x_t).expand(len(x_t))
        c_skip, c_out = self._coefficients(t)
        g = self.net(c_in(t, self.cfg.schedule, self.cfg.sigma_d)[:, None] * x_t, C_NOISE * t)
        return c_skip[:, None] * x_t + c_out[:, None] * g

    def loss(self, x, gen):
        """E_t ||x_hat(x_t, t) - x||^2 / c_out(0,t)^2 with t ~ U(t_min_train, 1), eps ~ N(0, sigma_d^2 I)."""
        cfg = self.cfg
        t = (cfg.t_min_train + (1 - cfg.t_min_train) * torch.rand(len(x), generator=gen)).to(x.device)
        eps = (cfg.sigma_d * torch.randn(x.shape, generator=gen)).to(x.device)
        _, c_out = self._coefficients(t)
        err = (self.denoise(interpolate(x, eps, t, cfg.schedule), t) - x) / c_out[:, None]
        return err.pow(2).sum(1).mean()

    def sampler(self, x, times, seed=None):
        """Deterministic DDIM steps along `times` (decreasing); yields x at every time, x_T first."""
        times = self.check_grid(times)
        yield x
        for t, s in zip(times[:-1], times[1:]):
            x = ddim(x, self.denoise(x, t), s, t, self.cfg.schedule)
            yield x
