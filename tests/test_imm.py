import math

import pytest
import torch

from imm_edu import build
from imm_edu.imm import imm_loss, mapping_r, weight
from imm_edu.kernels import mmd2
from imm_edu.parameterization import coefficients
from imm_edu.schedules import eta, eta_inv


def grid_st(n=40):
    t = torch.linspace(0.0, 0.994, n, dtype=torch.float64)
    s = torch.cat([t[i] * torch.linspace(0, 1, 7, dtype=torch.float64) for i in range(n)])
    return s, t.repeat_interleave(7)


@pytest.mark.parametrize("mapping", ["eta_decrement", "t_decrement"])
@pytest.mark.parametrize("k", [4, 10, 15])
@pytest.mark.parametrize("min_gap", [0.0, 1e-4])
def test_r_stays_between_s_and_t(mapping, k, min_gap):
    s, t = grid_st()
    r = mapping_r(s, t, k=k, mapping=mapping, min_gap=min_gap)
    assert (r >= s).all() and (r <= t).all()
    assert (r < t)[t > s + 1e-3].all(), "r must move strictly below t whenever there is room"


def test_r_hand_value():
    d_eta = eta(0.994).item() / 2**10  # eta_min = eta(0) = 0
    expected = eta_inv(1.0 - d_eta).item()  # eta(0.5) = 1
    assert mapping_r(torch.tensor(0.1), torch.tensor(0.5), k=10).item() == pytest.approx(expected)
    assert expected == pytest.approx(0.45600, abs=1e-5)
    assert mapping_r(torch.tensor(0.49), torch.tensor(0.5), k=10).item() == pytest.approx(0.49)  # clamps to s
    assert mapping_r(torch.tensor(0.0), torch.tensor(0.5), k=10, mapping="t_decrement").item() == pytest.approx(
        0.5 - 0.994 / 1024)
    # Delta caps the gap from above: r <= t - Delta
    assert mapping_r(torch.tensor(0.0), torch.tensor(0.9), k=20, min_gap=0.01).item() == pytest.approx(0.89)


def test_larger_k_gives_smaller_gap():
    s, t = torch.zeros(5, dtype=torch.float64), torch.linspace(0.2, 0.9, 5, dtype=torch.float64)
    assert (t - mapping_r(s, t, k=12) < t - mapping_r(s, t, k=8)).all()


def hand_weight(t, a, b):
    """[P] Eq. 13 written out for the fm schedule with the math module."""
    alpha, sigma = 1 - t, t
    lam = 2 * math.log(alpha / sigma)
    return 0.5 * (1 / (1 + math.exp(-(b - lam)))) * (2 / (t * (1 - t))) * alpha**a / (alpha**2 + sigma**2)


@pytest.mark.parametrize("t,a,b", [(0.5, 1, 5), (0.6, 1, 5), (0.1, 2, 4), (0.9, 1, 5)])
def test_weight_hand_values(t, a, b):
    assert weight(torch.tensor(t, dtype=torch.float64), a=a, b=b).item() == pytest.approx(hand_weight(t, a, b), rel=1e-10)
    assert weight(torch.tensor(0.5), a=1, b=5).item() == pytest.approx(3.973229, rel=1e-6)


def test_weight_vanishes_at_both_ends():
    w = weight(torch.tensor([1e-6, 0.5, 0.994]), a=1, b=5)
    assert torch.isfinite(w).all() and w[0] < 1e-3 and w[2] < w[1]


def test_imm_loss_matches_a_hand_computation():
    y_t = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])  # (G=1, M=2, D=2)
    y_r = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])
    s, t = torch.tensor([0.2]), torch.tensor([0.6])
    loss = imm_loss(y_t, y_r, s, t, param="euler_fm", kernel="laplace")
    scale = 1 / (0.4 * 0.5 * 2)  # 1 / (|c_out| D) with c_out = -(t - s) sigma_d
    k = lambda d: math.exp(-scale * d)
    k_tt = (2 * k(0) + 2 * k(1)) / 4
    k_rr = (2 * k(0) + 2 * k(1)) / 4
    k_tr = (k(1) + k(0) + k(math.sqrt(2)) + k(1)) / 4
    expected = hand_weight(0.6, 1, 5) * (k_tt + k_rr - 2 * k_tr)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_imm_loss_averages_groups():
    g = torch.Generator().manual_seed(0)
    y_t, y_r = torch.randn(3, 4, 2, generator=g), torch.randn(3, 4, 2, generator=g)
    s, t = torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.5, 0.6, 0.9])
    per_group = [imm_loss(y_t[i:i + 1], y_r[i:i + 1], s[i:i + 1], t[i:i + 1]) for i in range(3)]
    assert imm_loss(y_t, y_r, s, t).item() == pytest.approx(sum(per_group).item() / 3, rel=1e-6)


