"""Lesson 04 (the IMM jump): f_{s,t}(x_t) against one DDIM step with a model's x-prediction, where the jump lands
for every target time s, and the intermediate time r(s, t) of the mapping.

Benchmarks (`time_update`, one update + PNG render, torch on 1 thread, on the course's shared 2-core machine,
load ~4): JumpView with 2,000 particles, moving s ~45 ms (one network pass ~8 ms, two 500-point energy
distances, one blitted draw), moving t ~60 ms (plus DDIM's x-prediction); MappingView ~65 ms (full redraw).

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import functools

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D

from .. import metrics, toy
from ..checkpoints import load_pretrained
from ..ddim import ddim
from ..imm import mapping_r
from ..plot import COLORS, style_square
from ..schedules import T_MAX, alpha_sigma, eta, eta_inv, interpolate
from ._render import animate, new_figure, to_np
from .toys import noise

K_CMAP = "viridis"  # one colour per k of the mapping r(s, t)


@functools.cache
def pretrained(method, name):
    """load_pretrained(method, name), loaded once per session (the panels switch toys often)."""
    return load_pretrained(method, name)


def x_prediction(model, x_t, t, schedule="fm"):
    """A model's x-prediction at the point x_t of the `schedule` path at time t.

    DDIM: its denoiser. A DDIM model trained on another schedule is queried at the time t' with the same
    noise-to-signal ratio eta, with x_t rescaled by alpha_t'/alpha_t: the same noise level, so the same E[x | x_t].
    Flow matching: x_t - t v(x_t, t) (its DDIM step is then the Euler step). IMM: f_{0,t}(x_t)."""
    if model.method == "imm":
        return model.f(x_t, 0.0, t)
    if model.method == "fm":
        return x_t - t * model.velocity(x_t, t)
    own = model.cfg.schedule
    if own == schedule:
        return model.denoise(x_t, t)
    t_own = eta_inv(eta(t, schedule), own)
    rescale = (alpha_sigma(t_own, own)[0] / alpha_sigma(torch.as_tensor(t, dtype=torch.float64), schedule)[0])
    return model.denoise(x_t * rescale.float(), t_own.float())


def ddim_jump(model, x_t, s, t, schedule="fm", x_hat=None):
    """One DDIM step t -> s with the model's x-prediction: DDIM(x_t, x_hat, s, t) ([P] Eq. 11)."""
    x_hat = x_prediction(model, x_t, t, schedule) if x_hat is None else x_hat
    return ddim(x_t, x_hat, s, t, schedule)


def true_marginal(name, n, s, seed=1, schedule="fm"):
    """n samples of q_s: exact for "gmm" (toy.GAUSSIAN_MIXTURE), else alpha_s x + sigma_s eps with fresh data."""
    if name == "gmm":
        return toy.GAUSSIAN_MIXTURE.sample_marginal(n, s, schedule, seed=seed)
    return interpolate(*_fresh_pairs(name, n, seed), s, schedule)


@functools.lru_cache(maxsize=16)
def _fresh_pairs(name, n, seed):
    return toy.sample(name, n, seed=seed), noise(n, seed + 1)


def jump_paths(imm, ddim_model, x_t, t, s_grid, schedule="fm"):
    """Where one jump from t lands as the target time s runs over s_grid (S,): IMM f_{s,t}(x_t) and the DDIM
    step with a fixed x-prediction (a straight line in s). Returns two (S, P, 2) tensors."""
    x_hat = x_prediction(ddim_model, x_t, t, schedule)
    with torch.no_grad():
        imm_path = torch.stack([imm.f(x_t, min(float(s), t), t) for s in s_grid])
    return imm_path, torch.stack([ddim(x_t, x_hat, float(s), t, schedule) for s in s_grid])


