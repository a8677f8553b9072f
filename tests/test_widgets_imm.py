"""The drawing/computing logic behind lessons 4-7 (imm_edu.widgets: jump, training, sampling, relatives), with
untrained models: no checkpoints."""
import functools

import ipywidgets as widgets
import pytest
import torch

from imm_edu import build, imm_loss, toy
from imm_edu.ddim import ddim
from imm_edu.imm import IMMConfig, mapping_r
from imm_edu.schedules import eta, eta_inv, interpolate
from imm_edu.widgets import jump, png, relatives, sampling, training, wire
from imm_edu.widgets import _render


@functools.cache
def untrained(method, name=None):
    return build(method, seed=0).eval()


@pytest.fixture(scope="module")
def jump_view():
    return jump.JumpView("checkerboard", t=0.8, s=0.3, n=300, n_score=100, models=untrained)


def test_png_is_a_png_and_changes_with_the_view(jump_view):
    before = png(jump_view.fig)
    assert before[:8] == b"\x89PNG\r\n\x1a\n"
    jump_view.update(s=0.1)
    assert png(jump_view.fig) != before
    jump_view.update(s=0.3)
    assert png(jump_view.fig) == before  # blitting redraws the same picture for the same state


def test_jump_to_s_equal_t_is_the_identity(jump_view):
    jump_view.update(t=0.6, s=0.6)
    x_t = jump_view.clouds["x_t"]
    torch.testing.assert_close(jump_view.clouds["imm"], x_t, atol=1e-6, rtol=0)  # f_{t,t}(x_t) = x_t, [P] Lemma 4
    torch.testing.assert_close(jump_view.clouds["ddim"], x_t, atol=1e-6, rtol=0)
    jump_view.update(t=0.8, s=0.3)


def test_jump_view_keeps_s_at_most_t(jump_view):
    jump_view.update(t=0.5, s=0.9)
    assert jump_view.s == 0.5
    jump_view.update(t=0.8, s=0.3)
    assert (jump_view.t, jump_view.s) == (0.8, 0.3)


def test_jump_view_switches_toy():
    view = jump.JumpView("moons", t=0.7, s=0.2, n=200, n_score=100, models=untrained)
    a = view.clouds["data"].clone()
    view.update(toy="gmm")
    assert view.toy == "gmm" and not torch.equal(a, view.clouds["data"])


def test_x_prediction_converts_a_cosine_denoiser_to_the_fm_path():
    """A DDIM model on the cosine schedule, given the exact cosine posterior mean, must return the exact
    posterior mean of a point on the OT-FM path: same eta, rescaled input."""
    gmm = toy.GAUSSIAN_MIXTURE
    model = build("ddim")  # cosine schedule by default
    model.denoise = lambda x, t: gmm.posterior_mean(x, t, "cosine").float()
    x_t = gmm.sample_marginal(50, 0.7, "fm", seed=3)
    torch.testing.assert_close(jump.x_prediction(model, x_t, 0.7, "fm").double(),
                               gmm.posterior_mean(x_t, 0.7, "fm"), atol=1e-4, rtol=1e-4)


def test_true_marginal_matches_the_interpolant_and_the_exact_gmm():
    q = jump.true_marginal("gmm", 4000, 0.5, seed=0)
    mean = toy.GAUSSIAN_MIXTURE.weights @ toy.GAUSSIAN_MIXTURE.means * 0.5  # alpha_s E[x], E[eps] = 0
    torch.testing.assert_close(q.mean(0).double(), mean, atol=0.03, rtol=0)
    assert torch.equal(jump.true_marginal("moons", 100, 0.0, seed=4), toy.sample("moons", 100, seed=4))


def test_ddim_paths_are_straight_and_imm_paths_start_at_x_t():
    x_t = torch.randn(5, 2) * 0.5
    imm_path, ddim_path = jump.jump_paths(untrained("imm"), untrained("ddim"), x_t, 0.9, torch.linspace(0.9, 0, 7))
    assert imm_path.shape == ddim_path.shape == (7, 5, 2)
    torch.testing.assert_close(imm_path[0], x_t, atol=1e-6, rtol=0)
    d1, d2 = ddim_path[1] - ddim_path[0], ddim_path[-1] - ddim_path[0]
    torch.testing.assert_close(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0], torch.zeros(5), atol=1e-5, rtol=0)


def test_mapping_view_base_case_ends_where_r_leaves_s():
    view = jump.MappingView(ks=(6, 10), k=10)
    t = torch.tensor([view.base_end + 0.002], dtype=torch.float64)
    assert mapping_r(torch.zeros(1), t, k=10).item() > 0  # just after base_end, r > s = 0
    assert view.base_end == pytest.approx(eta_inv(eta(0.994) / 2**10).item(), abs=2e-3)
    view.update(k=6)
    assert view.base_end > 0.5


