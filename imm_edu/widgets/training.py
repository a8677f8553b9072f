"""Lesson 05 (training IMM): one group of M particles and the attraction/repulsion forces of its MMD loss, the
loss weighting w(s,t), loss curves, and the "no moment matching" regression baseline (two_time_regression_loss,
the only formula defined among the panels for this lesson's experiment).

Benchmark (`time_update`, one update + PNG render, torch on 1 thread, on the course's shared 2-core machine,
load ~4): GroupForcesView ~20 ms.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import types

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection

from .. import toy
from ..ddim import ddim
from ..imm import kernel_scales, mapping_r, weight
from ..kernels import gram
from ..parameterization import coefficients
from ..plot import COLORS, LABELS, style_square
from ..schedules import T_MAX, interpolate
from ..train import build
from ._render import animate, new_figure, to_np
from .toys import background, noise

FORCE_COLORS = {"attraction": "#111111", "repulsion": "#17becf"}  # forces are not methods: outside the palette


def group_particles(model, x, eps, s, t, k=None):
    """One group of M particles sharing (s, r, t) ([P] Alg. 1): x_t and x_r from the same (x, eps),
    y_t = f_{s,t}(x_t) and the target y_r = f_{s,r}(x_r). k defaults to the model's."""
    c = model.cfg
    r = mapping_r(s, t, k=c.k if k is None else k, schedule=c.schedule, t_min=c.t_min, t_max=c.t_max,
                  mapping=c.mapping, min_gap=c.min_gap).item()
    x_t, x_r = interpolate(x, eps, t, c.schedule), interpolate(x, eps, r, c.schedule)
    with torch.no_grad():
        return {"r": r, "x_t": x_t, "x_r": x_r, "y_t": model.f(x_t, s, t), "y_r": model.f(x_r, s, r)}


def group_forces(y_t, y_r, s, t, cfg, r=None):
    """The negative gradient of one group's loss w(s,t) MMD^2(y_t, y_r) ([P] Eq. 67) w.r.t. each y_t particle,
    split by kernel term: attraction from -2 k(y_t, y_r) and repulsion from k(y_t, y_t) (the y_r-y_r term has
    no gradient; V-statistic, the estimator of every shipped model). y_t, y_r: (M, D); r is needed for
    cfg.smoothing = "step". Returns forces (M, D) and the three kernel means, all in float64."""
    s, t = torch.as_tensor(s, dtype=torch.float64), torch.as_tensor(t, dtype=torch.float64)
    scale, smooth = kernel_scales(s, t, r, D=y_t.shape[-1], smoothing=cfg.smoothing, core=cfg.core,
                                  bandwidth=cfg.bandwidth,
                                  param=cfg.param, schedule=cfg.schedule, sigma_d=cfg.sigma_d)  # as in imm_loss
    w = weight(t, a=cfg.a, b=cfg.b, schedule=cfg.schedule)
    y = y_t.detach().double().requires_grad_(True)
    target = y_r.detach().double()
    k_tt, k_tr, k_rr = (gram(p, q, cfg.kernel, scale, smooth).mean() for p, q in ((y, y), (y, target),
                                                                                  (target, target)))
    attraction = -torch.autograd.grad(w * -2 * k_tr, y)[0]
    repulsion = -torch.autograd.grad(w * k_tt, y)[0]
    return {"attraction": attraction, "repulsion": repulsion, "weight": w.item(),
            "terms": {"k(y_t, y_t)": k_tt.item(), "k(y_r, y_r)": k_rr.item(), "−2 k(y_t, y_r)": -2 * k_tr.item()},
            "mmd2": (k_tt + k_rr - 2 * k_tr).item()}


