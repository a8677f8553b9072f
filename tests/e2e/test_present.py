"""End-to-end: presenter mode as a lecturer uses it (python -m imm_edu present --classroom, Voilà, headless Chromium).

The server is started like a lecturer would, on a free port and without opening a browser; Chromium then
  1. opens the index page: it links every lesson (NN_name.ipynb in notebooks/), shows no code and no error;
  2. follows the link to lesson 04: the page runs the lesson, shows no code cell and no error, and moving the `s`
     slider redraws the figure of its panel (the image data and the pixels change; works for an <img> inside an
     ipywidgets.Output and for an ipywidgets.Image).
Screenshots (a projector-sized 1280 x 800 window): tests/e2e/artifacts/present-*.png.

Run:  pytest tests/e2e/test_present.py -v
"""
from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # same folder as in conftest.py
LESSONS = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LESSON, SLIDER = "04_imm_jump.ipynb", "s"

SERVER_START_TIMEOUT_S = 90  # python -m imm_edu present: torch import, Voilà start
LESSON_RUN_TIMEOUT_S = 180  # the page arrives while the lesson runs (~30 s for lesson 04 on 2 cores)
REDRAW_TIMEOUT_S = 20
VIEWPORT = {"width": 1280, "height": 800}  # a common projector resolution