class JumpView:
    """2,000 particles x_t ~ q_t pushed to s by IMM's f_{s,t} (red) and by DDIM's step (blue), beside q_s (grey),
    with arrows for a few particles. update(toy=..., t=..., s=...); s is clamped to t. Models come from
    `models(method, toy)` (default: the shipped checkpoints). Cached: the data, x_t and DDIM's x-prediction per
    (toy, t), so moving s costs one network pass."""

    def __init__(self, toy="checkerboard", *, t=0.9, s=0.1, n=2000, n_arrows=10, n_score=500, seed=0,
                 models=pretrained):
        self.n, self.n_arrows, self.n_score, self.seed, self.models = n, n_arrows, n_score, seed, models
        self.fig, axes = new_figure(3, (13, 4.9))
        self.axes = dict(zip(("imm", "ddim", "data"), axes))
        titles = {"imm": "IMM jump: $f_{s,t}(x_t)$", "ddim": r"DDIM jump: $\mathrm{DDIM}(x_t, \hat{x}(x_t,t), s, t)$",
                  "data": "true marginal $q_s$ (for comparison)"}
        self.start, self.cloud, self.arrows, self.info = {}, {}, {}, {}
        for kind, ax in self.axes.items():
            self.cloud[kind] = ax.scatter(np.zeros(n), np.zeros(n), s=3, alpha=0.5, linewidths=0, color=COLORS[kind])
            handles = [Line2D([], [], ls="", marker="o", ms=5, color=COLORS[kind],
                              label="particles at s" if kind != "data" else "samples of $q_s$")]
            if kind != "data":
                self.start[kind] = ax.scatter(np.zeros(n_arrows), np.zeros(n_arrows), s=28, marker="x",
                                              color="black", zorder=3)
                self.arrows[kind] = ax.quiver(np.zeros(n_arrows), np.zeros(n_arrows), np.zeros(n_arrows),
                                              np.zeros(n_arrows), angles="xy", scale_units="xy", scale=1,
                                              width=0.006, color="black", zorder=4)
                handles.append(Line2D([], [], ls="-", marker="x", ms=7, color="black",
                                      label="a few particles: t → s"))
            style_square(ax, titles[kind])
            ax.set(xticks=[-1, 0, 1], yticks=[-1, 0, 1])  # few tick labels: text is most of the drawing time
            ax.legend(handles=handles, loc="lower left", fontsize=9, framealpha=1, fancybox=False)
            self.info[kind] = ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top", fontsize=10.5,
                                      bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
        animate(self.fig, [*self.cloud.values(), *self.start.values(), *self.arrows.values(), *self.info.values()],
                overlays=[ax.get_legend() for ax in axes])  # legends on top: particles never hide them
        self.toy = self.t = self.s = None
        self._x_t = {}
        self.update(toy=toy, t=t, s=s)

    def _set_toy(self, name):
        self.imm, self.ddim_model = self.models("imm", name), self.models("ddim", name)
        self.x, self.eps = toy.sample(name, self.n, seed=self.seed), noise(self.n, self.seed + 1)
        self._x_t.clear()

    def _at(self, t):
        if t not in self._x_t:  # x_t and DDIM's x-prediction do not depend on s
            x_t = interpolate(self.x, self.eps, t)
            with torch.no_grad():
                self._x_t = {t: (x_t, x_prediction(self.ddim_model, x_t, t))}
        return self._x_t[t]

    def update(self, toy=None, t=None, s=None):
        if toy is not None and toy != self.toy:
            self.toy = toy
            self._set_toy(toy)
        self.t = float(self.t if t is None else t)
        self.s = min(float(self.s if s is None else s), self.t)  # a jump goes back in time: s <= t
        x_t, x_hat = self._at(self.t)
        with torch.no_grad():
            self.clouds = {"x_t": x_t, "imm": self.imm.f(x_t, self.s, self.t),
                           "ddim": ddim(x_t, x_hat, self.s, self.t), "data": true_marginal(self.toy, self.n, self.s)}
        ref = self.clouds["data"][: self.n_score]
        self.scores = {k: metrics.energy_distance(self.clouds[k][: self.n_score], ref) for k in ("imm", "ddim")}
        a = slice(0, self.n_arrows)
        for kind in self.axes:
            self.cloud[kind].set_offsets(to_np(self.clouds[kind]))
            if kind in self.arrows:
                self.start[kind].set_offsets(to_np(x_t[a]))
                self.arrows[kind].set_offsets(to_np(x_t[a]))
                self.arrows[kind].set_UVC(*to_np(self.clouds[kind][a] - x_t[a]).T)
        st = f"t = {self.t:.2f} → s = {self.s:.2f}"  # plain text: no mathtext parsing per update
        for kind in ("imm", "ddim"):
            self.info[kind].set_text(f"{st}\nenergy distance to q_s: {self.scores[kind]:.4f}")
        self.info["data"].set_text(f"s = {self.s:.2f}, {self.toy}")
        return self


