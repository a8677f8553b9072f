"""The exercise checkers of lessons 4-7: each accepts its own solution, rejects stubs and wrong answers with a
useful message, and show_solution prints the solution's source."""
import pytest
import torch

from imm_edu import exercises
from imm_edu.exercises import imm as lesson

CHECKS = [getattr(exercises, name) for name in lesson.__all__]


@pytest.mark.parametrize("check", CHECKS, ids=lesson.__all__)
def test_wrong_answer_is_rejected_with_inputs_in_the_message(check):
    def off_by_a_bit(*args, **kwargs):
        return torch.as_tensor(check.solution(*args, **kwargs)) * 1.01 + 0.01

    result = check(off_by_a_bit)
    assert not result and result.message.startswith("[wrong]")
    assert "expected" in result.message and "hint:" in result.message
    assert "0x" not in result.message  # no memory addresses (functions, models) in the feedback


def test_crashing_answer_is_reported_not_raised():
    result = exercises.check_mapping_r(lambda s, t, k: s / 0 + undefined_name)  # noqa: F821
    assert not result and result.message.startswith("[error]") and "NameError" in result.message


def test_common_mistakes_get_a_clear_verdict():
    # U-statistic instead of IMM's V-statistic (diagonal dropped)
    def u_statistic(y_t, y_r, scale):
        from imm_edu.kernels import mmd2
        return mmd2(y_t, y_r, "laplace", scale, unbiased=True)

    assert not exercises.check_group_mmd2(u_statistic)
    # forgetting the max(s, .) clamp of the mapping: wrong exactly where the base case r = s applies
    def no_clamp(s, t, k):
        d_eta = (0.994 / 0.006) / 2**k
        n = (t / (1 - t) - d_eta).clamp_min(0)
        return n / (1 + n)

    assert not exercises.check_mapping_r(no_clamp)
    # restart without re-noising
    assert not exercises.check_restart_step(lambda model, x, t, s, eps: model.f(x, 0.0, t))
    # the split with the diagonal kept in the cross term (that is the V-statistic itself, not its off-diagonal part)
    def diagonal_kept(a, b):
        from imm_edu.kernels import mmd2
        return torch.stack([mmd2(a, b), (1 - torch.exp(-(a - b).norm(dim=-1))).mean()])

    assert not exercises.check_v_statistic_split(diagonal_kept)


def test_show_solution_prints_the_solution(capsys):
    exercises.show_solution(exercises.check_cm_loss)
    out = capsys.readouterr().out
    assert out.startswith("def ") and "weight(t)" in out and "coefficients" in out
