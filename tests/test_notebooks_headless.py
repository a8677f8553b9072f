"""Every lesson (notebooks/*.ipynb, found by glob) runs headless the way lecturers run it, with nbclient at its
default settings (as `jupyter nbconvert --execute`, papermill and nbgrader do: no cell timeout), without a stall;
and then, in the same kernel, every ipywidgets control works over every value it can take (tests/widget_sweep.py).

A stall is measured directly: for each cell, how long the kernel's execute_reply waited in the client before the
client read it (client clock minus the reply's header date). A runner that misses a zmq wake-up waits there
forever; the wall-clock guard catches that, the lag catches shorter stalls.
"""
import datetime
import json
import os
import signal
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SWEEP = Path(__file__).resolve().parent / "widget_sweep.py"
GUARD_S = 600  # one notebook plus its sweep on 2 busy cores takes 15-90 s: this only catches a hang
MAX_REPLY_LAG_S = 3.0  # a reply read promptly waits milliseconds, even on a loaded machine
SWEEP_CELL = f"""import json, runpy
print("SWEEP-REPORT " + json.dumps(runpy.run_path({str(SWEEP)!r})["sweep"]()))"""


def run_headless(path):
    """Execute `path` plus a sweep cell with nbclient at default settings, in a thread with a wall-clock guard.
    Returns {"seconds", "lags": [(cell index, seconds)], "error", "hung", "report"}."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_code_cell(SWEEP_CELL))
    result = {"lags": [], "error": None, "hung": False, "report": None, "cell": None}

    def started(cell_index, **_):
        result["cell"] = cell_index

    def executed(cell_index, execute_reply, **_):
        lag = datetime.datetime.now(datetime.timezone.utc) - execute_reply["header"]["date"]
        result["lags"].append((cell_index, lag.total_seconds()))

    client = NotebookClient(nb, resources={"metadata": {"path": str(path.parent)}},
                            on_cell_start=started, on_cell_executed=executed)

    def execute():
        try:
            client.execute()
        except Exception as err:  # noqa: BLE001 - reported by the tests
            result["error"] = err

    start = time.perf_counter()
    worker = threading.Thread(target=execute, daemon=True)
    worker.start()
    worker.join(GUARD_S)
    if worker.is_alive():  # hung: kill the kernel, so nbclient gives up and cleans up
        result["hung"] = True
        os.kill(client.km.provisioner.process.pid, signal.SIGKILL)
        worker.join(60)
    result["seconds"] = time.perf_counter() - start
    text = "".join(out.get("text", "") for out in nb.cells[-1].get("outputs", []) if out.get("name") == "stdout")
    if "SWEEP-REPORT " in text:
        result["report"] = json.loads(text.split("SWEEP-REPORT ", 1)[1])
    result["stderr"] = "".join(out.get("text", "") for out in nb.cells[-1].get("outputs", [])
                               if out.get("name") == "stderr")
    return result


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def headless(request):
    result = run_headless(request.param)
    lags = sorted(result["lags"], key=lambda c: -c[1])[:3]
    print(f"\n{request.param.name}: {result['seconds']:.1f} s (notebook + sweep), largest reply lags {lags}")
    return result


def test_lesson_runs_under_nbclient_defaults(headless):
    assert not headless["hung"], (f"no result after {GUARD_S} s: stalled in cell {headless['cell']} "
                                  f"(nbclient at default settings waits forever for a reply it missed)")
    assert headless["error"] is None, f"the notebook failed: {headless['error']}"
    stalls = [(cell, round(lag, 1)) for cell, lag in headless["lags"] if lag > MAX_REPLY_LAG_S]
    assert not stalls, f"(cell, seconds) whose execute_reply waited in the client's socket: {stalls}"


def test_every_control_over_its_range(headless):
    report = headless["report"]
    assert report is not None, f"the sweep did not run: {headless['error'] or headless['stderr']}"
    print("\n".join(f"  {c['name']}: {c['values']} values in {c['seconds']:.1f} s" for c in report["controls"]))
    assert not report["problems"], "\n".join(report["problems"][:20])
    assert not report["warnings"], "\n".join(report["warnings"][:20])
    assert not headless["stderr"].strip(), headless["stderr"][-2000:]


def test_sweep_catches_a_control_that_crashes_at_one_value():
    result = run_headless(ROOT / "tests" / "e2e" / "fixtures" / "crash_at_one_value.ipynb")
    assert result["report"]["problems"] == ["IntSlider 'k' = 5: KeyError: 5"]
