"""Command line: python -m imm_edu [demo|train|sample|bench|present] (demo when no subcommand is given); --help on each.

    python -m imm_edu                                   IMM at 1/2/4/8 steps vs DDIM and FM, written to imm_demo.png
    python -m imm_edu train imm moons --steps 3000      train one model, save it as imm_moons.pt (~30 s)
    python -m imm_edu sample imm/moons --steps 2 --out s.png   a shipped model (method/toy) or a .pt file
    python -m imm_edu sample imm/digits --steps 1 --out d.png  8x8 digits: a grid of images
    python -m imm_edu bench                             benchmarks/results.md and benchmarks/quality_vs_nfe.png
    python -m imm_edu present 04 --classroom            lesson 04 as a web page without code (Voilà), large fonts
"""
import argparse
import sys
import time
from pathlib import Path

COMMANDS = ("demo", "train", "sample", "bench", "present")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; works without a display
    import matplotlib.pyplot as plt

    return plt


def _model(spec):
    """A .pt file, or 'method/toy' for a shipped model."""
    from .checkpoints import load, load_pretrained

    if Path(spec).exists() or spec.endswith(".pt"):
        return load(spec)
    if spec.count("/") != 1:
        raise ValueError(f"{spec!r} is neither a checkpoint file nor a shipped model written as method/toy")
    return load_pretrained(*spec.split("/"))


def _check_scored_n(n):
    """demo and bench score n samples against n held-out points: all n x n pairs, at most metrics.MAX_PAIRS."""
    from .checks import check_count
    from .metrics import MAX_EACH

    if check_count(n, "--n") > MAX_EACH:
        raise ValueError(f"--n = {n:,} is too many points to score: at most {MAX_EACH:,} (the energy distance "
                         f"compares all n x n pairs of samples and held-out points)")


