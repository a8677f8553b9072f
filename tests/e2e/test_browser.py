"""End-to-end: do what a student does in a real browser (JupyterLab + headless Chromium), with every control.

For every notebook under notebooks/ (found by glob, so a lesson added later is covered) and the stand-in fixture:
  open /lab/tree/<notebook> -> Run > Run All Cells -> wait for the kernel to go idle -> no error output
  -> DISCOVER every ipywidgets control in the outputs (sliders of every kind, dropdowns, toggle buttons, radio
  buttons, checkboxes, toggle and plain buttons; any other input in a widget fails as "unsupported")
  -> drive each to its minimum, its maximum and one value in between (keyboard Home/End and a click on the middle of
  a slider's track; the first, middle and last option of a menu; both states of a checkbox; a click on a button).
After each change: no error output anywhere, no "Error displaying widget", no error line in the panel, the figure
(the <img> of the control's imm_edu panel, else of its cell's output) changed, and, for a panel made by
imm_edu.widgets.wire, what every control of the panel shows equals what the figure's caption states.
The time from the input event to the load of the new image is recorded per change; a change slower than
HANG_S fails. The session writes the latency table to tests/e2e/artifacts/widget_latency.md
(benchmarks/widget_latency.py copies it to benchmarks/). Screenshots of every panel after its drive, and of the
page on failure, go to tests/e2e/artifacts/.

Run:  pytest tests/e2e -v
"""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # same folder as in conftest.py
LESSONS = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))
STAND_IN = "tests/e2e/fixtures/slider_demo.ipynb"  # proves the harness on a notebook without imm_edu panels
# Negative fixtures: the harness must FAIL on these (proves it can detect a broken lesson).
BROKEN_CALLBACK = "tests/e2e/fixtures/broken_slider.ipynb"  # the callback never redraws
CELL_ERROR = "tests/e2e/fixtures/cell_error.ipynb"  # a cell raises
CRASH_AT_ONE_VALUE = "tests/e2e/fixtures/crash_at_one_value.ipynb"  # update() raises at the slider's middle value

# Time limits (2 shared CPU cores). Every wait below is bounded.
NOTEBOOK_LOAD_TIMEOUT_S = 60  # page load + JupyterLab start + notebook shown
KERNEL_READY_TIMEOUT_S = 60  # kernel started and idle before "Run All"
RUN_ALL_TIMEOUT_S = 300  # all cells executed (lesson 05 trains live: 150 s on 2 cores at load 8)
REDRAW_TIMEOUT_S = 20  # a new figure after a change
SETTLE_TIMEOUT_S = 10  # kernel idle and caption agreeing after the new figure
HANG_S = 5.0  # a change whose figure takes longer than this fails: that is a hang, not a slow redraw
SETTLE_S = 1.0  # after Run All: the kernel must stay idle this long to count as "idle"
STABLE_S = 0.3  # after a change: no further image and the caption still agreeing this long

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

# Recorded before any page script runs: the time of the first input event after the test arms it, and every image
# load (new <img> or new src) with its time. Capture listeners see events before the widgets handle them.
INSTRUMENT_JS = """
window.__e2e = {input: null, loads: []};
for (const type of ['keydown', 'pointerdown', 'mousedown', 'input', 'change', 'click']) {
    document.addEventListener(type, () => {
        if (window.__e2e.input === null) window.__e2e.input = performance.now();
    }, true);
}
document.addEventListener('load', (e) => {
    if (e.target instanceof HTMLImageElement) window.__e2e.loads.push({t: performance.now(), el: e.target});
}, true);
"""

