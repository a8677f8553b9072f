"""Benchmark: sample quality against the number of network evaluations (NFE) for the shipped models.

    python -m imm_edu bench                  every shipped toy; writes benchmarks/results.md and quality_vs_nfe.png
    python -m imm_edu bench --methods shortcut --merge    rescore one method, keep the others' numbers
    run(toys, methods, nfe, n, jobs)         the numbers, as a dict (tests call it reduced: one toy, few points)

Each model draws n points (seed SAMPLE_SEED) at each NFE and is compared with n held-out points of its toy,
drawn with HELD_OUT_SEED (training uses seed 0, see train.fit), by the three metrics of imm_edu.metrics. The
data-vs-data floor compares the held-out set with n i.i.d. points of the true distribution: what a perfect
sampler scores at this n. Every sampler here costs one network evaluation per step (IMM pushforward, DDIM, flow
matching with Euler), so NFE = steps. The full run takes tens of minutes on 2 cores (the MMD dominates).

The 8x8 digits ("digits", 64-D) are scored by digit_metrics (FD-digits, energy distance, class coverage,
confidence) with 300 samples against the 300 `held_out` images; their floor is the 300 `floor` images against the
same 300 (digits.py). They go to their own files: digits_results.md, digits_results.json, digits_quality_vs_nfe.png.
"""
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import torch

from . import digit_metrics, digits, metrics, toy
from .checkpoints import load_pretrained, manifest

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results.json"  # what `python -m imm_edu bench` writes
HELD_OUT_SEED = 1_000_003  # disjoint from the training seed 0, so held-out points are fresh draws
SAMPLE_SEED = 7  # prior noise of the evaluated samples
N_EVAL = 5000
FEW_STEP = (1, 2, 4, 8)
ALL_STEPS = (1, 2, 4, 8, 16, 32, 64, 128)
NFE = {"imm": FEW_STEP, "imm_paper": FEW_STEP, "cm": FEW_STEP, "ddim": ALL_STEPS, "fm": ALL_STEPS, "shortcut": ALL_STEPS}
METRIC_LABELS = {"energy": "energy distance", "sliced_w2": "sliced W2", "mmd": "MMD (RBF mix)"}
# Samplers scored besides each model's own default, at the same NFE: IMM's restart sampler ([P] Alg. 5).
VARIANTS = {"imm": {"imm restart": {"sampler": "restart"}}}
TARGETS = ((1, 8), (2, 32))  # IMM at `steps` should be at least as good as FM and DDIM at `nfe` (issue 3)
SLACK = 1.1  # "does not get worse with steps": E(2k) <= 1.1 E(k) (issue 8)
DIGITS_TARGETS = ((1, 8), (2, 16))  # the same on FD-digits (issue 10); moonshot: IMM at <= 8 steps within 2x floor
N_DIGITS = 300  # images in each of the digits' held_out and floor splits: digits are scored with n <= 300
# FD-digits of 300 model samples varies from one set of samples to the next (std ~2.5 at 1 IMM step, ~1.5 at 4;
# a few odd samples move the fitted covariance): digits models are scored by the mean over 20 sample seeds
# (SAMPLE_SEED, SAMPLE_SEED + 1, ...), whose std is ~0.5
REPEATS = {digits.NAME: 20}
ALL_METRICS = {**metrics.METRICS, **digit_metrics.METRICS}


def metric_names(name):
    """The metrics a dataset is scored with: digit_metrics.METRICS for the digits, metrics.METRICS for the toys."""
    return tuple(digit_metrics.METRICS if name == digits.NAME else metrics.METRICS)


def held_out(name, n=N_EVAL):
    """n held-out points of a toy (seed HELD_OUT_SEED), or the first min(n, 300) images of the digits' held_out
    split."""
    if name == digits.NAME:
        return digits.load("held_out")[0][:n]
    return toy.sample(name, n, seed=HELD_OUT_SEED)


