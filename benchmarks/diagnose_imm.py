"""Why pushforward IMM got worse with more steps on the 2-D toys, and what fixes it (issue 8).

    python benchmarks/diagnose_imm.py --list                 the experiments, by group
    python benchmarks/diagnose_imm.py paper step ...          train and measure these (2 processes, 1 thread each),
                                                              append to diagnose_imm.jsonl, rewrite diagnose_imm.md
    python benchmarks/diagnose_imm.py --group ablation-M      every experiment of a group
    python benchmarks/diagnose_imm.py --report                only rewrite diagnose_imm.md (and data/imm_ablations.json)

Every experiment trains one IMM model with the shipped recipe (imm_edu.train_all.RECIPES, 6,000 steps) changing one
thing, then measures, against exact samples (x_t = alpha_t x + sigma_t eps with fresh data is an exact draw of q_t):
  - pushforward at 1, 2, 4, 8, 16 steps and restart at 2, 4, 8 steps: energy distance to 5,000 held-out points,
    as a multiple of the data floor (what 5,000 real points score);
  - single jumps f_{s,t}(x_t) from exact q_t samples, scored against exact q_s samples (multiple of the q_s-vs-q_s
    floor) with the per-axis std ratio (> 1: too wide);
  - the drift along the 8-step pushforward chain: distance to the exact q_{t_i} and std ratio at every step.
The lesson reads the experiments marked `lesson` from data/imm_ablations.json, so it runs in seconds.
"""
import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from imm_edu import bench, metrics, toy
from imm_edu.schedules import interpolate
from imm_edu.train import build, fit
from imm_edu.train_all import RECIPES

HERE = Path(__file__).resolve().parent
RESULTS, REPORT = HERE / "diagnose_imm.jsonl", HERE / "diagnose_imm.md"
LESSON_FILE = HERE.parent / "data" / "imm_ablations.json"
PUSH, RESTART = (1, 2, 4, 8, 16), (2, 4, 8)
JUMPS = ((0.994, 0.0), (0.994, 0.5), (0.994, 0.75), (0.75, 0.5), (0.5, 0.25), (0.5, 0.0), (0.25, 0.0))
N = bench.N_EVAL

PAPER = {"method": "imm_paper"}
STEP = {"method": "imm"}  # the shipped recipe: smoothing "step", core 3
# name: (group, base, config changes, fit changes, toy, question it answers). One change per row from its base.
EXPERIMENTS = {
    # -- the trend and where it comes from (paper's kernel) --
    "paper": ("diagnosis", PAPER, {}, {}, "checkerboard", "the paper's setting: does pushforward drift?"),
    "paper M1": ("diagnosis", PAPER, {"M": 1}, {}, "checkerboard",
                 "M = 1 keeps only the pull to the own target (an L1 consistency loss): same drift?"),
    "paper M1 energy": ("diagnosis", PAPER, {"M": 1, "kernel": "energy"}, {}, "checkerboard",
                        "the same pull with an L2 loss (energy kernel, random s): drift or not?"),
    "paper u-statistic": ("diagnosis", PAPER, {"estimator": "u"}, {}, "checkerboard",
                          "unbiased MMD without any own-target pull: is the pull needed?"),
    "paper u-statistic bw16": ("diagnosis", PAPER, {"estimator": "u", "bandwidth": 16.0}, {}, "checkerboard",
                               "the same with a 16x wider kernel, as wide relative to the spread as in ~512-D"),
    # -- smoothing the kernel's cusp --
    "fixed core 0.1": ("fix", PAPER, {"smoothing": "fixed", "core": 0.1}, {}, "checkerboard",
                       "a quadratic core of fixed width c = 0.1 (in units of the bandwidth)"),
    "fixed core 0.3": ("fix", PAPER, {"smoothing": "fixed", "core": 0.3}, {}, "checkerboard", "c = 0.3"),
    "fixed core 1": ("fix", PAPER, {"smoothing": "fixed", "core": 1.0}, {}, "checkerboard", "c = 1"),
    "step core 1": ("fix", STEP, {"core": 1.0}, {}, "checkerboard", "core one induction step wide"),
    "step": ("fix", STEP, {}, {}, "checkerboard", "core three induction steps wide (shipped)"),
    "step core 10": ("fix", STEP, {"core": 10.0}, {}, "checkerboard", "core ten induction steps wide"),
    # -- group size, with each kernel (lesson: [P] Fig. 5) --
    **{f"paper M{m}": ("ablation-M", PAPER, {"M": m}, {}, "checkerboard", f"M = {m}, paper kernel")
       for m in (2, 8)},
    **{f"step M{m}": ("ablation-M", STEP, {"M": m}, {}, "checkerboard", f"M = {m}, smoothed kernel")
       for m in (1, 2, 8)},
    # -- kernel and bandwidth (lesson) --
    "step rbf": ("ablation-kernel", STEP, {"kernel": "rbf", "smoothing": "none"}, {}, "checkerboard",
                 "RBF kernel (no cusp at 0 by itself)"),
    "step distance": ("ablation-kernel", STEP, {"kernel": "distance"}, {}, "checkerboard",
                      "energy-distance kernel -||a-b|| with the same core (= iCT's pseudo-Huber)"),
    "paper bw4": ("ablation-kernel", PAPER, {"bandwidth": 4.0}, {}, "checkerboard", "paper kernel, 4x wider"),
    "paper bw0.25": ("ablation-kernel", PAPER, {"bandwidth": 0.25}, {}, "checkerboard", "paper kernel, 4x sharper"),
    # -- r(s,t) mapping, [P] Fig. 11 (lesson) --
    "step t-decrement": ("ablation-mapping", STEP, {"mapping": "t_decrement"}, {}, "checkerboard",
                         "constant decrement in t instead of in eta"),
    "step k8": ("ablation-mapping", STEP, {"k": 8}, {}, "checkerboard", "16x bigger eta steps (k = 8)"),
    "step k15": ("ablation-mapping", STEP, {"k": 15}, {}, "checkerboard", "8x smaller eta steps (k = 15)"),
    # -- parameterization, [P] Table 3 (lesson) --
    "step euler_fm": ("ablation-param", STEP, {"param": "euler_fm"}, {}, "checkerboard", "Euler-FM"),
    "step identity": ("ablation-param", STEP, {"param": "identity"}, {}, "checkerboard", "Identity (c_skip = 0)"),
    # -- the shipped recipe on every toy, next to the paper's --
    **{f"{base} {name}": ("toys", b, {}, {}, name, f"{base} kernel on {name}")
       for name in ("eight_gaussians", "gmm", "moons", "spirals") for base, b in (("paper", PAPER), ("step", STEP))},
}
LESSON_GROUPS = ("ablation-M", "ablation-kernel", "ablation-mapping", "ablation-param")


