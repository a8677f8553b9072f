"""Panels and figures for lessons 4-7: the IMM jump, training with particle groups, few-step sampling, relatives.

A *view* is a matplotlib Figure (outside pyplot, so the inline backend never shows it twice) plus
`update(**values)`, which recomputes only what changed and moves artists in place (set_offsets, set_UVC).
`wire(view, **controls)` connects ipywidgets controls to update() and shows the figure as a PNG <img> inside an
ipywidgets.Output. The layout is fixed after the first draw, and views mark the artists an update changes
(`animate`), so an update redraws only those over a cached background and encodes one PNG. Static figures are
plain functions. The maths comes from imm, ddim, schedules, parameterization, kernels and toy; the only formulas
defined here are two that exist for a lesson: two_time_regression_loss (lesson 05's "no moment matching"
experiment) and shortcut_target (lesson 07's relative).

Timings (`time_update`: median of one update + PNG render, torch on 1 thread), measured on the course's shared
2-core machine with a load average of ~4 from other jobs, so a laptop core is faster: JumpView with 2,000
particles, moving s ~45 ms (one network pass ~8 ms, two 500-point energy distances, one blitted draw), moving t
~60 ms (plus DDIM's x-prediction); GroupForcesView ~20 ms; SamplesView (cached samples) ~12 ms; MappingView
~65 ms (full redraw). The notebooks re-measure them in an NBVAL_IGNORE_OUTPUT cell.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import functools
import io
import time
import types

import ipywidgets as widgets
import PIL.Image
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image, clear_output, display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import metrics, toy
from ..checkpoints import load_pretrained
from ..ddim import ddim
from ..imm import mapping_r, weight
from ..kernels import gram, mmd2
from ..parameterization import coefficients
from ..plot import COLORS, LABELS, LIMITS, style_square
from ..schedules import T_MAX, alpha_sigma, eta, eta_inv, interpolate
from ..train import build

FORCE_COLORS = {"attraction": "#111111", "repulsion": "#17becf"}  # forces are not methods: outside the palette
K_CMAP = "viridis"  # one colour per k of the mapping r(s, t)


# ---------------------------------------------------------------------------------------------- plumbing

def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def new_figure(ncols=1, figsize=(5, 4), **subplot_kw):
    """A Figure outside pyplot with 1 x ncols axes and constrained layout (frozen by `png` after one draw)."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(1, ncols, **subplot_kw)


def animate(fig, artists):
    """Mark the artists an update changes: png() then redraws only them over a cached background (blitting)."""
    for a in artists:
        a.set_animated(True)
    fig.animated = list(artists)  # drawn in this order, over everything static
    fig.background = None


