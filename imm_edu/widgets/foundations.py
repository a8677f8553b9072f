"""Panels and figures for lessons 0-3: toy gallery, noising, DDIM vs flow matching, kernels and MMD.

A *view* is a matplotlib Figure (not managed by pyplot, so it is never shown twice) plus `update(**values)`,
which changes artists in place (set_offsets, set_data, set_array) and returns the view. `wire(view, **controls)`
connects ipywidgets controls to update() and shows the figure as a PNG <img> inside an ipywidgets.Output.
Static figures are plain functions that return a pyplot figure. Nothing here defines a formula: the maths
comes from schedules, ddim, toy and kernels.

Benchmarks: one update + PNG render (`time_update`, median of 10, torch on 1 thread as in `wire`), measured on
the course's 2-core CI machine while other jobs kept it busy (load ~2.8), so a free laptop core is faster:
ToyGalleryView 21 ms, NoisingView 51 ms (57 ms with the GMM's exact density), SamplerStepsView 48 ms (samples
precomputed), DDIMLineView 59 ms (PF-ODE precomputed), MMDView 71 ms. The notebooks re-measure them in an
NBVAL_IGNORE_OUTPUT cell.
"""
import contextlib
import io
import math
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image, clear_output, display
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import metrics, toy
from ..ddim import ddim
from ..kernels import gram, mmd2
from ..plot import COLORS, LABELS, LIMITS, style_square
from ..schedules import alpha_sigma, eta, interpolate, log_snr
from ..toy import GAUSSIAN_MIXTURE

# fm is flow matching's schedule (green), cosine the original DDIM's (blue)
SCHEDULE_STYLE = {"fm": {"color": COLORS["fm"], "ls": "-"}, "cosine": {"color": COLORS["ddim"], "ls": "--"}}
DENSITY_CMAP = "Purples"  # exact densities use the "exact" colour family
EXTENT = (*LIMITS, *LIMITS)


# ---------------------------------------------------------------------------------------------- plumbing

def new_figure(ncols=1, figsize=(5, 4), **subplot_kw):
    """A Figure outside pyplot (so the inline backend does not show it again) with 1 x ncols axes."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)  # draws straight to PNG, without savefig's rcParams (the series sets bbox "tight")
    return fig, fig.subplots(1, ncols, **subplot_kw)


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread: widget updates use small tensors, where waking a second thread costs more
    than the work (measured: a 600 x 600 cdist takes 1 ms on one thread, 40 ms on two busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def freeze(fig):
    """Run the layout engine once and then switch it off: later redraws skip the layout pass (faster)."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig


def png(fig):
    """The figure as PNG bytes: one draw (a tight bounding box would cost a second one) and fast compression
    (live images are not stored in the notebook)."""
    buf = io.BytesIO()
    fig.canvas.print_png(buf, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def wire(view, **controls):
    """Connect controls (name -> ipywidgets value widget) to view.update(name=value); returns the panel.

    Every change redraws the figure as an <img> inside an ipywidgets.Output; an error in update() is shown
    there instead of vanishing into the browser console."""
    out = widgets.Output()

    def redraw(**values):
        with out, one_thread():
            clear_output(wait=True)
            view.update(**values)
            display(Image(data=png(view.fig)))

    for name, control in controls.items():
        control.observe(lambda change, name=name: redraw(**{name: change["new"]}), names="value")
    redraw(**{name: control.value for name, control in controls.items()})
    return widgets.VBox([widgets.HBox(list(controls.values())), out])


def time_update(view, values, repeats=3):
    """Median milliseconds of view.update(**v) + PNG render, over the keyword dicts in `values`."""
    times = []
    with one_thread():
        for _ in range(repeats):
            for v in values:
                start = time.perf_counter()
                view.update(**v)
                png(view.fig)
                times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _fmt(v):
    return "∞" if not math.isfinite(v) or abs(v) > 1e6 else f"{v:.3g}"


def density_grid(n=100, limits=LIMITS):
    """(n*n, 2) points of a square grid over `limits`, rows = x2 from bottom to top (for imshow origin='lower')."""
    xs = torch.linspace(*limits, n, dtype=torch.float64)
    x2, x1 = torch.meshgrid(xs, xs, indexing="ij")
    return torch.stack([x1.flatten(), x2.flatten()], 1)


def gmm_density(gmm, t, schedule="fm", grid=None):
    """Exact q_t of a toy.GMM on density_grid() as an (n, n) array."""
    grid = density_grid() if grid is None else grid
    n = int(math.isqrt(len(grid)))
    return gmm.log_prob(grid, t, schedule).exp().reshape(n, n).numpy()


# ------------------------------------------------------------------------------------------ lesson 0: toys

def toy_samples(n=2000, seed=0):
    """{name: (n, 2) points} for every toy in toy.names()."""
    return {name: toy.sample(name, n, seed=seed) for name in toy.names()}


def plot_toy_grid(samples, ncols=5):
    """Every toy in one figure, on the common frame LIMITS."""
    nrows = math.ceil(len(samples) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2 * ncols, 2.1 * nrows), layout="constrained")
    for ax, (name, x) in zip(axes.flat, samples.items()):
        p = _np(x)
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
        p = _np(interpolate(x, eps, t, schedule))
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
        self.name = None
        self.update(name=name)
        freeze(self.fig)

    def update(self, name=None):
        if name is not None and name != self.name:
            if name not in self.samples:
                raise ValueError(f"unknown toy {name!r}; choose one of {sorted(self.samples)}")
            x = self.samples[name]
            self.points.set_offsets(_np(x))
            self.ax.set_title(f"{name}: {len(x)} points, pooled std {x.pow(2).mean().sqrt().item():.2f}")
            self.name = name
        return self


