"""Lessons 0-3 panels (imm_edu.widgets: toys, noising, sampling, pf_ode, mmd) and the shared plumbing: each
view's update() changes the right artists, wire() drives update() from a control, and the helpers compute what
their docstrings say."""
import re

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("agg")

from imm_edu import kernels, metrics, toy  # noqa: E402
from imm_edu.ddim import ddim  # noqa: E402
from imm_edu.schedules import interpolate  # noqa: E402
from imm_edu.widgets import mmd, noising, pf_ode, png, sampling, time_update, toys, wire  # noqa: E402
from imm_edu.widgets import _render  # noqa: E402

GMM = toy.GAUSSIAN_MIXTURE


@pytest.fixture(scope="module")
def noise_pair():
    x = toy.sample("gmm", 400, seed=0)
    eps = 0.5 * torch.randn(400, 2, generator=torch.Generator().manual_seed(1))
    return x, eps


def noising_view(noise_pair, **kw):
    x, eps = noise_pair
    return noising.NoisingView({"gmm": x, "moons": toy.sample("moons", 400)}, eps, **kw)


@pytest.fixture(scope="module")
def line_view():
    return pf_ode.DDIMLineView(n_cloud=200, n_steps=60)


def test_png_is_png_and_update_is_fast(noise_pair):
    view = noising_view(noise_pair)
    assert png(view.fig)[:8] == b"\x89PNG\r\n\x1a\n"
    slider = widgets.FloatSlider(value=0.3, min=0, max=1, step=0.01, description="t")
    panel = wire(view, t=slider)
    assert time_update(panel, [{"t": 0.2}, {"t": 0.7}], repeats=1) < 1000  # generous: shared CI cores
    assert slider.value == 0.3 and view.t == 0.3 and panel.shown == {"t": "0.30"}  # set back through the control


@pytest.mark.parametrize("alpha", [1.0, 0.0])
def test_png_drops_the_alpha_channel_only_of_an_opaque_figure(alpha):
    import io

    import PIL.Image
    fig, ax = _render.new_figure(1, (2, 1.5))
    fig.patch.set_alpha(alpha)
    ax.plot([0, 1], [1, 0])
    image = PIL.Image.open(io.BytesIO(png(fig)))
    rgba = np.asarray(fig.canvas.buffer_rgba())
    assert image.mode == ("RGB" if alpha == 1 else "RGBA")
    np.testing.assert_array_equal(np.asarray(image), rgba[..., :3] if alpha == 1 else rgba)  # lossless


def test_time_update_takes_a_panel_and_known_controls(noise_pair):
    view = noising_view(noise_pair)
    with pytest.raises(TypeError, match="takes the panel that wire"):
        time_update(view, [{"t": 0.2}])
    panel = wire(view, t=widgets.FloatSlider(value=0.3, min=0, max=1, step=0.01, description="t"))
    with pytest.raises(ValueError, match=r"no control named \['s'\]"):
        time_update(panel, [{"s": 0.2}])
    with pytest.raises(ValueError, match="nothing was redrawn"):
        time_update(panel, [{"t": 0.3}])


def test_wire_calls_update_and_redraws(noise_pair):
    view = noising_view(noise_pair)
    slider = widgets.FloatSlider(value=0.3, min=0, max=1, step=0.01, description="t")
    panel = wire(view, t=slider)
    assert isinstance(panel, widgets.VBox) and slider in panel.children[0].children
    assert panel.image.value == panel.last_png and panel.renders == 1
    slider.value = 0.9
    assert view.t == pytest.approx(0.9) and panel.renders == 2 and panel.image.value == panel.last_png
    x, eps = noise_pair
    np.testing.assert_allclose(view.cloud.get_offsets(), interpolate(x, eps, 0.9).numpy(), atol=1e-6)


