"""End-to-end: do what a student does in a real browser (JupyterLab + headless Chromium).

For every (notebook, slider description) in TARGETS:
  open /lab/tree/<notebook> -> Run > Run All Cells -> wait for the kernel to go idle -> no error output
  -> find the ipywidgets slider whose label is <description> -> screenshot the matplotlib <img> in the
  output of the same cell -> focus the slider handle, press ArrowRight (ArrowLeft at the end of the range)
  -> wait -> screenshot again -> the figure must have changed.
Screenshots go to tests/e2e/artifacts/<case>-before.png / -after.png (and <case>-page.png on failure).

Run:  pytest tests/e2e -v
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # same folder as in conftest.py

# --------------------------------------------------------------------------------------------------------
# THE TARGET LIST: (notebook path relative to the repo root, slider description as shown in its label).
# A notebook that does not exist (yet) is skipped with "<path> not present"; the fixture is always there.
TARGETS = [
    ("tests/e2e/fixtures/slider_demo.ipynb", "t"),  # stand-in: proves the harness works
    ("notebooks/01_noising.ipynb", "t"),
    ("notebooks/04_imm_jump.ipynb", "t"),
    ("notebooks/04_imm_jump.ipynb", "s"),
]
# Negative fixtures: the harness must FAIL on these (proves it can detect a broken lesson).
BROKEN_CALLBACK = ("tests/e2e/fixtures/broken_slider.ipynb", "t")  # callback never redraws
CELL_ERROR = ("tests/e2e/fixtures/cell_error.ipynb", "t")  # a cell raises

# Time limits (2 shared CPU cores). Every wait below is bounded.
NOTEBOOK_LOAD_TIMEOUT_S = 60  # page load + JupyterLab start + notebook shown
KERNEL_READY_TIMEOUT_S = 60  # kernel started and idle before "Run All"
RUN_ALL_TIMEOUT_S = 150  # all cells executed (real notebooks may import torch, load data)
WIDGET_TIMEOUT_S = 30  # slider + figure rendered after the run
REDRAW_TIMEOUT_S = 20  # figure redrawn after the key presses
SETTLE_S = 1.0  # kernel must stay idle this long to count as "idle"
KEY_PRESSES = 3

VIEWPORT = {"width": 1400, "height": 1000}

# Error detection. stderr outputs (stream "stderr" AND exception tracebacks, which JupyterLab renders with
# the same mime type) are scanned for a traceback header or an "SomethingError:" / "...Exception" line
# that starts at column 0. Warnings ("/path/x.py:3: UserWarning: ...", indented source lines) do not match.
STDERR_SELECTOR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
ERROR_LINE = re.compile(
    r"^(Traceback \(most recent call last\)"
    r"|[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b"
    r"|.*\bTraceback \(most recent call last\)$)",
    re.MULTILINE,
)
# ipywidgets' own rendering failures (front-end error widget, missing model).
WIDGET_ERROR_SELECTOR = ".jupyter-widgets-error-widget"
WIDGET_ERROR_TEXT = "Error displaying widget"


def _case_id(relpath: str, description: str) -> str:
    return f"{Path(relpath).stem}-{description}"


def _param(relpath: str, description: str):
    present = (REPO_ROOT / relpath).is_file()
    return pytest.param(
        relpath,
        description,
        id=_case_id(relpath, description),
        marks=pytest.mark.skipif(not present, reason=f"{relpath} not present"),
    )


# --------------------------------------------------------------------------------------------------------
# page helpers


def _page_state(page) -> dict:
    """Kernel indicator, code-cell prompts and any modal dialog, read in one round trip."""
    return page.evaluate(
        """() => {
        const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
            .map(p => p.innerText.trim());
        const dlg = document.querySelector('.jp-Dialog');
        return {
            status: ind ? ind.getAttribute('data-status') : null,
            prompts: prompts,
            dialog: dlg ? dlg.innerText.trim() : null,
        };
    }"""
    )


def _kernel_state_from_server(server, relpath: str) -> str | None:
    for sess in server.api("/api/sessions"):
        if sess.get("path") == relpath and sess.get("kernel"):
            return sess["kernel"].get("execution_state")
    return None


def _wait_idle(page, server, relpath: str, timeout_s: float, what: str) -> dict:
    """Wait until the kernel is idle and no cell shows [*], continuously for SETTLE_S seconds."""
    deadline = time.monotonic() + timeout_s
    idle_since = None
    state: dict = {}
    while time.monotonic() < deadline:
        state = _page_state(page)
        if state["dialog"]:
            raise AssertionError(f"{relpath}: unexpected JupyterLab dialog while {what}: {state['dialog']!r}")
        server_state = _kernel_state_from_server(server, relpath)
        if server_state == "dead" or state["status"] == "dead":
            raise AssertionError(f"{relpath}: the kernel died while {what}")
        idle = (
            state["status"] == "idle"
            and server_state == "idle"
            and not any("*" in p for p in state["prompts"])
        )
        if idle:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= SETTLE_S:
                return state
        else:
            idle_since = None
        time.sleep(0.25)
    raise AssertionError(
        f"{relpath}: kernel not idle after {timeout_s:.0f} s while {what} "
        f"(indicator={state.get('status')!r}, prompts={state.get('prompts')})"
    )


def open_and_run_notebook(page, server, relpath: str) -> None:
    """Open the notebook, Run > Run All Cells, wait until every cell has run and the kernel is idle.

    The notebook file on disk is never saved (autosave is off, see conftest.LAB_SETTINGS).
    """
    # ?reset: start from an empty workspace (otherwise JupyterLab re-opens the previous case's tabs)
    page.goto(f"{server.base_url}/lab/tree/{relpath}?reset", timeout=NOTEBOOK_LOAD_TIMEOUT_S * 1000)
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(
        state="visible", timeout=NOTEBOOK_LOAD_TIMEOUT_S * 1000
    )
    _wait_idle(page, server, relpath, KERNEL_READY_TIMEOUT_S, "starting the kernel")

    # What a student does: menu Run > Run All Cells.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item:not(.lm-mod-disabled)", has_text=re.compile(r"^Run All Cells")).click()
    # The cells are queued ([*]) synchronously on click; wait for the queue to drain.
    state = _wait_idle(page, server, relpath, RUN_ALL_TIMEOUT_S, "running all cells")
    if not any(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"]):
        raise AssertionError(f"{relpath}: Run All Cells executed nothing (prompts: {state['prompts']})")


def assert_no_error_output(page, relpath: str) -> None:
    problems = []
    stderr = page.locator(STDERR_SELECTOR)
    for i, text in enumerate(stderr.all_inner_texts()):
        if ERROR_LINE.search(text):
            if not problems:  # so that the failure screenshot (<case>-page.png) shows it
                stderr.nth(i).scroll_into_view_if_needed(timeout=5_000)
            problems.append(text.strip()[-1500:])
    if page.locator(WIDGET_ERROR_SELECTOR).count():
        problems.extend(t.strip() for t in page.locator(WIDGET_ERROR_SELECTOR).all_inner_texts())
    if page.get_by_text(WIDGET_ERROR_TEXT).count():
        problems.append(WIDGET_ERROR_TEXT)
    prompts = _page_state(page)["prompts"]
    if problems:
        raise AssertionError(
            f"{relpath}: {len(problems)} error output(s) after Run All Cells:\n\n" + "\n\n---\n".join(problems)
        )
    not_run = [i for i, p in enumerate(prompts) if not re.fullmatch(r"\[\d+\]:", p)]
    if not_run:
        raise AssertionError(f"{relpath}: code cells {not_run} were not executed (prompts: {prompts})")


def _find_slider(page, relpath: str, description: str):
    label = re.compile(rf"^\s*{re.escape(description)}\s*$")
    sliders = page.locator(".jupyter-widgets.widget-slider").filter(
        has=page.locator("label.widget-label", has_text=label)
    )
    try:
        sliders.first.wait_for(state="attached", timeout=WIDGET_TIMEOUT_S * 1000)
    except Exception:
        labels = [t.strip() for t in page.locator(".widget-slider label.widget-label").all_inner_texts()]
        plain = [
            t.strip()[:80]
            for t in page.locator('.jp-OutputArea-output[data-mime-type="text/plain"]').all_inner_texts()
            if "Slider(" in t
        ]
        raise AssertionError(
            f"{relpath}: no ipywidgets slider with description {description!r} rendered within "
            f"{WIDGET_TIMEOUT_S} s. Slider labels found: {labels}. "
            + (f"Widgets shown as plain text (widget manager missing?): {plain}" if plain else "")
        ) from None
    return sliders.first


def _figure_images(slider, relpath: str, description: str):
    """The <img> elements in the output area of the cell that holds the slider."""
    cell = slider.locator("xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' jp-Cell ')][1]")
    imgs = cell.locator(".jp-Cell-outputArea img")
    try:
        imgs.first.wait_for(state="visible", timeout=WIDGET_TIMEOUT_S * 1000)
    except Exception:
        raise AssertionError(
            f"{relpath}: no <img> (matplotlib figure) in the output of the cell that holds slider "
            f"{description!r}. Display the figure in the same cell (ipywidgets.Output + display(fig) / "
            f"plt.show(), or interactive_output), as PNG (%matplotlib inline)."
        ) from None
    return imgs


def _snapshot(imgs) -> list[tuple[str, bytes]]:
    """(src, element screenshot PNG) of every figure image, once the images are decoded."""
    shots = []
    for i in range(imgs.count()):
        img = imgs.nth(i)
        img.evaluate(
            "el => el.complete && el.naturalWidth > 0 ? true : "
            "new Promise(r => { el.addEventListener('load', () => r(true), {once: true}); setTimeout(r, 5000); })"
        )
        shots.append((img.get_attribute("src") or "", img.screenshot(animations="disabled")))
    return shots


def _srcs(imgs) -> list[str]:
    return [s or "" for s in imgs.evaluate_all("els => els.map(e => e.getAttribute('src'))")]


def _pixel_difference(a: bytes, b: bytes) -> float:
    """Fraction of pixels that differ between two PNG screenshots (1.0 if their sizes differ)."""
    import numpy as np
    from PIL import Image

    ia = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.int16)
    ib = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.int16)
    if ia.shape != ib.shape:
        return 1.0
    return float((np.abs(ia - ib).max(axis=2) > 8).mean())


def _save(shots, prefix: str, when: str) -> list[str]:
    names = []
    for i, (_src, png) in enumerate(shots):
        name = f"{prefix}-{when}.png" if len(shots) == 1 else f"{prefix}-{when}-{i + 1}.png"
        (ARTIFACTS / name).write_bytes(png)
        names.append(name)
    return names


def _slider_value(slider) -> str:
    """The value as the student reads it (the readout), else the handle's aria-valuenow."""
    readout = slider.locator(".widget-readout")
    if readout.count() and readout.first.is_visible():
        return readout.first.inner_text().strip()
    return slider.locator(".noUi-handle").first.get_attribute("aria-valuenow") or ""