def demo(args):
    """One figure: IMM at 1/2/4/8 steps with its two samplers, DDIM and FM at the same and larger NFE; the energy
    distance to held-out data is in each title."""
    _check_scored_n(args.n)  # before any model is loaded
    plt = _pyplot()
    from . import bench, metrics
    from .checkpoints import load_pretrained
    from .plot import LABELS, scatter

    ref = bench.held_out(args.toy, args.n)
    cols = (1, 2, 4, 8, 32, 128)
    rows = (("imm", "pushforward"), ("imm", "restart"), ("ddim", None), ("fm", None))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.6 * len(cols), 2.8 * len(rows)))
    for row, (method, sampler) in zip(axes, rows):
        model = load_pretrained(method, args.toy)
        for ax, nfe in zip(row, cols):
            if method == "imm" and nfe > max(bench.FEW_STEP):
                ax.set_visible(False)
                continue
            x = model.sample(args.n, nfe, seed=bench.SAMPLE_SEED, **({"sampler": sampler} if sampler else {}))
            name = LABELS[method] + (f" {sampler}" if sampler else "")
            title = f"{name}, {nfe} step{'s' * (nfe > 1)}\nenergy dist {metrics.energy_distance(x, ref):.4f}"
            scatter(x, ax, method, title, s=2)
    floor = bench.floor(args.toy, args.n, repeats=1, metric_names=("energy",))["energy"]
    axes[0, -2].set_visible(True)
    scatter(ref, axes[0, -2], "data", f"held-out data\n(floor {floor:.4f})", s=2)
    for ax in axes.flat:
        ax.label_outer()
    fig.suptitle(f"{args.toy}: IMM in 1-8 steps vs DDIM and flow matching with up to 128 network evaluations\n"
                 f"{args.n:,} points per panel; energy distance to {args.n:,} held-out points (lower is better; "
                 f"floor = what {args.n:,} real data points score)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"wrote {Path(args.out).resolve()}")


def train(args):
    """Train one model with the shipped recipe (train_all.recipe), where --steps/--batch/--lr/--seed override it."""
    from . import bench
    from .checkpoints import save
    from .imm import PRESETS
    from .train import build, fit
    from .train_all import recipe

    given = {k: getattr(args, k) for k in ("steps", "batch", "lr", "seed") if getattr(args, k) is not None}
    r = {**recipe(args.method, args.toy), **given}
    out = args.out or f"{args.method}_{args.toy}.pt"
    result = fit(build(args.method, seed=r["seed"], **r["config"]), args.toy,
                 **{k: v for k, v in r.items() if k != "config"})
    save(result.model, out, meta={"toy": args.toy, "recipe": r, "train_seconds": result.seconds})
    nfe = 2 if args.method in (*PRESETS, "shortcut") else 32  # IMM, CM and shortcut models are few-step samplers
    ref = bench.held_out(args.toy, 2000)
    metric = bench.metric_names(args.toy)[0]  # energy distance; FD-digits for the digits
    x = result.model.sample(len(ref), nfe, seed=bench.SAMPLE_SEED)
    print(f"trained {args.method} on {args.toy} in {result.seconds:.1f} s; {metric} at {nfe} NFE: "
          f"{bench.ALL_METRICS[metric](x, ref):.4f} ({len(ref)} points)")
    print(f"wrote {Path(out).resolve()}")


def sample(args):
    import numpy as np

    from .train import method_name

    model = _model(args.checkpoint)
    x = model.sample(args.n, args.steps, seed=args.seed)
    out = Path(args.out)
    if out.suffix == ".npy":
        np.save(out, x.numpy())
    elif out.suffix == ".png":
        plt = _pyplot()
        from . import digits
        from .plot import image_grid, scatter

        title = f"{args.checkpoint}, {args.steps} step(s), n={args.n}"
        if model.dim == digits.PIXELS:  # 8x8 digit images (at most 200 shown)
            ax = image_grid(digits.to_images(x[:200]), cols=20, title=title, kind=method_name(model)).axes
        else:
            ax = scatter(x, kind=method_name(model), title=title, s=2)
        ax.figure.savefig(out, dpi=100)
        plt.close(ax.figure)
    else:
        raise ValueError(f"--out must end in .npy or .png, got {out.name!r}")
    print(f"wrote {args.n} samples to {out.resolve()}")


def bench_cmd(args):
    from . import bench

    start = time.perf_counter()
    if args.from_json:
        results, n = bench.read(args.from_json)
    else:
        _check_scored_n(args.n)
        results, n = bench.run(args.toys, args.methods, tuple(args.nfe or ()), args.n, args.jobs), args.n
    old = Path(args.out_dir) / "results.json"
    if args.merge and old.exists():
        before, n_before = bench.read(old)
        if n_before != n:
            raise ValueError(f"--merge: {old} was scored with n = {n_before}, this run with n = {n}")
        results = bench.merge(before, results)
    paths = bench.write(results, args.out_dir, n)
    print(f"wrote {', '.join(str(p.resolve()) for p in paths)} in {time.perf_counter() - start:.0f} s")


def present(args):
    from .present import serve

    sys.exit(serve(args.lesson, args.port, not args.no_browser, args.classroom, args.notebooks))


def parser():
    from .checks import MAX_NUMBERS
    from .metrics import MAX_EACH
    from .present import DEFAULT_PORT
    from .train import METHOD_NAMES
    from .train_all import SHARED

    p = argparse.ArgumentParser(prog="python -m imm_edu", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    sub = p.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    d = sub.add_parser("demo", help="IMM vs DDIM vs FM figure from the shipped models (the default)")
    d.add_argument("--out", default="imm_demo.png", help="PNG to write (default: imm_demo.png)")
    d.add_argument("--toy", default="checkerboard", help="a toy with shipped imm, ddim and fm models")
    d.add_argument("--n", type=int, default=2000, help=f"points per panel (default: 2000; at most {MAX_EACH:,})")
    d.set_defaults(fn=demo)
    t = sub.add_parser("train", help="train one model (the shipped recipe unless overridden) and save it")
    t.add_argument("method", choices=METHOD_NAMES, help="imm (the series' IMM), imm_paper (IMM with exactly the "
                   "paper's kernel), cm (consistency model = IMM with M = 1), ddim or fm (flow matching)")
    t.add_argument("toy", help="a toy name (see imm_edu.toy.names()) or digits")
    for key, kind, what in (("steps", int, "training steps"), ("batch", int, "batch size"),
                            ("lr", float, "peak learning rate"), ("seed", int, "weights and data seed")):
        t.add_argument(f"--{key}", type=kind, help=f"{what} (shipped recipe: {SHARED[key]})")
    t.add_argument("--out", help="checkpoint path (default: METHOD_TOY.pt)")
    t.set_defaults(fn=train)
    s = sub.add_parser("sample", help="draw samples from a checkpoint to .npy or .png")
    s.add_argument("checkpoint", help="a .pt file, or method/toy for a shipped model (e.g. imm/moons)")
    s.add_argument("--n", type=int, default=2000, help=f"number of points (default: 2000; at most {MAX_NUMBERS // 2:,})")
    s.add_argument("--steps", type=int, default=2, help="sampler steps (= network evaluations; default: 2)")
    s.add_argument("--seed", type=int, default=0, help="seed of the prior noise: same seed, same points (default: 0)")
    s.add_argument("--out", default="samples.png", help="output .npy (points) or .png (scatter plot)")
    s.set_defaults(fn=sample)
    b = sub.add_parser("bench", help="quality vs NFE of the shipped models: markdown table + plot")
    b.add_argument("--toys", nargs="+", help="default: every shipped toy")
    b.add_argument("--methods", nargs="+", choices=METHOD_NAMES, help="default: all")
    b.add_argument("--nfe", nargs="+", type=int, help="override the NFE list of every method")
    b.add_argument("--n", type=int, default=5000,
                   help=f"samples and held-out points per evaluation (default: 5000; at most {MAX_EACH:,})")
    b.add_argument("--from-json", help="re-render the table and plot from a results.json instead of sampling")
    b.add_argument("--merge", action="store_true",
                   help="keep the other methods' numbers from the existing results.json in --out-dir")
    b.add_argument("--jobs", type=int, default=1, help="toys evaluated in parallel (one CPU thread each)")
    b.add_argument("--out-dir", default="benchmarks", help="where results.md, .json and quality_vs_nfe.png go")
    b.set_defaults(fn=bench_cmd)
    v = sub.add_parser("present", help="serve the lessons as web pages without code (Voilà) for a lecture")
    v.add_argument("lesson", nargs="?", help="e.g. 04 or 04_imm_jump (default: the index of all lessons)")
    v.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"local port (default: {DEFAULT_PORT})")
    v.add_argument("--no-browser", action="store_true", help="print the address instead of opening a browser")
    v.add_argument("--classroom", action="store_true", help="large fonts and thick lines for a projector")
    v.add_argument("--notebooks", help="the lessons' folder (default: notebooks/ of this clone, or ./notebooks)")
    v.set_defaults(fn=present)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["demo", *argv]  # `python -m imm_edu --out x.png` is the demo
    p = parser()
    args = p.parse_args(argv)
    try:
        args.fn(args)
    except (ValueError, FileNotFoundError) as err:  # bad names, missing or corrupt files: message, no traceback
        p.exit(2, f"{p.prog} {args.command}: error: {err}\n")


if __name__ == "__main__":
    import torch

    # The nets are tiny (width 64): one thread is as fast, and on a busy machine two threads fighting for the
    # cores are several times slower (the demo: 48 s on one thread, 177 s on two, at load 9 on 2 cores).
    torch.set_num_threads(1)
    main()
