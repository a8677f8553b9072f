"""FD-digits and the other digit metrics: the Frechet distance against hand values, the classifier, the floor."""
import math

import pytest
import torch

from imm_edu import digit_metrics, digits, metrics
from imm_edu.checkpoints import load_pretrained


def test_frechet_distance_of_diagonal_gaussians_is_the_hand_value():
    """Commuting covariances: FD = ||mu1 - mu2||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2."""
    mu1, mu2 = torch.tensor([1.0, 0.0, -2.0]), torch.tensor([0.0, 0.0, 1.0])
    a, b = torch.tensor([4.0, 1.0, 0.25]), torch.tensor([1.0, 9.0, 0.25])
    want = 1 + 9 + (2 - 1) ** 2 + (1 - 3) ** 2 + 0
    assert metrics.frechet_gaussians(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(want, abs=1e-9)
    q = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    rotated = metrics.frechet_gaussians(q @ mu1.double(), q @ torch.diag(a).double() @ q.T, q @ mu2.double(),
                                        q @ torch.diag(b).double() @ q.T)
    assert rotated == pytest.approx(want, abs=1e-9)  # a common rotation changes nothing


def test_frechet_distance_of_non_commuting_covariances_matches_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(1)
    for F, rank in [(5, 5), (6, 2)]:  # full rank, and singular (as from fewer samples than features)
        a = torch.randn(F, rank, generator=g, dtype=torch.float64)
        b = torch.randn(F, F, generator=g, dtype=torch.float64)
        c1, c2 = a @ a.T, b @ b.T
        cross = scipy_linalg.sqrtm((c1 @ c2).numpy()).real.trace()
        want = (c1.trace() + c2.trace()).item() - 2 * cross
        assert metrics.frechet_gaussians(torch.zeros(F), c1, torch.zeros(F), c2) == pytest.approx(want, abs=1e-6)
    c = a @ a.T
    # rank 2 of 6: the square root turns round-off eigenvalues ~1e-15 into ~3e-8 each
    assert abs(metrics.frechet_gaussians(torch.zeros(6), c, torch.zeros(6), c)) < 1e-6


def test_frechet_distance_of_samples_approaches_the_gaussian_value():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(40_000, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0])
    y = torch.randn(40_000, 2, generator=g, dtype=torch.float64) * torch.tensor([3.0, 2.0]) + torch.tensor([1.0, 0.0])
    assert metrics.frechet_distance(x, y) == pytest.approx(1 + (3 - 1) ** 2, rel=0.02)


def test_sqrtm_psd_squares_back_and_ignores_round_off_negatives():
    a = torch.randn(7, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    c = a @ a.T - 1e-12 * torch.eye(7, dtype=torch.float64)  # rank 3, tiny negative eigenvalues
    root = metrics.sqrtm_psd(c)
    assert torch.isfinite(root).all() and torch.allclose(root @ root, c, atol=1e-8)


def test_shipped_classifier_is_accurate_on_digits_it_never_saw():
    net = digit_metrics.classifier()
    assert digit_metrics.accuracy(net, "held_out") > 0.95 and digit_metrics.accuracy(net, "floor") > 0.95
    assert digit_metrics.features(digits.load("held_out")[0][:5]).shape == (5, 64)


def test_classifier_training_is_deterministic():
    recipe = {**digit_metrics.CLASSIFIER_RECIPE, "steps": 20}
    a, b = digit_metrics.train_classifier(recipe), digit_metrics.train_classifier(recipe)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_class_coverage_and_confidence_on_hand_made_sets():
    x, labels = digits.load("held_out")
    ones = x[labels == 1]
    assert digit_metrics.class_tv(ones) == pytest.approx(0.9, abs=0.05)  # (nearly) one class only
    assert digit_metrics.class_tv(x) < 0.05 and digit_metrics.confidence(x) > 0.9
    assert digit_metrics.class_histogram(x).sum().item() == pytest.approx(1.0)
    assert digit_metrics.uniform_tv(1) == pytest.approx(0.9) and 0.06 < digit_metrics.uniform_tv(300) < 0.08


def test_floor_is_far_below_noise_and_below_every_shipped_model():
    floor = digit_metrics.floor()
    ref = digits.load("held_out")[0]
    noise = 0.5 * torch.randn(300, 64, generator=torch.Generator().manual_seed(0))
    assert digit_metrics.fd(noise, ref) > 20 * floor["fd"]
    for method in ("imm", "cm", "ddim", "fm"):
        x = load_pretrained(method, "digits").sample(300, 1, seed=7)
        assert digit_metrics.fd(x, ref) > floor["fd"], method  # one step: no model reaches real digits
    assert math.isfinite(floor["energy"]) and floor["confidence"] > 0.95
