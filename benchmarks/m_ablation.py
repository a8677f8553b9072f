"""Group size M in {1, 2, 4, 8}, everything else fixed: does IMM need M > 2 in 64-D, as [P] Fig. 5 says for
ImageNet (M = 1 and 2 collapse), while on 2-D toys M = 1 does as well as M = 4?

    python benchmarks/m_ablation.py --data digits --steps 8000       the 8x8 digits (64-D), FD-digits
    python benchmarks/m_ablation.py --data checkerboard               the 2-D toy, energy distance

Controlled: the shipped IMM recipe of the data set (imm_edu.train_all.recipe), the same Laplace kernel with
bandwidth |c_out| D, random s (not the consistency-model preset), the same batch (so larger M means fewer groups,
i.e. fewer (s, t) pairs per batch: the same particle budget, as in [P] Fig. 5), the same steps and seed; only M
changes. Each model is trained by train_all.train_one (1 CPU thread, float16, as shipped) and scored at 1/2/4/8
steps with both samplers against the data set's held-out points (imm_edu.bench). Results merge into
benchmarks/m_ablation_results.json (per data set) and m_ablation_results.md; lesson 08 plots the json.
"""
import argparse
import json
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from imm_edu import bench, digits, load
from imm_edu.train_all import recipe, train_one

MS = (1, 2, 4, 8)
OUT = Path(__file__).parent / "m_ablation_results.json"


def one(M, name, steps, out_dir):
    r = recipe("imm", name)
    r = {**r, "config": {**r["config"], "M": M}, **({"steps": steps} if steps else {})}
    e = train_one("imm", name, r, Path(out_dir) / f"M{M}")
    model, ref = load(Path(out_dir) / f"M{M}" / e["file"]), bench.held_out(name)
    metric = bench.metric_names(name)[0]
    extra = ("class_tv",) if name == digits.NAME else ()
    run = {"cpu_seconds": e["cpu_seconds"], "recipe": r, "final_loss": e["final_loss"]}
    for sampler in ("pushforward", "restart"):
        q = bench.quality(model, ref, bench.FEW_STEP, (metric, *extra), bench.REPEATS.get(name, 1),
                          sampler=sampler)
        run[sampler] = {str(k): v[metric] for k, v in q.items()}
        if extra:
            run[f"{sampler} class_tv"] = {str(k): v["class_tv"] for k, v in q.items()}
    return run


def markdown(results):
    lines = ["# Group-size ablation: M in {1, 2, 4, 8}, everything else fixed", "",
             "Written by `python benchmarks/m_ablation.py` (see its docstring for what is held fixed). Quality of the "
             "saved model at 1/2/4/8 steps, pushforward and restart samplers; lower is better. The floor is the "
             "data-vs-data value of the same metric.", ""]
    for name, res in results.items():
        r0 = next(iter(res["runs"].values()))["recipe"]
        lines += [f"## {name} (D = {res['dim']}), {res['metric']}, floor {res['floor']:.5g}", "",
                  f"Recipe: `{r0}` with M replaced.", "",
                  "| M | CPU s | final loss | " + " | ".join(f"{k} step{'s' * (k > 1)}" for k in bench.FEW_STEP)
                  + " | " + " | ".join(f"{k} restart" for k in bench.FEW_STEP[1:]) + " |",
                  "|---|---|---|" + "---|" * (2 * len(bench.FEW_STEP) - 1)]
        for M, run in sorted(res["runs"].items(), key=lambda kv: int(kv[0])):
            push = [f"{run['pushforward'][str(k)]:.5g}" for k in bench.FEW_STEP]
            restart = [f"{run['restart'][str(k)]:.5g}" for k in bench.FEW_STEP[1:]]
            lines.append(f"| {M} | {run['cpu_seconds']:.0f} | {run['final_loss']:.4f} | " + " | ".join(push + restart)
                         + " |")
        lines.append("")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=digits.NAME, help="digits or a toy with a shipped recipe")
    p.add_argument("--steps", type=int, help="training steps for every M (default: the shipped recipe's)")
    p.add_argument("--ms", nargs="+", type=int, default=MS)
    p.add_argument("--jobs", type=int, default=1)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(one, args.ms, [args.data] * len(args.ms), [args.steps] * len(args.ms),
                             [tmp] * len(args.ms)))
    metric = bench.metric_names(args.data)[0]
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results[args.data] = {"metric": metric, "dim": runs[0]["recipe"]["config"].get("dim", 2),
                          "floor": bench.floor(args.data, metric_names=(metric,))[metric],
                          "runs": {str(M): run for M, run in zip(args.ms, runs)}}
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    OUT.with_suffix(".md").write_text(markdown(results))
    print(markdown({args.data: results[args.data]}))


if __name__ == "__main__":
    main()