def floor(name, n=N_EVAL, repeats=3, metric_names=tuple(metrics.METRICS)):
    """What a perfect sampler scores: metrics between the held-out set and n i.i.d. data points (mean of `repeats`).

    The points are random subsets of one large fresh draw, not a second n-point draw: sklearn's moons are evenly
    spaced along the arcs within a draw, and two such draws agree better than any i.i.d. sampler can.
    Digits: the first min(n, 300) images of the `floor` split against as many `held_out` ones (no repeats)."""
    if name == digits.NAME:
        real = digits.load("floor")[0][:n]
        return {m: ALL_METRICS[m](real, held_out(name, n)) for m in metric_names}
    ref, pool = held_out(name, n), toy.sample(name, 20 * n, seed=HELD_OUT_SEED + 1)
    gen = torch.Generator().manual_seed(0)
    subsets = [pool[torch.randperm(len(pool), generator=gen)[:n]] for _ in range(repeats)]
    return {m: sum(metrics.METRICS[m](x, ref) for x in subsets) / repeats for m in metric_names}


@torch.no_grad()
def quality(model, reference, nfe=(1, 2, 4, 8), metric_names=tuple(metrics.METRICS), repeats=1, **sample_kw):
    """{nfe: {metric: value}} for len(reference) samples of `model` at each step count in `nfe`, averaged over
    `repeats` sample seeds from SAMPLE_SEED on; metric names from ALL_METRICS; sample_kw go to model.sample
    (e.g. sampler="restart")."""
    out = {}
    for steps in nfe:
        values = {m: 0.0 for m in metric_names}
        for seed in range(SAMPLE_SEED, SAMPLE_SEED + repeats):
            samples = model.sample(len(reference), steps, seed=seed, **sample_kw)
            for m in metric_names:
                values[m] += ALL_METRICS[m](samples, reference) / repeats
        out[steps] = values
    return out


def run(toys=None, methods=None, nfe=None, n=N_EVAL, jobs=1, progress=True):
    """Scores of the shipped models (all by default) and their VARIANTS; `nfe` overrides the per-method NFE lists.
    Returns {toy: {"floor": {metric: v}, "models": {key: {nfe: {metric: v}}}, "train_seconds" / "cpu_seconds":
    {key: s}}} with key = method, or a variant name such as "imm restart".
    jobs > 1 evaluates that many toys at once, in processes of one CPU thread each."""
    entries = manifest()
    toys = toys or sorted({e["toy"] for e in entries})
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=torch.set_num_threads,
                                 initargs=(1,)) as pool:
            parts = pool.map(partial(run, methods=methods, nfe=nfe, n=n, progress=progress), [[t] for t in toys])
            return {name: res for part in parts for name, res in part.items()}
    results = {}
    for name in toys:
        ref, scored_by = held_out(name, n), metric_names(name)
        if not any(e["toy"] == name for e in entries):
            raise ValueError(f"no shipped models for toy {name!r}; shipped: {sorted({e['toy'] for e in entries})}")
        res = results[name] = {"floor": floor(name, n, metric_names=scored_by), "models": {}, "train_seconds": {},
                               "cpu_seconds": {}}
        for e in entries:
            if e["toy"] != name or (methods and e["method"] not in methods):
                continue
            model = load_pretrained(e["method"], name)
            for key, sample_kw in {e["method"]: {}, **VARIANTS.get(e["method"], {})}.items():
                res["models"][key] = quality(model, ref, nfe or NFE[e["method"]], scored_by, REPEATS.get(name, 1),
                                             **sample_kw)
                res["train_seconds"][key] = e["train_seconds"]
                res["cpu_seconds"][key] = e.get("cpu_seconds", float("nan"))
                if progress:
                    print(f"  {name:>16} {key:>11}: {scored_by[0]} " + " ".join(
                        f"{k}:{v[scored_by[0]]:.4f}" for k, v in res["models"][key].items()), flush=True)
    return results


def merge(old, new):
    """`old` results updated with `new`'s: per toy, new models replace old ones of the same key, others stay."""
    out = {name: {**res, **{k: dict(res[k]) for k in ("models", "train_seconds", "cpu_seconds")}}
           for name, res in old.items()}
    for name, res in new.items():
        if name not in out:
            out[name] = res
            continue
        out[name]["floor"] = res["floor"]
        for k in ("models", "train_seconds", "cpu_seconds"):
            out[name][k].update(res[k])
    return out


