import pytest
import torch

from imm_edu import metrics, toy


@pytest.mark.parametrize("name", sorted(metrics.METRICS))
def test_metric_is_zero_for_identical_sets_and_grows_with_a_shift(name):
    fn = metrics.METRICS[name]
    x = toy.sample("moons", 1000, seed=0)
    assert fn(x, x) == pytest.approx(0.0, abs=1e-9)
    near, far = fn(x, x + torch.tensor([0.1, 0.0])), fn(x, x + torch.tensor([0.5, 0.0]))
    assert 0 < near < far


def test_energy_distance_hand_value():
    x, y = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])
    assert metrics.energy_distance(x, y) == pytest.approx(10.0)  # 2*5 - 0 - 0


def test_sliced_w2_of_a_translation_is_its_projected_length():
    x = torch.randn(2000, 2)
    # W2 of a translation by d along every direction theta is |d . theta|; mean of cos^2 over directions is 1/2
    assert metrics.sliced_w2(x, x + torch.tensor([1.0, 0.0]), projections=2000) == pytest.approx(0.5**0.5, rel=0.05)


def test_floor_is_far_below_a_wrong_distribution():
    floor = metrics.data_floor("checkerboard", n=1000)
    wrong = metrics.evaluate(toy.sample("moons", 1000, seed=1), toy.sample("checkerboard", 1000, seed=2))
    for k in floor:
        assert floor[k] < wrong[k] / 3


def test_bad_input():
    with pytest.raises(ValueError, match=r"same dimension D, got x of shape \(5, 3\) and y of shape \(5, 2\)"):
        metrics.energy_distance(torch.zeros(5, 3), torch.zeros(5, 2))  # each is valid alone: name both
    with pytest.raises(ValueError, match=r"^y must have shape \(N, D\), got \(5,\)"):
        metrics.energy_distance(torch.zeros(5, 2), torch.zeros(5))
    with pytest.raises(ValueError, match=r"^x must have shape \(N, D\), got \(5,\)"):
        metrics.energy_distance(torch.zeros(5), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="NaN"):
        metrics.mmd(torch.full((5, 2), float("nan")), torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"20,000 x 10,000 points is too many pairs to compare \(at most 100,000,000"):
        metrics.energy_distance(torch.zeros(20_000, 2), torch.zeros(10_000, 2))


def test_arrays_from_numpy_are_accepted():
    x, y = torch.randn(50, 2, dtype=torch.float64), torch.randn(40, 2)
    for name, fn in metrics.METRICS.items():
        assert fn(x.numpy(), y.tolist()) == pytest.approx(fn(x, y)), name


def test_energy_scorer_equals_energy_distance():
    ref = toy.sample("moons", 300, seed=1)
    score = metrics.energy_scorer(ref)
    for seed in (2, 3):
        x = toy.sample("spirals", 250, seed=seed)
        assert score(x) == pytest.approx(metrics.energy_distance(x, ref), rel=1e-12, abs=1e-15)