# --------------------------------------------------------------------------------------- lesson 1: noising

def plot_schedules(t=None):
    """alpha_t and sigma_t, eta_t (log scale) and the log-SNR lambda_t of both schedules."""
    t = torch.linspace(0, 1, 401, dtype=torch.float64)[1:-1] if t is None else t
    fig, (ax_as, ax_eta, ax_lam) = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
    for schedule, style in SCHEDULE_STYLE.items():
        a, s = alpha_sigma(t, schedule)
        ax_as.plot(t, a, lw=2.5, label=rf"$\alpha_t$ {schedule}", **style)
        ax_as.plot(t, s, lw=1.2, label=rf"$\sigma_t$ {schedule}", **style)
        ax_eta.plot(t, eta(t, schedule), label=schedule, **style)
        ax_lam.plot(t, log_snr(t, schedule), label=schedule, **style)
    ax_as.set(xlabel="t", ylabel="coefficient", title=r"$x_t=\alpha_t x+\sigma_t\varepsilon$")
    ax_eta.set(xlabel="t", ylabel=r"$\eta_t=\sigma_t/\alpha_t$", yscale="log", title="noise-to-signal")
    ax_lam.set(xlabel="t", ylabel=r"$\lambda_t = 2\log(\alpha_t/\sigma_t)$", title="log-SNR")
    ax_as.legend(fontsize=9, ncols=2)
    for ax in (ax_eta, ax_lam):
        ax.legend()
        ax.grid(alpha=0.3)
    return fig


def particle_paths(x, eps, t_grid, schedule="fm"):
    """x_t for every time in t_grid (T,) and every pair (x, eps) of (P, 2): shape (T, P, 2)."""
    T, P = len(t_grid), len(x)
    flat = interpolate(x.repeat(T, 1), eps.repeat(T, 1), t_grid.repeat_interleave(P).to(x.dtype), schedule)
    return flat.view(T, P, 2)


