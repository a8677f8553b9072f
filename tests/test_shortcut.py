"""Shortcut models (imm_edu.shortcut): the self-consistency target, the targets of a batch, steps and the sampler."""
import pytest
import torch

from imm_edu import build
from imm_edu.shortcut import shortcut_target


@pytest.fixture
def model():
    return build("shortcut", seed=1, width=32)


def test_target_of_a_constant_velocity_is_that_velocity():
    c = torch.tensor([0.3, -1.0])
    x = torch.randn(4, 2)
    torch.testing.assert_close(shortcut_target(lambda x, t, d: c.expand_as(x), x, 0.5, 0.25), c.expand_as(x))


def test_target_of_a_linear_velocity_hand_value():
    """v(x) = A x + b: x' = x - d (A x + b), target = (A x + b + A x' + b) / 2 = (I - d A / 2)(A x + b)."""
    A, b = torch.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=torch.float64), torch.tensor([0.1, -0.4], dtype=torch.float64)
    x, d = torch.randn(6, 2, dtype=torch.float64), 0.125
    v = lambda x, t, d: x @ A.T + b
    want = (x @ A.T + b) @ (torch.eye(2, dtype=torch.float64) - d * A / 2).T
    torch.testing.assert_close(shortcut_target(v, x, 0.75, d), want)


def test_straight_flow_is_self_consistent_at_every_step_size():
    """Data = one point c: the exact FM velocity (x_t - c) / t is straight, so every 2d target equals it."""
    c = torch.tensor([0.4, -0.2], dtype=torch.float64)
    v = lambda x, t, d: (x - c) / t
    x = torch.randn(5, 2, dtype=torch.float64)
    for t, d in [(1.0, 0.5), (0.5, 0.125), (0.25, 1 / 128)]:
        torch.testing.assert_close(shortcut_target(v, x, t, d), v(x, t, 2 * d))


def test_target_tends_to_the_velocity_as_d_goes_to_zero():
    v = lambda x, t, d: torch.sin(3 * x) * (1 + t) + x * t
    x = torch.randn(7, 2, dtype=torch.float64)
    gap = (shortcut_target(v, x, 0.6, 1e-7) - v(x, 0.6, 0.0)).abs().max()
    assert gap < 1e-5


def test_clip_bounds_the_midpoint_and_the_target():
    v = lambda x, t, d: 10 * x
    x = torch.full((3, 2), 1.5)
    out = shortcut_target(v, x, 1.0, 0.5, clip=2.0)
    # x' = 1.5 - 0.5 * 15 = -6 -> clipped to -2; target = (15 + (-20)) / 2 = -2.5 -> clipped to -2
    torch.testing.assert_close(out, torch.full((3, 2), -2.0))


def test_one_2d_step_with_the_target_equals_two_d_steps_of_the_model(model):
    """x_t - 2d target(x_t) = step(step(x_t, t -> t - d), t - d -> t - 2d), with the model's own step()."""
    x = torch.randn(50, 2)
    for t, d in [(1.0, 0.5), (0.75, 0.125), (0.5, 1 / 128)]:
        target = shortcut_target(model.velocity, x, t, d)
        two_steps = model.step(model.step(x, t - d, t), t - 2 * d, t - d)
        torch.testing.assert_close(x - 2 * d * target, two_steps, atol=1e-6, rtol=1e-5)


def test_finest_rows_get_the_flow_matching_target(model):
    """FM rows: d = 1/M and target = eps - x = (x_t - x) / t; SC rows: 2d = 1, 1/2, ..., 2/M in equal shares,
    t a multiple of their step; and every time lies on the sampling grid 1/M, ..., 1."""
    x = torch.randn(256, 2) * 0.5
    x_t, t, d, target = model.targets(x, torch.Generator().manual_seed(0))
    n_sc, M = 256 // model.cfg.bootstrap_every, model.cfg.max_steps
    fm = slice(n_sc, None)
    assert (d[fm] == 1 / M).all()
    torch.testing.assert_close(target[fm], (x_t[fm] - x[fm]) / t[fm, None], atol=1e-5, rtol=1e-5)
    assert sorted(set(d[:n_sc].tolist())) == [2.0**-k for k in range(6, -1, -1)]  # 1/64 ... 1
    assert torch.equal(t[:n_sc] / d[:n_sc], (t[:n_sc] / d[:n_sc]).round()) and (t <= 1).all() and (t > 0).all()
    assert torch.equal(t * M, (t * M).round())


