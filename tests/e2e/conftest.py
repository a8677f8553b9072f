"""Fixtures for the browser end-to-end test: a throw-away JupyterLab server and headless Chromium.

Run with:  pytest tests/e2e -v

The tests are *skipped* (never failed) only when Chromium or the Python ``playwright`` package is missing;
``.ci/install-browser.sh`` installs both. Every other problem (server does not start, browser does not
launch, notebook errors, widget not found, figure does not redraw) fails loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI containers
    "--disable-background-networking",  # no network here: do not phone home
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]

SERVER_START_TIMEOUT_S = 90
# Hard limit for one test (setup of the shared server/browser has its own deadlines). On 2 busy CPU cores a
# lesson is opened, run and every control driven in 25-170 s (lesson 05 trains live); this only catches a hang.
TEST_TIMEOUT_S = 480

# JupyterLab user settings for the test server (a temporary settings dir: the developer's own settings
# are neither read nor changed).
LAB_SETTINGS = {
    # Never write executed outputs / widget state back into the notebooks under test.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # No "Would you like to receive official Jupyter news?" toast, no update check (no network here).
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # Attach every cell to the DOM so that selectors see all outputs, whatever the scroll position.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


# The fixture notebooks are inputs of the browser test, not lessons: nbval (--nbval-lax in pyproject's addopts)
# must not collect them (cell_error.ipynb raises on purpose). Artefacts are outputs.
collect_ignore = ["fixtures", "artifacts"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: end-to-end test in a real browser (JupyterLab + headless Chromium)"
    )


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(item.path).resolve().is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


# --------------------------------------------------------------------------------------------------------
# skip only when the browser stack is missing


def find_chromium() -> str | None:
    for cand in CHROMIUM_CANDIDATES:
        path = cand if os.path.isabs(cand) else shutil.which(cand)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "e2e browser test skipped: Chromium is not installed (looked for /usr/bin/chromium, chromium, "
            "chromium-browser). Install it with .ci/install-browser.sh (apt-get install chromium)."
        )
    return path


@pytest.fixture(scope="session")
def sync_playwright_cls():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "e2e browser test skipped: the Python package 'playwright' is not installed. "
            "Install it with .ci/install-browser.sh (pip install -r requirements-e2e.txt)."
        )
    return sync_playwright


# --------------------------------------------------------------------------------------------------------
# per-test hard timeout (SIGALRM -> exception, so that the finally-blocks still run)


class E2ETimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _e2e_hard_timeout():
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise E2ETimeout(f"e2e test exceeded its hard limit of {TEST_TIMEOUT_S} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------------------------------------
# JupyterLab server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path):
        self.proc = proc
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-n:])

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(self.base_url + path, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self, notebook_relpath: str | None = None) -> None:
        """Stop the kernel(s) of one notebook (or all): frees the 2 CPU cores for the next case."""
        try:
            sessions = self.api("/api/sessions")
        except (urllib.error.URLError, OSError):
            return
        for sess in sessions:
            if notebook_relpath is None or sess.get("path") == notebook_relpath:
                try:
                    self.api(f"/api/sessions/{sess['id']}", method="DELETE")
                except (urllib.error.URLError, OSError):
                    pass


def _start_server(tmp: Path, log_path: Path) -> LabServer:
    settings_dir = tmp / "lab-user-settings"
    for rel, content in LAB_SETTINGS.items():
        f = settings_dir / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(content))
    (tmp / "lab-workspaces").mkdir(exist_ok=True)
    (tmp / "runtime").mkdir(exist_ok=True)

    env = dict(os.environ)
    env["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
    # `import imm_edu` works in the kernel even if the package was not pip-installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, "1")  # 2 shared cores: one thread for the kernel's maths is plenty

    last_error = ""
    for _attempt in range(3):  # a port picked as free can be taken by someone else before we bind it
        port = _free_port()
        cmd = [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            "--ServerApp.token=",
            "--ServerApp.password=",
            "--allow-root",
            f"--ServerApp.root_dir={REPO_ROOT}",
            "--ServerApp.disable_check_xsrf=True",  # lets the fixture stop kernels via the REST API
            "--ServerApp.terminals_enabled=False",
            f"--LabApp.user_settings_dir={settings_dir}",
            f"--LabApp.workspaces_dir={tmp / 'lab-workspaces'}",
        ]  # fmt: skip
        log = open(log_path, "ab")
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        server = LabServer(proc, port, log_path)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_error = f"jupyter lab exited with code {proc.returncode}:\n{server.log_tail()}"
                break
            try:
                with urllib.request.urlopen(server.base_url + "/api/status", timeout=2) as r:
                    if r.status == 200:
                        return server
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        else:
            _stop_server(server)
            raise RuntimeError(
                f"JupyterLab did not answer on {server.base_url} within {SERVER_START_TIMEOUT_S} s:\n"
                f"{server.log_tail()}"
            )
        # retry only when the port was taken meanwhile ("... because port N is not available")
        if "not available" not in last_error and "already in use" not in last_error:
            break
    raise RuntimeError(f"could not start JupyterLab: {last_error}")


def _stop_server(server: LabServer) -> None:
    proc = server.proc
    if proc.poll() is None:
        server.shutdown_sessions()
        proc.send_signal(signal.SIGTERM)  # jupyter_server shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    # Kill anything left in the server's own process group (kernels it started), never anything else.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture(scope="session")
def lab_server(chromium_path, sync_playwright_cls, tmp_path_factory):
    """A JupyterLab server on 127.0.0.1:<free port>, root dir = repo root; always shut down."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("*.png"):  # screenshots of an earlier run would mislead
        stale.unlink()
    log_path = ARTIFACTS / "jupyter-server.log"
    log_path.write_bytes(b"")
    server = _start_server(tmp_path_factory.mktemp("jupyterlab"), log_path)
    try:
        yield server
    finally:
        _stop_server(server)


@pytest.fixture(scope="session")
def browser(chromium_path, sync_playwright_cls):
    """Headless Debian Chromium driven by playwright (no `playwright install`: we bring our own)."""
    with sync_playwright_cls() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
