"""Group size M in {1, 2, 4, 8}, everything else fixed: does IMM need M > 2 in 64-D, as [P] Fig. 5 says for
ImageNet (M = 1 and 2 collapse), while on 2-D toys M = 1 does about as well as M = 4?

    python benchmarks/m_ablation.py --data digits --method imm_paper --jobs 2       the 8x8 digits (64-D), FD-digits
    python benchmarks/m_ablation.py --data digits --method imm --seeds 0 1           the smoothed kernel, two seeds
    python benchmarks/m_ablation.py --data checkerboard --method imm_paper           the 2-D toy, energy distance
    python benchmarks/m_ablation.py --report                                         only rewrite the .md

Controlled: the shipped recipe of the data set (imm_edu.train_all.recipe) of the preset `--method` ("imm_paper":
exactly [P]'s Laplace kernel with bandwidth |c_out| D; "imm": the series' smoothed kernel core), random s (not the
consistency-model preset), the same batch (so larger M means fewer groups, i.e. fewer (s, t) pairs per batch: the
same particle budget, as in [P] Fig. 5), the same steps; only M changes (and the training seed, to show the spread
between runs). Each model is trained by train_all.train_one (1 CPU thread, float16, as shipped; a run whose
recipe is exactly a shipped model's reuses that checkpoint, since training is deterministic) and scored at 1/2/4/8
steps with both samplers against the data set's held-out points (imm_edu.bench; digits: mean of 20 sample draws).
Runs merge into data/m_ablation.json (a run with the same data, method, M and seed is replaced; it ships with the
package because lesson 08 plots it) and the tables go to benchmarks/m_ablation_results.md.
"""
import argparse
import json
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from imm_edu import bench, digits, load
from imm_edu.checkpoints import DATA_DIR, manifest
from imm_edu.train import build
from imm_edu.train_all import recipe, train_one

MS = (1, 2, 4, 8)
OUT, REPORT = DATA_DIR / "m_ablation.json", Path(__file__).parent / "m_ablation_results.md"
SAMPLERS = ("pushforward", "restart")


def shipped_run(method, name, r):
    """The manifest entry of the shipped model if recipe `r` is exactly how it was made (same recipe, same
    resolved config), else None."""
    for e in manifest():
        if e["method"] == method and e["toy"] == name:
            same_recipe = {**r, "config": {k: v for k, v in r["config"].items() if k != "M"}} == e["recipe"]
            if same_recipe and build(method, seed=r["seed"], **r["config"]).config_dict() == e["config"]:
                return e
    return None


def one(method, name, M, seed, steps, out_dir):
    """Train the `method` recipe of data set `name` with group size M and `seed`; score it; return the run."""
    r = recipe(method, name)
    r = {**r, "config": {**r["config"], "M": M}, "seed": seed, **({"steps": steps} if steps else {})}
    e = shipped_run(method, name, r)
    if e:  # the shipped checkpoint is this very run (training is deterministic): score it, train nothing
        path = DATA_DIR / e["file"]
    else:
        e = train_one(method, name, r, Path(out_dir) / f"{method}_M{M}_seed{seed}")
        path = Path(out_dir) / f"{method}_M{M}_seed{seed}" / e["file"]
    model, ref = load(path), bench.held_out(name)
    metric = bench.metric_names(name)[0]
    extra = ("class_tv",) if name == digits.NAME else ()
    run = {"method": method, "M": M, "seed": seed, "cpu_seconds": e["cpu_seconds"], "recipe": r,
           "final_loss": e["final_loss"]}
    for sampler in SAMPLERS:
        q = bench.quality(model, ref, bench.FEW_STEP, (metric, *extra), bench.REPEATS.get(name, 1), sampler=sampler)
        run[sampler] = {str(k): v[metric] for k, v in q.items()}
        if extra:
            run[f"{sampler} class_tv"] = {str(k): v["class_tv"] for k, v in q.items()}
    return run