class NoisingView:
    """Left: the cloud x_t = alpha_t x + sigma_t eps of one toy and a few particle paths, over the exact q_t when
    the toy has one (the GMM). Right: alpha_t, sigma_t of the schedule with a marker at t.
    update(t=..., schedule=..., toy=...); `samples` maps toy names to (N, 2) points, eps is (N, 2)."""

    def __init__(self, samples, eps, *, toy="gmm", t=0.3, schedule="fm", n_paths=8, exact=None):
        self.samples, self.eps, self.n_paths = samples, eps, n_paths
        self.exact = {"gmm": GAUSSIAN_MIXTURE} if exact is None else exact  # toys with a closed-form q_t
        self.fig, (self.ax, self.ax_sched) = new_figure(2, (10, 4.4), width_ratios=[1, 1.15])
        self.t_grid = torch.linspace(0, 1, 101)
        self.grid = density_grid(80)
        self.density = self.ax.imshow(np.zeros((80, 80)), extent=EXTENT, origin="lower", cmap=DENSITY_CMAP,
                                      interpolation="bilinear")
        self.cloud = self.ax.scatter([], [], s=4, alpha=0.45, color=COLORS["data"], linewidths=0,
                                     label=r"$x_t$, all particles")
        self.paths = [self.ax.plot([], [], color=COLORS["exact"], lw=1, alpha=0.7)[0] for _ in range(n_paths)]
        self.heads = self.ax.scatter(np.zeros(n_paths), np.zeros(n_paths), s=40, color=COLORS["exact"],
                                     edgecolors="white", zorder=3, label=r"paths from $x$ (t=0) to $\varepsilon$ (t=1)")
        style_square(self.ax)
        self.ax.legend(loc="upper left", fontsize=9, framealpha=0.8)
        self.alpha_line, = self.ax_sched.plot([], [], lw=2.5, label=r"$\alpha_t$ (signal)")
        self.sigma_line, = self.ax_sched.plot([], [], lw=1.5, ls=":", label=r"$\sigma_t$ (noise)")
        self.marks = self.ax_sched.scatter([0, 0], [0, 0], s=40, color="black", zorder=3)
        self.t_line = self.ax_sched.axvline(0, color="black", lw=0.8)
        self.ax_sched.set(xlim=(0, 1), ylim=(-0.03, 1.03), xlabel="t   (0 = data, 1 = noise)", ylabel="coefficient")
        self.t = self.schedule = self.toy = None
        self.update(t=t, schedule=schedule, toy=toy)
        freeze(self.fig)

    def update(self, t=None, schedule=None, toy=None):
        t = self.t if t is None else float(t)
        schedule = self.schedule if schedule is None else schedule
        toy = self.toy if toy is None else toy
        if toy not in self.samples:
            raise ValueError(f"unknown toy {toy!r}; choose one of {sorted(self.samples)}")
        if schedule != self.schedule:
            a, s = alpha_sigma(self.t_grid, schedule)
            for line, y in ((self.alpha_line, a), (self.sigma_line, s)):
                line.set_data(self.t_grid.numpy(), y.numpy())
                line.set_color(SCHEDULE_STYLE[schedule]["color"])
            self.ax_sched.legend(loc="center left", title=f"{schedule} schedule")
        if schedule != self.schedule or toy != self.toy:
            x = self.samples[toy][:self.n_paths]
            path = _np(particle_paths(x, self.eps[:self.n_paths], self.t_grid, schedule))
            for i, line in enumerate(self.paths):
                line.set_data(path[:, i, 0], path[:, i, 1])
        self.t, self.schedule, self.toy = t, schedule, toy
        self.x_t = _np(interpolate(self.samples[toy], self.eps, t, schedule))
        self.cloud.set_offsets(self.x_t)
        self.heads.set_offsets(self.x_t[:self.n_paths])
        self.density.set_visible(toy in self.exact)
        if toy in self.exact:
            q = gmm_density(self.exact[toy], t, schedule, self.grid)
            self.density.set_data(q)
            self.density.set_clim(0, q.max())
        a, s = (v.item() for v in alpha_sigma(t, schedule))
        self.marks.set_offsets([[t, a], [t, s]])
        self.t_line.set_xdata([t, t])
        background = ", purple: exact $q_t$" if toy in self.exact else ""
        self.ax.set_title(f"{toy}, t = {t:.2f}{background}", fontsize=12)
        self.ax_sched.set_title(rf"$\eta_t$ = {_fmt(eta(t, schedule).item())},  "
                                rf"$\lambda_t$ = {_fmt(log_snr(t, schedule).item())}")
        return self


def plot_gmm_marginals(gmm, x, eps, ts=(0.0, 0.25, 0.5, 0.75), schedule="fm"):
    """Top row: the exact density q_t of the mixture; bottom row: a 2-D histogram of noised samples x_t."""
    grid = density_grid(100)
    fig, axes = plt.subplots(2, len(ts), figsize=(2.5 * len(ts), 5.4), layout="constrained", sharex=True,
                             sharey=True)
    bins = np.linspace(*LIMITS, 50)
    for j, t in enumerate(ts):
        axes[0, j].imshow(gmm_density(gmm, t, schedule, grid), extent=EXTENT, origin="lower", cmap=DENSITY_CMAP)
        x_t = _np(interpolate(x, eps, t, schedule))
        axes[1, j].hist2d(x_t[:, 0], x_t[:, 1], bins=[bins, bins], cmap="Greys")
        axes[0, j].set_title(f"t = {t:g}")
        axes[1, j].set_xlabel("$x_1$")
    axes[0, 0].set_ylabel("exact $q_t$\n$x_2$")
    axes[1, 0].set_ylabel(f"histogram of {len(x)} $x_t$\n$x_2$")
    for ax in axes.flat:
        ax.set_aspect("equal")
    return fig


# -------------------------------------------------------------------------- lesson 2: DDIM, flow matching

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
        ref = _np(reference)
        for name, ax in self.axes.items():
            ax.scatter(ref[:, 0], ref[:, 1], s=3, alpha=0.3, color=COLORS["data"], linewidths=0, label="data")
            self.points[name] = ax.scatter([], [], s=3, alpha=0.6, color=COLORS[name], linewidths=0,
                                           label=LABELS[name])
            style_square(ax)
            ax.legend(loc="upper left", markerscale=4, fontsize=9)
        self.steps = None
        self.update(steps=steps)
        freeze(self.fig)

    def update(self, steps=None):
        if steps is not None and steps != self.steps:
            for name, ax in self.axes.items():
                self.points[name].set_offsets(_np(self.samples[name][steps]))
                ax.set_title(f"{LABELS[name]}, {steps} step{'s' * (steps > 1)}\n"
                             f"energy distance {self.scores[name][steps]:.4f}")
            self.steps = steps
        return self