# Find every control in the outputs, tag it with data-e2e-id, and describe it.
DISCOVER_JS = """() => {
    const KINDS = [['slider', '.widget-slider'], ['dropdown', '.widget-dropdown'],
                   ['toggle-buttons', '.widget-toggle-buttons'], ['radio', '.widget-radio'],
                   ['checkbox', '.widget-checkbox'], ['toggle-button', '.widget-toggle-button'],
                   ['button', '.widget-button']];
    const found = [];
    for (const [kind, selector] of KINDS) {
        for (const el of document.querySelectorAll('.jp-Cell-outputArea ' + selector)) {
            if (found.some(f => f.el.contains(el))) continue;  // a toggle button inside toggle buttons
            found.push({el, kind});
        }
    }
    found.sort((a, b) => (a.el.compareDocumentPosition(b.el) & Node.DOCUMENT_POSITION_FOLLOWING) ? -1 : 1);
    const unsupported = [];
    for (const el of document.querySelectorAll(
            '.jp-Cell-outputArea .jupyter-widgets :is(input, select, textarea, [contenteditable="true"])')) {
        if (!found.some(f => f.el.contains(el))) unsupported.push(el.closest('.jupyter-widgets').className);
    }
    const label = (el) => {
        const l = el.querySelector(':scope > label.widget-label, :scope > .widget-label');
        return ((l && l.innerText) || el.innerText || '').trim().split('\\n')[0];
    };
    const disabled = (el) => el.matches(':disabled, .mod-disabled')
        || !!el.querySelector(':disabled, [disabled]:not([disabled="false"])');
    return {
        unsupported,
        controls: found.map((f, i) => {
            f.el.dataset.e2eId = String(i);
            return {id: i, kind: f.kind, label: label(f.el), disabled: disabled(f.el),
                    panel: !!f.el.closest('.imm-panel')};
        }),
    };
}"""

# Everything the checks need about one control, in one round trip.
STATE_JS = """(id) => {
    const el = document.querySelector(`[data-e2e-id="${id}"]`);
    // ipywidgets writes option labels with &nbsp; for spaces
    const text = (e) => (e.tagName === 'OPTION' ? e.text : e.innerText).replace(/\u00a0/g, ' ').trim();
    const shows = (c) => {
        if (c.matches('.widget-slider')) {
            const r = c.querySelector('.widget-readout');
            const h = c.querySelector('.noUi-handle');
            return (r && r.style.display !== 'none' && text(r)) || (h && h.getAttribute('aria-valuetext')) || '';
        }
        if (c.matches('.widget-dropdown')) {
            const s = c.querySelector('select');
            return s.selectedIndex >= 0 ? text(s.options[s.selectedIndex]) : '';
        }
        if (c.matches('.widget-toggle-buttons')) {
            const b = c.querySelector('button.mod-active');
            return b ? text(b) : '';
        }
        if (c.matches('.widget-radio')) {
            const i = c.querySelector('input:checked');
            return i ? text(i.parentElement) : '';
        }
        if (c.matches('.widget-checkbox')) return c.querySelector('input').checked ? 'True' : 'False';
        if (c.matches('.widget-toggle-button')) return c.classList.contains('mod-active') ? 'True' : 'False';
        return '';
    };
    const panel = el.closest('.imm-panel');
    const area = panel || el.closest('.jp-Cell').querySelector('.jp-Cell-outputArea');
    let position = null;
    const h = el.querySelector('.noUi-handle');
    if (h) {
        const [now, lo, hi] = ['aria-valuenow', 'aria-valuemin', 'aria-valuemax'].map(a => parseFloat(h.getAttribute(a)));
        position = now <= lo ? 'min' : now >= hi ? 'max' : 'mid';
    }
    const options = el.matches('.widget-dropdown') ? el.querySelector('select').options.length
        : el.querySelectorAll(':is(.widget-toggle-buttons button, .widget-radio input)').length;
    let index = null;
    if (el.matches('.widget-dropdown')) index = el.querySelector('select').selectedIndex;
    if (el.matches('.widget-toggle-buttons')) index = [...el.querySelectorAll('button')].findIndex(b => b.classList.contains('mod-active'));
    if (el.matches('.widget-radio')) index = [...el.querySelectorAll('input')].findIndex(i => i.checked);
    const state = {shows: shows(el), position, options, index, panel: !!panel, error: '', caption: null,
                   kernel_ms: null, agree: []};
    if (panel) {
        const err = panel.querySelector('.imm-panel-error');
        state.error = err ? err.innerText.trim() : '';
        const row = el.parentElement;
        const controls = [...row.children];
        const caption = panel.querySelector('.imm-figure-state');
        if (caption) {
            state.caption = caption.innerText.trim();
            state.kernel_ms = parseFloat(caption.dataset.renderMs);
            for (const span of caption.querySelectorAll('[data-index]')) {
                const c = controls[parseInt(span.dataset.index)];
                state.agree.push([span.dataset.label, c ? shows(c) : '(no control)', span.dataset.shown]);
            }
        }
    }
    return state;
}"""

