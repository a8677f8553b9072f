"""Training cost to quality: each method trained with its shipped recipe (train_all.RECIPES), its EMA model scored
at checkpoints during training, against the CPU seconds spent training so far.

    curve(method, toy)            [{"step", "cpu_seconds", "energy": {nfe: value}}, ...] for one training run
    run(methods, toys, jobs)      {toy: {"floor": v, "methods": {method: {"recipe", "load_average", "curve"}}}}
    best(method, entry)           [(cpu_seconds, energy, nfe), ...]: what the figure plots
    merge  summary_table  markdown  figure  write  read

The command is benchmarks/training_cost.py. CPU seconds are time.process_time of a one-thread process, scoring
time left out (other programs on the machine do not inflate them, unlike wall time). Quality is the energy
distance of N_EVAL samples to bench.held_out, each model with its default sampler: IMM, CM and shortcut at 1, 2,
4 and 8 steps (the best of the four is plotted), FM and DDIM at 8 and 32 NFE. The checkpoints sit inside one run
of the full recipe, whose learning rate decays along a cosine over all its steps: an early checkpoint is not what
a shorter recipe would give.
"""
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from . import bench, metrics
from .train import build, fit

RESULTS = bench.RESULTS.with_name("training_cost.json")
METHODS = ("imm", "cm", "shortcut", "fm", "ddim")  # the default run; "imm_paper" on request (--methods)
ORDER = ("imm", "imm_paper", "cm", "shortcut", "fm", "ddim")  # every method this benchmark knows, in table order
TOYS = ("checkerboard", "moons")
CHECKPOINTS = (100, 250, 500, 1000, 2000, 3000, 4500, 6000)  # about log-spaced early, then every 1000-1500 steps
PLOTTED_NFE = {"fm": 32, "ddim": 32}  # FM and DDIM: this NFE solid, the other dotted; the rest: best few-step
QUALITY_NFE = {m: (8, 32) if m in PLOTTED_NFE else bench.FEW_STEP for m in ORDER}


def curve(method, name, recipe=None, checkpoints=CHECKPOINTS, n=bench.N_EVAL, threads=1):
    """Train `method` on toy `name` with `recipe` (default: train_all.RECIPES[method]) and score the EMA model at
    each checkpoint step (and the last step); returns the list of scored checkpoints."""
    from .train_all import RECIPES

    torch.set_num_threads(threads)
    r = recipe or RECIPES[method]
    marks = {s for s in checkpoints if s < r["steps"]} | {r["steps"]}
    energy, points, scoring = metrics.energy_scorer(bench.held_out(name, n)), [], 0.0

    def score(step, ema_model):  # as bench.quality(ema_model, held_out, nfe, ("energy",)), with one cached term
        nonlocal scoring
        if step in marks:
            begin = time.process_time()
            points.append({"step": step, "cpu_seconds": round(begin - start - scoring, 2), "energy": {
                str(k): energy(ema_model.sample(n, k, seed=bench.SAMPLE_SEED)) for k in QUALITY_NFE[method]}})
            scoring += time.process_time() - begin

    start = time.process_time()
    fit(build(method, seed=r["seed"], **r["config"]), name, **{k: v for k, v in r.items() if k != "config"},
        device="cpu", progress=False, callback=score)
    return points


def _one(method, name, recipe, checkpoints, n):
    """One run in a worker process, with the machine's 1-minute load average before and after it: on a busy
    machine CPU seconds grow too (shared caches, context switches), so curves run at different loads compare less
    well."""
    before = os.getloadavg()[0]
    points = curve(method, name, recipe, checkpoints, n)
    return method, name, {"recipe": recipe, "load_average": [round(before, 2), round(os.getloadavg()[0], 2)],
                          "curve": points}


def run(methods=METHODS, toys=TOYS, jobs=1, steps=None, checkpoints=CHECKPOINTS, n=bench.N_EVAL, progress=True,
        on_result=None):
    """Curves of every (method, toy), `jobs` processes of one thread each; steps overrides the recipes' (tests).
    on_result(results so far), if given, runs after each finished curve (e.g. to save them)."""
    from .train_all import RECIPES

    recipes = {m: {**RECIPES[m], **({"steps": steps} if steps else {})} for m in methods}
    results = {name: {"floor": bench.floor(name, n, metric_names=("energy",))["energy"], "methods": {}}
               for name in toys}
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_one, m, t, recipes[m], checkpoints, n) for m in methods for t in toys]
        for fut in futures:
            method, name, entry = fut.result()
            results[name]["methods"][method] = entry
            if on_result:
                on_result({t: res for t, res in results.items() if res["methods"]})
            if progress:
                last = entry["curve"][-1]
                print(f"{method:>8} {name:>13}: {last['cpu_seconds']:6.1f} CPU s, best energy "
                      f"{best(method, results[name]['methods'][method])[-1][1]:.5f}", flush=True)
    return results


def best(method, entry):
    """[(cpu_seconds, energy, nfe), ...] along one method's curve: its best few-step setting at each checkpoint,
    or the value at PLOTTED_NFE for FM and DDIM."""
    out = []
    for p in entry["curve"]:
        by_nfe = {int(k): v for k, v in p["energy"].items()}
        nfe = PLOTTED_NFE.get(method) or min(by_nfe, key=by_nfe.get)
        out.append((p["cpu_seconds"], by_nfe[nfe], nfe))
    return out