def monotone(results, key="imm", metric="energy"):
    """Rows (toy, values at FEW_STEP, ok): ok when no doubling of the steps makes `key` worse by more than SLACK
    (E(2) <= 1.1 E(1), E(4) <= 1.1 E(2), E(8) <= 1.1 E(4))."""
    rows = []
    for name, res in results.items():
        if key in res["models"] and all(k in res["models"][key] for k in FEW_STEP):
            v = [res["models"][key][k][metric] for k in FEW_STEP]
            rows.append((name, v, all(b <= SLACK * a for a, b in zip(v, v[1:]))))
    return rows


def _fmt(v):
    return f"{v:.5f}"  # one fixed format, so the columns compare at a glance


def targets(results, metric="energy", pairs=TARGETS):
    """Rows (toy, IMM key, IMM steps, IMM value, nfe, FM value, DDIM value, met) for the target `pairs` (steps, nfe)
    the results cover, for IMM with its default sampler ("imm") and each of its VARIANTS."""
    rows = []
    for name, res in results.items():
        m = res["models"]
        for key in ("imm", *VARIANTS["imm"]):
            for steps, nfe in pairs:
                if steps in m.get(key, {}) and all(nfe in m.get(b, {}) for b in ("fm", "ddim")):
                    imm, fm, ddim = m[key][steps][metric], m["fm"][nfe][metric], m["ddim"][nfe][metric]
                    rows.append((name, key, steps, imm, nfe, fm, ddim, imm <= min(fm, ddim)))
    return rows


def _sampler(key):
    return "restart" if "restart" in key else "pushforward"


def _targets_table(rows):
    lines = ["| data | IMM sampler | IMM steps | IMM | NFE | FM | DDIM | IMM <= both |",
             "|---|---|---|---|---|---|---|---|"]
    return lines + [f"| {t} | {_sampler(key)} | {s} | {_fmt(i)} | {k} | {_fmt(f)} | {_fmt(d)} | "
                    f"{'yes' if ok else 'no'} |" for t, key, s, i, k, f, d, ok in rows]


def metric_table(results, metric, label):
    """Markdown lines of one metric: rows (data, floor / method), columns every NFE in the results."""
    all_nfe = sorted({k for res in results.values() for m in res["models"].values() for k in m})
    lines = [f"## {label}", "", "| data | method | train s (CPU s) | " + " | ".join(f"NFE {k}" for k in all_nfe)
             + " |", "|---|---|---|" + "---|" * len(all_nfe)]
    for name, res in results.items():
        lines.append(f"| {name} | floor | | " + " | ".join([_fmt(res["floor"][metric])] * len(all_nfe)) + " |")
        for method, by_nfe in res["models"].items():
            cells = [_fmt(by_nfe[k][metric]) if k in by_nfe else "" for k in all_nfe]
            secs = f"{res['train_seconds'][method]:.0f} ({res['cpu_seconds'][method]:.0f})"
            lines.append(f"| {name} | {method} | {secs} | " + " | ".join(cells) + " |")
    return lines + [""]


