"""Benchmark: sample quality against the number of network evaluations (NFE) for the shipped models.

    python -m imm_edu bench                  every shipped toy; writes benchmarks/results.md and quality_vs_nfe.png
    python -m imm_edu bench --methods shortcut --merge    rescore one method, keep the others' numbers
    run(toys, methods, nfe, n, jobs)         the numbers, as a dict (tests call it reduced: one toy, few points)

Each model draws n points (seed SAMPLE_SEED) at each NFE and is compared with n held-out points of its toy,
drawn with HELD_OUT_SEED (training uses seed 0, see train.fit), by the three metrics of imm_edu.metrics. The
data-vs-data floor compares the held-out set with n i.i.d. points of the true distribution: what a perfect
sampler scores at this n. Every sampler here costs one network evaluation per step (IMM pushforward, DDIM, flow
matching with Euler), so NFE = steps. The full run takes tens of minutes on 2 cores (the MMD dominates).
"""
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import torch

from . import metrics, toy
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


def held_out(name, n=N_EVAL):
    return toy.sample(name, n, seed=HELD_OUT_SEED)


def floor(name, n=N_EVAL, repeats=3, metric_names=tuple(metrics.METRICS)):
    """What a perfect sampler scores: metrics between the held-out set and n i.i.d. data points (mean of `repeats`).

    The points are random subsets of one large fresh draw, not a second n-point draw: sklearn's moons are evenly
    spaced along the arcs within a draw, and two such draws agree better than any i.i.d. sampler can."""
    ref, pool = held_out(name, n), toy.sample(name, 20 * n, seed=HELD_OUT_SEED + 1)
    gen = torch.Generator().manual_seed(0)
    subsets = [pool[torch.randperm(len(pool), generator=gen)[:n]] for _ in range(repeats)]
    return {m: sum(metrics.METRICS[m](x, ref) for x in subsets) / repeats for m in metric_names}


@torch.no_grad()
def quality(model, reference, nfe=(1, 2, 4, 8), metric_names=tuple(metrics.METRICS), **sample_kw):
    """{nfe: {metric: value}} for len(reference) samples of `model` at each step count in `nfe`;
    sample_kw go to model.sample (e.g. sampler="restart")."""
    out = {}
    for steps in nfe:
        samples = model.sample(len(reference), steps, seed=SAMPLE_SEED, **sample_kw)
        out[steps] = {m: metrics.METRICS[m](samples, reference) for m in metric_names}
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
        ref = held_out(name, n)
        if not any(e["toy"] == name for e in entries):
            raise ValueError(f"no shipped models for toy {name!r}; shipped: {sorted({e['toy'] for e in entries})}")
        res = results[name] = {"floor": floor(name, n), "models": {}, "train_seconds": {}, "cpu_seconds": {}}
        for e in entries:
            if e["toy"] != name or (methods and e["method"] not in methods):
                continue
            model = load_pretrained(e["method"], name)
            for key, sample_kw in {e["method"]: {}, **VARIANTS.get(e["method"], {})}.items():
                res["models"][key] = quality(model, ref, nfe or NFE[e["method"]], **sample_kw)
                res["train_seconds"][key] = e["train_seconds"]
                res["cpu_seconds"][key] = e.get("cpu_seconds", float("nan"))
                if progress:
                    print(f"  {name:>16} {key:>11}: energy " + " ".join(
                        f"{k}:{v['energy']:.4f}" for k, v in res["models"][key].items()), flush=True)
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


