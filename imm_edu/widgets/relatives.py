"""Lesson 07 (relatives and FAQ): what a timestep is, how well a grouped MMD gradient points the right way in
high dimension, the paper's ImageNet FID numbers, and shortcut models' self-consistency target (the one formula
defined here, for the comparison). Static figures only: no interactive view, so no update time.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import toy
from ..kernels import mmd2
from ..plot import COLORS, style_square
from ..schedules import interpolate
from ._render import to_np
from .toys import noise


def plot_timesteps(name="checkerboard", ts=(0.0, 0.25, 0.5, 0.75, 0.994), n=2000, seed=0):
    """What a timestep is: the cloud x_t = alpha_t x + sigma_t eps at a few times t (FM schedule)."""
    x, eps = toy.sample(name, n, seed=seed), noise(n, seed + 1)
    fig, axes = plt.subplots(1, len(ts), figsize=(2.9 * len(ts), 3.3), layout="constrained")
    for ax, t in zip(axes, ts):
        ax.scatter(*to_np(interpolate(x, eps, t)).T, s=2, alpha=0.5, color=COLORS["data"], linewidths=0)
        style_square(ax, f"t = {t:g}" + (" (data)" if t == 0 else " (noise)" if t > 0.99 else ""))
    return fig


def moment_signal(D, groups, *, M=4, shift=1.0, seed=0):
    """How well the summed gradient of the grouped Laplace-kernel MMD^2 (bandwidth D, V-statistic, as in IMM)
    points the right way in D dimensions. Particles y ~ N(0, I_D) are matched to targets ~ N(shift u, I_D), u a
    random unit vector. Returns the cosine between the summed descent direction and u: 1 = exact, 0 = noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(groups, M, D, generator=g).requires_grad_(True)  # (G, M, D)
    u = torch.randn(D, generator=g)
    u = u / u.norm()
    target = torch.randn(groups, M, D, generator=g) + shift * u  # (G, M, D)
    descent = -torch.autograd.grad(mmd2(y, target, "laplace", 1.0 / D).sum(), y)[0]  # (G, M, D)
    return torch.nn.functional.cosine_similarity(descent.sum((0, 1)), u, dim=0).item()


def plot_moment_signal(dims=(2, 8, 32, 128, 512, 2048), groups=(1, 16, 256, 1024), M=4, repeats=2):
    """moment_signal against the dimension D, one line per number of groups of M particles."""
    fig, ax = plt.subplots(figsize=(7, 4.3))
    for i, G in enumerate(groups):
        cos = [np.mean([moment_signal(D, G, M=M, seed=r) for r in range(repeats)]) for D in dims]
        ax.plot(dims, cos, "o-", color=COLORS["imm"], alpha=0.3 + 0.7 * i / max(1, len(groups) - 1), lw=2,
                label=f"{G} group{'s' * (G > 1)} of M = {M} ({G * M} particles)")
    ax.set(xscale="log", xlabel="dimension D (log scale)", ylim=(-0.05, 1.05),
           ylabel="cosine(gradient, true direction)", title="direction of the MMD gradient: targets shifted by 1σ")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9, loc="lower left")
    return fig


# [P]'s ImageNet-256 results (DiT-XL/2 backbone, FID against sampling steps) and the baselines it reports.
PAPER_IMAGENET_FID = {
    "IMM, guidance w=1.5": {1: 8.05, 2: 3.99, 4: 2.51, 8: 1.99, 16: 1.90, 32: 1.89},
    "IMM, guidance w=1.25": {1: 7.77, 2: 5.33, 4: 3.66, 8: 2.77},
    "Shortcut model": {1: 10.60, 128: 3.80},
    "DiT-XL/2 (diffusion)": {250: 2.27},
    "SiT-XL (flow matching)": {250: 2.15},
}
PAPER_STYLE = {"IMM, guidance w=1.5": ("o-", COLORS["imm"]), "IMM, guidance w=1.25": ("o--", COLORS["imm"]),
               "Shortcut model": ("s", "#8c564b"), "DiT-XL/2 (diffusion)": ("D", COLORS["ddim"]),
               "SiT-XL (flow matching)": ("^", COLORS["fm"])}


def plot_paper_fid():
    """The paper's ImageNet-256 FID against sampling steps (numbers quoted, not reproduced here)."""
    fig, ax = plt.subplots(figsize=(7, 4.3))
    for name, values in PAPER_IMAGENET_FID.items():
        fmt, color = PAPER_STYLE[name]
        steps = sorted(values)
        ax.plot(steps, [values[k] for k in steps], fmt, color=color, ms=8, lw=2, label=name)
    ax.set(xscale="log", xlabel="sampling steps (log scale; with guidance, 2 network evaluations per step)",
           ylabel="FID (lower is better)", title="ImageNet 256×256, as reported in the IMM paper [P]")
    ax.set_xscale("log", base=2)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    return fig


def shortcut_target(v, x_t, t, d):
    """Shortcut models' self-consistency target (Frans et al. 2024), in IMM's time convention (t = 1 noise):
    the velocity for one step of size 2d is the mean of two chained steps of size d,
    v_target = (v(x_t, t, d) + v(x_t - d v(x_t, t, d), t - d, d)) / 2; one particle, fitted with L2."""
    v1 = v(x_t, t, d)
    return 0.5 * (v1 + v(x_t - d * v1, t - d, d))