CODE_SELECTOR = ".jp-CodeCell .jp-InputArea, .jp-InputArea-editor, .cm-editor, .CodeMirror, .jp-InputPrompt"
STDERR_SELECTOR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
ERROR_LINE = re.compile(r"^(Traceback \(most recent call last\)|[A-Za-z_][\w.]*(Error|Exception)\b)", re.MULTILINE)
ERROR_TEXTS = ("There was an error when executing cell", "Cell execution timed out", "Error displaying widget")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def presenter(chromium_path, sync_playwright_cls):
    """`python -m imm_edu present --classroom --no-browser --port P`; yields its base URL; always stopped."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "presenter.log"
    port = _free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, "1")
    cmd = [sys.executable, "-m", "imm_edu", "present", "--classroom", "--no-browser", f"--port={port}"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while "presenter mode" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`{' '.join(cmd[1:])}` did not start (exit code {proc.poll()}):\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield base_url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the presenter stops Voilà, which stops its kernels
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in the presenter's own process group
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


def assert_no_code(page, notebook: Path | None = None) -> None:
    shown = page.locator(CODE_SELECTOR).count()
    assert shown == 0, f"{shown} code input element(s) on the page ({CODE_SELECTOR})"
    if notebook is None:
        return
    text = page.inner_text("body")
    cells = json.loads(notebook.read_text())["cells"]
    lines = {line.strip() for cell in cells if cell["cell_type"] == "code" for line in cell["source"]}
    meant_to_show = json.dumps([c["source"] if c["cell_type"] == "markdown" else c.get("outputs") for c in cells])
    leaked = [line for line in lines
              if len(line) >= 25 and not line.startswith("#") and line in text and line not in meant_to_show]
    assert not leaked, f"code lines of {notebook.name} are visible on the page: {leaked[:5]}"


def assert_no_error(page, what: str) -> None:
    problems = [t for t in page.locator(STDERR_SELECTOR).all_inner_texts() if ERROR_LINE.search(t)]
    problems += [t for t in page.locator(".jupyter-widgets-error-widget").all_inner_texts()]
    body = page.inner_text("body")
    problems += [t for t in ERROR_TEXTS if t in body]
    assert not problems, f"{what}: {len(problems)} error(s) on the page:\n" + "\n---\n".join(p[-1500:] for p in problems)


def _pixel_difference(a: bytes, b: bytes) -> float:
    import numpy as np
    from PIL import Image

    ia = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.int16)
    ib = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.int16)
    return 1.0 if ia.shape != ib.shape else float((np.abs(ia - ib).max(axis=2) > 8).mean())


def _settled_figure(panel, differs_from: str | None = None, settle_s: float = 1.5) -> tuple[str, bytes]:
    """(src, screenshot) of the panel's figure once its src has not changed for `settle_s` seconds (and differs from
    `differs_from`, if given). Every redraw may replace the <img> element, so each look finds it again."""
    deadline = time.monotonic() + REDRAW_TIMEOUT_S
    src, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = panel.locator("img").first.get_attribute("src")
        if now != src:
            src, since = now, time.monotonic()
        elif src != differs_from and time.monotonic() - since >= settle_s:
            try:
                return src, panel.locator("img").first.screenshot()
            except Exception:  # replaced while being captured: look again
                since = time.monotonic()
        time.sleep(0.2)
    return src, panel.locator("img").first.screenshot()


def _open_index(page, base_url: str) -> None:
    page.goto(f"{base_url}/voila/render/index.ipynb", wait_until="load", timeout=LESSON_RUN_TIMEOUT_S * 1000)
    page.locator("a", has_text=re.compile(r"^\d\d · ")).first.wait_for(state="visible")


def test_index_links_every_lesson(presenter, page):
    _open_index(page, presenter)
    links = page.locator("a[href]").evaluate_all("els => els.map(a => [a.textContent.trim(), a.href])")
    hrefs = [(text, urlparse(href)) for text, href in links]  # heading anchors (#...) point at the index itself
    linked = {Path(url.path).name: text for text, url in hrefs if "/voila/render/" in url.path and not url.fragment}
    assert sorted(linked) == LESSONS, f"the index links {sorted(linked)}, the lessons are {LESSONS}"
    for name, text in linked.items():
        assert text.startswith(f"{name[:2]} · "), f"link to {name} reads {text!r}, not the lesson's title"
    assert_no_code(page)
    assert_no_error(page, "index page")
    page.screenshot(path=str(ARTIFACTS / "present-index-classroom.png"), full_page=True)


def test_lesson_shows_no_code_and_its_slider_redraws_the_figure(presenter, page):
    _open_index(page, presenter)
    start = time.monotonic()
    page.locator("a", has_text=re.compile(r"^04 · ")).click()  # a lecturer's click; the lesson runs meanwhile
    page.wait_for_url(f"**/voila/render/{LESSON}", wait_until="commit", timeout=30_000)
    page.wait_for_load_state("load", timeout=LESSON_RUN_TIMEOUT_S * 1000)
    label = re.compile(rf"^\s*{re.escape(SLIDER)}\s*$")
    slider = page.locator(".widget-slider").filter(has=page.locator("label.widget-label", has_text=label)).first
    slider.wait_for(state="visible", timeout=60_000)
    print(f"lesson 04 served and its widgets shown {time.monotonic() - start:.1f} s after the click")
    assert_no_code(page, REPO_ROOT / "notebooks" / LESSON)
    assert_no_error(page, LESSON)

    panel = slider.locator("xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' widget-vbox ')][1]")
    panel.locator("img").first.wait_for(state="visible")  # <img> in an ipywidgets.Output, or an ipywidgets.Image
    panel.scroll_into_view_if_needed()
    src_before, pixels_before = _settled_figure(panel)
    page.screenshot(path=str(ARTIFACTS / "present-04-classroom.png"))
    value_before = slider.locator(".widget-readout").inner_text()
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(5):
        handle.press("ArrowRight")
        time.sleep(0.15)
    value_after = slider.locator(".widget-readout").inner_text()
    assert value_after != value_before, f"slider {SLIDER!r} did not move with the arrow keys ({value_before})"

    src_after, pixels_after = _settled_figure(panel, differs_from=src_before)
    (ARTIFACTS / "present-04-before.png").write_bytes(pixels_before)
    (ARTIFACTS / "present-04-after.png").write_bytes(pixels_after)
    changed = _pixel_difference(pixels_before, pixels_after)
    assert src_after != src_before and changed > 0.001, (
        f"moving {SLIDER!r} from {value_before} to {value_after} did not redraw the figure within "
        f"{REDRAW_TIMEOUT_S} s (image data changed: {src_after != src_before}; pixels changed: {changed:.2%})")
    assert_no_error(page, f"{LESSON} after moving {SLIDER!r}")
