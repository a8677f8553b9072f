"""Training cost to quality for every method: energy distance of the EMA model against training CPU seconds.

    python benchmarks/training_cost.py                        imm, cm, shortcut, fm, ddim on checkerboard and moons
    python benchmarks/training_cost.py --methods imm cm       redo two methods, keep the others' curves
    python benchmarks/training_cost.py --from-json            redraw table and figure from training_cost.json

Each (method, toy) trains once with its shipped recipe (imm_edu.train_all.RECIPES, read at run time) in a process
of one CPU thread; see imm_edu.training_cost for what is measured. New curves are merged into the existing
benchmarks/training_cost.json; training_cost.md and training_cost.png are redrawn from the merged results.
About 20 CPU-minutes for everything (a third of it scoring).
"""
import argparse
import time

from imm_edu import bench
from imm_edu import training_cost as tc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", default=list(tc.METHODS), choices=tc.METHODS)
    p.add_argument("--toys", nargs="+", default=list(tc.TOYS))
    p.add_argument("--jobs", type=int, default=1, 
                   help="runs in parallel, one CPU thread each (2 on an idle 2-core machine)")
    p.add_argument("--from-json", action="store_true", help="only redraw from the existing results")
    args = p.parse_args(argv)
    start = time.perf_counter()
    old, n = tc.read() if tc.RESULTS.exists() else ({}, bench.N_EVAL)
    results = old if args.from_json else tc.merge(old, tc.run(args.methods, args.toys, args.jobs))
    paths = tc.write(results, tc.RESULTS.parent, n)
    print(f"wrote {', '.join(map(str, paths))} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