class GroupForcesView:
    """One group of M particles at (s, r, t): outputs y_t (red), targets y_r (grey rings), and on each y_t the
    attraction (black) and repulsion (cyan) forces, drawn to one common scale; right: the three kernel terms.
    update(M=..., group=..., k=..., network=...); `networks` maps names to IMM models."""

    def __init__(self, networks, toy="checkerboard", *, M=4, group=0, k=4, network=None, s=0.1, t=0.9,
                 m_max=16, arrow=0.35):
        self.networks, self.toy, self.s, self.t, self.m_max, self.arrow = networks, toy, s, t, m_max, arrow
        self.fig, (self.ax, self.ax_terms) = new_figure(2, (11.5, 5.8), width_ratios=[1.25, 1])
        self.ax.scatter(*to_np(background(toy)).T, s=2, alpha=0.25, color=COLORS["data"], linewidths=0,
                        label=f"data ({toy})")
        self.pairs = LineCollection([], colors=COLORS["data"], linewidths=1, linestyles=":", zorder=2,
                                    label="pairs built from the same (x, ε)")
        self.ax.add_collection(self.pairs)
        self.y_r = self.ax.scatter([], [], s=110, facecolors="none", edgecolors=COLORS["data"], linewidths=2,
                                   label="targets $y_r = f_{s,r}(x_r)$", zorder=3)
        self.y_t = self.ax.scatter([], [], s=70, color=COLORS["imm"], edgecolors="white",
                                   label="outputs $y_t = f_{s,t}(x_t)$", zorder=4)
        z = np.zeros(m_max)
        self.quivers = {kind: self.ax.quiver(z, z, z, z, angles="xy", scale_units="xy", scale=1, width=0.007,
                                             color=FORCE_COLORS[kind], zorder=5, label=f"{kind} force")
                        for kind in ("attraction", "repulsion")}
        style_square(self.ax)
        self.ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2, fontsize=9.5, frameon=False)
        names = ["k(y_t, y_t)", "k(y_r, y_r)", "−2 k(y_t, y_r)", "MMD²"]
        self.bars = self.ax_terms.bar(names, [0, 0, 0, 0], color=[COLORS["imm"], COLORS["data"], "#777777", "black"])
        self.ax_terms.axhline(0, color="black", lw=0.8)
        self.ax_terms.set(ylim=(-2.1, 1.1), ylabel="mean over the group's M² pairs")
        self.ax_terms.tick_params(axis="x", labelsize=10)
        self.ax_terms.grid(axis="y", alpha=0.3)
        animate(self.fig, [self.pairs, self.y_r, self.y_t, *self.quivers.values(), *self.bars, self.ax.title,
                           self.ax_terms.title])
        self.M, self.group, self.k, self.network = M, group, k, network or next(iter(networks))
        self.update()

    def update(self, M=None, group=None, k=None, network=None):
        self.M = int(self.M if M is None else M)
        self.group = int(self.group if group is None else group)
        self.k = int(self.k if k is None else k)
        self.network = self.network if network is None else network
        model = self.networks[self.network]
        x = toy.sample(self.toy, self.M, seed=1000 + self.group)
        eps = noise(self.M, 2000 + self.group, model.cfg.sigma_d)
        self.particles = group_particles(model, x, eps, self.s, self.t, self.k)
        self.forces = group_forces(self.particles["y_t"], self.particles["y_r"], self.s, self.t, model.cfg,
                                   self.particles["r"])
        y_t = to_np(self.particles["y_t"])
        self.y_t.set_offsets(y_t)
        self.y_r.set_offsets(to_np(self.particles["y_r"]))
        self.pairs.set_segments(list(np.stack([y_t, to_np(self.particles["y_r"])], 1)))
        biggest = max(self.forces[k].norm(dim=1).max().item() for k in ("attraction", "repulsion"))
        self.scale = self.arrow / max(biggest, 1e-12)  # one scale for both forces: their sizes compare
        pad = np.full((self.m_max - self.M, 2), np.nan)  # unused arrows: NaN draws nothing
        for kind, q in self.quivers.items():
            q.set_offsets(np.concatenate([y_t, pad]))
            q.set_UVC(*np.concatenate([to_np(self.forces[kind]) * self.scale, pad]).T)
        values = [*self.forces["terms"].values(), self.forces["mmd2"]]
        for bar, v in zip(self.bars, values):
            bar.set_height(v)
        r = self.particles["r"]
        note = "r = s: the targets are real x_s" if r <= self.s + 1e-9 else f"r = {r:.4f}"
        self.ax.set_title(f"{self.network}, M = {self.M}, k = {self.k}: s = {self.s:g}, t = {self.t:g}\n{note}")
        self.ax_terms.set_title(f"{model.cfg.kernel.capitalize()}-kernel terms; MMD² = {self.forces['mmd2']:.2e},\n"
                                f"w(s,t) = {self.forces['weight']:.3f}")
        return self


