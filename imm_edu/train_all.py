"""Train the shipped checkpoints in data/ and write data/manifest.json; anyone can rerun it.

    python -m imm_edu.train_all                          every (method, toy) of RECIPES x TOYS, 2 processes
    python -m imm_edu.train_all --toys moons --methods imm fm --jobs 1

Each process trains one model at a time on one CPU thread (so two run side by side on a 2-core laptop), saves it
in float16 (about 110 KB), reloads the saved file and measures its energy distance against held-out points
(imm_edu.bench). Entries for (method, toy) pairs not retrained are kept in the manifest.
"""
import argparse
import json
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from . import bench, toy
from .checkpoints import DATA_DIR, FORMAT_VERSION, load, save, sha256
from .train import METHOD_NAMES, build, fit

TOYS = ("checkerboard", "eight_gaussians", "moons", "spirals", "gmm")
# One recipe per method: config overrides for build() and the fit() arguments. Every method gets the same net
# (width 64), steps, batch and cosine lr decay, so the comparison is like for like; about 60 CPU-seconds for IMM.
# Evidence (benchmarks/sweep_results.md): width 64 x 6000 steps beats width 128 x 3000 steps at equal CPU time,
# and k = 12 ([P]'s ImageNet value) trades a little 2-step quality on checkerboard/spirals for much better gmm.
SHARED = {"steps": 6000, "batch": 1024, "lr": 1e-3, "cosine": True, "ema": 0.999, "seed": 0}
RECIPES = {
    "imm": {"config": {"width": 64, "k": 12}, **SHARED},  # build("imm") adds the smoothed kernel core ("step")
    "imm_paper": {"config": {"width": 64, "k": 12}, **SHARED},  # the same with exactly [P]'s Laplace kernel
    "cm": {"config": {"width": 64, "k": 12}, **SHARED},  # build("cm") adds M = 1, energy kernel, s = 0
    "ddim": {"config": {"width": 64}, **SHARED},
    "fm": {"config": {"width": 64}, **SHARED},
    "shortcut": {"config": {"width": 64}, **SHARED},  # 128-step grid, 1/8 bootstrap rows, EMA teacher: ShortcutConfig
}
QUALITY_NFE = {"imm": bench.FEW_STEP, "imm_paper": bench.FEW_STEP, "cm": bench.FEW_STEP, "ddim": (8, 32), "fm": (8, 32),
               "shortcut": (*bench.FEW_STEP, 128)}


def train_one(method, name, recipe, data_dir=DATA_DIR, threads=1):
    """Train, save (float16) and evaluate one model; returns its manifest entry."""
    torch.set_num_threads(threads)
    r = {**recipe, "config": dict(recipe["config"])}
    fit_kw = {k: v for k, v in r.items() if k != "config"}  # steps, batch, lr, cosine, ema, seed
    cpu = time.process_time()
    result = fit(build(method, seed=r["seed"], **r["config"]), name, **fit_kw, device="cpu", progress=False)
    cpu = time.process_time() - cpu  # CPU seconds: unlike wall time, not inflated by other programs
    path = Path(data_dir) / f"{method}_{name}.pt"
    save(result.model, path, meta={"toy": name, "recipe": r, "train_seconds": result.seconds}, half=True)
    by_nfe = bench.quality(load(path), bench.held_out(name), QUALITY_NFE[method], ("energy",))  # the saved file
    by_nfe = {str(k): v["energy"] for k, v in by_nfe.items()}
    return {"method": method, "toy": name, "file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size,
            "config": result.model.config_dict(), "recipe": r, "train_seconds": round(result.seconds, 1),
            "cpu_seconds": round(cpu, 1), "threads": threads, "final_loss": float(np.mean(result.losses[-100:])),
            "quality": {"metric": "energy", "n": bench.N_EVAL, "held_out_seed": bench.HELD_OUT_SEED,
                        "floor": bench.floor(name, metric_names=("energy",))["energy"], "by_nfe": by_nfe}}


def write_manifest(entries, data_dir=DATA_DIR):
    """Merge `entries` into data_dir/manifest.json (replacing the same (method, toy)), sorted by toy then method."""
    path = Path(data_dir) / "manifest.json"
    old = json.loads(path.read_text())["models"] if path.exists() else []
    new = {(e["method"], e["toy"]): e for e in old + list(entries)}
    order = {m: i for i, m in enumerate(METHOD_NAMES)}
    models = sorted(new.values(), key=lambda e: (e["toy"], order[e["method"]]))
    path.write_text(json.dumps({
        "format_version": FORMAT_VERSION, "made_by": "python -m imm_edu.train_all",
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}, torch {torch.__version__}",
        "models": models}, indent=1) + "\n")
    return path


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m imm_edu.train_all", description=__doc__.split("\n")[0])
    p.add_argument("--toys", nargs="+", default=TOYS, help=f"toys to train on (default: {' '.join(TOYS)})")
    p.add_argument("--methods", nargs="+", default=list(RECIPES), choices=METHOD_NAMES)
    p.add_argument("--jobs", type=int, default=2, help="models trained in parallel, one CPU thread each")
    p.add_argument("--steps", type=int, help="override every recipe's number of training steps (quick runs)")
    p.add_argument("--data-dir", default=DATA_DIR, type=Path, help="where checkpoints and manifest.json go")
    args = p.parse_args(argv)
    for name in args.toys:
        toy.sample(name, 1)  # a typo in a toy name fails now, not after an hour of training
    recipes = {m: {**RECIPES[m], **({"steps": args.steps} if args.steps else {})} for m in args.methods}
    jobs = [(m, t) for m in args.methods for t in args.toys]  # the slow methods (imm, cm) go first
    entries = []
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(train_one, m, t, recipes[m], args.data_dir) for m, t in jobs]
        for fut in futures:
            e = fut.result()
            entries.append(e)
            print(f"{e['method']:>4} {e['toy']:>16}: {e['train_seconds']:6.1f} s, energy "
                  + " ".join(f"{k}:{v:.4f}" for k, v in e["quality"]["by_nfe"].items())
                  + f" (floor {e['quality']['floor']:.5f})", flush=True)
            write_manifest([e], args.data_dir)  # after each model, so an interrupted run keeps what it made
    print(f"wrote {len(entries)} checkpoints and {Path(args.data_dir) / 'manifest.json'}")


if __name__ == "__main__":
    main()
