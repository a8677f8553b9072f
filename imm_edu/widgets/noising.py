"""Lesson 01 (noising): schedules, the noised cloud x_t with particle paths over the exact density q_t, and the
exact density grid (density_grid, gmm_density) that lessons 02 and 03 draw behind their points.

Benchmark (`time_update`, one update + PNG render, median of 10, torch on 1 thread, on the course's busy 2-core
CI machine, load ~2.8): NoisingView 51 ms (57 ms with the GMM's exact density).
"""
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..plot import COLORS, LIMITS, style_square
from ..schedules import alpha_sigma, eta, interpolate, log_snr
from ..toy import GAUSSIAN_MIXTURE
from ._render import animate, new_figure, redraw_background, to_np


# the schedules have colours of their own: a schedule is not a method (DDIM and FM can run on either)
SCHEDULE_STYLE = {"fm": {"color": COLORS["fm schedule"], "ls": "-"},
                  "cosine": {"color": COLORS["cosine schedule"], "ls": "--"}}
DENSITY_CMAP = "Purples"  # exact densities use the "exact" colour family
EXTENT = (*LIMITS, *LIMITS)


def _fmt(v):
    """v for a title, infinities with their sign (eta_1 = ∞, lambda_0 = ∞, lambda_1 = −∞)."""
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.3g}"


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
        legend = self.ax.legend(loc="upper left", fontsize=9, framealpha=1, fancybox=False)
        self.alpha_line, = self.ax_sched.plot([], [], lw=2.5, label=r"$\alpha_t$ (signal)")
        self.sigma_line, = self.ax_sched.plot([], [], lw=1.5, ls=":", label=r"$\sigma_t$ (noise)")
        self.marks = self.ax_sched.scatter([0, 0], [0, 0], s=40, color="black", zorder=3)
        self.t_line = self.ax_sched.axvline(0, color="black", lw=0.8)
        self.ax_sched.set(xlim=(0, 1), ylim=(-0.03, 1.03), xlabel="t   (0 = data, 1 = noise)", ylabel="coefficient")
        # moving t redraws only these over the cached frame and schedule curves (a new schedule redraws those too)
        animate(self.fig, [self.density, self.cloud, *self.paths, self.heads, self.ax.title, self.t_line, self.marks,
                           self.ax_sched.title], overlays=[legend])
        self.t = self.schedule = self.toy = None
        self.update(t=t, schedule=schedule, toy=toy)

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
            redraw_background(self.fig)
        if schedule != self.schedule or toy != self.toy:
            x = self.samples[toy][:self.n_paths]
            path = to_np(particle_paths(x, self.eps[:self.n_paths], self.t_grid, schedule))
            for i, line in enumerate(self.paths):
                line.set_data(path[:, i, 0], path[:, i, 1])
        self.t, self.schedule, self.toy = t, schedule, toy
        self.x_t = to_np(interpolate(self.samples[toy], self.eps, t, schedule))
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
        x_t = to_np(interpolate(x, eps, t, schedule))
        axes[1, j].hist2d(x_t[:, 0], x_t[:, 1], bins=[bins, bins], cmap="Greys")
        axes[0, j].set_title(f"t = {t:g}")
        axes[1, j].set_xlabel("$x_1$")
    axes[0, 0].set_ylabel("exact $q_t$\n$x_2$")
    axes[1, 0].set_ylabel(f"histogram of {len(x)} $x_t$\n$x_2$")
    for ax in axes.flat:
        ax.set_aspect("equal")
    return fig