def test_consistency_reduction_lemma1():
    """M = 1 with the energy kernel: the loss is w(t) * 2 * ||y_t - y_r||^2 / (c_out D)^2, a weighted CM loss."""
    g = torch.Generator().manual_seed(0)
    y_t, y_r = torch.randn(6, 1, 2, generator=g), torch.randn(6, 1, 2, generator=g)
    s, t = torch.zeros(6), torch.linspace(0.2, 0.9, 6)
    _, c_out = coefficients(s.double(), t.double(), param="simple_edm", schedule="fm")
    expected = (weight(t) * 2 * (y_t - y_r).double().pow(2).sum((1, 2)) / (c_out * 2) ** 2).mean()
    assert imm_loss(y_t, y_r, s, t, kernel="energy").item() == pytest.approx(expected.item(), rel=1e-5)


def test_loss_is_zero_when_groups_match_and_gradients_are_finite():
    y = torch.randn(4, 4, 2, requires_grad=True)
    s, t = torch.full((4,), 0.2), torch.full((4,), 0.7)
    loss = imm_loss(y, y.detach().clone(), s, t)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    assert torch.isfinite(y.grad).all()  # safe norm on the diagonal ([P] App. C.8)


def test_model_returns_x_t_at_s_equal_t():
    model = build("imm", seed=0)
    x = torch.randn(16, 2)
    torch.testing.assert_close(model.f(x, 0.4, 0.4), x)


def test_pushforward_is_a_composition_of_jumps():
    model = build("imm", seed=0).eval()
    x_T = model.prior(32, seed=3)
    times = model.grid(2)
    *_, out = model.sampler(x_T, times)
    with torch.no_grad():
        torch.testing.assert_close(out, model.f(model.f(x_T, times[1], times[0]), times[2], times[1]))
    torch.testing.assert_close(model.sample(32, 2, seed=3), out)


def test_grids():
    model = build("imm")
    assert model.grid(2, "eta_mid")[1] == pytest.approx(0.58333, abs=1e-5)  # [P] mid_nt 1.4
    assert model.grid(4) == pytest.approx([0.994, 0.7455, 0.497, 0.2485, 0.0])
    with pytest.raises(ValueError, match="2 steps"):
        model.grid(3, "eta_mid")


def test_restart_sampler_is_deterministic_and_differs_from_pushforward():
    model = build("imm", seed=0)
    a, b = model.sample(64, 3, seed=5, sampler="restart"), model.sample(64, 3, seed=5, sampler="restart")
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, model.sample(64, 3, seed=5))
    torch.testing.assert_close(model.sample(64, 1, seed=5, sampler="restart"), model.sample(64, 1, seed=5))


def test_cm_preset_is_imm_with_one_particle():
    cm = build("cm")
    assert type(cm) is type(build("imm"))
    assert (cm.cfg.M, cm.cfg.kernel, cm.cfg.fixed_s) == (1, "energy", True)
    s, r, t = cm.sample_times(8, torch.Generator().manual_seed(0))
    assert (s == 0).all() and (r <= t).all()


def test_loss_groups_share_times():
    """Each group of M particles uses one (s, r, t): check through the MMD with M = 4."""
    model = build("imm", seed=0)
    x = torch.randn(32, 2)
    loss = model.loss(x, torch.Generator().manual_seed(0))
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert mmd2(torch.zeros(2, 4, 2), torch.zeros(2, 4, 2)).shape == (2,)


def test_smoothed_distance_is_pseudo_huber():
    """rho_c(u) = sqrt(u^2 + c^2) - c: 0 at 0, ~ u^2 / (2c) below c, ~ u - c above; c = 0 gives u back."""
    from imm_edu.kernels import gram
    a, b = torch.zeros(1, 1, 2, dtype=torch.float64), torch.tensor([[[3.0, 4.0]]], dtype=torch.float64)  # d = 5
    assert gram(a, b, "distance", 0.1).item() == pytest.approx(-0.5)
    assert gram(a, b, "distance", 0.1, smooth=2.0).item() == pytest.approx(-(math.sqrt(0.25 + 4) - 2))
    assert gram(a, b, "laplace", 0.1, smooth=2.0).item() == pytest.approx(math.exp(-(math.sqrt(4.25) - 2)))
    assert gram(a, a, "laplace", 0.1, smooth=2.0).item() == pytest.approx(1.0)