def pf_ode_path(gmm, x_t, t, *, n_steps=150, schedule="fm"):
    """The exact probability-flow ODE from time t down to 0 for the points x_t (N, 2), using the exact posterior
    mean x_hat = E[x | x_t] of a toy.GMM. Each step is DDIM with x_hat averaged over both ends of the step
    (Heun's method: plain DDIM steps with the exact x_hat converge to the PF-ODE too, but only to first order).
    Returns times (n_steps+1,) from t to 0 and positions (n_steps+1, N, 2)."""
    times = torch.linspace(t, 0, n_steps + 1, dtype=torch.float64)
    x = x_t.double()
    path = [x]
    with one_thread():
        for t_i, s_i in zip(times[:-1], times[1:]):
            x_hat = gmm.posterior_mean(x, t_i, schedule)
            x_euler = ddim(x, x_hat, s_i, t_i, schedule)
            x = ddim(x, 0.5 * (x_hat + gmm.posterior_mean(x_euler, s_i, schedule)), s_i, t_i, schedule)
            path.append(x)
    return times, torch.stack(path)


def one_step_paths(x_t, x_hat, t, s_grid, schedule="fm"):
    """One DDIM step x_t -> s with the fixed prediction x_hat, for every s in s_grid (S,): shape (S, N, 2)."""
    S, N = len(s_grid), len(x_t)
    flat = ddim(x_t.repeat(S, 1), x_hat.repeat(S, 1), s_grid.repeat_interleave(N).to(x_t.dtype), t, schedule)
    return flat.view(S, N, 2)


def affine_residual(points, s, schedule="fm"):
    """Largest distance of a path `points` (S, 2), taken at times s (S,), from its least-squares fit
    a alpha_s + b sigma_s (a, b in R^2): ~0 when the path is linear in (alpha_s, sigma_s)."""
    A = torch.stack(alpha_sigma(s.double(), schedule), 1)  # (S, 2)
    coef = torch.linalg.lstsq(A, points.double()).solution  # (2, 2)
    return (A @ coef - points.double()).norm(dim=1).max().item()


def spread_out(points, k):
    """Indices of k points of (N, 2) chosen far apart (greedy farthest-point sampling from the outermost)."""
    idx = [int(points.norm(dim=1).argmax())]
    dist = (points - points[idx[0]]).norm(dim=1)
    for _ in range(k - 1):
        idx.append(int(dist.argmax()))
        dist = torch.minimum(dist, (points - points[idx[-1]]).norm(dim=1))
    return idx


class DDIMLineView:
    """Fixed x_t ~ q_t of a GMM; the target time s moves. Left: a few particles, one DDIM step with the exact
    x_hat = E[x | x_t] (a straight line in s) vs the exact PF-ODE (a curve). Right: the whole cloud after one
    DDIM step t -> s over the exact density q_s. update(s=...) snaps s to the precomputed grid."""

    def __init__(self, gmm=GAUSSIAN_MIXTURE, *, t=0.8, s=None, n_cloud=600, n_particles=4, n_steps=150,
                 schedule="fm", seed=0, limits=(-1.3, 1.3)):
        self.gmm, self.t, self.schedule = gmm, t, schedule
        self.x_t = gmm.sample_marginal(n_cloud, t, schedule, seed=seed).double()  # (N, 2), exact q_t samples
        self.x_hat = gmm.posterior_mean(self.x_t, t, schedule)
        self.times, self.exact = pf_ode_path(gmm, self.x_t, t, n_steps=n_steps, schedule=schedule)  # (S,), (S,N,2)
        self.one_step = one_step_paths(self.x_t, self.x_hat, t, self.times, schedule)  # (S, N, 2)
        inner = torch.nonzero(self.x_t.norm(dim=1) < self.x_t.norm(dim=1).quantile(0.6)).flatten()
        self.particles = inner[spread_out(self.x_t[inner], n_particles)].tolist()  # spread out, inside the frame
        self.grid = density_grid(80, limits)
        extent = (*limits, *limits)
        self.fig, (self.ax, self.ax_cloud) = new_figure(2, (10, 4.8))
        self.bg = [ax.imshow(np.zeros((80, 80)), extent=extent, origin="lower", cmap=DENSITY_CMAP, alpha=0.6)
                   for ax in (self.ax, self.ax_cloud)]
        p, ddim_c, exact_c = self.particles, COLORS["ddim"], COLORS["exact"]
        halo = [patheffects.withStroke(linewidth=4, foreground="white")]
        for i, idx in enumerate(p):
            self.ax.plot(*_np(self.one_step[:, idx]).T, color=ddim_c, ls="--", lw=2, path_effects=halo,
                         label="one DDIM step t → s, all s" if i == 0 else None)
            self.ax.plot(*_np(self.exact[:, idx]).T, color=exact_c, lw=2, path_effects=halo,
                         label="exact PF-ODE t → s, all s" if i == 0 else None)
        self.ax.scatter(*_np(self.x_t[p]).T, marker="X", s=90, color="black", edgecolors="white", zorder=4,
                        label=rf"start $x_t$, t = {t:g}")
        self.ddim_marks = self.ax.scatter(*_np(self.x_t[p]).T, s=60, color=ddim_c, edgecolors="white", zorder=5)
        self.exact_marks = self.ax.scatter(*_np(self.x_t[p]).T, s=60, color=exact_c, edgecolors="white", zorder=5)
        self.cloud = self.ax_cloud.scatter([], [], s=5, color=ddim_c, alpha=0.6, linewidths=0,
                                           label=rf"{n_cloud} points after one DDIM step")
        for ax in (self.ax, self.ax_cloud):
            style_square(ax, limits=limits)
            ax.legend(loc="lower left", fontsize=9, framealpha=0.9)
        self.s = None
        self.update(s=t / 3 if s is None else s)
        freeze(self.fig)

    def index(self, s):
        """Index of the grid time nearest to s (clamped to [0, t])."""
        return int(torch.argmin((self.times - float(s)).abs()))

    def update(self, s=None):
        if s is None:
            return self
        i = self.index(s)
        self.s = self.times[i].item()
        self.ddim_marks.set_offsets(_np(self.one_step[i, self.particles]))
        self.exact_marks.set_offsets(_np(self.exact[i, self.particles]))
        self.cloud.set_offsets(_np(self.one_step[i]))
        q = gmm_density(self.gmm, self.s, self.schedule, self.grid)
        for im in self.bg:
            im.set_data(q)
            im.set_clim(0, q.max())
        self.gap = metrics.energy_distance(self.one_step[i], self.exact[i])
        self.ax.set_title(f"dots at s = {self.s:.2f}: blue = one DDIM step,\npurple = exact PF-ODE")
        self.ax_cloud.set_title(f"s = {self.s:.2f}, background: exact $q_s$\n"
                                f"energy distance to $q_s$: {self.gap:.4f}")
        return self

    def gaps(self, every=10):
        """(s values, energy distance between the one-step DDIM cloud and exact q_s samples) on a sub-grid."""
        idx = list(range(0, len(self.times), every))
        return (self.times[idx].numpy(),
                np.array([metrics.energy_distance(self.one_step[i], self.exact[i]) for i in idx]))


