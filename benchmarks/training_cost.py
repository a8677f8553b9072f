"""Training cost to quality for every method: energy distance of the EMA model against training CPU seconds.

    python benchmarks/training_cost.py                        imm, cm, shortcut, fm, ddim on checkerboard and moons
    python benchmarks/training_cost.py --methods imm cm       redo two methods, keep the others' curves
    python benchmarks/training_cost.py --methods imm_paper    add IMM with exactly the paper's kernel
    python benchmarks/training_cost.py --from-json            redraw table and figure from training_cost.json

Each (method, toy) trains once with its shipped recipe (imm_edu.train_all.RECIPES, read at run time) in a process
of one CPU thread; see imm_edu.training_cost for what is measured. Each finished curve is merged into
benchmarks/training_cost.json at once (an interrupted run keeps what it made), and training_cost.md and
training_cost.png are redrawn from the merged results. About 25 CPU-minutes for everything on an idle machine.
"""
import argparse
import time

from imm_edu import bench
from imm_edu import training_cost as tc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", default=list(tc.METHODS), choices=tc.ORDER)
    p.add_argument("--toys", nargs="+", default=list(tc.TOYS))
    p.add_argument("--jobs", type=int, default=1,
                   help="runs in parallel, one CPU thread each (2 on an idle 2-core machine)")
    p.add_argument("--from-json", action="store_true", help="only redraw from the existing results")
    args = p.parse_args(argv)
    start = time.perf_counter()

    def save(new):  # re-read first: another run of this script may have saved curves meanwhile
        old = tc.read()[0] if tc.RESULTS.exists() else {}
        return tc.write(tc.merge(old, new), tc.RESULTS.parent, bench.N_EVAL)

    if args.from_json and not tc.RESULTS.exists():
        p.error(f"--from-json: there is no {tc.RESULTS} yet")
    if not args.from_json:
        tc.run(args.methods, args.toys, args.jobs, on_result=save)
    paths = save({})
    print(f"wrote {', '.join(map(str, paths))} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
