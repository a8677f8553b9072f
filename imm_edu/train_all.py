"""Train the shipped checkpoints in data/ and write data/manifest.json; anyone can rerun it.

    python -m imm_edu.train_all                          every (method, data set) of RECIPES x DATASETS, 2 processes
    python -m imm_edu.train_all --toys moons --methods imm fm --jobs 1
    python -m imm_edu.train_all --toys digits            the four shipped digits models (DIGITS_RECIPES), ~12 CPU-min
    python -m imm_edu.train_all --toys digits --rescore  no training: remeasure the quality in the manifest

Each process trains one model at a time on one CPU thread (so two run side by side on a 2-core laptop), saves it
in float16 (about 110 KB for a toy), reloads the saved file and measures its quality against held-out points
(imm_edu.bench: energy distance for the toys, FD-digits for the digits). Before the digits models, the metric's
digit classifier (digit_metrics.py) is trained if data/ has none (it is never replaced silently: delete the file to
retrain it, then remeasure every digits model's recorded quality with --rescore). Entries for (method, data set) pairs
not retrained are kept in the manifest.
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

from . import bench, digit_metrics, digits, toy
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
# The 8x8 digits (64-D): a wider net (width 256, ~0.5 M weights, ~1 MB in float16) and 6,000 steps of batch 256,
# about 3.5 CPU-minutes for IMM and 2.3 for FM/DDIM. Evidence (benchmarks/digits_sweep_results.md): k = 10 is worse
# than k = 12 at 1 step; lr 2e-3 and batch 512 do not help; 20,000 steps make every method copy training images
# (1,197 of them) and score *worse* on the held-out digits.
DIGITS_RECIPES = {m: {"config": {"dim": 64, "width": 256, **({"k": 12} if m in ("imm", "imm_paper", "cm") else {})},
                      "steps": 6000, "batch": 256, "lr": 1e-3, "cosine": True, "ema": 0.999, "seed": 0}
                  for m in RECIPES}
# Shipped on the digits: imm, cm, ddim, fm. imm_paper's digits recipe serves the kernel and group-size comparison
# (benchmarks/m_ablation.py, whose results ship as data/m_ablation.json); `--methods imm_paper` trains it anyway.
DIGITS_SHIPPED = ("imm", "cm", "ddim", "fm")
# Digits: the manifest keeps the whole FD-digits curve of every model (bench.NFE, 20 sample draws each; seconds), so
# lesson 08 and the README read the same numbers as the bench
DIGITS_QUALITY_NFE = {**QUALITY_NFE, "ddim": bench.NFE["ddim"], "fm": bench.NFE["fm"]}
DATASETS = TOYS + (digits.NAME,)


def recipe(method, name):
    """The training recipe of `method` on data set `name`."""
    return (DIGITS_RECIPES if name == digits.NAME else RECIPES)[method]


def shipped(method, name):
    """Whether data/ ships the model of `method` on data set `name` (every method on a toy)."""
    return name != digits.NAME or method in DIGITS_SHIPPED


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
    return {"method": method, "toy": name, "file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size,
            "config": result.model.config_dict(), "recipe": r, "train_seconds": round(result.seconds, 1),
            "cpu_seconds": round(cpu, 1), "threads": threads, "final_loss": float(np.mean(result.losses[-100:])),
            "quality": measure(method, name, path)}


def measure(method, name, path):
    """The manifest's quality record of the checkpoint at `path`: its primary metric (energy distance for a toy,
    FD-digits for the digits) at the QUALITY_NFE (DIGITS_QUALITY_NFE) of `method` against the held-out points, and
    the floor."""
    metric, ref, repeats = bench.metric_names(name)[0], bench.held_out(name), bench.REPEATS.get(name, 1)
    nfe = (DIGITS_QUALITY_NFE if name == digits.NAME else QUALITY_NFE)[method]
    by_nfe = bench.quality(load(path), ref, nfe, (metric,), repeats)
    return {"metric": metric, "n": len(ref), "repeats": repeats, "held_out_seed": bench.HELD_OUT_SEED,
            "floor": bench.floor(name, metric_names=(metric,))[metric],
            "by_nfe": {str(k): v[metric] for k, v in by_nfe.items()}}


def write_manifest(entries, data_dir=DATA_DIR, classifier=None):
    """Merge `entries` into data_dir/manifest.json (replacing the same (method, toy)), sorted by toy then method;
    `classifier` (an entry from digit_metrics.save_classifier) replaces the "digit_classifier" entry."""
    path = Path(data_dir) / "manifest.json"
    before = json.loads(path.read_text()) if path.exists() else {}
    old, classifier = before.get("models", []), classifier or before.get("digit_classifier")
    new = {(e["method"], e["toy"]): e for e in old + list(entries)}
    order = {m: i for i, m in enumerate(METHOD_NAMES)}
    models = sorted(new.values(), key=lambda e: (e["toy"], order[e["method"]]))
    path.write_text(json.dumps({
        "format_version": FORMAT_VERSION, "made_by": "python -m imm_edu.train_all",
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}, torch {torch.__version__}",
        **({"digit_classifier": classifier} if classifier else {}), "models": models}, indent=1) + "\n")
    return path


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m imm_edu.train_all", description=__doc__.split("\n")[0])
    p.add_argument("--toys", nargs="+", default=DATASETS, help=f"data sets to train on (default: {' '.join(DATASETS)})")
    p.add_argument("--methods", nargs="+", choices=METHOD_NAMES,
                   help="methods to train (default: every method shipped on each data set, see shipped())")
    p.add_argument("--jobs", type=int, default=2, help="models trained in parallel, one CPU thread each")
    p.add_argument("--steps", type=int, help="override every recipe's number of training steps (quick runs)")
    p.add_argument("--data-dir", default=DATA_DIR, type=Path, help="where checkpoints and manifest.json go")
    p.add_argument("--rescore", action="store_true",
                   help="train nothing: remeasure the quality of the listed models already in the manifest")
    args = p.parse_args(argv)
    if args.rescore:
        entries = [{**e, "quality": measure(e["method"], e["toy"], Path(args.data_dir) / e["file"])}
                   for e in json.loads((Path(args.data_dir) / "manifest.json").read_text())["models"]
                   if (args.methods is None or e["method"] in args.methods) and e["toy"] in args.toys]
        write_manifest(entries, args.data_dir)
        print(f"remeasured {len(entries)} models in {Path(args.data_dir) / 'manifest.json'}")
        return
    for name in args.toys:
        if name != digits.NAME:
            toy.sample(name, 1)  # a typo in a toy name fails now, not after an hour of training
    if digits.NAME in args.toys and not (DATA_DIR / digit_metrics.CLASSIFIER_FILE).exists():  # the metric's, in data/
        entry = digit_metrics.save_classifier(DATA_DIR / digit_metrics.CLASSIFIER_FILE)
        write_manifest([], DATA_DIR, classifier=entry)
        print(f"digit classifier: held-out accuracy {entry['held_out_accuracy']:.3f}, {entry['cpu_seconds']} CPU-s")
    steps = {"steps": args.steps} if args.steps else {}
    # the slowest first: the digits, then imm and cm on every toy, then ddim and fm
    jobs = sorted(((m, t) for m in args.methods or RECIPES for t in args.toys if args.methods or shipped(m, t)),
                  key=lambda job: job[1] != digits.NAME)
    entries = []
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(train_one, m, t, {**recipe(m, t), **steps}, args.data_dir) for m, t in jobs]
        for fut in futures:
            e = fut.result()
            entries.append(e)
            print(f"{e['method']:>4} {e['toy']:>16}: {e['train_seconds']:6.1f} s, {e['quality']['metric']} "
                  + " ".join(f"{k}:{v:.4f}" for k, v in e["quality"]["by_nfe"].items())
                  + f" (floor {e['quality']['floor']:.5f})", flush=True)
            write_manifest([e], args.data_dir)  # after each model, so an interrupted run keeps what it made
    print(f"wrote {len(entries)} checkpoints and {Path(args.data_dir) / 'manifest.json'}")


if __name__ == "__main__":
    main()
