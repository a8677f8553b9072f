"""Lesson 08 (IMM on 8x8 digits, D = 64): grids of generated digits for each method and step count, a panel that
shows one method's digits with the classifier's verdict, the jump f_{s,t} on one image as s moves, the Laplace
kernel's argument in 2-D and 64-D, and the group-size (M) ablation read from data/m_ablation.json.

Benchmark (`time_update`, one update + PNG render, torch on 1 thread, on the course's shared 2-core machine,
load ~5): DigitGridView ~25 ms with cached samples; a new (method, steps) pair adds its sampling (300 digits,
<= 8 network passes, ~40 ms) and the classifier's scores (~10 ms).

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import digit_metrics, digits
from ..checkpoints import DATA_DIR
from ..imm import kernel_scales
from ..parameterization import coefficients
from ..plot import COLORS, LABELS, image_grid, tile
from ..schedules import interpolate
from ._render import animate, new_figure
from .jump import ddim_jump
from .sampling import DEFAULT_SAMPLER, draw_samples

SAMPLERS = {"imm": ("pushforward", "restart"), "cm": ("restart",)}  # DDIM and FM: their one sampler
M_ABLATION = DATA_DIR / "m_ablation.json"  # written by benchmarks/m_ablation.py


def method_label(method, sampler=None):
    sampler = sampler or DEFAULT_SAMPLER[method]
    return f"{LABELS[method]}, {sampler}" if method in ("imm", "cm") else LABELS[method]


def plot_method_grids(samples, real, scores=None, cols=5, per_grid=20):
    """Rows: methods; columns: step counts; each cell the first `per_grid` digits of samples[method][steps]
    ((N, 64) points), and a last row of real digits. scores[method][steps] (FD-digits) goes into the titles."""
    methods, steps = list(samples), list(next(iter(samples.values())))
    fig, axes = plt.subplots(len(methods) + 1, len(steps), figsize=(2.3 * len(steps), 2.25 * (len(methods) + 1)),
                             layout="constrained")
    for row, method in zip(axes, methods):
        for ax, k in zip(row, steps):
            fd = f", FD {scores[method][k]:.1f}" if scores else ""
            image_grid(digits.to_images(samples[method][k][:per_grid]), ax, cols,
                       f"{LABELS[method]}\n{k} step{'s' * (k > 1)}{fd}", kind=method)
    for i, ax in enumerate(axes[-1]):
        real_i = real[i * per_grid:(i + 1) * per_grid]
        image_grid(digits.to_images(real_i), ax, cols, "real digits\n(held-out)", kind="data")
    return fig


class DigitGridView:
    """Left: `n_show` digits of one (method, sampler) after `steps` steps; right: the classifier's predicted-class
    histogram of 300 samples against the uniform 1/10, with FD-digits, class TV and confidence in the title.
    update(method=..., steps=..., sampler=...); a sampler a method does not have falls back to its default
    (a consistency model only restarts; DDIM and FM have their own one sampler). Samples and scores are cached."""

    def __init__(self, models, reference, *, method="imm", steps=1, sampler=None, n=300, n_show=50, cols=10):
        self.models, self.reference, self.n, self.n_show, self.cols = models, reference, n, n_show, cols
        self._cache = {}
        self.fig, (self.ax, self.ax_hist) = new_figure(2, (11, 4.2), width_ratios=[1.35, 1])
        self.image = image_grid(np.zeros((n_show, digits.SIDE, digits.SIDE)), self.ax, cols)
        self.bars = self.ax_hist.bar(range(10), np.zeros(10), color=COLORS[method])
        self.ax_hist.axhline(0.1, ls="--", color=COLORS["data"], label="uniform (1/10)")
        self.ax_hist.set(xticks=range(10), ylim=(0, 0.5), xlabel="predicted digit", ylabel="fraction of samples")
        self.ax_hist.legend(loc="upper right", fontsize=9)
        self.hist_title = self.ax_hist.set_title(" \n ", fontsize=11)
        animate(self.fig, [self.image, *self.bars, self.ax.title, self.hist_title])
        self.method, self.wanted, self.steps = method, sampler, steps
        self.update()

    def result(self, method, sampler, steps):
        """(samples (n, 64), class histogram (10,), scores dict) of one setting, computed once."""
        key = (method, sampler, steps)
        if key not in self._cache:
            x = draw_samples(self.models[method], self.n, steps, sampler)
            self._cache[key] = (x, digit_metrics.class_histogram(x).numpy(),
                                {"fd": digit_metrics.fd(x, self.reference), "class_tv": digit_metrics.class_tv(x),
                                 "confidence": digit_metrics.confidence(x)})
        return self._cache[key]

    @staticmethod
    def samplers(method):
        """The samplers `method` has, e.g. ("restart",) for a consistency model: the options a sampler menu should
        offer for it (lesson 08 links the menu's options to the method menu, so the menu never shows a sampler
        the figure does not use)."""
        return SAMPLERS.get(method, (DEFAULT_SAMPLER[method],))

    def update(self, method=None, steps=None, sampler=None):
        self.method = self.method if method is None else method
        self.steps = int(self.steps if steps is None else steps)
        self.wanted = self.wanted if sampler is None else sampler  # what the menu asks for, kept across methods
        own = self.samplers(self.method)
        self.sampler = self.wanted if self.wanted in own else own[0]
        self.current, hist, self.scores = self.result(self.method, self.sampler, self.steps)
        self.image.set_data(tile(digits.to_images(self.current[:self.n_show]), self.cols, fill=0.12 * digits.MAX_VALUE))
        for bar, h in zip(self.bars, hist):
            bar.set_height(h)
            bar.set_color(COLORS[self.method])
        self.ax.set_title(f"{method_label(self.method, self.sampler)}, {self.steps} step{'s' * (self.steps > 1)}",
                          color=COLORS[self.method])
        s = self.scores
        self.hist_title.set_text(f"FD-digits {s['fd']:.1f}, class TV {s['class_tv']:.2f}\n"
                                 f"mean confidence {s['confidence']:.2f} ({self.n} samples)")
        return self


def jump_strip(model, x_t, t, s_values):
    """f_{s,t}(x_t) for each s in s_values: (len(s_values), 64), one jump per s from the same noisy image."""
    with torch.no_grad():
        return torch.cat([model.f(x_t, s, t) for s in s_values])


def plot_jump_strip(imm, ddim_model, x, eps, ts=(0.5, 0.8, 0.994), n_s=7):
    """For each t: the image x_t = alpha_t x + sigma_t eps, then IMM's jump f_{s,t}(x_t) and one DDIM step
    (DDIM's own x-prediction, [P] Eq. 11) for n_s target times s from t down to 0; the clean x at the end."""
    fig, axes = plt.subplots(2 * len(ts), 1, figsize=(1.1 * (n_s + 1), 1.3 * 2 * len(ts)), layout="constrained")
    for i, t in enumerate(ts):
        x_t = interpolate(x, eps, t)  # (1, 64)
        s_values = np.linspace(t, 0.0, n_s).tolist()
        with torch.no_grad():
            ddim_row = torch.cat([ddim_jump(ddim_model, x_t, s, t) for s in s_values])
        for ax, row, name in ((axes[2 * i], jump_strip(imm, x_t, t, s_values), "imm"),
                              (axes[2 * i + 1], ddim_row, "ddim")):
            image_grid(digits.to_images(torch.cat([row, x])), ax, n_s + 1)
            ax.set_ylabel(f"{LABELS[name]}\nt = {t:g}", color=COLORS[name], rotation=0, ha="right", va="center")
            ax.set_xticks([(digits.SIDE + 1) * j + digits.SIDE / 2 - 0.5 for j in range(n_s + 1)],
                          [f"s={s:.2f}" for s in s_values] + ["clean x"], fontsize=8)
    fig.suptitle("one jump from the noisy image x_t (left, s = t) to target time s; rightmost: the clean image")
    return fig


def typical_u(D, s, t, spread=0.5, param="simple_edm", schedule="fm", sigma_d=0.5):
    """The Laplace kernel's argument for two independent points with per-coordinate std `spread`:
    ||a - b|| ~ sqrt(2 D) spread, so u ~ sqrt(2 D) spread / (|c_out(s,t)| D) = spread sqrt(2 / D) / |c_out(s,t)|."""
    s, t = torch.as_tensor(s, dtype=torch.float64), torch.as_tensor(t, dtype=torch.float64)
    _, c_out = coefficients(s, t, param=param, schedule=schedule, sigma_d=sigma_d)
    return (spread * math.sqrt(2 / D) / c_out.abs()).item()


def kernel_arguments(model, data, groups=256, seed=0):
    """The Laplace kernel's argument u = ||a - b|| / (|c_out(s,t)| D) inside IMM's loss ([P] Eq. 67), for groups
    of M particles drawn as in training ([P] Alg. 1: one (s, r, t) per group, x_t and x_r from the same (x, eps)).
    Returns float64 arrays: "coupled" (y_t^j with its own target y_r^j), "cross" (y_t^j with y_r^k, j != k) and
    "within" (y_t^j with y_t^k, j != k); the kernel is exp(-u) and its gradient's size is exp(-u) / bandwidth.
    (The "imm" preset's smoothed core changes the kernel only for u below about one induction step's width.)"""
    c, D = model.cfg, model.dim
    gen = torch.Generator().manual_seed(seed)
    x = data[torch.randint(0, len(data), (groups * c.M,), generator=gen)]  # (G M, D)
    s, r, t = model.sample_times(groups, gen)  # (G,) each
    eps = c.sigma_d * torch.randn(x.shape, generator=gen)
    per = lambda v: v.repeat_interleave(c.M)
    with torch.no_grad():
        y_t = model.f(interpolate(x, eps, per(t), c.schedule), per(s), per(t)).view(groups, c.M, D).double()
        y_r = model.f(interpolate(x, eps, per(r), c.schedule), per(s), per(r)).view(groups, c.M, D).double()
    scale, _ = kernel_scales(s, t, r, D=D, smoothing=c.smoothing, core=c.core, bandwidth=c.bandwidth, param=c.param,
                             schedule=c.schedule, sigma_d=c.sigma_d)
    scale = scale[:, None, None]  # (G, 1, 1): 1 / (bandwidth |c_out(s,t)| D), as in imm_loss
    tr, tt = scale * torch.cdist(y_t, y_r), scale * torch.cdist(y_t, y_t)  # (G, M, M) each
    off = ~torch.eye(c.M, dtype=torch.bool).expand(groups, -1, -1)
    return {"coupled": tr.diagonal(dim1=1, dim2=2).flatten().numpy(), "cross": tr[off].numpy(),
            "within": tt[off].numpy()}


def useful(u, threshold=0.1):
    """Fraction of pairs whose kernel exp(-u) (and so whose gradient, relative to u = 0) exceeds `threshold`."""
    return float((np.exp(-np.asarray(u)) > threshold).mean())


def plot_kernel_arguments(by_name):
    """Histograms of log10 u (kernel_arguments) per setting in by_name {label: arguments}, one panel each."""
    fig, axes = plt.subplots(1, len(by_name), figsize=(5.2 * len(by_name), 3.8), layout="constrained", sharey=True)
    bins = np.linspace(-4, 2, 61)
    for ax, (label, u) in zip(np.atleast_1d(axes), by_name.items()):
        for kind, color in (("coupled", COLORS["imm"]), ("cross", COLORS["ddim"]), ("within", COLORS["fm"])):
            ax.hist(np.log10(np.maximum(u[kind], 1e-4)), bins, density=True, histtype="step", lw=2, color=color,
                    label=f"{kind}: {100 * useful(u[kind]):.0f}% with exp(-u) > 0.1")
        ax.axvline(math.log10(math.log(10)), ls="--", color="black", lw=1)
        ax.set(title=label, xlabel="log10 u,  u = ||a - b|| / (|c_out| D)")
        ax.legend(fontsize=8, loc="upper left")
    np.atleast_1d(axes)[0].set_ylabel("density")
    return fig


def m_ablation(path=M_ABLATION):
    """The group-size ablation written by benchmarks/m_ablation.py: {data set: {"floor", "metric", "dim", "runs"}},
    each run {"method", "M", "seed", "pushforward": {steps: value}, "restart": {...}, ...}."""
    return json.loads(Path(path).read_text())


def ablation_curves(res, method, sampler="pushforward"):
    """{M: {steps: value / floor}} of one data set's ablation `res` for one kernel preset, mean over seeds."""
    by_m = {}
    for run in res["runs"]:
        if run["method"] == method:
            by_m.setdefault(run["M"], []).append(run[sampler])
    return {M: {int(k): np.mean([r[k] for r in runs]) / res["floor"] for k in runs[0]}
            for M, runs in sorted(by_m.items())}


def _ratio_axis(ax, ticks, xlabel, ylabel, title):
    """A quality / floor panel: the data floor at 1 (dashed), log-log axes with plain-number ticks (`ticks` on x;
    1, 1.5, 2, 3, 5, 7 x 10^k on y), grid and legend."""
    from matplotlib.ticker import LogLocator, StrMethodFormatter

    ax.axhline(1, ls="--", color=COLORS["data"], label="data floor")
    ax.set(xscale="log", yscale="log", xticks=ticks, xticklabels=[str(k) for k in ticks], xlabel=xlabel,
           ylabel=ylabel, title=title)
    ax.minorticks_off()
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


KERNEL_LABELS = {"imm_paper": "[P]'s Laplace kernel", "imm": "smoothed core (the series' IMM)"}


def plot_m_ablation(results, methods=("imm_paper", "imm"), steps=(1, 2, 4, 8)):
    """Quality / floor against the group size M: one row per data set, one column per kernel preset, one line per
    number of pushforward steps (mean over the training seeds in the results)."""
    fig, axes = plt.subplots(len(results), len(methods), figsize=(5 * len(methods), 3.7 * len(results)),
                             layout="constrained", squeeze=False)
    shades = plt.cm.Reds(np.linspace(0.45, 1.0, len(steps)))
    for row, (name, res) in zip(axes, results.items()):
        for ax, method in zip(row, methods):
            curves = ablation_curves(res, method)
            Ms = list(curves)
            for shade, k in zip(shades, steps):
                ax.plot(Ms, [curves[M][k] for M in Ms], "o-", color=shade, label=f"{k} step{'s' * (k > 1)}")
            _ratio_axis(ax, Ms, "group size M", f"{res['metric']} / floor",
                        f"{name} (D = {res['dim']}), {KERNEL_LABELS[method]}")
    return fig


def plot_steps_by_kernel(results, M=4, methods=("imm_paper", "imm")):
    """Quality / floor against pushforward steps (solid) and restart steps (dotted) at group size M, one panel per
    data set, one colour per kernel preset: does quality drift as the steps grow?"""
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.7), layout="constrained", squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        for method in methods:
            for sampler, style in (("pushforward", "o-"), ("restart", "s:")):
                curve = ablation_curves(res, method, sampler)[M]
                ax.plot(list(curve), list(curve.values()), style, color=COLORS[method],
                        label=f"{KERNEL_LABELS[method]}, {sampler}")
        _ratio_axis(ax, [1, 2, 4, 8], "steps", f"{res['metric']} / floor", f"{name} (D = {res['dim']}), M = {M}")
    return fig