def test_sc_rows_use_the_teacher_and_no_gradient(model):
    """The first loss() call makes the teacher (a copy of the weights); SC targets then come from it."""
    x = torch.randn(64, 2) * 0.5
    model.loss(x, torch.Generator().manual_seed(0)).backward()
    assert model.teacher is not None and all(not p.requires_grad for p in model.teacher.values())
    _, t, d, target = model.targets(x, torch.Generator().manual_seed(1))
    assert not target.requires_grad
    n_sc = 64 // model.cfg.bootstrap_every
    x_t, *_ = model.targets(x, torch.Generator().manual_seed(1))
    want = shortcut_target(lambda *a: model.velocity(*a, model.teacher), x_t[:n_sc], t[:n_sc], d[:n_sc] / 2, clip=2.0)
    torch.testing.assert_close(target[:n_sc], want.detach())


def test_teacher_is_the_same_average_as_fits_ema():
    """After n loss calls and n optimizer steps, the teacher equals fit's EMA of the weights after n - 1 steps."""
    from imm_edu import fit
    steps = 5
    res = fit(build("shortcut", seed=2, width=16, depth=1), "moons", steps=steps, batch=64, progress=False,
              device="cpu")
    ema_after_steps = res.model  # EMA after `steps` optimizer steps
    # rebuild the same run and look at the teacher at the start of loss call steps + 1
    model = build("shortcut", seed=2, width=16, depth=1)
    from imm_edu.train import train_steps, training_points
    for _ in train_steps(model, training_points("moons", seed=0), steps, batch=64, seed=0):
        pass
    model.update_teacher()
    for (name, p_ema) in ema_after_steps.net.named_parameters():
        torch.testing.assert_close(model.teacher[name], p_ema)


def test_current_weights_teacher_option():
    model = build("shortcut", seed=1, width=32, teacher_ema=0.0)
    model.loss(torch.randn(32, 2), torch.Generator().manual_seed(0))
    assert model.teacher is None


def test_step_to_the_same_time_returns_x_t(model):
    x = torch.randn(9, 2)
    for t in (0.0, 0.3, 1.0):
        assert torch.equal(model.step(x, t, t), x)


def test_step_is_an_euler_step_with_the_velocity_at_that_size(model):
    x = torch.randn(9, 2)
    torch.testing.assert_close(model.step(x, 0.5, 0.75), x - 0.25 * model.velocity(x, 0.75, 0.25))


@pytest.mark.parametrize("steps", [1, 2, 4, 8, 128])
def test_sampler_takes_power_of_two_steps(model, steps):
    *path, x0 = model.sampler(model.prior(10), model.grid(steps))
    assert len(path) == steps and x0.shape == (10, 2) and torch.isfinite(x0).all()


def test_steps_the_model_was_not_trained_for_are_refused(model):
    with pytest.raises(ValueError, match="power-of-two number of steps up to 128"):
        model.sample(10, 3)
    with pytest.raises(ValueError, match="up to 128"):
        model.sample(10, 256)
    with pytest.raises(ValueError, match="max_steps must be a power of two"):
        build("shortcut", max_steps=100)
    with pytest.raises(ValueError, match="teacher_ema must lie in"):
        build("shortcut", teacher_ema=1.0)


def test_weights_are_saved_without_the_teacher(model, tmp_path):
    from imm_edu import load, save
    model.loss(torch.randn(16, 2), torch.Generator().manual_seed(0))
    back = load(save(model, tmp_path / "sc.pt"))
    assert not any("teacher" in k for k in back.state_dict())
    x = torch.randn(5, 2)
    torch.testing.assert_close(back.step(x, 0.0, 1.0), model.step(x, 0.0, 1.0), atol=0, rtol=0)