def ddim_needed_x(x_t, x_s, s, t, schedule="fm"):
    """The x that makes one DDIM step land exactly on x_s: solves DDIM(x_t, x, s, t) = x_s for x (s < t).
    DDIM is affine in x, so x = (x_s - DDIM(x_t, 0, s, t)) / DDIM(0, 1, s, t)."""
    zeros, ones = torch.zeros_like(x_t), torch.ones_like(x_t)
    return (x_s - ddim(x_t, zeros, s, t, schedule)) / ddim(zeros, ones, s, t, schedule)


def plot_one_step_gap(view, every=5, s_max=0.95):
    """Left: for each particle of a DDIMLineView, the x that one DDIM step would need to land on the exact
    PF-ODE at s (a curve in s) vs the single x_hat = E[x | x_t] a denoiser gives. Right: energy distance
    between the one-step DDIM cloud at s and exact q_s samples, against s."""
    fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    limits = (-1.3, 1.3)
    ax.imshow(gmm_density(view.gmm, 0.0, view.schedule, density_grid(80, limits)), extent=(*limits, *limits),
              origin="lower", cmap=DENSITY_CMAP, alpha=0.6)
    keep = view.times <= s_max * view.t  # at s = t the needed x is 0/0
    for i, idx in enumerate(view.particles):
        needed = ddim_needed_x(view.x_t[idx].expand(int(keep.sum()), 2), view.exact[keep, idx], view.times[keep],
                               view.t, view.schedule)
        ax.plot(*_np(needed).T, color=COLORS["imm"], lw=2,
                label="x needed to land on the PF-ODE at s" if i == 0 else None)
        ax.scatter(*_np(needed[-1]), s=40, color=COLORS["imm"], edgecolors="white", zorder=4,
                   label="... at s = 0: the PF-ODE endpoint" if i == 0 else None)
        ax.scatter(*_np(view.x_hat[idx]), s=70, marker="D", color=COLORS["ddim"], edgecolors="white", zorder=4,
                   label=r"$\hat x = E[x \mid x_t]$: one value for all s" if i == 0 else None)
    style_square(ax, f"what a DDIM step needs, t = {view.t:g}", limits)
    ax.legend(loc="lower left", fontsize=8.5, framealpha=0.9)
    s, gaps = view.gaps(every)
    ax_gap.plot(s, gaps, "o-", color=COLORS["ddim"], label="one DDIM step t → s, exact $\\hat x$")
    ax_gap.axhline(0, color="black", lw=0.8)
    ax_gap.set(xlabel="target time s", ylabel="energy distance to exact $q_s$",
               title=f"one step from t = {view.t:g} misses $q_s$", xlim=(0, view.t))
    ax_gap.legend()
    ax_gap.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------- lesson 3: kernels, MMD

