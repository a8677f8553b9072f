"""The drawing/computing logic behind lesson 08 (imm_edu.widgets.digits), with small untrained 64-D models."""
import functools
import itertools
import json

import ipywidgets as widgets
import numpy as np
import pytest
import torch

from imm_edu import build, digits, toy
from imm_edu.widgets import digits as dw
from imm_edu.widgets import png, wire
from imm_edu.widgets._render import one_thread

METHODS = ("imm", "cm", "ddim", "fm")


@pytest.fixture(autouse=True)
def single_thread():
    """Small tensors: one thread, as in the panels (two threads on a busy 2-core machine are ~15x slower here)."""
    with one_thread():
        yield


@functools.cache
def untrained(method, dim=64):
    return build(method, seed=0, dim=dim, width=32).eval()


@pytest.fixture(scope="module")
def view():
    models = {m: untrained(m) for m in METHODS}
    return dw.DigitGridView(models, digits.load("held_out")[0][:100], n=100, n_show=20, cols=10)


def test_every_method_steps_and_sampler_of_the_panel_draws(view):
    """Every value of every control: 4 methods x steps 1-8 x 2 samplers."""
    for method, steps, sampler in itertools.product(METHODS, range(1, 9), ("pushforward", "restart")):
        view.update(method=method, steps=steps, sampler=sampler)
        assert view.current.shape == (100, 64) and np.isfinite(view.scores["fd"])
        want = sampler if method == "imm" else dw.DEFAULT_SAMPLER[method]  # cm only restarts; DDIM/FM have one
        assert view.sampler == want and f"{steps} step" in view.ax.get_title()
    assert png(view.fig)[:4] == b"\x89PNG"


def test_panel_is_cached_and_wired(view):
    view.update(method="imm", steps=2, sampler="pushforward")
    first = view.current
    view.update(steps=3)
    view.update(steps=2)
    assert view.current is first  # the same tensor: drawn once
    steps = widgets.IntSlider(value=1, min=1, max=8)
    panel = wire(view, steps=steps)
    steps.value = 4
    assert view.steps == 4 and panel.renders == 2


def test_method_grids_and_jump_strip_draw():
    samples = {m: {k: untrained(m).sample(20, k) for k in (1, 2)} for m in ("imm", "fm")}
    fig = dw.plot_method_grids(samples, digits.load("held_out")[0], per_grid=10)
    assert len(fig.axes) == 3 * 2
    x = digits.load("held_out")[0][:1]
    strip = dw.jump_strip(untrained("imm"), x, 0.7, [0.7, 0.3, 0.0])
    assert strip.shape == (3, 64)
    torch.testing.assert_close(strip[0], x[0], atol=1e-6, rtol=0)  # f_{t,t}(x_t) = x_t
    fig = dw.plot_jump_strip(untrained("imm"), untrained("ddim"), x, 0.5 * torch.randn(1, 64), ts=(0.5, 0.9), n_s=4)
    assert len(fig.axes) == 4


def test_kernel_arguments_shrink_with_the_dimension():
    """u = ||a - b|| / (|c_out| D): distances grow like sqrt(D), the bandwidth like D, so u falls like 1/sqrt(D)."""
    small = dw.kernel_arguments(untrained("imm", dim=2), toy.sample("checkerboard", 2000), groups=64)
    large = dw.kernel_arguments(untrained("imm"), digits.load("train")[0], groups=64)
    assert small["coupled"].shape == (64 * 4,) and small["cross"].shape == (64 * 12,) == large["within"].shape
    assert np.median(large["cross"]) < 0.5 * np.median(small["cross"])
    assert dw.useful(large["cross"]) >= dw.useful(small["cross"])
    assert dw.useful([0.0, 10.0]) == 0.5
    assert len(dw.plot_kernel_arguments({"2-D": small, "64-D": large}).axes) == 2


def test_m_ablation_curves_average_seeds_and_divide_by_the_floor(tmp_path):
    runs = [{"method": method, "M": M, "seed": seed,
             "pushforward": {str(k): 10.0 * M + k + seed for k in (1, 2, 4, 8)},
             "restart": {str(k): 20.0 * M + k for k in (1, 2, 4, 8)}}
            for method in ("imm_paper", "imm") for M in (1, 2, 4, 8) for seed in (0, 1)]
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"digits": {"metric": "fd", "dim": 64, "floor": 2.0, "runs": runs}}))
    results = dw.m_ablation(path)
    curves = dw.ablation_curves(results["digits"], "imm")
    assert list(curves) == [1, 2, 4, 8] and curves[4][2] == (40 + 2 + 0.5) / 2.0  # mean of seeds 0 and 1, / floor
    assert dw.ablation_curves(results["digits"], "imm", "restart")[1][8] == 28 / 2.0
    fig = dw.plot_m_ablation(results)
    assert [ax.get_title() for ax in fig.axes] == [f"digits (D = 64), {dw.KERNEL_LABELS[m]}" for m in ("imm_paper", "imm")]
    assert len(fig.axes[0].lines) == 5  # 1, 2, 4, 8 steps and the floor
    fig = dw.plot_steps_by_kernel(results)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2 * 2 + 1  # 2 kernels x 2 samplers, the floor


def test_sampler_menu_options_follow_the_method():
    """Lesson 08 links the sampler menu's options to samplers(method): the menu never offers a sampler the figure
    would not use (the browser test compares the menu with the figure's caption)."""
    assert dw.DigitGridView.samplers("imm") == ("pushforward", "restart")
    assert dw.DigitGridView.samplers("cm") == ("restart",)
    assert dw.DigitGridView.samplers("ddim") == ("ddim",) and dw.DigitGridView.samplers("fm") == ("euler",)