def markdown(results, n=N_EVAL):
    """The results as markdown: the target check, then one table per metric (rows toy x method, columns NFE)."""
    lines = ["# Sample quality vs NFE of the shipped models", "",
             f"{n} samples per model against {n} held-out points (seed {HELD_OUT_SEED}, disjoint from training). "
             f"`floor` = the same metric for {n} i.i.d. data points (what a perfect sampler scores). Lower is "
             "better. Training seconds: wall (CPU) of the one-thread training process, from data/manifest.json; wall "
             "time includes other programs sharing the machine. Regenerate with `python -m imm_edu bench`.", "",
             "IMM is scored with its default pushforward sampler ([P] Alg. 2, `imm`) and with the restart sampler "
             "([P] Alg. 5, `imm restart`: jump to t = 0, re-noise, repeat; the consistency model's default). Both "
             "cost one network evaluation per step, and they coincide at 1 step. The shortcut model takes a power-of-two "
             "number of steps, up to 128.", "",
             "Quality against training cost (CPU seconds) for every method: `training_cost.md` and `training_cost.png` "
             "(`python benchmarks/training_cost.py`).", ""]
    if rows := targets(results):
        lines += ["## Targets (energy distance): IMM at 1 step vs FM/DDIM at 8 NFE, IMM at 2 steps vs 32 NFE", ""]
        lines += _targets_table(rows)
        lines += ["", "Toys where the target is met, by metric:", ""]
        for metric, label in METRIC_LABELS.items():
            by_metric = targets(results, metric)
            for key in dict.fromkeys(r[1] for r in by_metric):
                met = {s: sum(ok for _, k2, s2, *_, ok in by_metric if (k2, s2) == (key, s)) for s, _ in TARGETS}
                lines.append(f"- {label}, {key}: " + ", ".join(f"{met[s]}/{len(results)} at {s} step(s)"
                                                               for s, _ in TARGETS))
        lines.append("")
    for key in ("imm", "imm_paper"):
        if rows := monotone(results, key):
            lines += [f"## Does `{key}` (pushforward) get better with steps? E(2k) <= {SLACK} E(k), energy distance", "",
                      "| toy | " + " | ".join(f"{k} step(s)" for k in FEW_STEP) + " | never worse |",
                      "|---|" + "---|" * (len(FEW_STEP) + 1)]
            lines += [f"| {t} | " + " | ".join(_fmt(x) for x in v) + f" | {'yes' if ok else 'no'} |" for t, v, ok in rows]
            lines += ["", f"{sum(ok for *_, ok in rows)}/{len(rows)} toys never get worse with steps.", ""]
    for metric, label in METRIC_LABELS.items():
        lines += metric_table(results, metric, label)
    return "\n".join(lines)


def moonshot(res, metric="fd", max_steps=8):
    """Rows (IMM key, best steps <= max_steps, its value, 2 x floor, met) for each IMM sampler in one result."""
    rows = []
    for key in ("imm", *VARIANTS["imm"]):
        by_nfe = {k: q[metric] for k, q in res["models"].get(key, {}).items() if k <= max_steps}
        if by_nfe:
            best = min(by_nfe, key=by_nfe.get)
            rows.append((key, best, by_nfe[best], 2 * res["floor"][metric], by_nfe[best] <= 2 * res["floor"][metric]))
    return rows


def digits_markdown(results, n=N_DIGITS):
    """The digits' results as markdown: targets and moonshot on FD-digits, then one table per digit metric."""
    res = results[digits.NAME]
    lines = ["# Sample quality vs NFE on the 8x8 digits (64-D)", "",
             f"{n} samples per model (every number: the mean over {REPEATS[digits.NAME]} sample seeds) against the {n} "
             "`held_out` digits, which no model and not the metric's classifier ever trained on. `floor` = "
             f"{n} other real digits (the `floor` split) against the same {n}: what a perfect sampler scores at this "
             "n. FD-digits is the Frechet distance of the classifier's 64-D penultimate features (like FID); class "
             "coverage TV is the total variation between the predicted-class histogram and the uniform one; "
             "confidence is the classifier's mean top probability (both of these use the samples only; 300 i.i.d. "
             f"samples of a perfect model have class TV {digit_metrics.uniform_tv(n):.3f} on average, the stratified "
             "floor split less). Copying is the median distance of the samples to their nearest training image over "
             "that of the held-out digits (1 = like unseen real digits, < 1 = reproducing training images). Lower is "
             "better for FD-digits, energy and class TV. See imm_edu/digit_metrics.py. Regenerate with "
             "`python -m imm_edu bench --toys digits`.", "",
             "## Targets (FD-digits): IMM at 1 step vs FM/DDIM at 8 NFE, IMM at 2 steps vs 16 NFE", ""]
    lines += _targets_table(targets(results, "fd", DIGITS_TARGETS))
    lines += ["", "Moonshot: IMM at <= 8 steps within 2x the floor (FD-digits)", "",
              "| IMM sampler | best steps <= 8 | FD-digits | 2 x floor | met |", "|---|---|---|---|---|"]
    lines += [f"| {_sampler(key)} | {k} | {_fmt(v)} | {_fmt(f2)} | {'yes' if ok else 'no'} |"
              for key, k, v, f2, ok in moonshot(res)]
    lines.append("")
    for metric, label in digit_metrics.LABELS.items():
        lines += metric_table(results, metric, label)
    return "\n".join(lines)