def _match_mean_cov(b, a):
    """b moved and linearly reshaped so that its sample mean and covariance equal a's exactly."""
    la = torch.linalg.cholesky(torch.cov(a.T))
    lb = torch.linalg.cholesky(torch.cov(b.T))
    white = torch.linalg.solve_triangular(lb, (b - b.mean(0)).T, upper=False)  # (2, N), identity covariance
    return (la @ white).T + a.mean(0)


def two_sample_clouds(n=150, seed=0):
    """P: n points of N(0, 0.5^2 I); a dict of candidate Q clouds (float64). Except the first, each Q has
    exactly P's sample mean (and, where it says so, covariance), so only the named moments differ."""
    g = torch.Generator().manual_seed(seed)
    draw = lambda: toy.SIGMA_D * torch.randn(n, 2, generator=g, dtype=torch.float64)
    a, wider = draw(), draw()
    shift = torch.tensor([0.6, 0.0], dtype=torch.float64)
    clouds = {
        "same law (new draw)": draw(),
        "shifted by 0.6 (same cov.)": _match_mean_cov(draw(), a) + shift,
        "wider ×1.6 (same mean)": 1.6 * (wider - wider.mean(0)) + a.mean(0),
        "rings (same mean & cov.)": _match_mean_cov(toy.sample("circles", n, seed=seed + 1).double(), a),
        "moons (same mean & cov.)": _match_mean_cov(toy.sample("moons", n, seed=seed + 1).double(), a),
    }
    return a, clouds


def witness(a, b, kernel="laplace", scale=1.0, grid=None):
    """Witness function mean_j k(z, b_j) - mean_j k(z, a_j) on the grid points z; MMD^2 (V) is its mean over
    Q minus its mean over P, so a constant offset carries no information."""
    grid = density_grid(60) if grid is None else grid
    return gram(grid, b, kernel, scale).mean(1) - gram(grid, a, kernel, scale).mean(1)


def block_means(k, n_a):
    """Means of the kernel-matrix blocks of [P; Q]: (PP, QQ, PQ); MMD^2 (V) = PP + QQ - 2 PQ."""
    return k[:n_a, :n_a].mean(), k[n_a:, n_a:].mean(), k[:n_a, n_a:].mean()


def _by_x1(x):
    return x[torch.argsort(x[:, 0])]  # display order only: MMD does not depend on it


class MMDView:
    """Left: P (grey) and Q (red) over the witness function; right: the kernel matrix of [P; Q] (each set
    sorted by x1) with its block means. update(second=<name of a Q cloud>, kernel=..., bandwidth=...);
    self.mmd2_v / self.mmd2_u hold the estimates."""

    def __init__(self, a, clouds, *, second=None, kernel="laplace", bandwidth=0.5):
        self.a, self.clouds, self.n_a = _by_x1(a), clouds, len(a)
        self.grid = density_grid(60)
        self.fig, (self.ax, self.ax_k) = new_figure(2, (10, 4.6))
        self.wit = self.ax.imshow(np.zeros((60, 60)), extent=EXTENT, origin="lower", cmap="coolwarm",
                                  interpolation="bilinear")
        self.pts_a = self.ax.scatter(*_np(a).T, s=10, color=COLORS["data"], linewidths=0, label="P")
        self.pts_b = self.ax.scatter([], [], s=10, color=COLORS["imm"], linewidths=0, label="Q")
        style_square(self.ax)
        self.ax.legend(loc="upper left", fontsize=9, markerscale=2)
        n = self.n_a + len(next(iter(clouds.values())))
        # 16 colour levels: the 90,000-entry matrix then compresses to a smaller PNG per update (~230 KB, not ~350)
        self.kmat = self.ax_k.imshow(np.zeros((n, n)), cmap=plt.get_cmap("viridis", 16), interpolation="nearest")
        self.fig.colorbar(self.kmat, ax=self.ax_k, shrink=0.85, label="k(u, v)")
        self.ax_k.axhline(self.n_a - 0.5, color="white", lw=1.5)
        self.ax_k.axvline(self.n_a - 0.5, color="white", lw=1.5)
        box = {"boxstyle": "round", "facecolor": "white", "alpha": 0.85}
        mid_a, mid_b = self.n_a / 2, (self.n_a + n) / 2
        self.block_text = [self.ax_k.text(x, y, "", ha="center", va="center", fontsize=10, bbox=box)
                           for x, y in ((mid_a, mid_a), (mid_b, mid_b), (mid_b, mid_a))]
        self.ax_k.set_xticks([mid_a, mid_b], ["P", "Q"])
        self.ax_k.set_yticks([mid_a, mid_b], ["P", "Q"])
        self.second, self.kernel, self.bandwidth = None, kernel, bandwidth
        self.update(second=second or next(iter(clouds)))
        freeze(self.fig)

    def update(self, second=None, kernel=None, bandwidth=None):
        self.second = second or self.second
        self.kernel = kernel or self.kernel
        self.bandwidth = float(bandwidth or self.bandwidth)
        b, scale = _by_x1(self.clouds[self.second]), 1 / self.bandwidth
        both = torch.cat([self.a, b])
        k = gram(both, both, self.kernel, scale)
        self.kmat.set_data(_np(k))
        self.kmat.set_clim(k.min().item(), k.max().item())
        for text, label, value in zip(self.block_text, ("PP", "QQ", "PQ"), block_means(k, self.n_a)):
            text.set_text(f"mean {label}\n{value.item():.3f}")
        w = witness(self.a, b, self.kernel, scale, self.grid)
        w = _np(w - w.mean()).reshape(60, 60)
        lim = np.abs(w).max()
        self.wit.set_data(w)
        self.wit.set_clim(-lim - 1e-9, lim + 1e-9)
        self.pts_b.set_offsets(_np(b))
        self.mmd2_v = mmd2(self.a, b, self.kernel, scale).item()
        self.mmd2_u = mmd2(self.a, b, self.kernel, scale, unbiased=True).item()
        self.ax.set_title(f"Q: {self.second}\nwitness: red = Q denser, blue = P denser", fontsize=11)
        self.ax_k.set_title(f"{self.kernel}, bandwidth {self.bandwidth:.2g}: MMD² = PP + QQ − 2 PQ\n"
                            f"V-statistic {self.mmd2_v:.4f},  U-statistic {self.mmd2_u:.4f}", fontsize=11)
        return self


