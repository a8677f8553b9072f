"""ipywidgets panels and figures for the notebooks, one module per lesson topic. Each panel's drawing/computing
logic is a plain, unit-tested function or view; the panel only wires sliders and dropdowns to it.

_render: shared plumbing (wire, png, time_update) | toys: 00 | noising: 01 | sampling: 02 and 06 |
pf_ode: 02 | mmd: 03 | jump: 04 | training: 05 | relatives: 07 | digits: 08
"""
from ._render import png, time_update, wire

__all__ = ["png", "time_update", "wire"]
