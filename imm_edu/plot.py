"""Matplotlib helpers with one palette for the whole series: data, IMM, consistency (M=1), DDIM, flow matching,
shortcut models, exact references, and the two noise schedules.

Every helper draws into an Axes (made if not given) and returns it, so notebooks and widgets can reuse figures.
`classroom()` switches every later figure (pyplot and widget panels alike) to projector sizes; it is on from the
start when the environment variable IMM_EDU_CLASSROOM=1 is set (`python -m imm_edu present --classroom` sets it).
"""
import os

import matplotlib.pyplot as plt
import numpy as np

COLORS = {
    "data": "#4d4d4d",  # grey: real / held-out points
    "imm": "#d62728",  # red
    "imm_paper": "#e377c2",  # pink: IMM with exactly [P]'s kernel (the "imm" preset smooths its core)
    "cm": "#ff7f0e",  # orange: consistency model = IMM with M = 1
    "ddim": "#1f77b4",  # blue
    "fm": "#2ca02c",  # green
    "shortcut": "#8c564b",  # brown: shortcut models (Frans et al. 2024)
    "exact": "#9467bd",  # purple: closed-form references (exact marginals, posterior means)
    "fm schedule": "#17becf",  # cyan: the noise schedules (alpha_t, sigma_t), which are not methods
    "cosine schedule": "#bcbd22",  # olive (pink is imm_paper)
}
LABELS = {"data": "data", "imm": "IMM", "imm_paper": "IMM, paper's kernel", "cm": "consistency (M=1)", "ddim": "DDIM",
          "fm": "flow matching", "shortcut": "shortcut model", "exact": "exact", "fm schedule": "fm schedule",
          "cosine schedule": "cosine schedule"}
LIMITS = (-1.6, 1.6)  # every toy has pooled std 0.5, so this frames all of them

SERIES_STYLE = {"figure.dpi": 80, "font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12,
                "legend.fontsize": 10, "savefig.bbox": "tight"}
# For a projector: every figure 1.5x larger on screen (dpi), which also scales text and lines whose size a figure sets
# itself, so no figure function needs a copy. Within a figure, thicker lines and slightly larger labels; titles keep
# their size (a longer title would not fit the panel it names).
CLASSROOM_STYLE = {"figure.dpi": 120, "font.size": 13, "axes.labelsize": 14, "xtick.labelsize": 12,
                   "ytick.labelsize": 12, "legend.fontsize": 11, "lines.linewidth": 2.5, "lines.markersize": 8,
                   "axes.linewidth": 1.4, "grid.linewidth": 1.2, "patch.linewidth": 1.4, "xtick.major.width": 1.4,
                   "ytick.major.width": 1.4}
plt.rcParams.update(SERIES_STYLE)


def classroom(on=True):
    """Projector sizes for every figure drawn after this call (on=False goes back to the series' style).
    Figures outside pyplot (the widget panels) read the same rcParams when they are made."""
    plt.rcParams.update({key: plt.rcParamsDefault[key] for key in CLASSROOM_STYLE})
    plt.rcParams.update(SERIES_STYLE)
    if on:
        plt.rcParams.update(CLASSROOM_STYLE)


if os.environ.get("IMM_EDU_CLASSROOM") == "1":
    classroom()


def _np(points):
    return points.detach().cpu().numpy() if hasattr(points, "detach") else np.asarray(points)


def scatter(points, ax=None, kind="data", title=None, s=3, alpha=0.5, label=None, limits=LIMITS):
    """Scatter (N, 2) points in the colour of `kind` (a key of COLORS) on square axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    p = _np(points)
    ax.scatter(p[:, 0], p[:, 1], s=s, alpha=alpha, color=COLORS[kind], label=label, linewidths=0, rasterized=True)
    style_square(ax, title, limits)
    return ax


def style_square(ax, title=None, limits=LIMITS):
    """Square axes framed at `limits` with x1 / x2 labels (limits=None keeps matplotlib's own range)."""
    if limits is not None:
        ax.set_xlim(*limits)
        ax.set_ylim(*limits)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax


def nfe_curve(results, floor=None, ax=None, metric="energy distance", title=None):
    """Quality vs number of network evaluations: results = {method: {nfe: value}}, log x axis, floor dashed."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for method, values in results.items():
        nfe = sorted(values)
        ax.plot(nfe, [values[n] for n in nfe], "o-", color=COLORS[method], label=LABELS[method])
    if floor is not None:
        ax.axhline(floor, ls="--", color=COLORS["data"], label="data vs data floor")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("network evaluations (NFE)")
    ax.set_ylabel(metric + " (lower is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def tile(images, cols=10, pad=1, fill=0.0):
    """(N, H, W) images -> one (rows (H + pad), cols (W + pad)) mosaic array, row-major, gaps filled with `fill`."""
    images = _np(images)
    n, h, w = images.shape
    rows = -(-n // cols)
    mosaic = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill, dtype=np.float64)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        mosaic[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = img
    return mosaic


def image_grid(images, ax=None, cols=10, title=None, kind=None, vmax=16.0):
    """Show (N, H, W) pixel images (e.g. digits.to_images(x), values 0..vmax) as one grid, ink dark on white like
    the scikit-learn digits, with faint grey gaps between them; the title takes the colour of `kind` (a key of
    COLORS) if given. Returns the AxesImage, whose set_data(tile(..., fill=0.12 * vmax)) redraws the grid in place."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * cols, 0.5 * -(-len(images) // cols) + 0.4))
    shown = ax.imshow(tile(images, cols, fill=0.12 * vmax), cmap="gray_r", vmin=0.0, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, color=COLORS[kind] if kind else "black")
    return shown
