"""Tune the digits recipe (8x8 digits, 64-D) under the ~15 CPU-minute budget; appends to digits_sweep_results.md.

    python benchmarks/sweep_digits.py --only fm imm                 chosen rows of RUNS, one process
    python benchmarks/sweep_digits.py --only imm_k10 imm_k14 --jobs 2

Each run trains one model with imm_edu.train_all.train_one on the digits' train split (1 CPU thread, saved in
float16 exactly as shipped) and scores the saved file with imm_edu.bench.quality: FD-digits (and class coverage TV)
of 300 samples against the 300 held-out digits, at 1/2/4/8 steps for IMM (pushforward and restart) and the
consistency model, at 1...128 NFE for FM and DDIM. CPU seconds are the training process's CPU time.
"""
import argparse
import json
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from imm_edu import bench, digits, load
from imm_edu.train_all import train_one

# The starting point: width 256 (~0.5 M weights, ~1 MB in float16), 6000 steps of batch 256, cosine lr.
BASE = {"config": {"dim": 64, "width": 256}, "steps": 6000, "batch": 256, "lr": 1e-3, "cosine": True, "ema": 0.999,
        "seed": 0}
# name: (method, what changes relative to BASE; "config" entries go to the method's config)
RUNS = {
    "fm": ("fm", {}),
    "ddim": ("ddim", {}),
    "imm": ("imm", {"config": {"k": 12}}),
    "imm_k10": ("imm", {"config": {"k": 10}}),
    "imm_k14": ("imm", {"config": {"k": 14}}),
    "imm_lr2e-3": ("imm", {"lr": 2e-3, "config": {"k": 12}}),
    "imm_b512": ("imm", {"batch": 512, "config": {"k": 12}}),
    "imm_euler_fm": ("imm", {"config": {"k": 12, "param": "euler_fm"}}),  # [P]'s ImageNet parameterization
    "imm_a2": ("imm", {"config": {"k": 12, "a": 2.0}}),  # [P]'s best ImageNet weighting
}
NFE = {"imm": bench.FEW_STEP, "cm": bench.FEW_STEP, "ddim": (1, 2, 4, 8, 16, 32, 128), "fm": (1, 2, 4, 8, 16, 32, 128)}


def recipe(change):
    return {**BASE, **change, "config": {**BASE["config"], **change.get("config", {})}}


def one(name, method, change, out_dir):
    e = train_one(method, digits.NAME, recipe(change), Path(out_dir) / name)
    model, ref = load(Path(out_dir) / name / e["file"]), bench.held_out(digits.NAME)
    samplers = {"": {}, " restart": {"sampler": "restart"}} if method == "imm" else {"": {}}
    scores = {}
    for suffix, kw in samplers.items():
        by_nfe = bench.quality(model, ref, NFE[method], ("fd", "class_tv"), bench.REPEATS[digits.NAME], **kw)
        scores.update({f"{k}{suffix}": q for k, q in by_nfe.items()})
    return {"name": name, "method": method, "change": change, "cpu": e["cpu_seconds"], "wall": e["train_seconds"],
            "final_loss": e["final_loss"], "scores": scores}


def table(rows):
    floor = bench.floor(digits.NAME, metric_names=("fd",))["fd"]
    cols = ["1", "2", "4", "8", "2 restart", "4 restart", "8 restart", "16", "32", "128"]
    lines = [f"FD-digits of 300 samples vs the 300 held-out digits (floor {floor:.2f}); class TV at 1 and 2 steps "
             "in brackets", "", "| run | method | change vs BASE | CPU s | " + " | ".join(cols) + " |",
             "|---|---|---|---|" + "---|" * len(cols)]
    for r in rows:
        s = r["scores"]
        cells = [f"{s[c]['fd']:.2f}" + (f" ({s[c]['class_tv']:.2f})" if c in ("1", "2") else "") if c in s else ""
                 for c in cols]
        lines.append(f"| {r['name']} | {r['method']} | `{r['change'] or 'BASE'}` | {r['cpu']:.0f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", choices=list(RUNS), required=True, help="the rows to run")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default=Path(__file__).parent / "digits_sweep_results.md", type=Path, help="appends")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        rows = list(pool.map(one, args.only, *zip(*(RUNS[n] for n in args.only)), [tmp] * len(args.only)))
    text = table(rows)
    print(text)
    with open(args.out, "a") as f:
        f.write(f"\n### {', '.join(args.only)}\n\n{text}")
    with open(args.out.with_suffix(".json"), "a") as f:  # raw rows, one JSON line per run
        f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