def test_wire_caption_states_the_view_values_as_the_controls_show_them(noise_pair):
    view = noising_view(noise_pair)
    t = widgets.FloatSlider(value=0.25, min=0, max=1, step=0.01, description="t")
    schedule = widgets.ToggleButtons(options=[("flow matching", "fm"), ("cosine", "cosine")], description="schedule")
    panel = wire(view, t=t, schedule=schedule)
    assert panel.shown == {"t": "0.25", "schedule": "flow matching"}
    assert 'data-index="0" data-label="t" data-shown="0.25">t = 0.25<' in panel.caption.value
    assert re.search(r'data-render-ms="\d+"', panel.caption.value)
    view.update(t=0.5)  # around the control: the next redraw states what the figure then shows
    schedule.value = "cosine"
    assert panel.shown == {"t": "0.50", "schedule": "cosine"} and t.value == 0.25


def test_as_shown_writes_values_like_the_controls():
    assert _render.as_shown(widgets.FloatSlider(readout_format=".2f"), 0.3) == "0.30"
    assert _render.as_shown(widgets.IntSlider(), 7) == "7"
    assert _render.as_shown(widgets.FloatLogSlider(), 0.0316227766) == "0.0316"
    assert _render.as_shown(widgets.Dropdown(options=[("IMM", "imm"), ("CM", "cm")]), "cm") == "CM"
    assert _render.as_shown(widgets.Checkbox(), True) == "True"


def test_wire_shows_an_update_error_in_the_panel_and_raises_it(noise_pair):
    view = noising_view(noise_pair)
    menu = widgets.Dropdown(options=["gmm", "moons", "spirals"], value="gmm", description="toy")
    panel = wire(view, toy=menu)
    png_before = panel.last_png
    with pytest.raises(ValueError, match="unknown toy 'spirals'"):
        menu.value = "spirals"  # the view has no samples of spirals
    assert "update(toy=&#x27;spirals&#x27;) failed: ValueError: unknown toy" in panel.error.value
    assert "noising.py" in panel.error.value and panel.last_png == png_before and panel.shown == {"toy": "gmm"}
    menu.value = "moons"
    assert panel.error.value == "" and panel.shown == {"toy": "moons"}


def test_gallery_switches_points():
    samples = toys.toy_samples(300)
    view = toys.ToyGalleryView(samples, name="moons")
    view.update(name="spirals")
    np.testing.assert_allclose(view.points.get_offsets(), samples["spirals"].numpy())
    assert view.ax.get_title().startswith("spirals")
    with pytest.raises(ValueError, match="unknown toy"):
        view.update(name="nope")


def test_toy_grid_has_one_panel_per_toy():
    fig = toys.plot_toy_grid(toys.toy_samples(50))
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == toy.names()
    matplotlib.pyplot.close(fig)


def test_noising_view_schedule_toy_and_density(noise_pair):
    view = noising_view(noise_pair, t=0.5, schedule="fm")
    a_fm = view.alpha_line.get_ydata().copy()
    view.update(schedule="cosine")
    assert view.schedule == "cosine" and not np.allclose(view.alpha_line.get_ydata(), a_fm)
    np.testing.assert_allclose(view.marks.get_offsets()[0], [0.5, np.cos(np.pi / 4)], atol=1e-6)
    assert view.density.get_array().max() == pytest.approx(noising.gmm_density(GMM, 0.5, "cosine", view.grid).max())
    assert view.density.get_visible()
    view.update(toy="moons", t=0.0)
    assert not view.density.get_visible()  # moons has no closed-form q_t
    np.testing.assert_allclose(view.cloud.get_offsets(), view.samples["moons"].numpy(), atol=1e-6)
    np.testing.assert_allclose(view.paths[0].get_xydata()[0], view.samples["moons"][0].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="unknown toy"):
        view.update(toy="nope")


@pytest.mark.parametrize("schedule", ["fm", "cosine"])
def test_noising_title_signs_the_infinite_ends(noise_pair, schedule):
    view = noising_view(noise_pair, t=1.0, schedule=schedule)  # eta_1 = +inf, lambda_1 = 2 log(0/1) = -inf
    assert view.ax_sched.get_title() == r"$\eta_t$ = ∞,  $\lambda_t$ = −∞"
    view.update(t=0.0)  # eta_0 = 0, lambda_0 = +inf
    assert view.ax_sched.get_title() == r"$\eta_t$ = 0,  $\lambda_t$ = ∞"


