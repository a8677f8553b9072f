"""Sample quality against the number of steps: lesson 02 (DDIM vs flow matching, SamplerStepsView) and lesson 06
(few-step IMM sampling: pushforward vs restart, SamplesView, trajectories). Both score samples by the energy
distance to reference data.

Benchmarks (`time_update`, one update + PNG render, torch on 1 thread, on the course's busy 2-core machine):
SamplerStepsView 48 ms (samples precomputed, load ~2.8); SamplesView ~12 ms (cached samples, load ~4).
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import metrics
from ..plot import COLORS, LABELS, style_square
from ._render import animate, new_figure, to_np


def samples_by_steps(models, steps=(1, 2, 4, 8, 16, 32, 64, 128), n=1000, seed=0):
    """{method: {steps: (n, 2) samples}} for a dict of trained models (same prior noise for all)."""
    return {name: {k: model.sample(n, k, seed=seed) for k in steps} for name, model in models.items()}


def scores_by_steps(samples, reference):
    """{method: {steps: energy distance to `reference`}}, the input of plot.nfe_curve (1 evaluation per step)."""
    return {name: {k: metrics.energy_distance(x, reference) for k, x in by_k.items()}
            for name, by_k in samples.items()}


class SamplerStepsView:
    """One panel per method showing its samples after `steps` steps over the faint reference data."""

    def __init__(self, samples, scores, reference, steps=1):
        self.samples, self.scores = samples, scores
        self.fig, axes = new_figure(len(samples), (4.2 * len(samples), 4.4))
        self.axes = dict(zip(samples, np.atleast_1d(axes)))
        self.points = {}
        ref = to_np(reference)
        animated, legends = [], []
        for name, ax in self.axes.items():
            ax.scatter(ref[:, 0], ref[:, 1], s=3, alpha=0.3, color=COLORS["data"], linewidths=0, label="data")
            self.points[name] = ax.scatter([], [], s=3, alpha=0.6, color=COLORS[name], linewidths=0,
                                           label=LABELS[name])
            style_square(ax)
            animated += [self.points[name], ax.title]
            legends.append(ax.legend(loc="upper left", markerscale=4, fontsize=9, framealpha=1, fancybox=False))
        animate(self.fig, animated, overlays=legends)  # the data stay in the cached background
        self.steps = None
        self.update(steps=steps)

    def update(self, steps=None):
        if steps is not None and steps != self.steps:
            for name, ax in self.axes.items():
                self.points[name].set_offsets(to_np(self.samples[name][steps]))
                ax.set_title(f"{LABELS[name]}, {steps} step{'s' * (steps > 1)}\n"
                             f"energy distance {self.scores[name][steps]:.4f}")
            self.steps = steps
        return self


# ---------------------------------------------------------------- lesson 6: few-step IMM sampling

DEFAULT_SAMPLER = {"imm": "pushforward", "cm": "restart", "ddim": "ddim", "fm": "euler"}


def draw_samples(model, n, steps, sampler=None, seed=7):
    """n samples after `steps` network evaluations; `sampler` ("pushforward"/"restart") applies to IMM models."""
    kw = {"sampler": sampler} if model.method == "imm" and sampler in ("pushforward", "restart") else {}
    return model.sample(n, steps, seed=seed, **kw)


def quality_vs_nfe(models, reference, nfe=(1, 2, 4, 8), seed=7):
    """{method: {nfe: energy distance to `reference`}} with len(reference) samples each (1 evaluation per step),
    each model with its default sampler."""
    return scores_by_steps(samples_by_steps(models, nfe, len(reference), seed), reference)


class SamplesView:
    """Left: samples of one (method, sampler) after `steps` steps over the data; right: energy distance against
    steps for every (method, sampler) pair in `curves`, the current one marked. Samples are cached.
    update(method=..., sampler=..., steps=...); a sampler a method does not have falls back to its default."""

    def __init__(self, models, reference, curves, *, method=None, sampler=None, steps=1, max_steps=8, floor=None):
        self.models, self.reference, self.max_steps = models, reference, max_steps
        self._cache, self._scores = {}, {}
        self.steps_range = list(range(1, max_steps + 1))
        self.curves = {(m, smp): [self.score(m, smp, k) for k in self.steps_range] for m, smp in curves}
        self.fig, (self.ax, self.ax_curve) = new_figure(2, (11.5, 4.9), width_ratios=[1, 1.15])
        self.ax.scatter(*to_np(reference).T, s=2, alpha=0.2, color=COLORS["data"], linewidths=0, label="data")
        self.points = self.ax.scatter(np.zeros(len(reference)), np.zeros(len(reference)), s=3, alpha=0.55,
                                      linewidths=0, label="samples")
        style_square(self.ax)
        for (m, smp), ys in self.curves.items():
            self.ax_curve.plot(self.steps_range, ys, "o-" if smp != "restart" or m == "cm" else "s--",
                               color=COLORS[m], label=f"{LABELS[m]}, {smp}")
        if floor is not None:
            self.ax_curve.axhline(floor, ls="--", color=COLORS["data"], label="data vs data floor")
        self.mark = self.ax_curve.scatter([1], [1], s=220, facecolors="none", edgecolors="black", linewidths=2,
                                          zorder=5, label="shown on the left")
        values = [v for ys in self.curves.values() for v in ys] + ([floor] if floor is not None else [])
        self.ax_curve.set(yscale="log", ylim=(min(values) / 1.5, max(values) * 1.5), xticks=self.steps_range,
                          xlabel="steps (= network evaluations)", ylabel="energy distance (lower is better)",
                          title="quality against steps (all models)")
        self.ax_curve.grid(alpha=0.3, which="both")
        self.ax_curve.legend(fontsize=9)
        animate(self.fig, [self.points, self.mark, self.ax.title])
        self.method, self.wanted, self.steps = method or curves[0][0], sampler, steps
        self.update()

    def samples(self, method, sampler, steps):
        key = (method, sampler, steps)
        if key not in self._cache:
            self._cache[key] = draw_samples(self.models[method], len(self.reference), steps, sampler)
        return self._cache[key]

    def score(self, method, sampler, steps):
        key = (method, sampler, steps)
        if key not in self._scores:
            self._scores[key] = metrics.energy_distance(self.samples(method, sampler, steps), self.reference)
        return self._scores[key]

    def samplers(self, method):
        """The samplers `method` has in this view (those of its curves), e.g. ("restart",) for a consistency model:
        the options a sampler menu should offer for it."""
        return tuple(smp for m, smp in self.curves if m == method) or (DEFAULT_SAMPLER[method],)

    def update(self, method=None, sampler=None, steps=None):
        self.method = self.method if method is None else method
        self.steps = int(self.steps if steps is None else steps)
        self.wanted = self.wanted if sampler is None else sampler  # what the menu asks for, kept across methods
        own = self.samplers(self.method)
        self.sampler = self.wanted if self.wanted in own else own[0]
        self.current = self.samples(self.method, self.sampler, self.steps)
        self.energy = self.score(self.method, self.sampler, self.steps)
        self.points.set_offsets(to_np(self.current))
        self.points.set_color(COLORS[self.method])
        self.mark.set_offsets([[self.steps, self.energy]])
        plural = "s" * (self.steps > 1)
        self.ax.set_title(f"{LABELS[self.method]}, {self.sampler}, {self.steps} step{plural}\n"
                          f"energy distance {self.energy:.4f}")
        return self


def plot_trajectories(model, n=6, steps=4, seed=3, background=None):
    """A few particles through an IMM model's pushforward and restart samplers (x at every grid time)."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 5.2), layout="constrained")
    times = model.grid(steps)
    for ax, sampler in zip(axes, ("pushforward", "restart")):
        if background is not None:
            ax.scatter(*to_np(background).T, s=2, alpha=0.3, color=COLORS["data"], linewidths=0)
        with torch.no_grad():
            path = to_np(torch.stack(list(model.sampler(model.prior(n, seed), times, seed=seed, sampler=sampler))))
        for i in range(n):
            ax.plot(*path[:, i].T, "-o", color=COLORS["imm"], lw=1.5, ms=4, alpha=0.8)
        ax.scatter(*path[0].T, marker="x", s=60, color="black", zorder=4, label=f"start, t = {times[0]:g}")
        ax.scatter(*path[-1].T, s=60, color=COLORS["imm"], edgecolors="white", zorder=5, label="end, t = 0")
        style_square(ax, f"{sampler}, {steps} steps")
        ax.legend(loc="lower left", fontsize=9)
    return fig