def _move_slider(page, slider, relpath: str, description: str) -> tuple[str, str]:
    """Focus the handle and press arrow keys like a student; fall back to a mouse drag."""
    handle = slider.locator(".noUi-handle").first
    before = _slider_value(slider)
    handle.focus()
    for key in ("ArrowRight", "ArrowLeft"):  # ArrowLeft only if the slider sat at its maximum
        for _ in range(KEY_PRESSES * (1 if key == "ArrowRight" else 2)):
            handle.press(key)
            time.sleep(0.15)
        after = _slider_value(slider)
        if after != before:
            return before, after
    box = handle.bounding_box()
    track = slider.locator(".noUi-base").first.bounding_box()
    if box and track:
        y = box["y"] + box["height"] / 2
        x0 = box["x"] + box["width"] / 2
        x1 = track["x"] + (0.8 * track["width"] if x0 < track["x"] + track["width"] / 2 else 0.2 * track["width"])
        page.mouse.move(x0, y)
        page.mouse.down()
        page.mouse.move(x1, y, steps=8)
        page.mouse.up()
        after = _slider_value(slider)
        if after != before:
            return before, after
    raise AssertionError(
        f"{relpath}: slider {description!r} did not move (value stays {before}) with arrow keys or a drag"
    )


def assert_slider_redraws_figure(page, server, relpath: str, description: str, prefix: str,
                                 redraw_timeout_s: float = REDRAW_TIMEOUT_S) -> None:  # fmt: skip
    slider = _find_slider(page, relpath, description)
    imgs = _figure_images(slider, relpath, description)
    before = _snapshot(imgs)
    before_files = _save(before, prefix, "before")

    value_before, value_after = _move_slider(page, slider, relpath, description)

    # Wait for the redraw: the PNG in the <img> changes (or the number of images does).
    before_srcs = [s for s, _ in before]
    deadline = time.monotonic() + redraw_timeout_s
    while time.monotonic() < deadline and _srcs(imgs) == before_srcs:
        time.sleep(0.25)
    _wait_idle(page, server, relpath, RUN_ALL_TIMEOUT_S, f"redrawing after moving slider {description!r}")
    after = _snapshot(imgs)
    after_files = _save(after, prefix, "after")
    value_after = _slider_value(slider) or value_after

    src_changed = [s for s, _ in after] != before_srcs
    if len(after) != len(before):
        pixel_change = 1.0
    else:
        pixel_change = max((_pixel_difference(a, b) for (_, a), (_, b) in zip(before, after)), default=0.0)
    if not (src_changed and pixel_change > 0.0):
        raise AssertionError(
            f"{relpath}: figure did not change after moving slider {description!r} from {value_before} to "
            f"{value_after} (waited {redraw_timeout_s:.0f} s; PNG data changed: {src_changed}; "
            f"changed pixels on screen: {pixel_change:.2%}). Screenshots: {before_files} / {after_files} "
            f"in {ARTIFACTS}"
        )