@torch.no_grad()
def exact_marginal(name, n, t, seed):
    """n exact samples of q_t: fresh data x and eps ~ N(0, sigma_d^2 I) mixed as alpha_t x + sigma_t eps."""
    gen = torch.Generator().manual_seed(seed)
    return interpolate(toy.sample(name, n, seed=seed), 0.5 * torch.randn(n, 2, generator=gen), t)


def _std_ratio(x, ref):
    return (x.std(0) / ref.std(0)).mean().item()


@torch.no_grad()
def single_jumps(model, name, pairs=JUMPS):
    """[(t, s, distance / floor, std ratio)] of f_{s,t} applied to exact q_t samples, against exact q_s."""
    rows = []
    for i, (t, s) in enumerate(pairs):
        seed = bench.HELD_OUT_SEED + 100 * i
        y = model.f(exact_marginal(name, N, t, seed), s, t)
        ref, ref2 = exact_marginal(name, N, s, seed + 1), exact_marginal(name, N, s, seed + 2)
        rows.append((t, s, metrics.energy_distance(y, ref) / metrics.energy_distance(ref2, ref), _std_ratio(y, ref)))
    return rows


@torch.no_grad()
def chain_drift(model, name, steps=8):
    """[(t_i, distance / floor, std ratio)] along the pushforward chain, against exact q_{t_i}."""
    x, times, rows = model.prior(N, seed=bench.SAMPLE_SEED), model.grid(steps), []
    for i, (t, s) in enumerate(zip(times[:-1], times[1:])):
        x = model.f(x, s, t)
        seed = bench.HELD_OUT_SEED + 1000 + 10 * i
        ref, ref2 = exact_marginal(name, N, s, seed), exact_marginal(name, N, s, seed + 1)
        rows.append((round(s, 3), metrics.energy_distance(x, ref) / metrics.energy_distance(ref2, ref),
                     _std_ratio(x, ref)))
    return rows


def run(name):
    """Train experiment `name` on one CPU thread and measure it; returns a JSON-able dict."""
    torch.set_num_threads(1)
    group, base, changes, fit_changes, name_toy, question = EXPERIMENTS[name]
    recipe = RECIPES[base["method"]]
    fit_kw = {**{k: v for k, v in recipe.items() if k != "config"}, **fit_changes}
    model = build(base["method"], seed=fit_kw["seed"], **{**recipe["config"], **changes})
    cpu = time.process_time()
    model = fit(model, name_toy, **fit_kw, device="cpu", progress=False).model
    cpu = time.process_time() - cpu
    ref, floor = bench.held_out(name_toy), bench.floor(name_toy, metric_names=("energy",))["energy"]
    score = lambda steps, sampler: metrics.energy_distance(
        model.sample(N, steps, seed=bench.SAMPLE_SEED, sampler=sampler), ref) / floor
    return {"name": name, "group": group, "toy": name_toy, "question": question, "config": model.config_dict(),
            "fit": fit_kw, "cpu_seconds": round(cpu, 1), "floor": floor,
            "pushforward": {str(k): score(k, "pushforward") for k in PUSH},
            "restart": {str(k): score(k, "restart") for k in RESTART},
            "jumps": single_jumps(model, name_toy), "chain": chain_drift(model, name_toy)}


