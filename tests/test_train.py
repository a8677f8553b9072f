import pytest
import torch

from imm_edu import build, fit, metrics, toy
from imm_edu.train import method_name

REF = toy.sample("eight_gaussians", 1000, seed=99)
STEPS = {"imm": 1, "cm": 1, "ddim": 8, "fm": 8}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["imm", "cm", "ddim", "fm"])
def test_short_training_improves_quality(method):
    model = build(method, seed=0, width=64, depth=2)
    before = metrics.energy_distance(model.sample(1000, STEPS[method], seed=1), REF)
    result = fit(model, "eight_gaussians", steps=400, batch=256, lr=2e-3, progress=False, device="cpu")
    after = metrics.energy_distance(result.model.sample(1000, STEPS[method], seed=1), REF)
    assert after < before / 3, f"{method}: energy distance {before:.4f} -> {after:.4f}"
    assert len(result.losses) == 400 and result.seconds > 0


@pytest.mark.slow
def test_same_seed_same_model_and_samples():
    runs = [fit(build("imm", seed=3, width=32, depth=1), "moons", steps=20, batch=64, seed=3, progress=False,
                device="cpu") for _ in range(2)]
    assert runs[0].losses == runs[1].losses
    torch.testing.assert_close(runs[0].model.sample(100, 2, seed=4), runs[1].model.sample(100, 2, seed=4))


def test_build_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = build("fm", seed=1), build("fm", seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert method_name(build("cm")) == "cm" and method_name(build("imm")) == "imm"


def test_ctrl_c_stops_cleanly_and_keeps_the_model(monkeypatch, capsys):
    model = build("fm", seed=0, width=16, depth=1)
    real_loss, calls = model.loss, []

    def loss_then_interrupt(x, gen):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real_loss(x, gen)

    monkeypatch.setattr(model, "loss", loss_then_interrupt)
    result = fit(model, "moons", steps=100, batch=32, progress=False, device="cpu")
    assert result.interrupted and len(result.losses) == 5
    assert "stopped" in capsys.readouterr().out
    assert result.model.sample(10, 2).shape == (10, 2)


def test_fit_accepts_points():
    pts = toy.sample("rings", 500)
    result = fit(build("fm", width=16, depth=1), pts, steps=3, batch=50, progress=False, device="cpu")
    assert len(result.losses) == 3