def test_schedules_have_their_own_colours():
    from imm_edu.plot import COLORS
    schedule_colours = {style["color"] for style in noising.SCHEDULE_STYLE.values()}
    method_colours = {c for key, c in COLORS.items() if "schedule" not in key}
    assert len(schedule_colours) == 2 and not schedule_colours & method_colours


def test_particle_paths_follow_the_interpolant(noise_pair):
    x, eps = noise_pair
    t = torch.tensor([0.0, 0.4, 1.0])
    paths = noising.particle_paths(x[:3], eps[:3], t, "cosine")
    assert paths.shape == (3, 3, 2)
    torch.testing.assert_close(paths[0], x[:3])
    torch.testing.assert_close(paths[1], interpolate(x[:3], eps[:3], 0.4, "cosine"))
    torch.testing.assert_close(paths[2], eps[:3], atol=1e-6, rtol=0)


def test_density_grid_matches_imshow_orientation():
    grid = noising.density_grid(5)
    assert grid.shape == (25, 2)
    assert grid[0].tolist() == [-1.6, -1.6] and grid[4].tolist() == [1.6, -1.6]  # first row: bottom, left->right
    q = noising.gmm_density(GMM, 0.0, grid=noising.density_grid(50))
    assert q.shape == (50, 50) and (q >= 0).all()


def test_pf_ode_ends_on_the_data_distribution():
    x_t = GMM.sample_marginal(500, 0.8, seed=3).double()
    times, path = pf_ode.pf_ode_path(GMM, x_t, 0.8, n_steps=80)
    assert times[0] == 0.8 and times[-1] == 0 and path.shape == (81, 500, 2)
    torch.testing.assert_close(path[0], x_t)
    floor = metrics.energy_distance(GMM.sample(500, seed=4), GMM.sample(500, seed=5))
    assert metrics.energy_distance(path[-1].float(), GMM.sample(500, seed=4)) < 3 * floor


def test_pf_ode_converges_with_step_count():
    x_t = GMM.sample_marginal(50, 0.7, seed=1).double()
    ends = [pf_ode.pf_ode_path(GMM, x_t, 0.7, n_steps=n)[1][-1] for n in (50, 100, 400)]
    err = [(e - ends[-1]).norm(dim=1).max().item() for e in ends[:2]]
    assert err[1] < err[0] / 2.5  # second order: 4x smaller error for 2x the steps, allow slack


def test_one_step_is_linear_in_alpha_sigma_but_the_ode_is_not(line_view):
    v = line_view
    for i in v.particles[:2]:
        assert pf_ode.affine_residual(v.one_step[:, i], v.times) < 1e-10
        assert pf_ode.affine_residual(v.exact[:, i], v.times) > 1e-3
    torch.testing.assert_close(v.one_step[0], v.x_t)  # s = t: DDIM returns x_t
    torch.testing.assert_close(v.one_step[-1], v.x_hat)  # s = 0: DDIM returns x_hat
    s = v.times[7]
    torch.testing.assert_close(v.one_step[7], ddim(v.x_t, v.x_hat, s, v.t))


def test_ddim_line_view_update(line_view):
    line_view.update(s=0.0)
    assert line_view.s == 0.0
    np.testing.assert_allclose(line_view.cloud.get_offsets(), line_view.x_hat.numpy())
    far = line_view.gap
    line_view.update(s=line_view.t)
    assert line_view.gap < 1e-9 < far  # at s = t nothing moved; at s = 0 the cloud collapsed to E[x | x_t]
    s, gaps = line_view.gaps(every=20)
    assert s[0] == pytest.approx(line_view.t) and gaps[0] < 1e-9 and gaps[-1] == pytest.approx(far)