# A hash of the bytes of every figure image in the control's area (data: and blob: URLs alike).
FIGURE_HASH_JS = """async (id) => {
    const el = document.querySelector(`[data-e2e-id="${id}"]`);
    const area = el.closest('.imm-panel') || el.closest('.jp-Cell').querySelector('.jp-Cell-outputArea');
    let h = 2166136261;
    for (const img of area.querySelectorAll('img')) {
        const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
        for (let i = 0; i < bytes.length; i += 7) h = Math.imul(h ^ bytes[i], 16777619) >>> 0;
        h = Math.imul(h ^ bytes.length, 16777619) >>> 0;
    }
    return h;
}"""

# Milliseconds from the armed input event to the first image load in the control's area after it, or null.
LATENCY_JS = """(id) => {
    const el = document.querySelector(`[data-e2e-id="${id}"]`);
    const area = el.closest('.imm-panel') || el.closest('.jp-Cell').querySelector('.jp-Cell-outputArea');
    const t0 = window.__e2e.input;
    if (t0 === null) return null;
    const load = window.__e2e.loads.find(l => l.t >= t0 && area.contains(l.el));
    return load ? load.t - t0 : null;
}"""


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


def assert_no_error_output(page, relpath: str, when: str = "after Run All Cells") -> None:
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
            f"{relpath}: {len(problems)} error output(s) {when}:\n\n" + "\n\n---\n".join(problems)
        )
    not_run = [i for i, p in enumerate(prompts) if not re.fullmatch(r"\[\d+\]:", p)]
    if not_run:
        raise AssertionError(f"{relpath}: code cells {not_run} were not executed (prompts: {prompts})")




# --------------------------------------------------------------------------------------------------------
# driving one control


def _numbers_agree(shown: str, stated: str) -> bool:
    """Equal text, or equal numbers to the precision the control shows (its readout uses d3-format in the browser,
    the caption Python's format: '10.0' and '10' are the same value)."""
    if shown == stated:
        return True
    try:
        a, b = float(shown), float(stated)
    except ValueError:
        return False
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return abs(a - b) <= 0.51 * 10.0**-decimals + 1e-12


