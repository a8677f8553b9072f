"""Sweep IMM's training knobs on a toy under a ~1 CPU-minute budget; writes benchmarks/sweep_results.md.

    python benchmarks/sweep_imm.py                      every run of RUNS on checkerboard, 2 processes
    python benchmarks/sweep_imm.py --toy spirals --only base cosine

Each run trains one model with imm_edu.train_all.train_one (1 CPU thread, saved in float16, exactly as shipped)
and reports the energy distance of the saved file against 5000 held-out points: IMM at 1/2/4/8 steps on the
uniform grid and at 2 steps on [P]'s CIFAR-10 grid through eta = 1.4 ("2 eta_mid"); FM and DDIM at 8 and 32 NFE.
CPU seconds are the training process's CPU time, which other programs on the machine do not inflate.
"""
import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from imm_edu import bench, load, metrics
from imm_edu.train_all import train_one

# The recipe every run starts from (train_all.RECIPES before this sweep): width 128, 3000 steps, constant lr.
BASE = {"config": {}, "steps": 3000, "batch": 1024, "lr": 1e-3, "cosine": False, "ema": 0.999, "seed": 0}
# name: (method, what changes relative to BASE; "config" entries go to the method's config, e.g. IMMConfig)
RUNS = {
    "fm": ("fm", {}),
    "ddim": ("ddim", {}),
    "base": ("imm", {}),
    "cosine": ("imm", {"cosine": True}),
    "cosine lr2e-3": ("imm", {"cosine": True, "lr": 2e-3}),
    "cosine k8": ("imm", {"cosine": True, "config": {"k": 8}}),
    "cosine k12": ("imm", {"cosine": True, "config": {"k": 12}}),
    "cosine M2": ("imm", {"cosine": True, "config": {"M": 2}}),
    "cosine M8": ("imm", {"cosine": True, "config": {"M": 8}}),
    "cosine a2": ("imm", {"cosine": True, "config": {"a": 2.0}}),
    "cosine euler_fm": ("imm", {"cosine": True, "config": {"param": "euler_fm"}}),
    "cosine ema0.9995": ("imm", {"cosine": True, "ema": 0.9995}),
    "cosine w64 6000": ("imm", {"cosine": True, "steps": 6000, "config": {"width": 64}}),
    "cosine b2048 1500": ("imm", {"cosine": True, "steps": 1500, "batch": 2048}),
    "cosine sigma_d0.4": ("imm", {"cosine": True, "config": {"sigma_d": 0.4}}),
    # round 2: the winner of round 1 (width 64, 6000 steps) on other toys, and the baselines given the same recipe
    "cosine w64 6000 k12": ("imm", {"cosine": True, "steps": 6000, "config": {"width": 64, "k": 12}}),
    "cosine w64 6000 k12 M8": ("imm", {"cosine": True, "steps": 6000, "config": {"width": 64, "k": 12, "M": 8}}),
    "cosine w64 6000 k14": ("imm", {"cosine": True, "steps": 6000, "config": {"width": 64, "k": 14}}),
    "fm cosine w64 6000": ("fm", {"cosine": True, "steps": 6000, "config": {"width": 64}}),
    "ddim cosine w64 6000": ("ddim", {"cosine": True, "steps": 6000, "config": {"width": 64}}),
}


def recipe(change):
    return {**BASE, **change, "config": {**BASE["config"], **change.get("config", {})}}


def one(name, method, change, toy, out_dir):
    e = train_one(method, toy, recipe(change), Path(out_dir) / name.replace(" ", "_"))
    energy = {k: v for k, v in e["quality"]["by_nfe"].items()}
    if method == "imm":
        model, ref = load(Path(out_dir) / name.replace(" ", "_") / e["file"]), bench.held_out(toy)
        energy["2 eta_mid"] = metrics.energy_distance(model.sample(len(ref), 2, seed=bench.SAMPLE_SEED,
                                                                   grid="eta_mid"), ref)
    return {"name": name, "method": method, "change": change, "cpu": e["cpu_seconds"], "wall": e["train_seconds"],
            "floor": e["quality"]["floor"], "energy": energy}


def table(rows, toy):
    cols = ["1", "2", "2 eta_mid", "4", "8", "32"]
    lines = [f"## {toy}", "", f"energy distance vs 5000 held-out points (floor {rows[0]['floor']:.2e})",
             "", "| run | method | change vs BASE | CPU s | wall s | " + " | ".join(cols) + " |",
             "|---|---|---|---|---|" + "---|" * len(cols)]
    for r in rows:
        cells = [f"{r['energy'][c]:.5f}" if c in r["energy"] else "" for c in cols]
        lines.append(f"| {r['name']} | {r['method']} | `{r['change'] or 'BASE'}` | {r['cpu']:.0f} | {r['wall']:.0f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--toy", default="checkerboard")
    p.add_argument("--only", nargs="+", choices=list(RUNS), help="run just these rows")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default=Path(__file__).parent / "sweep_results.md", type=Path, help="appends a section")
    args = p.parse_args()
    names = args.only or list(RUNS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(one, n, *RUNS[n], args.toy, tmp) for n in names]
        for fut in futures:
            rows.append(fut.result())
            print(table(rows[-1:], args.toy).splitlines()[-1], flush=True)
    with open(args.out, "a") as f:
        f.write("\n" + table(rows, args.toy))
    print(f"appended to {args.out}")


if __name__ == "__main__":
    main()