def plot_jump_paths(imm, ddim_model, x_t, t, n_s=41, background=None):
    """Each particle's landing point as the target time s slides from t to 0: IMM (red, any curve) vs one DDIM
    step with a fixed x-prediction (blue, a straight segment ending at the posterior-mean-like x_hat)."""
    s_grid = torch.linspace(t, 0, n_s, dtype=torch.float64)
    imm_path, ddim_path = (to_np(p) for p in jump_paths(imm, ddim_model, x_t, t, s_grid))
    fig, ax = plt.subplots(figsize=(6.2, 6.2))
    if background is not None:
        ax.scatter(*to_np(background).T, s=2, alpha=0.3, color=COLORS["data"], linewidths=0, label="data")
    for i in range(x_t.shape[0]):
        ax.plot(*imm_path[:, i].T, color=COLORS["imm"], lw=2, label="IMM: $f_{s,t}(x_t)$, s from t to 0" * (i == 0))
        ax.plot(*ddim_path[:, i].T, color=COLORS["ddim"], lw=2, ls="--",
                label="DDIM: $\\mathrm{DDIM}(x_t, \\hat x, s, t)$, s from t to 0" * (i == 0))
    ax.scatter(*to_np(x_t).T, marker="x", s=60, color="black", zorder=4, label=f"$x_t$ at t = {t:g}")
    ax.scatter(*imm_path[-1].T, s=45, color=COLORS["imm"], edgecolors="white", zorder=5)
    ax.scatter(*ddim_path[-1].T, s=45, color=COLORS["ddim"], edgecolors="white", zorder=5)
    style_square(ax, "where one jump from t lands, for every target time s")
    ax.legend(loc="lower left", fontsize=9, framealpha=0.9)
    return fig


class MappingView:
    """r(s, t) for several k (constant decrement in eta, [P] App. C.6-C.7). Left: r against t, with the base
    case r = s shaded; right: the gap t - r (log scale). The family `ks` is drawn faintly; update(k=...) draws
    r for any k >= 1 on top (computed on demand: 600 points, well under a millisecond)."""

    def __init__(self, ks=(4, 6, 8, 10, 12, 15), *, k=10, s=0.0, schedule="fm"):
        self.ks, self.s, self.schedule = ks, s, schedule
        self.t_max = T_MAX[schedule]
        self.t = torch.linspace(s + 1e-4, self.t_max, 600, dtype=torch.float64)
        self.fig, (self.ax_r, self.ax_gap) = new_figure(2, (11, 4.3))
        cmap = plt.get_cmap(K_CMAP)
        for i, kk in enumerate(ks):
            r = self.r(kk)
            c = cmap(i / max(1, len(ks) - 1))
            self.ax_r.plot(to_np(self.t), to_np(r), color=c, lw=1.2, alpha=0.45, label=f"k = {kk}")
            self.ax_gap.plot(to_np(self.t), to_np((self.t - r).clamp_min(1e-12)), color=c, lw=1.2, alpha=0.45)
        self.ax_r.plot([0, 1], [0, 1], ls=":", color="black", lw=1, label="r = t")
        self.current = (self.ax_r.plot([], [], color="black", lw=3, label="chosen k")[0],
                        self.ax_gap.plot([], [], color="black", lw=3)[0])
        self.base = self.ax_r.axvspan(0, 0, color=COLORS["data"], alpha=0.15, label="base case r = s")
        self.ax_r.set(xlim=(0, 1), ylim=(0, 1), xlabel="t (start time)", ylabel="r(s, t)",
                      title=f"intermediate time r for s = {s:g}")
        self.ax_gap.set(yscale="log", xlim=(0, 1), ylim=(1e-7, 1), xlabel="t (start time)",
                        ylabel="gap t − r (log scale)", title="how far the target r is from t")
        for ax in (self.ax_r, self.ax_gap):
            ax.grid(alpha=0.3)
        legend = self.ax_r.legend(fontsize=8.5, loc="upper left", framealpha=1, fancybox=False)
        animate(self.fig, [self.base, *self.current, self.ax_gap.title], overlays=[legend])
        self.k = None
        self.update(k=k)

    def r(self, k):
        """r(s, t) on the view's t grid for one k."""
        return mapping_r(torch.full_like(self.t, self.s), self.t, k=k, schedule=self.schedule, t_max=self.t_max)

    def update(self, k=None):
        if k is not None:
            if int(k) != k or k < 1:
                raise ValueError(f"k must be a whole number >= 1 (d_eta = eta range / 2^k); got {k!r}")
            self.k = int(k)
        r = self.r(self.k)
        self.current[0].set_data(to_np(self.t), to_np(r))
        self.current[1].set_data(to_np(self.t), to_np((self.t - r).clamp_min(1e-12)))
        self.base_end = float(to_np(self.t)[to_np(r) <= self.s + 1e-12].max(initial=self.s))
        self.base.set_x(0)
        self.base.set_width(self.base_end)
        self.ax_gap.set_title(f"gap t − r; k = {self.k}: r = s for t ≤ {self.base_end:.3f}")
        return self
