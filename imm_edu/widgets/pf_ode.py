"""Lesson 02 (DDIM and flow matching), second half: one DDIM step with the exact posterior mean is a straight
line in the target time s, while the exact probability-flow ODE curves; the gap one step leaves to q_s.

Benchmark (`time_update`, one update + PNG render, median of 10, torch on 1 thread, on the course's busy 2-core
CI machine, load ~2.8): DDIMLineView 59 ms (PF-ODE precomputed).
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import patheffects

from .. import metrics
from ..ddim import ddim
from ..plot import COLORS, style_square
from ..schedules import alpha_sigma
from ..toy import GAUSSIAN_MIXTURE
from ._render import animate, new_figure, one_thread, to_np
from .noising import DENSITY_CMAP, density_grid, gmm_density


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
        paths = []
        for i, idx in enumerate(p):
            paths += self.ax.plot(*to_np(self.one_step[:, idx]).T, color=ddim_c, ls="--", lw=2, path_effects=halo,
                                  label="one DDIM step t → s, all s" if i == 0 else None)
            paths += self.ax.plot(*to_np(self.exact[:, idx]).T, color=exact_c, lw=2, path_effects=halo,
                                  label="exact PF-ODE t → s, all s" if i == 0 else None)
        start = self.ax.scatter(*to_np(self.x_t[p]).T, marker="X", s=90, color="black", edgecolors="white", zorder=4,
                                label=rf"start $x_t$, t = {t:g}")
        self.ddim_marks = self.ax.scatter(*to_np(self.x_t[p]).T, s=60, color=ddim_c, edgecolors="white", zorder=5)
        self.exact_marks = self.ax.scatter(*to_np(self.x_t[p]).T, s=60, color=exact_c, edgecolors="white", zorder=5)
        self.cloud = self.ax_cloud.scatter([], [], s=5, color=ddim_c, alpha=0.6, linewidths=0,
                                           label=rf"{n_cloud} points after one DDIM step")
        legends = [style_square(ax, limits=limits).legend(loc="lower left", fontsize=9, framealpha=1, fancybox=False)
                   for ax in (self.ax, self.ax_cloud)]
        # everything inside the axes changes with q_s behind it; only the frames and tick labels stay cached
        animate(self.fig, [self.bg[0], *paths, start, self.ddim_marks, self.exact_marks, self.ax.title, self.bg[1],
                           self.cloud, self.ax_cloud.title], overlays=legends)
        self.s = None
        self.update(s=t / 3 if s is None else s)

    def index(self, s):
        """Index of the grid time nearest to s (clamped to [0, t])."""
        return int(torch.argmin((self.times - float(s)).abs()))

    def update(self, s=None):
        if s is None:
            return self
        i = self.index(s)
        self.s = self.times[i].item()
        self.ddim_marks.set_offsets(to_np(self.one_step[i, self.particles]))
        self.exact_marks.set_offsets(to_np(self.exact[i, self.particles]))
        self.cloud.set_offsets(to_np(self.one_step[i]))
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
        ax.plot(*to_np(needed).T, color=COLORS["imm"], lw=2,
                label="x needed to land on the PF-ODE at s" if i == 0 else None)
        ax.scatter(*to_np(needed[-1]), s=40, color=COLORS["imm"], edgecolors="white", zorder=4,
                   label="... at s = 0: the PF-ODE endpoint" if i == 0 else None)
        ax.scatter(*to_np(view.x_hat[idx]), s=70, marker="D", color=COLORS["ddim"], edgecolors="white", zorder=4,
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