def mmd_table(a, clouds, kernels=("energy", "distance", "rbf", "laplace"), bandwidth=0.5):
    """{kernel: {cloud name: MMD^2 (V-statistic)}} between P = a and every Q cloud."""
    return {k: {name: mmd2(a, b, k, 1 / bandwidth).item() for name, b in clouds.items()} for k in kernels}


def plot_mmd_table(table):
    """Heat map of MMD^2 (rows: kernels, columns: Q clouds), each row scaled by its largest value."""
    kernels, clouds = list(table), list(next(iter(table.values())))
    values = np.array([[table[k][c] for c in clouds] for k in kernels])
    values[np.abs(values) < 5e-4] = 0.0  # round-off, e.g. -1e-16, would print as "-0.000"
    scaled = values / np.abs(values).max(1, keepdims=True)
    fig, ax = plt.subplots(figsize=(10, 3.8), layout="constrained")
    im = ax.imshow(scaled, cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for i in range(len(kernels)):
        for j in range(len(clouds)):
            ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center",
                    color="white" if scaled[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(clouds)), [c.replace(" (", "\n(") for c in clouds], fontsize=10)
    ax.set_yticks(range(len(kernels)), kernels)
    ax.set(xlabel="second cloud Q   (P is N(0, 0.5² I))", ylabel="kernel", title="MMD² (V-statistic) between P and Q")
    fig.colorbar(im, ax=ax, label="fraction of the row's max")
    return fig


def plot_bandwidth_sweep(a, clouds, kernels=("laplace", "rbf", "distance"), bandwidths=None):
    """MMD^2 (V) between a and each cloud in `clouds` (name -> points) against the bandwidth h, one panel per
    cloud, one line per kernel, log-log."""
    bandwidths = np.geomspace(0.02, 20, 40) if bandwidths is None else bandwidths
    fig, axes = plt.subplots(1, len(clouds), figsize=(10, 4), layout="constrained", sharey=True)
    for ax, (name, b) in zip(np.atleast_1d(axes), clouds.items()):
        for kernel, ls in zip(kernels, ("-", "--", ":", "-.")):
            values = [mmd2(a, b, kernel, 1 / h).item() for h in bandwidths]
            ax.plot(bandwidths, values, ls=ls, lw=2, color="black", label=kernel)
        ax.axvline(toy.SIGMA_D, color=COLORS["imm"], lw=1)
        ax.text(toy.SIGMA_D * 1.1, 0.03, "data std", color=COLORS["imm"], transform=ax.get_xaxis_transform())
        ax.set(xscale="log", yscale="log", xlabel="bandwidth h", title=f"Q: {name}")
        ax.grid(alpha=0.3, which="major")
    axes[0].set_ylabel("MMD² (V-statistic)")
    axes[0].legend()
    return fig


