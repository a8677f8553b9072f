"""The only module with weights: a compact residual MLP G(x, c_noise(t), c_noise(s)) for D-dimensional points,
and the small digit classifier behind the FD-digits metric (digit_metrics.py).

Time inputs follow [P] Sec. 4.2 / App. I.1: each time (already multiplied by c_noise = 1000) gets its own
sinusoidal positional embedding and its own 2-layer MLP; the second embedding (target time s) is *added* to the
first after t's MLP. Methods that do not condition on s (DDIM, flow matching) build the net with two_times=False.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import math

import torch
from torch import nn


def positional_embedding(c, dim, max_period=10_000.0):
    """Sinusoidal embedding [cos(c w_i), sin(c w_i)] with w_i = max_period^(-i / (dim/2)); (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=c.device) / half)  # (dim/2,)
    angles = c.float()[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([angles.cos(), angles.sin()], 1)


class TimeEmbedding(nn.Module):
    """Positional embedding followed by a 2-layer MLP."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, c):
        return self.mlp(positional_embedding(c, self.dim))


class MLP(nn.Module):
    """Residual MLP: h = W_in x + emb(t) [+ emb(s)]; depth blocks h += W2 silu(W1 silu(h) + P_i emb); out = W_out h."""

    def __init__(self, dim=2, width=128, depth=3, emb_dim=64, two_times=True):
        super().__init__()
        self.emb_t = TimeEmbedding(emb_dim)
        self.emb_s = TimeEmbedding(emb_dim) if two_times else None
        self.inp = nn.Linear(dim, width)
        self.emb_in = nn.Linear(emb_dim, width)
        self.blocks = nn.ModuleList(nn.ModuleDict({"w1": nn.Linear(width, width), "emb": nn.Linear(emb_dim, width),
                                                   "w2": nn.Linear(width, width)}) for _ in range(depth))
        self.out = nn.Linear(width, dim)

    def forward(self, x, c_t, c_s=None):
        if (c_s is None) != (self.emb_s is None):
            raise ValueError("pass c_s exactly when the net was built with two_times=True")
        emb = self.emb_t(c_t) if c_s is None else self.emb_t(c_t) + self.emb_s(c_s)  # (B, emb_dim)
        emb = nn.functional.silu(emb)
        h = self.inp(x) + self.emb_in(emb)  # (B, width)
        for b in self.blocks:
            h = h + b["w2"](nn.functional.silu(b["w1"](nn.functional.silu(h)) + b["emb"](emb)))
        return self.out(nn.functional.silu(h))


class Classifier(nn.Module):
    """Digit classifier for the FD-digits metric: features phi(x) = silu(W2 silu(W1 x)) (B, features), logits W3 phi."""

    def __init__(self, dim=64, width=128, features=64, classes=10):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim, width), nn.SiLU(), nn.Linear(width, features), nn.SiLU())
        self.head = nn.Linear(features, classes)

    def forward(self, x):
        return self.head(self.body(x))