def _nfe_panel(ax, res, metric, label, title):
    """`metric` of every model in one result against NFE (log x), data floor dashed; variants dotted."""
    from matplotlib.ticker import StrMethodFormatter

    from .plot import COLORS, LABELS, nfe_curve

    curves = {key: {k: v[metric] for k, v in by_nfe.items()} for key, by_nfe in res["models"].items()}
    nfe_curve({k: c for k, c in curves.items() if k in COLORS}, floor=res["floor"][metric], ax=ax, metric=label,
              title=title)
    for key, curve in curves.items():
        if key not in COLORS:  # a variant: the method's colour, dotted, e.g. "imm restart"
            method, variant = key.split(" ", 1)
            nfe = sorted(curve)
            ax.plot(nfe, [curve[k] for k in nfe], "s:", color=COLORS[method], label=f"{LABELS[method]} ({variant})")
    ax.legend(fontsize=8)
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))  # 1, 2, 4, ... rather than 2^0, 2^1, ...


def figure(results, metric="energy"):
    """One panel per toy: `metric` against NFE (log x), data floor dashed (imm_edu.plot.nfe_curve)."""
    import matplotlib.pyplot as plt

    cols = min(3, len(results))
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.2 * rows), squeeze=False)
    for ax, (name, res) in zip(axes.flat, results.items()):
        _nfe_panel(ax, res, metric, METRIC_LABELS[metric], name)
    for ax in list(axes.flat)[len(results):]:
        ax.set_visible(False)
    fig.suptitle(f"{METRIC_LABELS[metric]} to held-out data vs network evaluations (= sampler steps); "
                 "IMM: pushforward sampler, dotted: restart sampler")
    fig.tight_layout()
    return fig


def digits_figure(res, metric_names=("fd", "energy", "class_tv", "copying")):
    """One panel per digit metric for the digits' result `res`, as in figure(), two per row."""
    import matplotlib.pyplot as plt

    rows = -(-len(metric_names) // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 4.4 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metric_names):
        _nfe_panel(ax, res, metric, digit_metrics.LABELS[metric], f"digits: {digit_metrics.LABELS[metric]}")
    fig.suptitle("8x8 digits (64-D) vs network evaluations; IMM: pushforward sampler, dotted: restart sampler")
    fig.tight_layout()
    return fig


def write(results, out_dir="benchmarks", n=N_EVAL):
    """Write the markdown tables, the figure and the raw numbers into `out_dir`; returns the paths. Toys go to
    results.md, quality_vs_nfe.png, results.json; the digits to digits_results.md, digits_quality_vs_nfe.png,
    digits_results.json (each set only if the results have it)."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    toys = {name: res for name, res in results.items() if name != digits.NAME}
    sets = [("", toys, n, markdown, figure)] if toys else []
    if digits.NAME in results:
        sets.append(("digits_", {digits.NAME: results[digits.NAME]}, min(n, N_DIGITS), digits_markdown,
                     lambda r: digits_figure(r[digits.NAME])))
    paths = []
    for prefix, part, size, to_markdown, to_figure in sets:
        md, png, raw = out / f"{prefix}results.md", out / f"{prefix}quality_vs_nfe.png", out / f"{prefix}results.json"
        md.write_text(to_markdown(part, size))
        to_figure(part).savefig(png, dpi=100)
        raw.write_text(json.dumps({"n": size, "held_out_seed": HELD_OUT_SEED, "sample_seed": SAMPLE_SEED,
                                   "results": part}, indent=1) + "\n")
        paths += [md, png, raw]
    return paths


def read(path=RESULTS):
    """(results, n) back from a results.json written by write() (default: the repository's), to re-render without
    re-sampling."""
    import json

    data = json.loads(Path(path).read_text())
    for res in data["results"].values():
        res["models"] = {key: {int(k): q for k, q in by_nfe.items()} for key, by_nfe in res["models"].items()}
    return data["results"], data["n"]
