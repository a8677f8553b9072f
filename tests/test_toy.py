import numpy as np
import pytest
import torch

from imm_edu import metrics, toy
from imm_edu.schedules import interpolate


def test_at_least_ten_toys_in_one_convention():
    assert len(toy.names()) >= 10
    for name in toy.names():
        x = toy.sample(name, 4000, seed=3)
        assert x.shape == (4000, 2) and x.dtype == torch.float32 and torch.isfinite(x).all()
        assert x.mean(0).abs().max() < 0.05, name
        assert x.pow(2).mean().sqrt().item() == pytest.approx(toy.SIGMA_D, abs=0.02), name


@pytest.mark.parametrize("name", ["checkerboard", "moons", "gmm"])
def test_same_seed_same_points(name):
    torch.testing.assert_close(toy.sample(name, 100, seed=7), toy.sample(name, 100, seed=7))
    assert not torch.equal(toy.sample(name, 100, seed=7), toy.sample(name, 100, seed=8))


def test_gmm_exact_marginal_matches_noised_samples():
    gmm, t = toy.GAUSSIAN_MIXTURE, 0.4
    x, eps = gmm.sample(4000, seed=0), toy.SIGMA_D * torch.randn(4000, 2, generator=torch.Generator().manual_seed(1))
    empirical = interpolate(x, eps, t)
    exact = gmm.sample_marginal(4000, t, seed=2)
    floor = metrics.energy_distance(gmm.sample_marginal(4000, t, seed=3), exact)
    assert metrics.energy_distance(empirical, exact) < 3 * floor + 1e-3
    # and the closed-form density is (on average) the right one: higher log-likelihood than at another t
    assert gmm.log_prob(empirical, t).mean() > gmm.log_prob(empirical, 0.1).mean()
    # q_t integrates to 1: a Riemann sum on a fine grid
    g = torch.linspace(-3, 3, 301)
    grid = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
    assert gmm.log_prob(grid, t).exp().sum().item() * (6 / 300) ** 2 == pytest.approx(1.0, abs=1e-3)


def test_gmm_posterior_mean_matches_monte_carlo():
    gmm, t = toy.GAUSSIAN_MIXTURE, 0.5
    x = gmm.sample(200_000, seed=0)
    x_t = interpolate(x, toy.SIGMA_D * torch.randn(x.shape, generator=torch.Generator().manual_seed(1)), t)
    near = (x_t - torch.tensor([0.1, -0.2])).norm(dim=1) < 0.03  # condition on x_t ~ a point
    mc = x[near].double().mean(0)
    exact = gmm.posterior_mean(torch.tensor([[0.1, -0.2]]), t)[0]
    assert (mc - exact).norm() < 0.05
    torch.testing.assert_close(gmm.posterior_mean(x_t[:5], 0.0), x_t[:5].double())  # at t=0, E[x|x_0] = x_0


def test_from_points_csv_npy_and_array(tmp_path):
    pts = np.random.default_rng(0).normal(size=(50, 2)) * [3, 1] + 7
    np.save(tmp_path / "p.npy", pts)
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",", header="x,y", comments="")
    for source in (tmp_path / "p.npy", tmp_path / "p.csv", pts):
        x = toy.from_points(source, 500, seed=0)
        assert x.shape == (500, 2)
        ref = toy.normalize(pts)
        assert ref.pow(2).mean().sqrt().item() == pytest.approx(0.5, abs=1e-5)
        assert torch.isin(x[:, 0], ref[:, 0]).all()  # drawn from the normalised file points


def test_from_image(tmp_path):
    import matplotlib.pyplot as plt

    img = np.ones((40, 60, 3))
    img[5:15, 10:20] = 0  # one black square, top left
    plt.imsave(tmp_path / "shape.png", img)
    x = toy.from_image(tmp_path / "shape.png", 1000, seed=0)
    assert x.shape == (1000, 2)
    assert x.pow(2).mean().sqrt().item() == pytest.approx(0.5, abs=0.05)
    assert x[:, 0].std() == pytest.approx(x[:, 1].std(), rel=0.15)  # a square stays a square
    plt.imsave(tmp_path / "blank.png", np.ones((10, 10, 3)))
    with pytest.raises(ValueError, match="dark pixels"):
        toy.from_image(tmp_path / "blank.png", 10)


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="checkerboard"):  # the error lists valid names
        toy.sample("chekerboard", 10)
    for n in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            toy.sample("moons", n)
    with pytest.raises(FileNotFoundError):
        toy.from_points(tmp_path / "missing.csv", 10)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        toy.from_points(np.zeros((5, 3)), 10)
    with pytest.raises(ValueError, match="NaN"):
        toy.from_points(np.array([[0.0, 1.0], [np.nan, 2.0]]), 10)
    with pytest.raises(ValueError, match=".csv or .npy"):
        (tmp_path / "p.txt").write_text("1,2")
        toy.from_points(tmp_path / "p.txt", 10)