def test_spread_out_picks_distinct_points():
    pts = torch.tensor([[0.0, 0.0], [0.1, 0.0], [3.0, 0.0], [-2.0, 0.0]])
    assert sorted(pf_ode.spread_out(pts, 3)) == [1, 2, 3]  # 3.0 first, then -2.0, then the point farthest from both


def test_sampler_steps_view():
    ref = toy.sample("moons", 100)
    samples = {"ddim": {1: ref + 1, 4: ref}, "fm": {1: ref - 1, 4: ref}}
    scores = sampling.scores_by_steps(samples, ref)
    assert scores["ddim"][4] == pytest.approx(0.0, abs=1e-9) and scores["fm"][1] > 0.1
    view = sampling.SamplerStepsView(samples, scores, ref, steps=1)
    view.update(steps=4)
    np.testing.assert_allclose(view.points["fm"].get_offsets(), ref.numpy())
    assert "4 steps" in view.axes["ddim"].get_title()


def test_two_sample_clouds_match_the_named_moments():
    a, clouds = mmd.two_sample_clouds(n=80)
    for name, b in clouds.items():
        if "same mean" in name:
            torch.testing.assert_close(b.mean(0), a.mean(0))
        if "cov." in name and "shifted" not in name:
            torch.testing.assert_close(torch.cov(b.T), torch.cov(a.T))
    shifted = clouds["shifted by 0.6 (same cov.)"]
    torch.testing.assert_close(shifted.mean(0) - a.mean(0), torch.tensor([0.6, 0.0], dtype=torch.float64))


def test_energy_kernel_sees_only_the_mean():
    a, clouds = mmd.two_sample_clouds(n=80)
    table = mmd.mmd_table(a, clouds, bandwidth=0.5)
    for name, value in table["energy"].items():
        expected = 2 * (a.mean(0) - clouds[name].mean(0)).pow(2).sum().item() / 0.5**2  # k = -(|u-v| / h)^2
        assert value == pytest.approx(expected, abs=1e-10)
    for kernel in ("distance", "rbf", "laplace"):
        assert table[kernel]["rings (same mean & cov.)"] > 1e-3


def test_mmd_view_updates_values_and_blocks():
    a, clouds = mmd.two_sample_clouds(n=60)
    view = mmd.MMDView(a, clouds, kernel="rbf", bandwidth=0.5)
    view.update(second="wider ×1.6 (same mean)", bandwidth=0.8)
    b = clouds["wider ×1.6 (same mean)"]
    assert view.mmd2_v == pytest.approx(kernels.mmd2(a, b, "rbf", 1 / 0.8).item())
    assert view.mmd2_u == pytest.approx(kernels.mmd2(a, b, "rbf", 1 / 0.8, unbiased=True).item())
    k = view.kmat.get_array()
    assert k.shape == (120, 120) and k.max() == pytest.approx(1.0)
    pp, qq, pq = mmd.block_means(torch.as_tensor(np.asarray(k)), 60)
    assert (pp + qq - 2 * pq).item() == pytest.approx(view.mmd2_v, abs=1e-6)
    view.update(kernel="energy", second="rings (same mean & cov.)")
    assert abs(view.mmd2_v) < 1e-10
    assert np.abs(view.wit.get_array()).max() < 1e-8  # witness is constant (then centred): sees nothing


@pytest.mark.parametrize("kernel", ["laplace", "rbf", "energy", "distance"])
@pytest.mark.parametrize("unbiased", [False, True])
def test_mmd2_from_gram_matches_kernels_mmd2(kernel, unbiased):
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(7, 2, generator=g, dtype=torch.float64), torch.randn(5, 2, generator=g, dtype=torch.float64) + 0.4
    both = torch.cat([a, b])
    value = mmd.mmd2_from_gram(kernels.gram(both, both, kernel, 1.3), 7, unbiased=unbiased)
    assert value.item() == pytest.approx(kernels.mmd2(a, b, kernel, 1.3, unbiased=unbiased).item(), abs=1e-12)