def summary(runs, sampler="pushforward"):
    """{method: {M: {steps: (mean, spread, n)}}} over the seeds of `runs` (spread = max - min, 0 for one seed)."""
    out = {}
    for run in runs:
        for k, v in run[sampler].items():
            out.setdefault(run["method"], {}).setdefault(run["M"], {}).setdefault(int(k), []).append(v)
    return {method: {M: {k: (statistics.mean(v), max(v) - min(v), len(v)) for k, v in sorted(by_k.items())}
                     for M, by_k in sorted(by_m.items())} for method, by_m in out.items()}


def markdown(results):
    lines = ["# Group-size ablation: M in {1, 2, 4, 8}, everything else fixed", "",
             "Written by `python benchmarks/m_ablation.py` (see its docstring for what is held fixed). Quality of the "
             "saved model at 1/2/4/8 steps, pushforward and restart samplers; lower is better. Each cell: the mean "
             "over training seeds, and in brackets the spread (max - min) when there is more than one seed. The "
             "floor is the data-vs-data value of the same metric. `imm_paper` = [P]'s Laplace kernel, `imm` = the "
             "series' smoothed kernel core (imm_edu/imm.py).", ""]
    head = ("| method | M | seeds | CPU s | " + " | ".join(f"{k} step{'s' * (k > 1)}" for k in bench.FEW_STEP)
            + " | " + " | ".join(f"{k} restart" for k in bench.FEW_STEP[1:]) + " |")
    for name, res in results.items():
        lines += [f"## {name} (D = {res['dim']}), {res['metric']}, floor {res['floor']:.4g}", "", head,
                  "|---|---|---|---|" + "---|" * (2 * len(bench.FEW_STEP) - 1)]
        push, restart = summary(res["runs"]), summary(res["runs"], "restart")
        for method in sorted(push):
            for M, by_k in push[method].items():
                runs = [r for r in res["runs"] if r["method"] == method and r["M"] == M]
                cells = [f"{m:.4g}" + (f" ({d:.2g})" if n > 1 else "") for m, d, n in by_k.values()]
                cells += [f"{m:.4g}" + (f" ({d:.2g})" if n > 1 else "")
                          for k, (m, d, n) in restart[method][M].items() if k > 1]
                cpu = statistics.mean(r["cpu_seconds"] for r in runs)
                lines.append(f"| {method} | {M} | {len(runs)} | {cpu:.0f} | " + " | ".join(cells) + " |")
            missing = [M for M in MS if M not in push[method]]
            if missing:
                lines += ["", f"Not run yet for {method}: M = {', '.join(map(str, missing))}."]
        lines.append("")
    return "\n".join(lines)


def merge(name, run):
    """Put `run` into data set `name`'s entry of OUT, replacing a run with the same method, M and seed."""
    results = json.loads(OUT.read_text()) if OUT.exists() else {}  # read now: another ablation may have written
    metric = bench.metric_names(name)[0]
    res = results.setdefault(name, {"metric": metric, "dim": run["recipe"]["config"].get("dim", 2),
                                    "floor": bench.floor(name, metric_names=(metric,))[metric], "runs": []})
    res["runs"] = [r for r in res["runs"] if (r["method"], r["M"], r["seed"]) != (run["method"], run["M"], run["seed"])]
    res["runs"].append(run)
    OUT.write_text(json.dumps(results, indent=1) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=digits.NAME, help="digits or a toy with a shipped recipe")
    p.add_argument("--method", default="imm_paper", choices=("imm_paper", "imm"), help="the kernel preset")
    p.add_argument("--steps", type=int, help="training steps for every M (default: the shipped recipe's)")
    p.add_argument("--ms", nargs="+", type=int, default=MS)
    p.add_argument("--seeds", nargs="+", type=int, default=(0,), help="training seeds (0: the shipped recipe's)")
    p.add_argument("--jobs", type=int, default=1, help="models trained at once, one CPU thread each")
    p.add_argument("--report", action="store_true", help="train nothing, only rewrite the markdown")
    args = p.parse_args()
    if not args.report:
        jobs = [(M, seed) for seed in args.seeds for M in args.ms]
        with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            for run in as_completed([pool.submit(one, args.method, args.data, M, seed, args.steps, tmp)
                                     for M, seed in jobs]):
                merge(args.data, run.result())  # after each model, so an interrupted ablation keeps what it made
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    REPORT.write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
