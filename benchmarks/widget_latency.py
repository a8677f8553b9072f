"""Measure how fast every control of every lesson redraws its figure in a real browser, and write the table to
benchmarks/widget_latency.md.

    python benchmarks/widget_latency.py      # needs Chromium and playwright: bash .ci/install-browser.sh

Runs the browser test that drives every control (tests/e2e/test_browser.py; the latency is measured there, from the
input event to the load of the new image) and copies its table from tests/e2e/artifacts/.
"""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "tests" / "e2e" / "artifacts" / "widget_latency.md"


def main():
    TABLE.unlink(missing_ok=True)
    test = "tests/e2e/test_browser.py::test_every_control_redraws_and_agrees_with_its_figure"
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-rs", test], cwd=ROOT)
    if code != 0 or not TABLE.exists():
        print(f"the browser test failed or was skipped (exit {code}); nothing written", file=sys.stderr)
        return code or 1
    shutil.copy(TABLE, ROOT / "benchmarks" / "widget_latency.md")
    print(TABLE.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
