"""Lesson 07 (relatives and FAQ): the five trained methods side by side at 1, 2, 4 and 8 steps (RelativesView),
what a timestep is, how well a grouped MMD gradient points the right way in high dimension, the paper's ImageNet
FID numbers, and tables read from the benchmark results.

Benchmark (`time_update`, one update + PNG render, torch on 1 thread, 2-core machine under load ~10):
RelativesView 330 ms, where lesson 06's SamplesView took 128 ms at the same load (12 ms at load ~4); samples and
scores are precomputed, and each redraw is five point clouds and five one-line labels over a cached background.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
import torch

from .. import toy
from ..kernels import mmd2
from ..plot import COLORS, LABELS, style_square
from ..schedules import interpolate
from ._render import animate, new_figure, to_np
from .toys import noise

RELATIVES = ("ddim", "fm", "cm", "shortcut", "imm")  # the order of lesson 07's table
STEP_CHOICES = (1, 2, 4, 8)  # every method can take these (the shortcut model needs powers of two)


class RelativesView:
    """Five panels: each method's samples after `steps` steps over the faint reference data, with their energy
    distance; a sixth panel: energy distance against steps for all of them, the current step count marked.
    samples, scores: {method: {steps: (n, 2) points / energy distance}}, e.g. from sampling.samples_by_steps and
    sampling.scores_by_steps. update(steps=...) only swaps precomputed points."""

    def __init__(self, samples, scores, reference, floor=None, steps=1):
        self.samples, self.scores = samples, scores
        self.fig, axes = new_figure(3, (11.5, 7.6), nrows=2)
        *panels, self.ax_curve = axes.flat
        self.axes = dict(zip(samples, panels))
        ref, self.points = to_np(reference), {}
        self.labels = {}  # "energy distance 0.0123" in each panel: one short line, as text is slow to draw
        for name, ax in self.axes.items():
            ax.scatter(*ref.T, s=2, alpha=0.2, color=COLORS["data"], linewidths=0)
            self.points[name] = ax.scatter(*ref.T, s=2, alpha=0.6, color=COLORS[name], linewidths=0)
            style_square(ax, LABELS[name])
            ax.label_outer()
            self.labels[name] = ax.text(0.03, 0.03, "", transform=ax.transAxes, fontsize=10,
                                        bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})
        for name, by_steps in scores.items():
            k = sorted(by_steps)
            self.ax_curve.plot(k, [by_steps[i] for i in k], "o-", color=COLORS[name], label=LABELS[name])
        if floor is not None:
            self.ax_curve.axhline(floor, ls="--", color=COLORS["data"], label="data vs data floor")
        self.mark = self.ax_curve.axvline(1, color="black", lw=6, alpha=0.15)
        self.ax_curve.set(xscale="log", yscale="log", xlabel="steps (= network evaluations)",
                          ylabel="energy distance", title="quality against steps (grey: shown)")
        self.ax_curve.set_xticks(sorted({k for s in scores.values() for k in s}), minor=False)
        self.ax_curve.xaxis.set_major_formatter("{x:.0f}")
        self.ax_curve.xaxis.set_minor_formatter(NullFormatter())
        self.ax_curve.grid(alpha=0.3, which="both")
        self.ax_curve.legend(fontsize=8)
        animate(self.fig, [*self.points.values(), self.mark, *self.labels.values()])
        self.steps = None
        self.update(steps=steps)

    def update(self, steps=None):
        if steps is not None and steps != self.steps:
            for name in self.axes:
                self.points[name].set_offsets(to_np(self.samples[name][steps]))
                self.labels[name].set_text(f"energy distance {self.scores[name][steps]:.4f}")
            self.mark.set_xdata([steps, steps])
            self.steps = steps
        return self


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
               "Shortcut model": ("s", COLORS["shortcut"]), "DiT-XL/2 (diffusion)": ("D", COLORS["ddim"]),
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


BENCH_KEYS = ("imm", "imm restart", "cm", "shortcut", "fm", "ddim")  # bench.run's model keys, IMM's restart variant too


def _label(key):
    """'imm restart' -> 'IMM (restart)'."""
    method, _, variant = key.partition(" ")
    return LABELS[method] + (f" ({variant})" if variant else "")


def _best(res, keys, k, metric):
    return min(res["models"][key][k][metric] for key in keys if key in res["models"] and k in res["models"][key])


def steps_table(results, keys=BENCH_KEYS, steps=STEP_CHOICES, metric="energy"):
    """Markdown table of bench results ({toy: {"floor", "models": {key: {steps: {metric: v}}}}}, see bench.read):
    one row per toy and model key, one column per step count, the best of each toy's column in bold."""
    lines = ["| toy | model | " + " | ".join(f"{k} step{'s' * (k > 1)}" for k in steps) + " |",
             "|---|---|" + "---|" * len(steps)]
    for name, res in results.items():
        have = [key for key in keys if key in res["models"]]
        best = {k: _best(res, have, k, metric) for k in steps}
        for key in have:
            cells = [(lambda v: f"**{v:.5f}**" if v == best[k] else f"{v:.5f}")(res["models"][key][k][metric])
                     if k in res["models"][key] else "" for k in steps]
            lines.append(f"| {name} | {_label(key)} | " + " | ".join(cells) + " |")
        lines.append(f"| {name} | data floor | " + " | ".join([f"{res['floor'][metric]:.5f}"] * len(steps)) + " |")
    return "\n".join(lines)


def best_counts(results, keys=BENCH_KEYS, steps=STEP_CHOICES, metric="energy"):
    """Markdown table: for each model key and step count, on how many of the toys in `results` it scores best."""
    lines = ["| model | " + " | ".join(f"{k} step{'s' * (k > 1)}" for k in steps) + " |", "|---|" + "---|" * len(steps)]
    for key in keys:
        wins = [sum(k in res["models"].get(key, {}) and res["models"][key][k][metric] == _best(res, keys, k, metric)
                    for res in results.values()) for k in steps]
        lines.append(f"| {_label(key)} | " + " | ".join(f"{w} of {len(results)}" for w in wins) + " |")
    return "\n".join(lines)