def test_step_smoothing_core_is_one_steps_bandwidth():
    """c = |c_out(r,t)| / |c_out(s,t)|; under the fm schedule c_out(s,t) = -(t - s) sigma_d / sqrt(a_t^2 + s_t^2),
    so c = core (t - r) / (t - s), and c = core in the base case r = s."""
    from imm_edu.imm import kernel_scales
    s, r, t = (torch.tensor(v, dtype=torch.float64) for v in ([0.1, 0.3], [0.5, 0.3], [0.7, 0.4]))
    scale, c = kernel_scales(s, t, r, D=2, smoothing="step", core=1.0)
    torch.testing.assert_close(c, torch.tensor([0.2 / 0.6, 1.0], dtype=torch.float64))
    torch.testing.assert_close(kernel_scales(s, t, r, D=2, smoothing="step")[1], 3 * c)  # default core: 3 steps
    _, c_out = coefficients(s, t)
    torch.testing.assert_close(scale, 1 / (c_out.abs() * 2))
    assert (kernel_scales(s, t, D=2)[1] == 0).all()  # "none": the paper's kernel, no core
    assert (kernel_scales(s, t, D=2, smoothing="fixed", core=0.3)[1] == 0.3).all()
    with pytest.raises(ValueError, match="needs r"):
        kernel_scales(s, t, D=2, smoothing="step")
    with pytest.raises(ValueError, match="none"):
        kernel_scales(s, t, r, D=2, smoothing="huber")


def test_step_smoothing_turns_the_own_target_pull_from_l1_into_l2():
    """M = 1: the loss is w (2 - 2 k(y_t, y_r)). With the paper's Laplace kernel the pull's gradient has the same
    size at every small distance (an L1 loss: its fixed point is a median); with the quadratic core it shrinks in
    proportion to the distance (an L2 loss: its fixed point is a mean)."""
    s, r, t = (torch.tensor([v], dtype=torch.float64) for v in (0.2, 0.5, 0.6))
    sizes = {}
    for smoothing in ("none", "step"):
        for d in (1e-3, 2e-3):
            y = torch.zeros(1, 1, 2, dtype=torch.float64, requires_grad=True)
            target = torch.tensor([[[d, 0.0]]], dtype=torch.float64)
            imm_loss(y, target, s, t, r, smoothing=smoothing).backward()
            sizes[smoothing, d] = y.grad.norm().item()
    assert sizes["none", 2e-3] / sizes["none", 1e-3] == pytest.approx(1.0, rel=1e-2)
    assert sizes["step", 2e-3] / sizes["step", 1e-3] == pytest.approx(2.0, rel=1e-2)


def test_presets_and_their_names():
    from imm_edu.train import method_name
    assert build("imm").cfg.smoothing == "step" and build("imm_paper").cfg.smoothing == "none"
    assert [method_name(build(m)) for m in ("imm", "imm_paper", "cm")] == ["imm", "imm_paper", "cm"]
    assert method_name(build("imm", smoothing="none")) == "imm_paper"


def test_u_estimator_drops_every_own_pair_and_bandwidth_scales():
    """estimator="u", M = 2: w [k(a1,a2) + k(b1,b2) - k(a1,b2) - k(a2,b1)]; the pairs (a_j, b_j) built from the
    same noise are left out. bandwidth multiplies |c_out| D."""
    y_t = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    y_r = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])
    s, t = torch.tensor([0.2]), torch.tensor([0.6])
    for bw in (1.0, 3.0):
        scale = 1 / (bw * 0.4 * 0.5 * 2)
        k = lambda d: math.exp(-scale * d)
        expected = hand_weight(0.6, 1, 5) * (k(1) + k(1) - k(0) - k(math.sqrt(2)))  # a1 = b2, |a2 - b1| = sqrt 2
        loss = imm_loss(y_t, y_r, s, t, param="euler_fm", estimator="u", bandwidth=bw)
        assert loss.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        imm_loss(y_t[:, :1], y_r[:, :1], s, t, estimator="u")
    with pytest.raises(ValueError, match="'v'"):
        imm_loss(y_t, y_r, s, t, estimator="w")