def png(fig):
    """PNG bytes of `fig`. The first call lays the figure out and freezes the layout (no constrained-layout or
    tight-bbox pass later). If animate() was called, the static part is drawn once and cached, and each later
    call only restores it and draws the animated artists: about 4x faster than a full draw."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    if not getattr(fig, "layout_frozen", False):
        canvas.draw()  # constrained layout places the axes once
        fig.set_layout_engine("none")
        fig.layout_frozen = True
    animated = getattr(fig, "animated", None)
    if animated:
        if fig.background is None:
            canvas.draw()  # everything except the animated artists
            fig.background = canvas.copy_from_bbox(fig.bbox)
        canvas.restore_region(fig.background)
        for artist in animated:
            fig.draw_artist(artist)
    else:
        canvas.draw()
    buf = io.BytesIO()
    PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
        buf, format="png", compress_level=1)
    return buf.getvalue()


def wire(view, **controls):
    """Connect controls (name -> ipywidgets value widget) to view.update(name=value); returns the panel
    (controls above the figure). Each change redraws the figure as an <img> inside an ipywidgets.Output; an
    error in update() is printed there instead of vanishing into the browser console."""
    out = widgets.Output()

    def redraw(**values):
        with out:
            clear_output(wait=True)
            view.update(**values)
            panel.last_png = png(view.fig)
            panel.renders += 1
            display(Image(data=panel.last_png))

    for name, control in controls.items():
        control.observe(lambda change, name=name: redraw(**{name: change["new"]}), names="value")
    panel = widgets.VBox([widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")), out])
    panel.output, panel.renders = out, 0  # renders and last_png let a notebook cell check the callbacks ran
    redraw(**{name: control.value for name, control in controls.items()})
    return panel


def time_update(view, values, repeats=3):
    """Median milliseconds of view.update(**v) + PNG render over the keyword dicts in `values`."""
    png(view.fig)  # first render fixes the layout
    times = []
    for _ in range(repeats):
        for v in values:
            start = time.perf_counter()
            view.update(**v)
            png(view.fig)
            times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


@functools.cache
def pretrained(method, name):
    """load_pretrained(method, name), loaded once per session (the panels switch toys often)."""
    return load_pretrained(method, name)


def _noise(n, seed, sigma_d=toy.SIGMA_D):
    return sigma_d * torch.randn(n, 2, generator=torch.Generator().manual_seed(int(seed)))


# ----------------------------------------------------------------------------------- lesson 4: the IMM jump

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
    return toy.sample(name, n, seed=seed), _noise(n, seed + 1)


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
            ax.legend(handles=handles, loc="lower left", fontsize=9, framealpha=0.85)
            self.info[kind] = ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top", fontsize=10.5,
                                      bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
        animate(self.fig, [*self.cloud.values(), *self.start.values(), *self.arrows.values(), *self.info.values(),
                           *(ax.get_legend() for ax in axes)])  # legends last: particles never hide them
        self.toy = self.t = self.s = None
        self._x_t = {}
        self.update(toy=toy, t=t, s=s)

    def _set_toy(self, name):
        self.imm, self.ddim_model = self.models("imm", name), self.models("ddim", name)
        self.x, self.eps = toy.sample(name, self.n, seed=self.seed), _noise(self.n, self.seed + 1)
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
            self.cloud[kind].set_offsets(_np(self.clouds[kind]))
            if kind in self.arrows:
                self.start[kind].set_offsets(_np(x_t[a]))
                self.arrows[kind].set_offsets(_np(x_t[a]))
                self.arrows[kind].set_UVC(*_np(self.clouds[kind][a] - x_t[a]).T)
        st = f"t = {self.t:.2f} → s = {self.s:.2f}"  # plain text: no mathtext parsing per update
        for kind in ("imm", "ddim"):
            self.info[kind].set_text(f"{st}\nenergy distance to q_s: {self.scores[kind]:.4f}")
        self.info["data"].set_text(f"s = {self.s:.2f}, {self.toy}")
        return self


def plot_jump_paths(imm, ddim_model, x_t, t, n_s=41, background=None):
    """Each particle's landing point as the target time s slides from t to 0: IMM (red, any curve) vs one DDIM
    step with a fixed x-prediction (blue, a straight segment ending at the posterior-mean-like x_hat)."""
    s_grid = torch.linspace(t, 0, n_s, dtype=torch.float64)
    imm_path, ddim_path = (_np(p) for p in jump_paths(imm, ddim_model, x_t, t, s_grid))
    fig, ax = plt.subplots(figsize=(6.2, 6.2))
    if background is not None:
        ax.scatter(*_np(background).T, s=2, alpha=0.3, color=COLORS["data"], linewidths=0, label="data")
    for i in range(x_t.shape[0]):
        ax.plot(*imm_path[:, i].T, color=COLORS["imm"], lw=2, label="IMM: $f_{s,t}(x_t)$, s from t to 0" * (i == 0))
        ax.plot(*ddim_path[:, i].T, color=COLORS["ddim"], lw=2, ls="--",
                label="DDIM: $\\mathrm{DDIM}(x_t, \\hat x, s, t)$, s from t to 0" * (i == 0))
    ax.scatter(*_np(x_t).T, marker="x", s=60, color="black", zorder=4, label=f"$x_t$ at t = {t:g}")
    ax.scatter(*imm_path[-1].T, s=45, color=COLORS["imm"], edgecolors="white", zorder=5)
    ax.scatter(*ddim_path[-1].T, s=45, color=COLORS["ddim"], edgecolors="white", zorder=5)
    style_square(ax, "where one jump from t lands, for every target time s")
    ax.legend(loc="lower left", fontsize=9, framealpha=0.9)
    return fig


class MappingView:
    """r(s, t) for several k (constant decrement in eta, [P] App. C.6-C.7). Left: r against t, with the base
    case r = s shaded; right: the gap t - r (log scale). update(k=...) highlights one k."""

    def __init__(self, ks=(4, 6, 8, 10, 12, 15), *, k=10, s=0.0, schedule="fm"):
        self.ks, self.s = ks, s
        t_max = T_MAX[schedule]
        self.t = torch.linspace(s + 1e-4, t_max, 600, dtype=torch.float64)
        self.fig, (self.ax_r, self.ax_gap) = new_figure(2, (11, 4.3))
        cmap = plt.get_cmap(K_CMAP)
        self.lines = {}
        for i, kk in enumerate(ks):
            r = mapping_r(torch.full_like(self.t, s), self.t, k=kk, schedule=schedule, t_max=t_max)
            c = cmap(i / max(1, len(ks) - 1))
            self.lines[kk] = (self.ax_r.plot(_np(self.t), _np(r), color=c, lw=1.5, label=f"k = {kk}")[0],
                              self.ax_gap.plot(_np(self.t), _np((self.t - r).clamp_min(1e-12)), color=c, lw=1.5,
                                               label=f"k = {kk}")[0])
        self.ax_r.plot([0, 1], [0, 1], ls=":", color="black", lw=1, label="r = t")
        self.base = self.ax_r.axvspan(0, 0, color=COLORS["data"], alpha=0.15, label="base case r = s")
        self.ax_r.set(xlim=(0, 1), ylim=(0, 1), xlabel="t (start time)", ylabel="r(s, t)",
                      title=f"intermediate time r for s = {s:g}")
        self.ax_gap.set(yscale="log", xlim=(0, 1), ylim=(1e-7, 1), xlabel="t (start time)",
                        ylabel="gap t − r (log scale)", title="how far the target r is from t")
        for ax in (self.ax_r, self.ax_gap):
            ax.grid(alpha=0.3)
        self.ax_r.legend(fontsize=8.5, loc="upper left")
        self.k = None
        self.update(k=k)

    def update(self, k=None):
        self.k = self.k if k is None else int(k)
        for kk, pair in self.lines.items():
            for line in pair:
                line.set_linewidth(4 if kk == self.k else 1.2)
                line.set_alpha(1 if kk == self.k else 0.45)
        r = _np(self.lines[self.k][0].get_ydata())
        self.base_end = float(_np(self.t)[r <= self.s + 1e-12].max(initial=self.s))
        self.base.set_x(0)
        self.base.set_width(self.base_end)
        self.ax_gap.set_title(f"gap t − r; k = {self.k}: r = s for t ≤ {self.base_end:.3f}")
        return self


# ------------------------------------------------------------------------ lesson 5: training with groups

def group_particles(model, x, eps, s, t, k=None):
    """One group of M particles sharing (s, r, t) ([P] Alg. 1): x_t and x_r from the same (x, eps),
    y_t = f_{s,t}(x_t) and the target y_r = f_{s,r}(x_r). k defaults to the model's."""
    c = model.cfg
    r = mapping_r(s, t, k=c.k if k is None else k, schedule=c.schedule, t_min=c.t_min, t_max=c.t_max,
                  mapping=c.mapping, min_gap=c.min_gap).item()
    x_t, x_r = interpolate(x, eps, t, c.schedule), interpolate(x, eps, r, c.schedule)
    with torch.no_grad():
        return {"r": r, "x_t": x_t, "x_r": x_r, "y_t": model.f(x_t, s, t), "y_r": model.f(x_r, s, r)}


