"""Run every lesson the ways lecturers run it outside JupyterLab, several times, and look for stalls.

    python benchmarks/headless_runs.py     # every notebooks/*.ipynb, 3 rounds -> benchmarks/headless_runs.md
    python benchmarks/headless_runs.py --rounds 1 notebooks/03_moments_and_mmd.ipynb
    python benchmarks/headless_runs.py --runners nbconvert --out /tmp/runs.md notebooks/03_moments_and_mmd.ipynb

Each round runs each lesson with plain `jupyter nbconvert --to notebook --execute` and with
`nbclient.NotebookClient(nb).execute()`, both at default settings, each in a subprocess. Both record, per cell,
the kernel's own timestamps of its status messages (cell metadata "execution"). The client sends the next cell
only after it has read the previous cell's reply, so the kernel's idle time between cells (busy of cell i+1 minus
idle of cell i) is how long the client took to notice the end of a cell: milliseconds normally; a runner that
misses the wake-up of its zmq socket waits there (a stall). A run that does not end within --guard seconds counts
as hung.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
RUNNERS = ["nbconvert", "nbclient"]


def largest_gap(nb):
    """(seconds, cell index) of the longest kernel-idle pause before a code cell started."""
    stamps = [(i, c.metadata.get("execution", {})) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    gaps = [(0.0, None)]
    for (_, before), (i, after) in zip(stamps, stamps[1:]):
        if "iopub.status.idle" in before and "iopub.status.busy" in after:
            idle, busy = (datetime.fromisoformat(s.replace("Z", "+00:00"))
                          for s in (before["iopub.status.idle"], after["iopub.status.busy"]))
            gaps.append(((busy - idle).total_seconds(), i))
    return max(gaps)


NBCLIENT = """import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, sys.argv[2])"""


def run(runner, path, guard):
    """(seconds, executed notebook or None, status) of one run in a subprocess, killed after `guard` seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        cmd = ([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output", str(out),
                str(path)] if runner == "nbconvert" else
               [sys.executable, "-c", NBCLIENT, str(path), str(out), str(path.parent)])
        start = time.perf_counter()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=guard)
        except subprocess.TimeoutExpired:
            return time.perf_counter() - start, None, f"hung (killed after {guard} s)"
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            return seconds, None, done.stderr.strip().splitlines()[-1][:200]
        return seconds, nbformat.read(out, as_version=4), "ok"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--guard", type=int, default=600, help="seconds before a run counts as hung")
    parser.add_argument("--runners", nargs="+", choices=RUNNERS, default=RUNNERS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "headless_runs.md")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    rows = []
    for rnd in range(1, args.rounds + 1):
        for path in paths:
            for runner in args.runners:
                seconds, nb, status = run(runner, path, args.guard)
                gap, cell = largest_gap(nb) if nb is not None else (float("nan"), None)
                rows.append((rnd, path.stem, runner, seconds, gap, cell, status))
                print(f"round {rnd} {path.stem:28s} {runner:9s} {seconds:6.1f} s  largest pause {gap:6.3f} s "
                      f"(before cell {cell})  {status}", flush=True)
    load = os.getloadavg()[0]
    lines = ["# Lessons run headless: nbconvert and nbclient at default settings", "",
             f"`python benchmarks/headless_runs.py --rounds {args.rounds} --runners {' '.join(args.runners)}`; "
             f"{os.cpu_count()} CPU cores, load average {load:.1f} at the end (shared machine). \"largest pause\": "
             "the longest time the kernel sat idle between two cells, i.e. how long the runner took to notice that "
             "a cell had finished (a stall shows here).", "",
             "| round | lesson | runner | seconds | largest pause s | before cell | status |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r} | {name} | {runner} | {s:.1f} | {g:.3f} | {c} | {st} |" for r, name, runner, s, g, c, st in rows]
    args.out.write_text("\n".join(lines) + "\n")
    return 0 if all(st == "ok" for *_, st in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
