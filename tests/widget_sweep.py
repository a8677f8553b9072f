"""Set every ipywidgets control of a notebook to every value it can take, inside the notebook's kernel after the
notebook ran (tests/test_notebooks_headless.py appends a cell that runs this file and calls sweep()).

Controls are found among all live widgets, so a control a lesson adds later is swept without editing this file:
sliders (int: every step; float and log: FLOAT_POINTS evenly spaced steps, both ends included; selection: every
option), dropdowns, toggle buttons, radio buttons, checkboxes and toggle buttons (both states); buttons are clicked.
A control of a type not listed here is reported as a problem (teach the sweep its values). Disabled controls are
skipped. After each value: no exception; and for a control in a panel made by imm_edu.widgets.wire: the panel shows
no error, the figure was redrawn and changed, and the caption (the values the figure states) agrees with what every
control of the panel shows. Each control is set back to its first value at the end.
"""
import time
import warnings

import ipywidgets as widgets
import numpy as np
from ipywidgets.widgets.widget import _instances
from ipywidgets.widgets.widget_selection import _MultipleSelection, _Selection

from imm_edu.widgets._render import as_shown

FLOAT_POINTS = 51


def grid(lo, hi, step):
    """Evenly spaced steps of a float range, at most FLOAT_POINTS, both ends included."""
    n = int(round((hi - lo) / step))
    idx = np.unique(np.round(np.linspace(0, n, min(n + 1, FLOAT_POINTS))).astype(int))
    return [min(hi, round(lo + i * step, 12)) for i in idx]


def values(control):
    """Every value `control` can take (a dense grid for a float slider); None for a type the sweep does not know."""
    if isinstance(control, _MultipleSelection):
        return None
    if isinstance(control, _Selection):
        return list(control._options_values)
    if isinstance(control, widgets.widget_bool._Bool):
        return [not control.value, control.value]
    if isinstance(control, widgets.FloatLogSlider):
        return [control.base ** e for e in grid(control.min, control.max, control.step)]
    if isinstance(control, widgets.widget_int._BoundedInt):
        return list(range(control.min, control.max + 1, control.step or 1))
    if isinstance(control, widgets.widget_float._BoundedFloat):
        return grid(control.min, control.max, control.step or (control.max - control.min) / 100)
    return None


def is_control(w):
    """A widget a student operates: it has `disabled` (labels, images, progress bars and outputs do not)."""
    return w.has_trait("disabled") and (w.has_trait("value") or isinstance(w, widgets.Button))


def name_of(control):
    return f"{type(control).__name__} {control.description or control.model_id[:8]!r}"


def disagreements(panel):
    """{control name: (what the control shows, what the figure states)} where they differ."""
    out = {}
    for name, control in panel.controls.items():
        if name in panel.shown and as_shown(control, control.value) != panel.shown[name]:
            out[name] = (as_shown(control, control.value), panel.shown[name])
    return out


def check_panel(panel, label, before):
    """Problems of a wired panel after a change, given (renders, last_png) from before it."""
    problems = []
    if panel.error.value:
        problems.append(f"{label}: the panel shows an error: {panel.error.value}")
    elif panel.renders == before[0]:
        problems.append(f"{label}: the figure was not redrawn")
    elif panel.last_png == before[1]:
        problems.append(f"{label}: the figure was redrawn but did not change")
    for name, (control_shows, figure_states) in disagreements(panel).items():
        problems.append(f"{label}: control {name!r} shows {control_shows!r} but the figure states {figure_states!r}")
    return problems


def set_value(control, value, label, panel):
    """Set one value (or click a button); the problems it caused."""
    before = (panel.renders, panel.last_png) if panel is not None else None
    try:
        if isinstance(control, widgets.Button):
            control.click()
        else:
            control.value = value
    except Exception as err:  # noqa: BLE001 - every failure is a finding
        return [f"{label}: {type(err).__name__}: {err}"]
    return check_panel(panel, label, before) if panel is not None else []


def sweep():
    """Drive every control; returns {"controls": [{"name", "values", "seconds"}], "problems": [...], "warnings"}."""
    panel_of = {}
    for w in list(_instances.values()):
        for control in getattr(w, "controls", {}).values() if hasattr(w, "shown") else ():
            panel_of[control.model_id] = w
    report = {"controls": [], "problems": [], "warnings": []}
    for control in [w for w in list(_instances.values()) if is_control(w)]:
        if control.disabled:
            continue
        name, panel = name_of(control), panel_of.get(control.model_id)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if isinstance(control, widgets.Button):
                tried, problems = ["click"], set_value(control, None, f"{name} click", panel)
            else:
                first, todo = control.value, values(control)
                if todo is None:
                    report["problems"].append(f"{name}: the sweep does not know the values of this control type")
                    continue
                tried = [v for v in todo if v != control.value] + [first]  # end where it started
                problems = [p for v in tried for p in set_value(control, v, f"{name} = {v!r}", panel)]
        report["controls"].append({"name": name, "values": len(tried), "seconds": time.perf_counter() - start,
                                   "panel": panel is not None})
        report["problems"] += problems
        report["warnings"] += [f"{name}: {w.category.__name__}: {w.message}" for w in caught]
    return report
