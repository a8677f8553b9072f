"""Lesson 00 (welcome, toy worlds): the toy gallery, the palette and the time convention; also the toy data
the later panels share (fresh noise, a cached background sample).

Benchmark (`time_update`, one update + PNG render, median of 10, torch on 1 thread, on the course's busy 2-core
CI machine, load ~2.8): ToyGalleryView 21 ms.
"""
import functools
import math

import matplotlib.pyplot as plt
import torch

from .. import toy
from ..plot import COLORS, LABELS, LIMITS, style_square
from ..schedules import interpolate
from ._render import animate, new_figure, to_np


def toy_samples(n=2000, seed=0):
    """{name: (n, 2) points} for every toy in toy.names()."""
    return {name: toy.sample(name, n, seed=seed) for name in toy.names()}


def plot_toy_grid(samples, ncols=5):
    """Every toy in one figure, on the common frame LIMITS."""
    nrows = math.ceil(len(samples) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2 * ncols, 2.1 * nrows), layout="constrained")
    for ax, (name, x) in zip(axes.flat, samples.items()):
        p = to_np(x)
        ax.scatter(p[:, 0], p[:, 1], s=1, alpha=0.4, color=COLORS["data"], linewidths=0, rasterized=True)
        ax.set(xlim=LIMITS, ylim=LIMITS, aspect="equal", xticks=[], yticks=[], title=name)
    for ax in axes.flat[len(samples):]:
        ax.axis("off")
    fig.supxlabel("$x_1$ (frame: -1.6 to 1.6)")
    fig.supylabel("$x_2$")
    return fig


def plot_palette():
    """The series' colours (imm_edu.plot.COLORS), one swatch per role."""
    fig, ax = plt.subplots(figsize=(10, 1.5), layout="constrained")
    for i, (key, colour) in enumerate(COLORS.items()):
        ax.scatter(i, 0, s=600, color=colour)
        ax.text(i, -0.9, LABELS[key], ha="center", va="top", fontsize=11)
    ax.set(xlim=(-0.6, len(COLORS) - 0.4), ylim=(-2, 0.8))
    ax.axis("off")
    return fig


def plot_time_convention(x, eps, ts=(0.0, 0.25, 0.5, 0.75, 1.0), schedule="fm"):
    """The same particles at several times: titles in IMM time t and in the reversed time 1 - t of
    flow_matching / torchcfm / shortcut models."""
    fig, axes = plt.subplots(1, len(ts), figsize=(10, 2.9), layout="constrained")
    for ax, t in zip(axes, ts):
        p = to_np(interpolate(x, eps, t, schedule))
        ax.scatter(p[:, 0], p[:, 1], s=1, alpha=0.4, color=COLORS["data"], linewidths=0, rasterized=True)
        ax.set(xlim=LIMITS, ylim=LIMITS, aspect="equal", xticks=[], yticks=[])
        ax.set_title(f"IMM  t = {t:g}", fontsize=12)
        ax.set_xlabel(f"flow_matching  t = {1 - t:g}", fontsize=10)
    axes[0].set_ylabel("data end")
    axes[-1].yaxis.set_label_position("right")
    axes[-1].set_ylabel("noise end")
    fig.suptitle(r"$x_t = \alpha_t x + \sigma_t \varepsilon$ in the $(x_1, x_2)$ plane: the same particles at five times",
                 fontsize=12)
    return fig


class ToyGalleryView:
    """One toy at a time, chosen by name; update(name=...) swaps the precomputed points."""

    def __init__(self, samples, name="checkerboard"):
        self.samples = samples
        self.fig, self.ax = new_figure(1, (4.6, 4.4))
        self.points = self.ax.scatter([], [], s=3, alpha=0.5, color=COLORS["data"], linewidths=0)
        style_square(self.ax)
        animate(self.fig, [self.points, self.ax.title])
        self.name = None
        self.update(name=name)

    def update(self, name=None):
        if name is not None and name != self.name:
            if name not in self.samples:
                raise ValueError(f"unknown toy {name!r}; choose one of {sorted(self.samples)}")
            x = self.samples[name]
            self.points.set_offsets(to_np(x))
            self.ax.set_title(f"{name}: {len(x)} points, pooled std {x.pow(2).mean().sqrt().item():.2f}")
            self.name = name
        return self


@functools.cache
def background(name, n=3000, seed=5):
    """A fixed sample of toy `name` to draw faintly behind particles."""
    return toy.sample(name, n, seed=seed)


def noise(n, seed, sigma_d=toy.SIGMA_D):
    """(n, 2) Gaussian prior noise with std sigma_d, reproducible from `seed`."""
    return sigma_d * torch.randn(n, 2, generator=torch.Generator().manual_seed(int(seed)))
