import math

import pytest
import torch

from imm_edu.kernels import KERNELS, gram, mmd2, safe_dist


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_mmd_of_a_set_with_itself_is_zero(kernel):
    x = torch.randn(50, 2)
    assert mmd2(x, x, kernel).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("kernel", ["laplace", "rbf", "distance", "energy"])
def test_mmd_grows_when_one_set_moves(kernel):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g)
    values = [mmd2(x, y + torch.tensor([d, 0.0]), kernel).item() for d in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[-1] > 10 * abs(values[0])


def test_energy_kernel_sees_only_the_mean():
    """-||a-b||^2 gives MMD^2 = 2 ||mean(a) - mean(b)||^2: a wider set with the same mean scores 0."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=g)
    wide = 3 * x
    assert mmd2(x, wide, "energy").item() == pytest.approx(2 * (x.mean(0) - wide.mean(0)).pow(2).sum().item(), abs=1e-3)
    assert mmd2(x - x.mean(0), wide - wide.mean(0), "energy").item() == pytest.approx(0.0, abs=1e-3)
    assert mmd2(x - x.mean(0), wide - wide.mean(0), "laplace").item() > 0.05


def test_gram_hand_values():
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])
    assert gram(a, b, "laplace", 0.5).item() == pytest.approx(math.exp(-2.5))
    assert gram(a, b, "rbf", 0.5).item() == pytest.approx(math.exp(-0.5 * 2.5**2))
    assert gram(a, b, "energy").item() == pytest.approx(-25.0)
    assert gram(a, b, "distance").item() == pytest.approx(-5.0)


def test_v_statistic_hand_value_and_u_statistic_drops_the_diagonal():
    a, b = torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    k = lambda d: math.exp(-d)
    v = (2 + 2 * k(1)) / 4 + (2 + 2 * k(2)) / 4 - 2 * (1 + k(2) + k(1) + k(math.sqrt(5))) / 4
    u = k(1) + k(2) - 2 * (1 + k(2) + k(1) + k(math.sqrt(5))) / 4
    assert mmd2(a, b, "laplace").item() == pytest.approx(v, rel=1e-6)
    assert mmd2(a, b, "laplace", unbiased=True).item() == pytest.approx(u, rel=1e-6)


def test_u_statistic_is_unbiased_for_equal_distributions():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 8, 2, generator=g), torch.randn(500, 8, 2, generator=g)
    assert abs(mmd2(a, b, "rbf", unbiased=True).mean().item()) < 0.01
    assert mmd2(a, b, "rbf").mean().item() > 0.05  # the V-statistic is biased upward at M = 8


def test_safe_dist_has_finite_gradient_on_the_diagonal():
    a = torch.randn(4, 2, requires_grad=True)
    safe_dist(a, a).sum().backward()
    assert torch.isfinite(a.grad).all()


def test_groups_and_scale_broadcast():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 4, 2, generator=g), torch.randn(3, 4, 2, generator=g)
    scale = torch.tensor([0.5, 1.0, 2.0])
    out = mmd2(a, b, "laplace", scale)
    assert out.shape == (3,)
    assert out[2].item() == pytest.approx(mmd2(a[2], b[2], "laplace", 2.0).item(), rel=1e-6)


def test_bad_kernel_and_shapes():
    with pytest.raises(ValueError, match="laplace"):
        mmd2(torch.zeros(3, 2), torch.zeros(3, 2), "gauss")
    with pytest.raises(ValueError, match="groups"):
        mmd2(torch.zeros(2, 3, 2), torch.zeros(3, 3, 2))


def test_v_statistic_is_cross_term_plus_own_target_pull():
    """V = (1 - 1/M) U_paired + (2/M) mean_j [k(0) - k(a_j, b_j)]: the V-statistic IMM uses is the unbiased
    cross term plus a pull of each particle to its own target (lesson 06), for every kernel and group size."""
    g = torch.Generator().manual_seed(0)
    for kernel in ("laplace", "rbf", "distance"):
        for m in (2, 4, 16):
            a, b = (torch.randn(3, m, 5, generator=g, dtype=torch.float64) for _ in range(2))
            k0 = gram(a[:, :1], a[:, :1], kernel)[:, 0, 0]  # k at distance ~0
            pull = k0 - gram(a, b, kernel).diagonal(dim1=1, dim2=2).mean(-1)
            split = (1 - 1 / m) * mmd2(a, b, kernel, unbiased=True, paired=True) + 2 / m * pull
            assert torch.allclose(mmd2(a, b, kernel), split, atol=1e-7)
