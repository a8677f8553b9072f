import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

BROWSER_SKIP = "e2e browser test skipped"  # how tests/e2e/conftest.py starts its skip reasons


def pytest_terminal_summary(terminalreporter):
    """Say why the browser test was skipped at the end of every run, not only under `pytest -rs`."""
    reasons = {report.longrepr[2].removeprefix("Skipped: ") for report in terminalreporter.stats.get("skipped", [])
               if isinstance(report.longrepr, tuple) and BROWSER_SKIP in report.longrepr[2]}
    for reason in sorted(reasons):
        terminalreporter.write_sep("-", "browser test not run", yellow=True)
        terminalreporter.write_line(reason, yellow=True, bold=True)