def group_forces(y_t, y_r, s, t, cfg):
    """The negative gradient of one group's loss w(s,t) MMD^2(y_t, y_r) ([P] Eq. 67) w.r.t. each y_t particle,
    split by kernel term: attraction from -2 k(y_t, y_r) and repulsion from k(y_t, y_t) (the y_r-y_r term has
    no gradient). y_t, y_r: (M, D). Returns forces (M, D) and the three kernel means, all in float64."""
    s, t = torch.as_tensor(s, dtype=torch.float64), torch.as_tensor(t, dtype=torch.float64)
    _, c_out = coefficients(s, t, param=cfg.param, schedule=cfg.schedule, sigma_d=cfg.sigma_d)
    scale = 1 / (c_out.abs().clamp_min(1e-6) * y_t.shape[-1])  # Laplace bandwidth |c_out| D, as in imm_loss
    w = weight(t, a=cfg.a, b=cfg.b, schedule=cfg.schedule)
    y = y_t.detach().double().requires_grad_(True)
    target = y_r.detach().double()
    k_tt, k_tr = gram(y, y, cfg.kernel, scale).mean(), gram(y, target, cfg.kernel, scale).mean()
    k_rr = gram(target, target, cfg.kernel, scale).mean()
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
        self.ax.scatter(*_np(background(toy)).T, s=2, alpha=0.25, color=COLORS["data"], linewidths=0,
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
        eps = _noise(self.M, 2000 + self.group, model.cfg.sigma_d)
        self.particles = group_particles(model, x, eps, self.s, self.t, self.k)
        self.forces = group_forces(self.particles["y_t"], self.particles["y_r"], self.s, self.t, model.cfg)
        y_t = _np(self.particles["y_t"])
        self.y_t.set_offsets(y_t)
        self.y_r.set_offsets(_np(self.particles["y_r"]))
        self.pairs.set_segments(list(np.stack([y_t, _np(self.particles["y_r"])], 1)))
        biggest = max(self.forces[k].norm(dim=1).max().item() for k in ("attraction", "repulsion"))
        self.scale = self.arrow / max(biggest, 1e-12)  # one scale for both forces: their sizes compare
        pad = np.full((self.m_max - self.M, 2), np.nan)  # unused arrows: NaN draws nothing
        for kind, q in self.quivers.items():
            q.set_offsets(np.concatenate([y_t, pad]))
            q.set_UVC(*np.concatenate([_np(self.forces[kind]) * self.scale, pad]).T)
        values = [*self.forces["terms"].values(), self.forces["mmd2"]]
        for bar, v in zip(self.bars, values):
            bar.set_height(v)
        r = self.particles["r"]
        note = "r = s: the targets are real x_s" if r <= self.s + 1e-9 else f"r = {r:.4f}"
        self.ax.set_title(f"{self.network}, M = {self.M}, k = {self.k}: s = {self.s:g}, t = {self.t:g}\n{note}")
        self.ax_terms.set_title(f"Laplace-kernel terms; MMD² = {self.forces['mmd2']:.2e},\n"
                                f"w(s,t) = {self.forces['weight']:.3f}")
        return self


@functools.cache
def background(name, n=3000, seed=5):
    """A fixed sample of toy `name` to draw faintly behind particles."""
    return toy.sample(name, n, seed=seed)


def plot_weight(settings=((1.0, 5.0), (2.0, 5.0), (1.0, 4.0)), schedule="fm"):
    """w(s,t) of [P] Eq. 13 against t for several (a, b); it depends on t only."""
    t = torch.linspace(0.002, T_MAX[schedule], 500, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (a, b), ls in zip(settings, ("-", "--", ":")):
        ax.plot(_np(t), _np(weight(t, a=a, b=b, schedule=schedule)), ls=ls, lw=2, color=COLORS["imm"],
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


# ---------------------------------------------------------------------------- lesson 6: few-step sampling

DEFAULT_SAMPLER = {"imm": "pushforward", "cm": "restart", "ddim": "ddim", "fm": "euler"}


def draw_samples(model, n, steps, sampler=None, seed=7):
    """n samples after `steps` network evaluations; `sampler` ("pushforward"/"restart") applies to IMM models."""
    kw = {"sampler": sampler} if model.method == "imm" and sampler in ("pushforward", "restart") else {}
    return model.sample(n, steps, seed=seed, **kw)


def quality_vs_nfe(models, reference, nfe=(1, 2, 4, 8), seed=7):
    """{method: {nfe: energy distance to `reference`}} with len(reference) samples each (1 evaluation per step)."""
    return {name: {k: metrics.energy_distance(draw_samples(m, len(reference), k, seed=seed), reference) for k in nfe}
            for name, m in models.items()}


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
        self.ax.scatter(*_np(reference).T, s=2, alpha=0.2, color=COLORS["data"], linewidths=0, label="data")
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

    def update(self, method=None, sampler=None, steps=None):
        self.method = self.method if method is None else method
        self.steps = int(self.steps if steps is None else steps)
        self.wanted = self.wanted if sampler is None else sampler  # what the menu asks for, kept across methods
        own = [smp for m, smp in self.curves if m == self.method]
        self.sampler = self.wanted if self.wanted in own else own[0] if own else DEFAULT_SAMPLER[self.method]
        self.current = self.samples(self.method, self.sampler, self.steps)
        self.energy = self.score(self.method, self.sampler, self.steps)
        self.points.set_offsets(_np(self.current))
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
            ax.scatter(*_np(background).T, s=2, alpha=0.3, color=COLORS["data"], linewidths=0)
        with torch.no_grad():
            path = _np(torch.stack(list(model.sampler(model.prior(n, seed), times, seed=seed, sampler=sampler))))
        for i in range(n):
            ax.plot(*path[:, i].T, "-o", color=COLORS["imm"], lw=1.5, ms=4, alpha=0.8)
        ax.scatter(*path[0].T, marker="x", s=60, color="black", zorder=4, label=f"start, t = {times[0]:g}")
        ax.scatter(*path[-1].T, s=60, color=COLORS["imm"], edgecolors="white", zorder=5, label="end, t = 0")
        style_square(ax, f"{sampler}, {steps} steps")
        ax.legend(loc="lower left", fontsize=9)
    return fig


# -------------------------------------------------------------------------- lesson 7: relatives and FAQ

def plot_timesteps(name="checkerboard", ts=(0.0, 0.25, 0.5, 0.75, 0.994), n=2000, seed=0):
    """What a timestep is: the cloud x_t = alpha_t x + sigma_t eps at a few times t (FM schedule)."""
    x, eps = toy.sample(name, n, seed=seed), _noise(n, seed + 1)
    fig, axes = plt.subplots(1, len(ts), figsize=(2.9 * len(ts), 3.3), layout="constrained")
    for ax, t in zip(axes, ts):
        ax.scatter(*_np(interpolate(x, eps, t)).T, s=2, alpha=0.5, color=COLORS["data"], linewidths=0)
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