def targets(results, metric="energy"):
    """Rows (toy, IMM key, IMM steps, IMM value, nfe, FM value, DDIM value, met) for the TARGETS the results cover,
    for IMM with its default sampler ("imm") and each of its VARIANTS."""
    rows = []
    for name, res in results.items():
        m = res["models"]
        for key in ("imm", *VARIANTS["imm"]):
            for steps, nfe in TARGETS:
                if steps in m.get(key, {}) and all(nfe in m.get(b, {}) for b in ("fm", "ddim")):
                    imm, fm, ddim = m[key][steps][metric], m["fm"][nfe][metric], m["ddim"][nfe][metric]
                    rows.append((name, key, steps, imm, nfe, fm, ddim, imm <= min(fm, ddim)))
    return rows


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
        lines += ["## Targets (energy distance): IMM at 1 step vs FM/DDIM at 8 NFE, IMM at 2 steps vs 32 NFE", "",
                  "| toy | IMM sampler | IMM steps | IMM | NFE | FM | DDIM | IMM <= both |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {t} | {'restart' if 'restart' in key else 'pushforward'} | {s} | {_fmt(i)} | {k} | {_fmt(f)} | "
                  f"{_fmt(d)} | {'yes' if ok else 'no'} |" for t, key, s, i, k, f, d, ok in rows]
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
    all_nfe = sorted({k for res in results.values() for m in res["models"].values() for k in m})
    for metric, label in METRIC_LABELS.items():
        lines += [f"## {label}", "", "| toy | method | train s (CPU s) | " + " | ".join(f"NFE {k}" for k in all_nfe)
                  + " |", "|---|---|---|" + "---|" * len(all_nfe)]
        for name, res in results.items():
            lines.append(f"| {name} | floor | | " + " | ".join([_fmt(res["floor"][metric])] * len(all_nfe)) + " |")
            for method, by_nfe in res["models"].items():
                cells = [_fmt(by_nfe[k][metric]) if k in by_nfe else "" for k in all_nfe]
                secs = f"{res['train_seconds'][method]:.0f} ({res['cpu_seconds'][method]:.0f})"
                lines.append(f"| {name} | {method} | {secs} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(results, metric="energy"):
    """One panel per toy: `metric` against NFE (log x), data floor dashed (imm_edu.plot.nfe_curve)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import StrMethodFormatter

    from .plot import COLORS, LABELS, nfe_curve

    cols = min(3, len(results))
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.2 * rows), squeeze=False)
    for ax, (name, res) in zip(axes.flat, results.items()):
        curves = {key: {k: v[metric] for k, v in by_nfe.items()} for key, by_nfe in res["models"].items()}
        nfe_curve({k: c for k, c in curves.items() if k in COLORS}, floor=res["floor"][metric], ax=ax,
                  metric=METRIC_LABELS[metric], title=name)
        for key, curve in curves.items():
            if key not in COLORS:  # a variant: the method's colour, dotted, e.g. "imm restart"
                method, variant = key.split(" ", 1)
                nfe = sorted(curve)
                ax.plot(nfe, [curve[k] for k in nfe], "s:", color=COLORS[method], label=f"{LABELS[method]} ({variant})")
        ax.legend(fontsize=8)
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))  # 1, 2, 4, ... rather than 2^0, 2^1, ...
    for ax in list(axes.flat)[len(results):]:
        ax.set_visible(False)
    fig.suptitle(f"{METRIC_LABELS[metric]} to held-out data vs network evaluations (= sampler steps); "
                 "IMM: pushforward sampler, dotted: restart sampler")
    fig.tight_layout()
    return fig


def write(results, out_dir="benchmarks", n=N_EVAL):
    """Write results.md, quality_vs_nfe.png and the raw numbers (results.json) into `out_dir`; returns the paths."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, png, raw = out / "results.md", out / "quality_vs_nfe.png", out / "results.json"
    md.write_text(markdown(results, n))
    figure(results).savefig(png, dpi=100)
    raw.write_text(json.dumps({"n": n, "held_out_seed": HELD_OUT_SEED, "sample_seed": SAMPLE_SEED,
                               "results": results}, indent=1) + "\n")
    return md, png, raw


def read(path=RESULTS):
    """(results, n) back from a results.json written by write() (default: the repository's), to re-render without
    re-sampling."""
    import json

    data = json.loads(Path(path).read_text())
    for res in data["results"].values():
        res["models"] = {key: {int(k): q for k, q in by_nfe.items()} for key, by_nfe in res["models"].items()}
    return data["results"], data["n"]
