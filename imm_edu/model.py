"""What every method's model shares: prior noise, time grids, and `.sample(n, steps, seed)`.

A method (DDIM, flow matching, IMM) subclasses ToyModel once and defines
    loss(x, gen)              a scalar training loss on a data batch x (B, D), randomness from `gen`
    sampler(x_T, times, ...)  a generator yielding x at every time of the grid, x_T first
so `*path, x_0 = model.sampler(x_T, times)` gives the whole trajectory and `.sample` just keeps the end.
"""
import functools
from dataclasses import asdict

import torch
from torch import nn

from .checks import check_count, check_n, check_points, check_times

MAX_STEPS = 10_000  # sampler steps per call; the series uses 1-128, and a million would take hours
NET_CHUNK = 65_536  # rows per network call: memory stays bounded at any n; n <= NET_CHUNK is one call, as always


def pick_device():
    """CUDA if present, then Apple MPS, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def uniform_grid(steps, t_max, t_min=0.0):
    """[t_max, ..., t_min] with steps + 1 equally spaced times ([P] App. I.2's default pushforward grid)."""
    steps = check_count(steps, "steps")
    if steps > MAX_STEPS:
        raise ValueError(f"steps = {steps:,} is too many: at most {MAX_STEPS:,} are allowed (the lessons use 1-128)")
    return torch.linspace(t_max, t_min, steps + 1, dtype=torch.float64).tolist()


def on_points(method):
    """Decorator for a map method(self, x_t, *times) of (B, D) points, e.g. IMM.f. x_t is checked and cast by
    self.points (float64 and numpy are fine), then mapped NET_CHUNK rows at a time, so memory stays bounded at any B
    (the activations of a million points take GBs); a time of shape () is shared, one of shape (B,) is split too."""
    @functools.wraps(method)
    def in_chunks(self, x_t, *times):
        x_t = self.points(x_t, "x_t")
        if len(x_t) <= NET_CHUNK:
            return method(self, x_t, *times)
        shared = [torch.as_tensor(v).dim() == 0 for v in times]
        return torch.cat([method(self, x_t[i:i + NET_CHUNK], *(v if one else v[i:i + NET_CHUNK]
                                                            for v, one in zip(times, shared)))
                          for i in range(0, len(x_t), NET_CHUNK)])
    return in_chunks


@torch.no_grad()
def ema_step(averages, params, step, ema):
    """averages <- decay averages + (1 - decay) params, in place, with the warm-up decay = min(ema, (1 + step) / (10 + step))."""
    decay = min(ema, (1 + step) / (10 + step))
    for a, p in zip(averages, params):
        a.lerp_(p, 1 - decay)


class ToyModel(nn.Module):
    """Base for the method models: holds the config and the net; subclasses add loss() and sampler()."""

    method = None  # registry key, set by each subclass

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    @property
    def device(self):
        return next(self.parameters()).device

    def config_dict(self):
        return asdict(self.cfg)

    @property
    def dim(self):
        """D, the dimension of the points this model makes (2 for the toys, 64 for 8x8 digits)."""
        return self.cfg.dim

    def points(self, x, name="x"):
        """`x` checked to be a finite (N, D) tensor, as float32 on the model's device (float64 from numpy is fine)."""
        x = check_points(torch.as_tensor(x) if not isinstance(x, torch.Tensor) else x, name, dim=self.dim)
        return x.to(device=self.device, dtype=torch.float32)

    def prior(self, n, seed=0):
        """x_T ~ N(0, sigma_d^2 I) as (n, D), drawn on the CPU with `seed` so every device gets the same points."""
        gen = torch.Generator().manual_seed(int(seed))
        return (self.cfg.sigma_d * torch.randn(n, self.dim, generator=gen)).to(self.device)

    def grid(self, steps, grid="uniform"):
        """Sampling times t_max -> t_min, equally spaced."""
        if grid != "uniform":
            raise ValueError(f"unknown grid {grid!r}; {type(self).__name__} supports 'uniform'"
                             + (" and 'eta_mid'" if self.method == "imm" else ""))
        return uniform_grid(steps, self.cfg.t_max, getattr(self.cfg, "t_min", 0.0))

    @staticmethod
    def check_grid(times):
        ts = torch.as_tensor(times, dtype=torch.float64)
        if ts.dim() != 1 or len(ts) < 2:
            raise ValueError(f"a time grid needs at least two times, got {times!r}")
        check_times(ts[1:], ts[:-1])  # decreasing, inside [0, 1]
        return ts.tolist()

    @torch.no_grad()
    def sample(self, n, steps, seed=0, grid="uniform", **sampler_kw):
        """n samples (n, D) on the CPU after `steps` sampler steps from the prior; deterministic given seed.
        sampler_kw go to the method's sampler (e.g. solver="heun" for FM, sampler="restart" for IMM).
        n * D is at most checks.MAX_NUMBERS (10 million 2-D points); the net sees NET_CHUNK points at a time."""
        n = check_n(n, self.dim)
        was_training = self.training
        self.eval()
        *_, x = self.sampler(self.prior(n, seed), self.grid(steps, grid), seed=seed, **sampler_kw)
        self.train(was_training)
        return x.cpu()
