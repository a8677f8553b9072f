import math

import pytest
import torch

from imm_edu.schedules import alpha_sigma, eta, eta_inv, interpolate, log_snr, neg_dlog_snr

SCHEDULES = ["fm", "cosine"]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_eta_inv_inverts_eta(schedule):
    t = torch.linspace(0, 0.996, 101, dtype=torch.float64)
    torch.testing.assert_close(eta_inv(eta(t, schedule), schedule), t, atol=1e-12, rtol=0)
    assert eta(t, schedule).dtype == torch.float64


def test_hand_values():
    a, s = alpha_sigma(torch.tensor(0.25), "fm")
    assert (a.item(), s.item()) == (0.75, 0.25)
    a, s = alpha_sigma(torch.tensor(0.5), "cosine")
    assert a.item() == pytest.approx(math.sqrt(0.5)) and s.item() == pytest.approx(math.sqrt(0.5))
    assert eta(0.5, "fm").item() == pytest.approx(1.0)
    assert eta_inv(1.4, "fm").item() == pytest.approx(1.4 / 2.4)  # [P]'s 2-step CIFAR midpoint t1 = 0.5833
    assert eta(0.994, "fm").item() == pytest.approx(165.67, abs=0.01)  # eta_T ~ 160-166 (brief Sec. 1)
    assert eta_inv(float("inf"), "fm").item() == 1.0


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_the_ends_of_time_are_exact(schedule):
    """eta_0 = 0 and lambda_0 = +inf at the data; eta_1 = +inf and lambda_1 = -inf at the noise (for cosine too,
    where float64 tan(pi/2) would give 1.6e16 and lambda_1 = -74.7)."""
    assert eta(0.0, schedule).item() == 0 and log_snr(0.0, schedule).item() == math.inf
    assert eta(1.0, schedule).item() == math.inf and log_snr(1.0, schedule).item() == -math.inf
    assert eta_inv(eta(1.0, schedule), schedule).item() == 1.0


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_log_snr_is_minus_two_log_eta_and_its_derivative(schedule):
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64, requires_grad=True)
    lam = log_snr(t, schedule)
    a, s = alpha_sigma(t.detach(), schedule)
    torch.testing.assert_close(lam.detach(), 2 * torch.log(a / s))
    (grad,) = torch.autograd.grad(lam.sum(), t)
    torch.testing.assert_close(neg_dlog_snr(t.detach(), schedule), -grad)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_interpolant_endpoints(schedule):
    x, eps = torch.randn(5, 2), torch.randn(5, 2)
    torch.testing.assert_close(interpolate(x, eps, 0.0, schedule), x)
    torch.testing.assert_close(interpolate(x, eps, 1.0, schedule), eps, atol=1e-6, rtol=0)
    t = torch.rand(5)
    a, s = alpha_sigma(t, schedule)
    torch.testing.assert_close(interpolate(x, eps, t, schedule), a[:, None] * x + s[:, None] * eps)


def test_unknown_schedule():
    with pytest.raises(ValueError, match="fm"):
        eta(0.5, "linear")
