"""Lesson 06, section 4: what matters for few-step IMM on a 2-D toy, read from the ablations that
`python benchmarks/diagnose_imm.py` measured (data/imm_ablations.json; each experiment trains the shipped recipe
and changes one thing). The panel draws pushforward and restart quality against steps for one group of experiments,
next to the two baselines: the paper's exact loss ("paper") and the shipped recipe ("step", smoothed kernel core).

Update time: a full redraw of both panels (every curve and the legend change with the group), 320-590 ms in the
kernel in the browser test (benchmarks/widget_latency.md); under the 1 s goal, the slowest control of the series.
"""
import json

import numpy as np
from matplotlib import colormaps

from ..checkpoints import DATA_DIR
from ..plot import COLORS
from ._render import new_figure

ABLATIONS_FILE = DATA_DIR / "imm_ablations.json"
GROUPS = {  # menu label -> group name in the results file
    "why the paper's loss drifts here": "diagnosis",
    "width of the kernel's smooth core": "fix",
    "group size M": "ablation-M",
    "kernel and bandwidth": "ablation-kernel",
    "mapping r(s, t)": "ablation-mapping",
    "parameterization": "ablation-param",
}
BASELINES = {"paper": ("[P]'s loss (Laplace, V-statistic)", COLORS["imm_paper"], "--"),
             "step": ("shipped: smoothed core, 3 steps wide", COLORS["imm"], "-")}
Y_LIMITS = (0.4, 150)  # the same for every group, so groups compare at a glance


def load_ablations(path=ABLATIONS_FILE):
    """{experiment name: {group, toy, question, config, floor, pushforward, restart}} from the results file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; it ships with imm-edu and is written by "
                                "`python benchmarks/diagnose_imm.py --report`") from None
    return data["experiments"]


def experiments_in(results, group):
    """Names of the experiments of `group`, baselines first (each once)."""
    if group not in GROUPS.values():
        raise ValueError(f"unknown group {group!r}; choose one of {list(GROUPS.values())}")
    names = [n for n in BASELINES if n in results] + [n for n, r in results.items() if r["group"] == group]
    return list(dict.fromkeys(names))


class AblationView:
    """Quality (energy distance / data floor, log scale) against steps, pushforward left and restart right, for
    every experiment of one group. update(group=...) switches the group."""

    def __init__(self, results, group="ablation-M"):
        self.results = results
        self.fig, (self.ax_push, self.ax_restart) = new_figure(2, figsize=(10, 4.3), sharey=True)
        self.update(group=group)

    def update(self, group=None):
        names = experiments_in(self.results, group or self.group)
        self.group = group or self.group
        others = [n for n in names if n not in BASELINES]
        colours = dict(zip(others, colormaps["viridis"](np.linspace(0.05, 0.85, max(len(others), 1)))))
        for ax, sampler in ((self.ax_push, "pushforward"), (self.ax_restart, "restart")):
            ax.cla()
            for name in names:
                curve = self.results[name][sampler]
                steps = sorted(int(k) for k in curve)
                label, colour, ls = BASELINES.get(name, (name, colours.get(name), "-"))
                ax.plot(steps, [curve[str(k)] for k in steps], ls, marker="o", ms=4, color=colour, label=label,
                        lw=2.2 if name in BASELINES else 1.6)
            ax.axhline(1, ls=":", color=COLORS["data"], lw=1)
            ax.set_xscale("log", base=2)
            ax.set_xticks(steps, [str(k) for k in steps], minor=False)
            ax.set_xticks([], minor=True)
            ax.set_yscale("log")
            ax.set_ylim(*Y_LIMITS)
            ax.set_xlabel("steps (= network evaluations)")
            ax.grid(True, which="both", alpha=0.25)
            ax.set_title(f"{sampler}")
        self.ax_push.text(1, 1.08, "data floor", color=COLORS["data"], fontsize=9)
        self.ax_push.set_ylabel("energy distance / data floor")
        self.ax_restart.legend(loc="upper right", fontsize=8.5, framealpha=0.9)
        return self