def plot_weight(settings=((1.0, 5.0), (2.0, 5.0), (1.0, 4.0)), schedule="fm"):
    """w(s,t) of [P] Eq. 13 against t for several (a, b); it depends on t only."""
    t = torch.linspace(0.002, T_MAX[schedule], 500, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (a, b), ls in zip(settings, ("-", "--", ":")):
        ax.plot(to_np(t), to_np(weight(t, a=a, b=b, schedule=schedule)), ls=ls, lw=2, color=COLORS["imm"],
                label=f"a = {a:g}, b = {b:g}" + (" (CIFAR-10 default)" if (a, b) == (1.0, 5.0) else ""))
    ax.set(yscale="log", xlabel="t (start time of the jump)", ylabel="w(s, t) (log scale)",
           title="IMM loss weighting, [P] Eq. 13")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_losses(losses, window=25, ax=None, title="training loss"):
    """Running means of loss histories {method: [losses]} in the palette's colours."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for method, values in losses.items():
        v = np.asarray(values, dtype=float)
        w = max(1, min(window, len(v) // 5))
        smooth = np.convolve(v, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(w, len(v) + 1), smooth, color=COLORS[method], lw=2, label=LABELS[method])
        ax.plot(np.arange(1, len(v) + 1), v, color=COLORS[method], lw=0.6, alpha=0.3)
    ax.set(xlabel="optimizer step", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def two_time_regression_loss(model, x, gen):
    """The "no moment matching" objective of the HN question: the same two-time network f_{s,t}, fitted by plain
    L2 regression onto the DDIM target DDIM(x_t, x, s, t) = alpha_s x + sigma_s eps (same (x, eps) as x_t),
    normalised by c_out(s,t)^2. Its minimiser is DDIM(x_t, E[x | x_t], s, t): a jump to the posterior mean."""
    c = model.cfg
    s, _, t = (v.to(x.device) for v in model.sample_times(len(x), gen))  # (B,) each, one time pair per point
    eps = (c.sigma_d * torch.randn(x.shape, generator=gen)).to(x.device)
    target = interpolate(x, eps, s, c.schedule)  # = DDIM(x_t, x, s, t), without dividing by sigma_t
    _, c_out = coefficients(s, t, param=c.param, schedule=c.schedule, sigma_d=c.sigma_d)
    err = (model.f(interpolate(x, eps, t, c.schedule), s, t) - target) / c_out.abs().clamp_min(1e-4).float()[:, None]
    return err.pow(2).sum(1).mean()


def build_regression(seed=0, **config):
    """An IMM-shaped model (sees x_t, s and t) whose training loss is two_time_regression_loss; train with fit()."""
    model = build("imm", seed=seed, **config)
    model.loss = types.MethodType(two_time_regression_loss, model)
    return model


def posterior_mean_jump(x_t, s, t, gmm=toy.GAUSSIAN_MIXTURE, schedule="fm"):
    """The exact minimiser of the regression objective on a Gaussian mixture: DDIM(x_t, E[x | x_t], s, t)."""
    return ddim(x_t.double(), gmm.posterior_mean(x_t, t, schedule), s, t, schedule).float()