def v_and_u(Ms=(2, 4, 8, 16, 32), groups=2000, kernel="laplace", bandwidth=0.5, seed=0):
    """{M: (V estimates (groups,), U estimates (groups,))} for groups of M vs M points of the *same* law
    N(0, 0.5^2 I), so the true MMD^2 is 0: V is biased upwards (by O(1/M)), U is unbiased."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for M in Ms:
        a, b = (toy.SIGMA_D * torch.randn(groups, M, 2, generator=g, dtype=torch.float64) for _ in range(2))
        out[M] = (_np(mmd2(a, b, kernel, 1 / bandwidth)), _np(mmd2(a, b, kernel, 1 / bandwidth, unbiased=True)))
    return out


def plot_v_and_u(results, M_hist=4):
    """Left: histograms of V and U at M = M_hist; right: mean and spread of both against M."""
    fig, (ax_h, ax_m) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    style = {"V": {"color": COLORS["imm"], "label": "V-statistic (IMM)"},
             "U": {"color": COLORS["exact"], "label": "U-statistic (unbiased)"}}
    v, u = results[M_hist]
    bins = np.linspace(min(v.min(), u.min()), max(v.max(), u.max()), 50)
    ax_h.hist(v, bins=bins, alpha=0.6, **style["V"])
    ax_h.hist(u, bins=bins, alpha=0.6, **style["U"])
    ax_h.axvline(0, color="black", lw=1)
    ax_h.set(xlabel="MMD² estimate", ylabel="number of groups", title=f"P = Q, M = {M_hist} points in each set")
    ax_h.legend(fontsize=9)
    Ms = np.array(sorted(results))
    for i, key in enumerate(("V", "U")):
        mean = np.array([results[M][i].mean() for M in Ms])
        std = np.array([results[M][i].std() for M in Ms])
        ax_m.errorbar(Ms * (1.04 if i else 0.96), mean, yerr=std, marker="o", capsize=3, **style[key])
    ax_m.axhline(0, color="black", lw=1, label="true value 0")
    ax_m.set(xscale="log", xlabel="points per set M", ylabel="mean ± std of the estimate", title="bias and spread")
    ax_m.minorticks_off()
    ax_m.set_xticks(Ms, [str(m) for m in Ms])
    ax_m.legend(fontsize=9)
    return fig


SPREAD_ALTERNATIVES = {
    "sparse: one coordinate's mean +1": lambda q: torch.cat([q[..., :1] + 1.0, q[..., 1:]], -1),
    "dense: every coordinate's std ×1.1": lambda q: 1.1 * q,
}


def mmd_spread(dims=(2, 8, 32, 128, 512), ns=(4, 16, 64), *, kernel="laplace", seed=0):
    """How precisely can MMD^2 be estimated in D dimensions from n points per set?

    P = N(0, I_D); each alternative Q of SPREAD_ALTERNATIVES changes one moment. Bandwidth sqrt(2 D), the
    typical distance between points. For every (D, n) the unbiased estimate is computed on 32 * 64 / n
    independent pairs of sets at once, as (pairs, n, D) groups. The true MMD^2 is estimated by pooling all n
    (each estimate is unbiased), weighted by inverse variance.
    Returns {alternative: {"value": (len(dims),), "std": (len(dims), len(ns))}}."""
    g = torch.Generator().manual_seed(seed)
    out = {alt: {"value": np.zeros(len(dims)), "std": np.zeros((len(dims), len(ns)))} for alt in SPREAD_ALTERNATIVES}
    for i, D in enumerate(dims):
        means = {alt: np.zeros(len(ns)) for alt in out}
        weights = {alt: np.zeros(len(ns)) for alt in out}
        for j, n in enumerate(ns):
            pairs = 32 * max(1, 64 // n)
            a, b = torch.randn(pairs, n, D, generator=g), torch.randn(pairs, n, D, generator=g)
            for alt, change in SPREAD_ALTERNATIVES.items():
                est = mmd2(a, change(b), kernel, 1 / math.sqrt(2 * D), unbiased=True)  # (pairs,)
                out[alt]["std"][i, j] = est.std().item()
                means[alt][j], weights[alt][j] = est.mean().item(), pairs / est.var().item()
        for alt in out:
            out[alt]["value"][i] = (means[alt] * weights[alt]).sum() / weights[alt].sum()
    return out


def plot_mmd_spread(result, dims=(2, 8, 32, 128, 512), ns=(4, 16, 64), groups=1024):
    """Relative spread std / MMD^2 of one estimate vs D, one line per n; red: M = 4 averaged over `groups`
    independent groups (IMM's batch of 4096), whose spread is the M = 4 spread / sqrt(groups)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained", sharey=True)
    shades = plt.cm.Greys(np.linspace(0.45, 1.0, len(ns)))
    for ax, (alt, res) in zip(axes, result.items()):
        rel = res["std"] / np.abs(res["value"])[:, None]
        for j, n in enumerate(ns):
            ax.plot(dims, rel[:, j], "o-", color=shades[j], label=f"one pair of sets, n = {n} points each")
        if 4 in ns:
            ax.plot(dims, rel[:, ns.index(4)] / math.sqrt(groups), "s-", color=COLORS["imm"],
                    label=f"mean of {groups} groups of M = 4 (IMM's batch)")
        ax.axhline(1, color="black", lw=1, ls="--", label="noise = signal")
        ax.set(xscale="log", yscale="log", xlabel="dimension D", title=f"Q: {alt}")
        ax.minorticks_off()
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("relative spread: std / MMD²")
    axes[0].legend(fontsize=9, loc="upper left")
    return fig
