"""Lessons 0-3 exercise checks: a wrong answer is
rejected, and the common mistakes get their diagnosis."""
import math

import pytest
import torch

import imm_edu.exercises as ex
from imm_edu.exercises import foundations as F

CHECKS = [getattr(ex, name) for name in F.__all__]


@pytest.mark.parametrize("check", CHECKS, ids=F.__all__)
def test_wrong_answer_fails(check):
    wrong = lambda *a, **k: 1.5 * torch.as_tensor(check.solution(*a, **k)) + 0.1  # noqa: E731
    result = check(wrong)
    assert not result and result.message.startswith("[wrong]")


def test_crash_is_reported_not_raised():
    result = ex.check_log_snr(lambda t, schedule="fm": t.foo)
    assert not result and result.message.startswith("[error]") and "AttributeError" in result.message


def test_solutions_print(capsys):
    ex.show_solution(ex.check_ddim_step)
    assert "def ddim_step(" in capsys.readouterr().out


@pytest.mark.parametrize("check, mistake, words", [
    (ex.check_edm_sigma, lambda t, schedule="fm", sigma_d=0.5: F.edm_sigma(t, schedule, sigma_d) / sigma_d,
     "multiply by sigma_d"),
    (ex.check_standardize, lambda points: (points - points.mean(0)) / points.std(0) * 0.5, "its own std"),
    (ex.check_interpolant, lambda x, eps, t, schedule="fm": F.interpolant(x, eps, 1 - t, schedule),
     "reversed time"),
    (ex.check_log_snr, lambda t, schedule="fm": F.log_snr(t, schedule) / 2, "factor 2"),
    (ex.check_ddim_step, lambda x_t, x_hat, s, t, schedule="fm": F.ddim_step(x_t, x_hat, t, s, schedule)
     if s > 0 else x_t * math.inf, "swapped"),
    (ex.check_euler_step, lambda x_t, v, s, t: x_t + (t - s) * v, "wrong direction"),
    (ex.check_mmd2_rbf, lambda a, b, bandwidth: F.mmd2_rbf(a, b, bandwidth / math.sqrt(2)), "sqrt(2)"),
    (ex.check_energy_mmd2, lambda a, b: (a.mean(0) - b.mean(0)).pow(2).sum(), "factor 2"),
])
def test_common_mistakes_are_diagnosed(check, mistake, words):
    result = check(mistake)
    assert not result and "diagnosis:" in result.message and words in result.message, result.message


def test_unbiased_mmd_is_diagnosed():
    from imm_edu import kernels
    result = ex.check_mmd2_rbf(lambda a, b, bandwidth: kernels.mmd2(a, b, "rbf", 1 / bandwidth, unbiased=True))
    assert "U-statistic" in result.message


def test_energy_identity_holds_for_the_library_kernel():
    """The fact behind exercise 3.2: with k = -|u - v|^2, MMD^2 (V) = 2 |mean(a) - mean(b)|^2."""
    from imm_edu import kernels
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(30, 5, generator=g, dtype=torch.float64), torch.randn(20, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(kernels.mmd2(a, b, "energy"), 2 * (a.mean(0) - b.mean(0)).pow(2).sum())
