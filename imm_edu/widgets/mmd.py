"""Lesson 03 (moments and MMD): two-sample clouds that differ in one moment, the witness function, the kernel
matrix and its block means, and how MMD^2 estimates behave (kernels, bandwidth, V vs U, dimension).

Benchmark (`time_update`, one update + PNG render, median of 10, torch on 1 thread, on the course's busy 2-core
CI machine, load ~2.8): MMDView 71 ms.
"""
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import toy
from ..kernels import gram, mmd2
from ..plot import COLORS, style_square
from ._render import animate, new_figure, redraw_background, to_np
from .noising import EXTENT, density_grid

WITNESS_GRID = 40  # points per side of the witness image (the widget's largest cost: 40^2 x 300 kernel values)


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


def mmd2_from_gram(k, n_a, unbiased=False):
    """MMD^2 between P (the first n_a points) and Q (the rest) from the kernel matrix k of [P; Q], as kernels.mmd2
    computes it from three separate matrices: V-statistic PP + QQ - 2 PQ (block means); the U-statistic's PP and QQ
    means skip the diagonal."""
    pp, qq, pq = block_means(k, n_a)
    if unbiased:
        m, n = n_a, len(k) - n_a
        pp = (pp * m * m - k[:n_a, :n_a].trace()) / (m * (m - 1))
        qq = (qq * n * n - k[n_a:, n_a:].trace()) / (n * (n - 1))
    return pp + qq - 2 * pq


def _by_x1(x):
    return x[torch.argsort(x[:, 0])]  # display order only: MMD does not depend on it


class MMDView:
    """Left: P (grey) and Q (red) over the witness function; right: the kernel matrix of [P; Q] (each set
    sorted by x1) with its block means. update(second=<name of a Q cloud>, kernel=..., bandwidth=...);
    self.mmd2_v / self.mmd2_u hold the estimates."""

    def __init__(self, a, clouds, *, second=None, kernel="laplace", bandwidth=0.5):
        self.a, self.clouds, self.n_a = _by_x1(a), clouds, len(a)
        self.grid = density_grid(WITNESS_GRID)  # drawn with bilinear smoothing: a coarse grid looks the same
        self.fig, (self.ax, self.ax_k) = new_figure(2, (10, 4.6))
        self.wit = self.ax.imshow(np.zeros((WITNESS_GRID, WITNESS_GRID)), extent=EXTENT, origin="lower", cmap="coolwarm",
                                  interpolation="bilinear")
        self.pts_a = self.ax.scatter(*to_np(a).T, s=10, color=COLORS["data"], linewidths=0, label="P")
        self.pts_b = self.ax.scatter([], [], s=10, color=COLORS["imm"], linewidths=0, label="Q")
        style_square(self.ax)
        legend = self.ax.legend(loc="upper left", fontsize=9, markerscale=2, framealpha=1, fancybox=False)
        n = self.n_a + len(next(iter(clouds.values())))
        # 16 colour levels: the 90,000-entry matrix then compresses to a smaller PNG per update (~230 KB, not ~350)
        self.kmat = self.ax_k.imshow(np.zeros((n, n)), cmap=plt.get_cmap("viridis", 16), interpolation="nearest")
        colorbar = self.fig.colorbar(self.kmat, ax=self.ax_k, shrink=0.85, label="k(u, v)")
        split = [self.ax_k.axhline(self.n_a - 0.5, color="white", lw=1.5),
                 self.ax_k.axvline(self.n_a - 0.5, color="white", lw=1.5)]
        box = {"boxstyle": "round", "facecolor": "white", "alpha": 0.85}
        mid_a, mid_b = self.n_a / 2, (self.n_a + n) / 2
        self.block_text = [self.ax_k.text(x, y, "", ha="center", va="center", fontsize=10, bbox=box)
                           for x, y in ((mid_a, mid_a), (mid_b, mid_b), (mid_b, mid_a))]
        self.ax_k.set_xticks([mid_a, mid_b], ["P", "Q"])
        self.ax_k.set_yticks([mid_a, mid_b], ["P", "Q"])
        # an update redraws the inside of both axes and the colour bar (its scale follows the matrix)
        animate(self.fig, [self.wit, self.pts_a, self.pts_b, self.kmat, *split, *self.block_text,
                           self.ax_k.title, colorbar.ax], overlays=[legend])
        self.second, self.kernel, self.bandwidth = None, kernel, bandwidth
        self.update(second=second or next(iter(clouds)))

    def update(self, second=None, kernel=None, bandwidth=None):
        if second and second != self.second:
            self.second = second
            self.ax.set_title(f"Q: {second}\nwitness: red = Q denser, blue = P denser", fontsize=11)
            redraw_background(self.fig)  # the title is static: redrawn only with a new Q
        self.kernel = kernel or self.kernel
        self.bandwidth = float(bandwidth or self.bandwidth)
        b, scale = _by_x1(self.clouds[self.second]), 1 / self.bandwidth
        both = torch.cat([self.a, b])
        k = gram(both, both, self.kernel, scale)
        self.kmat.set_data(to_np(k))
        self.kmat.set_clim(k.min().item(), k.max().item())
        for text, label, value in zip(self.block_text, ("PP", "QQ", "PQ"), block_means(k, self.n_a)):
            text.set_text(f"mean {label}\n{value.item():.3f}")
        w = witness(self.a, b, self.kernel, scale, self.grid)
        w = to_np(w - w.mean()).reshape(WITNESS_GRID, WITNESS_GRID)
        lim = np.abs(w).max()
        self.wit.set_data(w)
        self.wit.set_clim(-lim - 1e-9, lim + 1e-9)
        self.pts_b.set_offsets(to_np(b))
        self.mmd2_v = mmd2_from_gram(k, self.n_a).item()  # the matrix on the right, no second kernel pass
        self.mmd2_u = mmd2_from_gram(k, self.n_a, unbiased=True).item()
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
        out[M] = (to_np(mmd2(a, b, kernel, 1 / bandwidth)), to_np(mmd2(a, b, kernel, 1 / bandwidth, unbiased=True)))
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