def merge(old, new):
    """`old` results updated with `new`'s curves; methods and toys only in `old` stay."""
    out = {name: {"floor": res["floor"], "methods": dict(res["methods"])} for name, res in old.items()}
    for name, res in new.items():
        out.setdefault(name, {"floor": res["floor"], "methods": {}})
        out[name]["floor"] = res["floor"]
        out[name]["methods"].update(res["methods"])
    return out


def _order(methods):
    return sorted(methods, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))


def summary_table(results):
    """Markdown: per toy and method, the training CPU seconds, the final quality, when the curve first came within
    2x the data floor, and the machine's load average before and after the run."""
    lines = ["| toy | floor | method | CPU s | final energy (steps) | first within 2x floor: CPU s (step) | load |",
             "|---|---|---|---|---|---|---|"]
    for name, res in results.items():
        for method in _order(res["methods"]):
            entry = res["methods"][method]
            pts = best(method, entry)
            first = next(((c, p["step"]) for (c, e, _), p in zip(pts, entry["curve"]) if e <= 2 * res["floor"]), None)
            lines.append(f"| {name} | {res['floor']:.5f} | {method} | {pts[-1][0]:.0f} | {pts[-1][1]:.5f} "
                         f"({pts[-1][2]}) | {'%.0f (%d)' % first if first else 'not reached'} | "
                         + "–".join(f"{v:.1f}" for v in entry.get("load_average", [])) + " |")
    return "\n".join(lines)


def markdown(results, n=bench.N_EVAL):
    """The summary table and every checkpoint's numbers."""
    lines = ["# Training cost to quality", "",
             f"Energy distance of {n} samples of the EMA model to {n} held-out points (lower is better) at checkpoints "
             "during one training run with the shipped recipe (`imm_edu.train_all.RECIPES`), against the CPU seconds "
             "of training so far (one thread, scoring time excluded). IMM, CM and shortcut are scored at 1, 2, 4 "
             "and 8 steps and their best is the summary; FM and DDIM at 8 and 32 NFE (summary: 32). `imm` is the "
             "`build(\"imm\")` preset (kernel with a smoothed core), `imm_paper` IMM with exactly the paper's kernel. "
             "Load: the machine's 1-minute load average before and after the run (2 cores); CPU seconds measured on a busy "
             "machine come out higher, so compare curves made at similar loads. "
             "Regenerate with `python benchmarks/training_cost.py` (`--methods imm cm` redoes two methods).", "",
             "## Summary", "", summary_table(results), ""]
    all_nfe = sorted({int(k) for res in results.values() for e in res["methods"].values() for p in e["curve"]
                      for k in p["energy"]})
    for name, res in results.items():
        lines += [f"## {name} (floor {res['floor']:.5f})", "",
                  "| method | step | CPU s | " + " | ".join(f"{k} NFE" for k in all_nfe) + " |",
                  "|---|---|---|" + "---|" * len(all_nfe)]
        for method in _order(res["methods"]):
            for p in res["methods"][method]["curve"]:
                e = {int(k): v for k, v in p["energy"].items()}
                lines.append(f"| {method} | {p['step']} | {p['cpu_seconds']:.1f} | "
                             + " | ".join(f"{e[k]:.5f}" if k in e else "" for k in all_nfe) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(results):
    """One panel per toy: energy distance against training CPU seconds (log-log), one curve per method (best
    few-step setting; FM/DDIM at 32 NFE solid, 8 NFE dotted), the data floor dashed."""
    import matplotlib.pyplot as plt

    from .plot import COLORS, LABELS

    fig, axes = plt.subplots(1, len(results), figsize=(6.2 * len(results), 4.6), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        for method in _order(res["methods"]):
            entry, color = res["methods"][method], COLORS[method]
            cpu, energy, _ = zip(*best(method, entry))
            few = method not in PLOTTED_NFE
            ax.plot(cpu, energy, "o-", color=color, ms=4, lw=2,
                    label=f"{LABELS[method]}, " + ("best of 1/2/4/8 steps" if few else "32 NFE"))
            if not few:
                ax.plot(cpu, [p["energy"]["8"] for p in entry["curve"]], ":", color=color,
                        lw=1.5, label=f"{LABELS[method]}, 8 NFE")
        ax.axhline(res["floor"], ls="--", color=COLORS["data"], label="data vs data floor")
        ax.set(xscale="log", yscale="log", xlabel="training CPU seconds (one thread)",
               ylabel="energy distance (lower is better)", title=name)
        ax.grid(True, which="both", alpha=0.3)
    legend = {}  # one legend under the panels, so that it hides no curve; every panel's entries, once
    for ax in axes[0]:
        legend.update((label, h) for h, label in zip(*ax.get_legend_handles_labels()) if label not in legend)
    labels = list(legend)
    fig.legend(list(legend.values()), labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("Quality against training cost: the EMA model during one run of the shipped recipe")
    fig.tight_layout(rect=(0, 0.025 + 0.035 * math.ceil(len(labels) / 4), 1, 1))
    return fig


def write(results, out_dir=RESULTS.parent, n=bench.N_EVAL):
    """training_cost.json, .md and .png in `out_dir`; returns the three paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw, md, png = out / "training_cost.json", out / "training_cost.md", out / "training_cost.png"
    raw.write_text(json.dumps({"n": n, "held_out_seed": bench.HELD_OUT_SEED, "sample_seed": bench.SAMPLE_SEED,
                               "results": results}, indent=1) + "\n")
    md.write_text(markdown(results, n))
    import matplotlib.pyplot as plt

    fig = figure(results)
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return raw, md, png


def read(path=RESULTS):
    """(results, n) from a training_cost.json written by write()."""
    data = json.loads(Path(path).read_text())
    return data["results"], data["n"]