def check_notebook_slider(notebook_pages, relpath: str, description: str,
                          redraw_timeout_s: float = REDRAW_TIMEOUT_S) -> None:  # fmt: skip
    """THE check (used by the real cases and by the negative tests): run all, no errors, slider redraws."""
    prefix = _case_id(relpath, description)
    try:
        page = notebook_pages.open(relpath)
        assert_slider_redraws_figure(page, notebook_pages.server, relpath, description, prefix, redraw_timeout_s)
    except BaseException:
        page = notebook_pages.last_page
        if page is not None and not page.is_closed():
            try:
                page.screenshot(path=str(ARTIFACTS / f"{prefix}-page.png"), full_page=True, timeout=10_000)
            except Exception:
                pass
        raise


class NotebookPages:
    """Keeps the last opened+run notebook, so several sliders of one notebook share one run."""

    def __init__(self, browser, server):
        self.browser = browser
        self.server = server
        self.current = None  # (relpath, context, page) of the open notebook
        self.current_ok = False  # it ran without errors: may be reused by the next slider of that notebook
        self.last_page = None

    def open(self, relpath: str):
        if self.current and self.current_ok and self.current[0] == relpath and not self.current[2].is_closed():
            return self.current[2]
        self.close()
        context = self.browser.new_context(viewport=VIEWPORT)  # fresh cookies/storage per notebook
        page = context.new_page()
        page.set_default_timeout(30_000)
        # kept (even on failure, for the page screenshot) until the next open() or the end of the session
        self.current, self.current_ok, self.last_page = (relpath, context, page), False, page
        open_and_run_notebook(page, self.server, relpath)
        assert_no_error_output(page, relpath)
        self.current_ok = True
        return page

    def close(self):
        if self.current:
            relpath, context, _page = self.current
            self.current = None
            try:
                context.close()
            finally:
                self.server.shutdown_sessions(relpath)


@pytest.fixture(scope="session")
def notebook_pages(browser, lab_server):
    pages = NotebookPages(browser, lab_server)
    try:
        yield pages
    finally:
        pages.close()


# --------------------------------------------------------------------------------------------------------
# tests


@pytest.mark.parametrize(("relpath", "description"), [_param(nb, d) for nb, d in TARGETS])
def test_slider_redraws_figure(notebook_pages, relpath, description):
    check_notebook_slider(notebook_pages, relpath, description)


def test_harness_detects_broken_callback(notebook_pages):
    relpath, description = BROKEN_CALLBACK
    with pytest.raises(AssertionError, match="figure did not change") as excinfo:
        check_notebook_slider(notebook_pages, relpath, description, redraw_timeout_s=8)
    print(f"harness reported, as expected:\n{excinfo.value}")


def test_harness_detects_error_output(notebook_pages):
    relpath, description = CELL_ERROR
    with pytest.raises(AssertionError, match=r"error output\(s\) after Run All Cells") as excinfo:
        check_notebook_slider(notebook_pages, relpath, description)
    assert "ValueError: deliberate error for the e2e harness" in str(excinfo.value)
    assert "UserWarning" not in str(excinfo.value)
    print(f"harness reported, as expected:\n{excinfo.value}")