@pytest.mark.parametrize("smoothing", ["none", "step"])
@pytest.mark.parametrize("M", [1, 2, 5])
def test_group_forces_are_minus_the_gradient_of_imm_loss(M, smoothing):
    cfg = IMMConfig(smoothing=smoothing)
    g = torch.Generator().manual_seed(M)
    y_t, y_r = torch.randn(M, 2, generator=g, dtype=torch.float64), torch.randn(M, 2, generator=g, dtype=torch.float64)
    s, r, t = 0.2, 0.6, 0.7
    forces = training.group_forces(y_t, y_r, s, t, cfg, r)
    y = y_t.clone().requires_grad_(True)
    as64 = lambda v: torch.tensor([v], dtype=torch.float64)
    loss = imm_loss(y[None], y_r[None], as64(s), as64(t), as64(r), smoothing=smoothing)
    grad = torch.autograd.grad(loss, y)[0]
    torch.testing.assert_close(forces["attraction"] + forces["repulsion"], -grad, atol=1e-10, rtol=1e-7)
    terms = forces["terms"]
    assert forces["mmd2"] == pytest.approx(sum(terms.values()))
    if M == 1:  # a lone particle feels no repulsion: the consistency-model case
        assert forces["repulsion"].abs().max() == 0


def test_group_particles_base_case_targets_are_real_interpolants():
    model = untrained("imm")
    x, eps = toy.sample("moons", 4, seed=1), 0.5 * torch.randn(4, 2)
    p = training.group_particles(model, x, eps, s=0.3, t=0.4, k=2)  # k = 2: r clamps to s
    assert p["r"] == pytest.approx(0.3)
    torch.testing.assert_close(p["y_r"], interpolate(x, eps, 0.3), atol=1e-6, rtol=0)  # f_{s,s}(x_s) = x_s


def test_group_forces_view_updates():
    view = training.GroupForcesView({"untrained": untrained("imm")}, M=4, k=4)
    view.update(M=1)
    assert view.particles["y_t"].shape == (1, 2) and view.forces["repulsion"].abs().max() == 0
    view.update(M=8, group=3)
    assert view.particles["y_t"].shape == (8, 2)
    assert png(view.fig)[:4] == b"\x89PNG"


def test_regression_loss_is_zero_for_the_conditional_ddim_target():
    """The regression objective is plain L2 onto DDIM(x_t, x, s, t) = alpha_s x + sigma_s eps: a network that
    returned exactly that (it cannot: it does not know x) would score 0."""
    model = training.build_regression(seed=0)
    x = toy.sample("gmm", 64, seed=2)
    assert torch.isfinite(model.loss(x, torch.Generator().manual_seed(0)))  # bound as the model's loss for fit()
    model.f = lambda x_t, s, t: ddim(x_t, x, s, t)
    loss = training.two_time_regression_loss(model, x, torch.Generator().manual_seed(1))
    assert loss.item() == pytest.approx(0, abs=1e-4)


def test_posterior_mean_jump_is_the_identity_at_s_equal_t_and_collapses_at_s_0():
    gmm = toy.GAUSSIAN_MIXTURE
    x_t = gmm.sample_marginal(500, 0.994, seed=0)
    torch.testing.assert_close(training.posterior_mean_jump(x_t, 0.994, 0.994), x_t, atol=1e-5, rtol=0)
    one_step = training.posterior_mean_jump(x_t, 0.0, 0.994)
    assert one_step.std(0).max() < 0.25 * gmm.sample(500).std(0).min()  # all samples near the data mean


def test_samples_view_falls_back_to_a_method_s_own_sampler():
    models = {"imm": untrained("imm"), "cm": build("cm").eval()}
    ref = toy.sample("moons", 200, seed=1)
    curves = [("imm", "pushforward"), ("imm", "restart"), ("cm", "restart")]
    view = sampling.SamplesView(models, ref, curves, max_steps=3)
    view.update(method="cm", sampler="pushforward", steps=2)
    assert view.sampler == "restart" and view.current.shape == (200, 2)
    view.update(method="imm")  # back to IMM: the sampler asked for (pushforward) applies again
    assert view.sampler == "pushforward"
    view.update(method="imm", sampler="restart", steps=3)
    assert view.sampler == "restart" and view.energy == pytest.approx(view.score("imm", "restart", 3))
    assert all(len(v) == 3 for v in view.curves.values())


def test_quality_vs_nfe_shape():
    q = sampling.quality_vs_nfe({"fm": untrained("fm")}, toy.sample("moons", 100), nfe=(1, 2))
    assert set(q) == {"fm"} and set(q["fm"]) == {1, 2} and all(v >= 0 for v in q["fm"].values())


def test_moment_signal_grows_with_the_number_of_groups():
    few = sum(relatives.moment_signal(64, 1, seed=r) for r in range(4)) / 4
    many = sum(relatives.moment_signal(64, 256, seed=r) for r in range(4)) / 4
    assert many > 0.9 and many > few + 0.3


def test_shortcut_target_of_a_constant_velocity_is_that_velocity():
    c = torch.tensor([0.3, -1.0])
    x = torch.randn(4, 2)
    torch.testing.assert_close(relatives.shortcut_target(lambda x, t, d: c.expand_as(x), x, 0.5, 0.25), c.expand_as(x))


def test_wire_calls_update_on_every_change():
    calls = []

    class Spy:
        fig = _render.new_figure(1, (2, 2))[0]

        def update(self, **values):
            calls.append(values)

    slider = widgets.FloatSlider(value=0.5, min=0, max=1, description="s")
    wire(Spy(), s=slider)
    slider.value = 0.25
    assert calls == [{"s": 0.5}, {"s": 0.25}]
