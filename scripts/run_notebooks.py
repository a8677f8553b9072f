"""Re-execute the lesson notebooks in place, so the committed copies carry fresh outputs.

    python scripts/run_notebooks.py                              # every notebooks/*.ipynb, in name order
    python scripts/run_notebooks.py notebooks/01_noising.ipynb   # just these

Each notebook runs top to bottom with nbclient (kernel "python3", working directory notebooks/). Then the
widget state that headless execution records is removed (metadata.widgets, widget-state outputs): without
it a code host shows the static figures instead of half-restored widgets. The script stops at the first
notebook that raises, leaving that file untouched, and prints the time each notebook took. It also refuses
to save outputs that contain a machine path (/root/, /home/, /tmp/, /work/, C:\\...).
"""
import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MACHINE_PATH = re.compile(r"(/root/|/home/|/tmp/|/work/|/Users/|/private/var/|[A-Z]:\\)")


def strip_widget_state(nb):
    """Drop the widget state headless execution stores; the widget views in outputs stay (they are small).
    Also merge consecutive prints into one stream output, so a rerun gives the same file layout."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("widgets", None)
        cell.metadata.pop("execution", None)  # per-cell timestamps: noise in every diff
        merged = []
        for out in cell.get("outputs", []):
            out.get("data", {}).pop(WIDGET_STATE, None)
            if merged and out.output_type == "stream" and merged[-1].output_type == "stream" \
                    and merged[-1].name == out.name:
                merged[-1].text += out.text
            else:
                merged.append(out)
        if cell.cell_type == "code":
            cell.outputs = merged
    return nb


def machine_paths(nb):
    """(cell index, matched text) for every output that mentions a machine path."""
    hits = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            texts = [out.get("text", "")] + [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
            texts += out.get("traceback", [])
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                if m := MACHINE_PATH.search(text):
                    hits.append((i, text[max(0, m.start() - 40):m.end() + 40]))
    return hits


def run(path, timeout=120):
    """Execute one notebook in place; returns seconds taken."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    strip_widget_state(nb)
    if hits := machine_paths(nb):
        raise RuntimeError(f"{path.name}: outputs contain machine paths: {hits[:3]}")
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: notebooks/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds allowed per cell (default 120)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    total = 0.0
    for path in paths:
        try:
            seconds = run(path, args.timeout)
        except (CellExecutionError, RuntimeError) as err:
            print(f"{path.name:45s} FAILED", flush=True)
            print(str(err)[-3000:], file=sys.stderr)
            return 1
        total += seconds
        print(f"{path.name:45s} {seconds:6.1f} s", flush=True)
    print(f"{'total':45s} {total:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