def _targets(kind: str, state: dict) -> list:
    """Where to drive a control: minimum, maximum and one value in between (or every state of a two-state control),
    ordered so that each step changes the value."""
    if kind == "slider":
        order, current = ["min", "mid", "max"], state["position"]
    elif kind in ("dropdown", "toggle-buttons", "radio"):
        n = state["options"]
        order, current = list(dict.fromkeys([0, n // 2, n - 1])), state["index"]
        if n < 2:
            return []  # a menu with one option cannot change
    elif kind in ("checkbox", "toggle-button"):
        return ["toggle", "toggle"]
    else:
        return ["click"]
    return [t for t in order if t != current] + [t for t in order if t == current]


def _act(page, control, kind: str, target) -> None:
    """One student action that moves `control` to `target`."""
    if kind == "slider" and target in ("min", "max"):
        handle = control.locator(".noUi-handle").first
        handle.focus()
        handle.press("Home" if target == "min" else "End")
    elif kind == "slider":  # a click (tap) on the middle of the track
        control.locator(".noUi-base").first.scroll_into_view_if_needed()
        box = control.locator(".noUi-base").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    elif kind == "dropdown":
        control.locator("select").select_option(index=target)
    elif kind == "toggle-buttons":
        control.locator("button").nth(target).click()
    elif kind == "radio":
        control.locator("input").nth(target).check()
    elif kind == "checkbox":
        control.locator("input").click()
    else:  # toggle-button, button
        control.click()


def drive_control(page, relpath: str, info: dict) -> list[dict]:
    """Drive one control to each target and check the figure after every change; returns latency records."""
    control = page.locator(f'[data-e2e-id="{info["id"]}"]')
    kind, name = info["kind"], f"{info['kind']} {info['label']!r}"
    records = []
    for target in _targets(kind, page.evaluate(STATE_JS, info["id"])):
        what = f"{relpath}: {name} -> {target}"
        before = page.evaluate(STATE_JS, info["id"])
        figure_before = page.evaluate(FIGURE_HASH_JS, info["id"])
        page.evaluate("() => { window.__e2e.input = null; }")
        _act(page, control, kind, target)
        latency, state = _wait_redraw(page, info["id"], what)
        assert_no_error_output(page, relpath, f"after {name} -> {target}")
        if kind not in ("button",) and state["shows"] == before["shows"]:
            raise AssertionError(f"{what}: the control did not move (it shows {state['shows']!r})")
        if page.evaluate(FIGURE_HASH_JS, info["id"]) == figure_before:
            raise AssertionError(f"{what}: the figure did not change (the new image has the same pixels)")
        records.append({"notebook": Path(relpath).stem, "control": name, "target": target,
                        "shows": state["shows"], "ms": latency, "kernel_ms": state["kernel_ms"]})
    return records


def _wait_redraw(page, control_id, what: str) -> tuple[float, dict]:
    """Wait for the new figure after a change (or the panel's error line), then for the kernel to be idle and the
    caption to agree with every control of the panel. Returns (latency in ms, state)."""
    deadline = time.monotonic() + REDRAW_TIMEOUT_S
    latency = None
    while latency is None:
        state = page.evaluate(STATE_JS, control_id)
        if state["error"]:
            raise AssertionError(f"{what}: the panel shows an error:\n{state['error']}")
        latency = page.evaluate(LATENCY_JS, control_id)
        if latency is None and time.monotonic() > deadline:
            raise AssertionError(f"{what}: the figure did not change within {REDRAW_TIMEOUT_S} s "
                                 f"(no new image in the panel or cell output)")
        if latency is None:
            time.sleep(0.03)
    if latency > HANG_S * 1000:
        raise AssertionError(f"{what}: the new figure took {latency / 1000:.1f} s (limit {HANG_S:.0f} s)")
    deadline, stable_since = time.monotonic() + SETTLE_TIMEOUT_S, None
    loads = page.evaluate("() => window.__e2e.loads.length")
    while True:
        state = page.evaluate(STATE_JS, control_id)
        status = _page_state(page)["status"]
        disagree = [(label, shows, stated) for label, shows, stated in state["agree"]
                    if not _numbers_agree(shows, stated)]
        now_loads = page.evaluate("() => window.__e2e.loads.length")
        settled = status == "idle" and not disagree and not state["error"] and now_loads == loads
        loads = now_loads
        if settled:
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= STABLE_S:
                return latency, state
        else:
            stable_since = None
        if state["error"]:
            raise AssertionError(f"{what}: the panel shows an error:\n{state['error']}")
        if time.monotonic() > deadline:
            detail = "; ".join(f"control {label!r} shows {shows!r} but the figure states {stated!r}"
                               for label, shows, stated in disagree)
            raise AssertionError(f"{what}: not settled after {SETTLE_TIMEOUT_S} s (kernel {status!r}). {detail}")
        time.sleep(0.05)


def check_notebook_controls(notebook_pages, relpath: str) -> list[dict]:
    """THE check (used by the real cases and by the negative tests): run all, no errors, then drive every control
    and check each change. Returns the latency records."""
    prefix = Path(relpath).stem
    try:
        start = time.monotonic()
        page = notebook_pages.open(relpath)
        ran = time.monotonic()
        found = page.evaluate(DISCOVER_JS)
        if found["unsupported"]:
            raise AssertionError(f"{relpath}: controls this test does not know how to drive: {found['unsupported']}")
        controls = [c for c in found["controls"] if not c["disabled"]]
        records = []
        for info in controls:
            records += drive_control(page, relpath, info)
        for i, panel in enumerate(page.locator(".imm-panel").all()):
            panel.screenshot(path=str(ARTIFACTS / f"{prefix}-panel-{i + 1}.png"), animations="disabled")
        print(f"{relpath}: Run All {ran - start:.0f} s, then {len(controls)} controls, {len(records)} changes in "
              f"{time.monotonic() - ran:.0f} s: " + ", ".join(f"{c['kind']} {c['label']!r}" for c in controls))
        return records
    except BaseException:
        page = notebook_pages.last_page
        if page is not None and not page.is_closed():
            try:
                page.screenshot(path=str(ARTIFACTS / f"{prefix}-page.png"), full_page=True, timeout=10_000)
            except Exception:
                pass
        raise


class NotebookPages:
    """Opens and runs one notebook at a time, in a fresh browser context, and stops its kernel when the next one
    opens (2 cores)."""

    def __init__(self, browser, server):
        self.browser = browser
        self.server = server
        self.current = None  # (relpath, context, page) of the open notebook
        self.last_page = None

    def open(self, relpath: str):
        self.close()
        context = self.browser.new_context(viewport=VIEWPORT)  # fresh cookies/storage per notebook
        context.add_init_script(INSTRUMENT_JS)
        page = context.new_page()
        page.set_default_timeout(30_000)
        # kept (even on failure, for the page screenshot) until the next open() or the end of the session
        self.current, self.last_page = (relpath, context, page), page
        open_and_run_notebook(page, self.server, relpath)
        assert_no_error_output(page, relpath)
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
# latency table


def latency_table(records: list[dict]) -> str:
    """Markdown: per lesson the number of controls and changes, the median and the worst latency; then every
    change."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Widget latency in the browser",
        "",
        "From the input event (key, click, menu choice) to the load of the new figure image in the DOM, for every",
        "control of every lesson driven to its minimum, maximum and one value in between, in JupyterLab + headless",
        f"Chromium (`pytest tests/e2e`). Machine: {os.cpu_count()} CPU cores, load average {load:.1f} at the end of",
        "the run (the browser, JupyterLab, the kernel and anything else share them). \"kernel ms\": the part spent",
        "in the kernel's update + PNG render (the rest: messages through the Jupyter server, decoding the image).",
        f"Goal: median <= 250 ms and worst <= 1 s per lesson; the test fails only past {HANG_S:.0f} s (a hang).",
        "",
        "| lesson | controls | changes | median ms | worst ms | slowest change | median kernel ms |",
        "|---|---|---|---|---|---|---|",
    ]
    by_notebook: dict[str, list[dict]] = {}
    for r in records:
        by_notebook.setdefault(r["notebook"], []).append(r)
    for notebook, rs in by_notebook.items():
        worst = max(rs, key=lambda r: r["ms"])
        controls = len({r["control"] for r in rs})
        kernel = [r["kernel_ms"] for r in rs if r["kernel_ms"] is not None]
        lines.append(f"| {notebook} | {controls} | {len(rs)} | {statistics.median(r['ms'] for r in rs):.0f} | "
                     f"{worst['ms']:.0f} | {worst['control']} -> {worst['target']} | "
                     f"{statistics.median(kernel) if kernel else float('nan'):.0f} |")
    lines += ["", "| lesson | control | target | shows | ms | kernel ms |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['notebook']} | {r['control']} | {r['target']} | {r['shows']} | {r['ms']:.0f} | "
              f"{r['kernel_ms'] if r['kernel_ms'] is not None else ''} |" for r in records]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def latency_log():
    records: list[dict] = []
    yield records
    if records:
        (ARTIFACTS / "widget_latency.md").write_text(latency_table(records))


# --------------------------------------------------------------------------------------------------------
# tests


@pytest.mark.parametrize("relpath", [STAND_IN, *LESSONS], ids=lambda p: Path(p).stem)
def test_every_control_redraws_and_agrees_with_its_figure(notebook_pages, latency_log, relpath):
    records = check_notebook_controls(notebook_pages, relpath)
    if relpath in LESSONS:
        latency_log.extend(records)


def test_harness_detects_broken_callback(notebook_pages):
    with pytest.raises(AssertionError, match="the figure did not change") as excinfo:
        check_notebook_controls(notebook_pages, BROKEN_CALLBACK)
    print(f"harness reported, as expected:\n{excinfo.value}")


def test_harness_detects_error_output(notebook_pages):
    with pytest.raises(AssertionError, match=r"error output\(s\) after Run All Cells") as excinfo:
        check_notebook_controls(notebook_pages, CELL_ERROR)
    assert "ValueError: deliberate error for the e2e harness" in str(excinfo.value)
    assert "UserWarning" not in str(excinfo.value)
    print(f"harness reported, as expected:\n{excinfo.value}")


def test_harness_detects_a_control_that_crashes_at_one_value(notebook_pages):
    with pytest.raises(AssertionError, match="the panel shows an error") as excinfo:
        check_notebook_controls(notebook_pages, CRASH_AT_ONE_VALUE)
    assert "slider 'k' -> mid" in str(excinfo.value) and "KeyError: 5" in str(excinfo.value)
    print(f"harness reported, as expected:\n{excinfo.value}")