def load_results():
    """The latest result of every experiment in the jsonl file (later lines win)."""
    if not RESULTS.exists():
        return {}
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    return {r["name"]: r for r in rows}


def _cells(values, keys):
    return " | ".join(f"{values[str(k)]:.2f}" if str(k) in values else "" for k in keys)


def report(results):
    """diagnose_imm.md: one table per group (energy distance as a multiple of the floor), then jumps and chains."""
    head = REPORT.read_text().split("<!-- tables -->")[0] if REPORT.exists() else "# IMM diagnosis\n\n"
    lines = [head.rstrip() + "\n", "<!-- tables -->", "", "## Tables (written by `python benchmarks/diagnose_imm.py"
             " --report`)", "", "Energy distance to 5,000 held-out points as a multiple of the data floor (1.00 = as "
             "good as real data; lower is better). p = pushforward, r = restart, number = steps.", ""]
    groups = dict.fromkeys(spec[0] for spec in EXPERIMENTS.values())
    for group in groups:
        rows = [results[n] for n, spec in EXPERIMENTS.items() if spec[0] == group and n in results]
        if not rows:
            continue
        lines += [f"### {group}", "", "| experiment | toy | question | CPU s | " + " | ".join(f"p{k}" for k in PUSH)
                  + " | " + " | ".join(f"r{k}" for k in RESTART) + " |", "|---|---|---|---|" + "---|" * 8]
        lines += [f"| {r['name']} | {r['toy']} | {r['question']} | {r['cpu_seconds']:.0f} | "
                  f"{_cells(r['pushforward'], PUSH)} | {_cells(r['restart'], RESTART)} |" for r in rows]
        lines.append("")
    lines += ["### Single jumps from exact q_t (distance / floor, std ratio)", "",
              "| experiment | " + " | ".join(f"{t}→{s}" for t, s in JUMPS) + " |", "|---|" + "---|" * len(JUMPS)]
    for name, r in results.items():
        lines.append(f"| {name} ({r['toy']}) | " + " | ".join(f"{d:.1f} / {sd:.3f}" for *_, d, sd in r["jumps"]) + " |")
    lines += ["", "### Drift along the 8-step pushforward chain (distance / floor, std ratio at each t_i)", ""]
    first = next(iter(results.values()))
    lines += ["| experiment | " + " | ".join(f"t={t}" for t, *_ in first["chain"]) + " |",
              "|---|" + "---|" * len(first["chain"])]
    for name, r in results.items():
        lines.append(f"| {name} ({r['toy']}) | " + " | ".join(f"{d:.1f} / {sd:.3f}" for _, d, sd in r["chain"]) + " |")
    REPORT.write_text("\n".join(lines) + "\n")
    lesson = {n: {k: r[k] for k in ("group", "toy", "question", "config", "floor", "pushforward", "restart")}
              for n, r in results.items() if r["group"] in LESSON_GROUPS or n in ("paper", "step")}
    LESSON_FILE.write_text(json.dumps({"made_by": "python benchmarks/diagnose_imm.py --report", "unit":
                                       "energy distance / data floor", "experiments": lesson}, indent=1) + "\n")
    print(f"wrote {REPORT} and {LESSON_FILE}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help="experiments to run (see --list)")
    p.add_argument("--group", action="append", default=[], help="run every experiment of this group")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--report", action="store_true", help="only rewrite the report from the results file")
    p.add_argument("--jobs", type=int, default=2, help="experiments trained at once (one CPU thread each)")
    args = p.parse_args(argv)
    if args.list:
        for name, (group, *_, name_toy, question) in EXPERIMENTS.items():
            print(f"{group:>17}  {name:<28} {name_toy:<16} {question}")
        return
    names = args.names + [n for n, spec in EXPERIMENTS.items() if spec[0] in args.group]
    if unknown := sorted(set(names) - set(EXPERIMENTS)):
        sys.exit(f"unknown experiment(s) {unknown}; see --list")
    if names:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            for result in pool.map(run, names):
                with RESULTS.open("a") as f:
                    f.write(json.dumps(result) + "\n")
                print(f"{result['name']:>28}: " + " ".join(f"p{k} {v:.2f}" for k, v in result["pushforward"].items())
                      + f" (x floor), {result['cpu_seconds']:.0f} CPU s", flush=True)
    report(load_results())


if __name__ == "__main__":
    main()