def test_witness_integrates_to_mmd():
    a, clouds = mmd.two_sample_clouds(n=50)
    b = clouds["shifted by 0.6 (same cov.)"]
    lhs = mmd.witness(a, b, "laplace", 2.0, grid=b).mean() - mmd.witness(a, b, "laplace", 2.0, grid=a).mean()
    assert lhs.item() == pytest.approx(kernels.mmd2(a, b, "laplace", 2.0).item())


def test_v_statistic_is_biased_u_is_not():
    res = mmd.v_and_u(Ms=(4, 32), groups=1000)
    for M, (v, u) in res.items():
        assert v.shape == u.shape == (1000,)
        assert abs(u.mean()) < 3 * u.std() / np.sqrt(1000)
        assert v.mean() > 0 and (v >= -1e-12).all()
    assert res[4][0].mean() > 3 * res[32][0].mean()


def test_mmd_spread_shapes_and_trend():
    res = mmd.mmd_spread(dims=(2, 64), ns=(4, 32))
    for alt, r in res.items():
        assert r["value"].shape == (2,) and r["std"].shape == (2, 2)
        assert (r["std"][:, 1] < r["std"][:, 0]).all()  # more points, less spread
    sparse = res["sparse: one coordinate's mean +1"]
    rel = sparse["std"] / sparse["value"][:, None]
    assert rel[1, 1] > rel[0, 1]  # a sparse difference is harder to see in high dimension


def test_static_figures_draw():
    a, clouds = mmd.two_sample_clouds(n=40)
    figs = [noising.plot_schedules(),
            noising.plot_gmm_marginals(GMM, toy.sample("gmm", 200), 0.5 * torch.randn(200, 2)),
            mmd.plot_mmd_table(mmd.mmd_table(a, clouds)), mmd.plot_v_and_u(mmd.v_and_u(Ms=(2, 4), groups=50)),
            mmd.plot_mmd_spread(mmd.mmd_spread(dims=(2, 8), ns=(4, 8)), dims=(2, 8), ns=(4, 8))]
    for fig in figs:
        assert len(png(fig) if hasattr(fig.canvas, "print_png") else b"x") > 0
        matplotlib.pyplot.close(fig)


def test_one_thread_restores_thread_count():
    before = torch.get_num_threads()
    with _render.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_ddim_needed_x_inverts_ddim(line_view):
    v = line_view
    x_s = v.exact[10]
    needed = pf_ode.ddim_needed_x(v.x_t, x_s, v.times[10], v.t)
    torch.testing.assert_close(ddim(v.x_t, needed, v.times[10], v.t), x_s)
    torch.testing.assert_close(pf_ode.ddim_needed_x(v.x_t, v.exact[-1], 0.0, v.t), v.exact[-1])  # s = 0: x itself
    matplotlib.pyplot.close(pf_ode.plot_one_step_gap(v, every=20))


def test_safe_dist_without_grad_is_exact_in_float32():
    """Core fix (kernels.safe_dist): the no-grad path used cdist's matmul form, whose float32 cancellation put
    identical points ~1e-3 apart; with the kernel scale 1/(|c_out| D) of small jumps that changed the IMM loss
    value under torch.no_grad by >10%. Lesson 03's MMD numbers and any loss shown under no_grad rely on this."""
    from imm_edu import imm_loss

    a = 0.5 * torch.randn(1000, 2, generator=torch.Generator().manual_seed(0)) + 1.0
    assert kernels.safe_dist(a, a).diagonal().max().item() <= 1e-6
    g = torch.Generator().manual_seed(1)
    y_t = 0.5 * torch.randn(64, 4, 2, generator=g) + 1.0
    y_r = y_t + 1e-4 * torch.randn(64, 4, 2, generator=g)
    s, t = torch.full((64,), 0.5), torch.full((64,), 0.501)
    with torch.no_grad():
        evaluated = imm_loss(y_t, y_r, s, t)
    trained = imm_loss(y_t.clone().requires_grad_(), y_r, s, t)  # the differentiable path: explicit differences
    torch.testing.assert_close(evaluated, trained.detach(), rtol=1e-4, atol=1e-6)
