"""The same methods, formulas and identities in D = 64 (8x8 images) as in D = 2: one code path for every D."""
import pytest
import torch

from imm_edu import build, fit
from imm_edu.ddim import ddim
from imm_edu.imm import imm_loss

D = 64


@pytest.mark.parametrize("method", ["imm", "cm", "ddim", "fm", "shortcut"])
def test_prior_and_samples_have_the_models_dimension(method):
    model = build(method, dim=D, width=32)
    assert model.dim == D and model.prior(5).shape == (5, D)
    x = model.sample(7, steps=2)
    assert x.shape == (7, D) and torch.isfinite(x).all()


@pytest.mark.parametrize("method", ["imm", "cm"])
def test_jump_to_the_same_time_returns_the_input_in_64d(method):
    model = build(method, dim=D, width=32)
    x = torch.randn(9, D)
    for t in (0.0, 0.3, 0.994):
        assert torch.equal(model.f(x, t, t), x), "f_{t,t}(x_t) = x_t exactly ([P] Lemma 4)"


def test_shortcut_identities_in_64d():
    """s = t returns x_t; one 2d step with the self-consistency target equals two d steps, in D = 64."""
    from imm_edu.shortcut import shortcut_target
    model, x = build("shortcut", dim=D, width=32), torch.randn(9, D)
    assert torch.equal(model.step(x, 0.5, 0.5), x)
    target = shortcut_target(model.velocity, x, 0.5, 0.125)
    two_steps = model.step(model.step(x, 0.375, 0.5), 0.25, 0.375)
    torch.testing.assert_close(x - 0.25 * target, two_steps, atol=1e-6, rtol=1e-5)
    x_t, t, d, target = model.targets(x, torch.Generator().manual_seed(0))
    assert x_t.shape == target.shape == (9, D) and t.shape == d.shape == (9,)


def test_ddim_identities_in_64d():
    x, eps = torch.randn(6, D, dtype=torch.float64), torch.randn(6, D, dtype=torch.float64)
    t, r, s = 0.9, 0.5, 0.2
    x_t = (1 - t) * x + t * eps
    assert torch.allclose(ddim(x_t, x, t, t), x_t)
    assert torch.allclose(ddim(x_t, x, r, t), (1 - r) * x + r * eps)
    assert torch.allclose(ddim(ddim(x_t, x, r, t), x, s, r), ddim(x_t, x, s, t))


def test_loss_bandwidth_uses_the_true_dimension():
    """Laplace kernel exp(-||a - b|| / (|c_out| D)) with D = 64: a (G, 1, 64) pair at distance d scores
    2 (1 - exp(-d / (|c_out| 64))) per group, times w(s,t)."""
    from imm_edu.imm import weight
    from imm_edu.parameterization import coefficients
    s, t = torch.tensor([0.2], dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64)
    a, b = torch.zeros(1, 1, D), torch.zeros(1, 1, D)
    b[0, 0, 0] = 3.0
    _, c_out = coefficients(s, t)
    want = weight(t) * 2 * (1 - torch.exp(-3.0 / (c_out.abs() * D)))
    assert imm_loss(a, b, s.float(), t.float()).item() == pytest.approx(want.item(), rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["imm", "fm", "ddim", "shortcut"])
def test_training_on_64d_points_runs(method):
    data = 0.5 * torch.randn(512, D)
    res = fit(build(method, dim=D, width=32), data, steps=3, batch=64, progress=False, device="cpu")
    assert len(res.losses) == 3 and all(torch.isfinite(torch.tensor(res.losses)))


def test_points_of_the_wrong_dimension_are_refused_by_name():
    model = build("imm", dim=D, width=32)
    with pytest.raises(ValueError, match=r"x_t must have shape \(N, 64\), got \(3, 2\)"):
        model.f(torch.zeros(3, 2), 0.0, 0.5)
    with pytest.raises(ValueError, match=r"must have shape \(N, 64\)"):
        fit(model, torch.zeros(100, 2), steps=1, progress=False)


@pytest.mark.parametrize("method", ["fm", "ddim", "imm", "shortcut"])
def test_float64_points_are_accepted_and_bad_shapes_named(method):
    model = build(method, width=32)
    x64 = torch.randn(4, 2, dtype=torch.float64)
    call = {"fm": lambda x: model.velocity(x, 0.5), "ddim": lambda x: model.denoise(x, 0.5),
            "imm": lambda x: model.f(x, 0.2, 0.5), "shortcut": lambda x: model.step(x, 0.25, 0.5)}[method]
    out = call(x64)
    assert out.dtype == torch.float32 and torch.allclose(out, call(x64.float()))
    with pytest.raises(ValueError, match=r"x_t must have shape \(N, 2\), got \(4, 3\)"):
        call(torch.zeros(4, 3))
