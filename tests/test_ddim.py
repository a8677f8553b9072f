import math

import pytest
import torch

from imm_edu.ddim import ddim
from imm_edu.parameterization import PARAMETERIZATIONS, c_in, coefficients
from imm_edu.schedules import alpha_sigma, interpolate

SCHEDULES = ["fm", "cosine"]


@pytest.fixture
def pts():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 2, generator=g, dtype=torch.float64), 0.5 * torch.randn(64, 2, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ddim_with_s_equal_t_returns_x_t(pts, schedule):
    x, eps = pts
    x_t = interpolate(x, eps, 0.7, schedule)
    torch.testing.assert_close(ddim(x_t, x, 0.7, 0.7, schedule), x_t)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ddim_to_r_is_the_interpolant_at_r(pts, schedule):
    x, eps = pts
    x_t = interpolate(x, eps, 0.8, schedule)
    torch.testing.assert_close(ddim(x_t, x, 0.3, 0.8, schedule), interpolate(x, eps, 0.3, schedule))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_two_ddim_steps_equal_one(pts, schedule):
    x, x_t = pts
    two = ddim(ddim(x_t, x, 0.5, 0.9, schedule), x, 0.2, 0.5, schedule)
    torch.testing.assert_close(two, ddim(x_t, x, 0.2, 0.9, schedule))


def test_ddim_step_is_an_euler_step_under_fm(pts):
    x_t, v = pts
    t, s = 0.8, 0.35
    x_hat = x_t - t * v  # x-prediction of a velocity field
    torch.testing.assert_close(ddim(x_t, x_hat, s, t, "fm"), x_t - (t - s) * v)


def test_ddim_hand_value():
    # fm, t = 0.5, s = 0.25: (0.75 - 0.25 * 0.5 / 0.5) x + (0.25 / 0.5) x_t = 0.5 x + 0.5 x_t
    out = ddim(torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 4.0]]), 0.25, 0.5, "fm")
    torch.testing.assert_close(out, torch.tensor([[1.0, 2.0]]))


@pytest.mark.parametrize("param", sorted(PARAMETERIZATIONS))
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_parameterization_is_identity_at_s_equal_t(param, schedule):
    if param == "euler_fm" and schedule == "cosine":
        pytest.skip("euler_fm is defined for the fm schedule only")
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    c_skip, c_out = coefficients(t, t, param=param, schedule=schedule)
    torch.testing.assert_close(c_skip, torch.ones_like(t))
    torch.testing.assert_close(c_out, torch.zeros_like(t))


@pytest.mark.parametrize("param", sorted(PARAMETERIZATIONS))
def test_combined_coefficients_equal_ddim_of_g(param):
    """f_{s,t} = DDIM(x_t, g, s, t) with g = f_{0,t} = c_skip(0,t) x_t + c_out(0,t) G ([P] App. C.5)."""
    g_ = torch.Generator().manual_seed(1)
    x_t, G = torch.randn(8, 2, generator=g_, dtype=torch.float64), torch.randn(8, 2, generator=g_, dtype=torch.float64)
    s, t = torch.full((8,), 0.3, dtype=torch.float64), torch.full((8,), 0.7, dtype=torch.float64)
    skip0, out0 = coefficients(torch.zeros_like(t), t, param=param, schedule="fm")
    g = skip0[:, None] * x_t + out0[:, None] * G
    skip, out = coefficients(s, t, param=param, schedule="fm")
    torch.testing.assert_close(skip[:, None] * x_t + out[:, None] * G, ddim(x_t, g, s, t, "fm"))


def test_simple_edm_under_cosine_is_a_rotation():
    s, t = torch.tensor([0.2], dtype=torch.float64), torch.tensor([0.9], dtype=torch.float64)
    c_skip, c_out = coefficients(s, t, param="simple_edm", schedule="cosine", sigma_d=0.5)
    torch.testing.assert_close(c_skip, torch.cos(math.pi * (t - s) / 2))
    torch.testing.assert_close(c_out, -torch.sin(math.pi * (t - s) / 2) * 0.5)


def test_euler_fm_hand_value_and_schedule_check():
    _, c_out = coefficients(torch.tensor(0.2), torch.tensor(0.6), param="euler_fm", schedule="fm", sigma_d=0.5)
    assert c_out.item() == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="fm"):
        coefficients(torch.tensor(0.2), torch.tensor(0.6), param="euler_fm", schedule="cosine")


def test_c_in_normalises_the_interpolant():
    a, s = alpha_sigma(torch.tensor(0.3), "fm")
    assert c_in(torch.tensor(0.3), "fm", 0.5).item() == pytest.approx(1 / (0.5 * math.sqrt(a**2 + s**2)))
