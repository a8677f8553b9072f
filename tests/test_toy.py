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
    with pytest.raises(ValueError, match=r"point files must be \.csv, \.txt, \.npy; got 'p\.xlsx'"):
        (tmp_path / "p.xlsx").write_text("1,2")
        toy.from_points(tmp_path / "p.xlsx", 10)


def test_point_files_with_any_common_separator_read_the_same(tmp_path):
    pts = np.random.default_rng(1).normal(size=(20, 2)).round(4)
    want = toy.from_points(pts, 100, seed=3)
    for name, sep, header in [("comma.csv", ",", "x,y\n"), ("semicolon.csv", ";", "x;y\n"), ("spaces.txt", "  ", ""),
                              ("tab.txt", "\t", "# x y\n"), ("comma_space.csv", ", ", "")]:
        lines = [f"{a}{sep}{b}" for a, b in pts] + [""]  # a trailing blank line is fine
        (tmp_path / name).write_text(header + "\n".join(lines))
        torch.testing.assert_close(toy.from_points(tmp_path / name, 100, seed=3), want, msg=name)


@pytest.mark.parametrize("text, message", [
    ("x,y\n1,2\nhello,world\n3,4\n", r"bad\.csv, line 3 \('hello,world'\): 'hello' is not a finite number"),
    ("1,2\n1,abc\n3,4\n", r"bad\.csv, line 2 \('1,abc'\): 'abc' is not a finite number; expected 2 numbers x, y"),
    ("1,2\n\n3,nan\n", r"line 3 \('3,nan'\): 'nan' is not a finite number"),
    ("1,2,3\n4,5,6\n", r"line 1 \('1,2,3'\): expected 2 numbers x, y separated by a comma, semicolon, tab or spaces, "
                        r"got 3 fields$"),
    ("1,5;2,5\n", r"got 4 fields; write decimals with a point \(1\.5, not 1,5\)"),
    ("x,y\n", r"bad\.csv holds no points"),
    ("1,2\n", r"bad\.csv: points must have shape \(N, 2\) with N >= 2, got \(1, 2\)"),
])
def test_bad_point_files_name_the_file_the_line_and_what_was_expected(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        toy.from_points(tmp_path / "bad.csv", 10)


def test_a_binary_file_named_csv_is_refused_by_name(tmp_path):
    (tmp_path / "sheet.csv").write_bytes(b"PK\x03\x04\xff\xfe binary spreadsheet")
    with pytest.raises(ValueError, match=r"sheet\.csv is not plain \(UTF-8\) text"):
        toy.from_points(tmp_path / "sheet.csv", 10)


def test_transparency_is_background_and_an_image_needs_a_shape(tmp_path):
    import matplotlib.pyplot as plt

    yy, xx = np.mgrid[:40, :40]
    disc = (yy - 20) ** 2 + (xx - 20) ** 2 < 15**2
    on_white, on_clear = np.ones((40, 40, 4)), np.zeros((40, 40, 4))  # clear: black, fully transparent
    on_white[disc, :3] = 0
    on_clear[disc, 3] = 1  # opaque black disc
    plt.imsave(tmp_path / "white.png", on_white)
    plt.imsave(tmp_path / "clear.png", on_clear)
    x = toy.from_image(tmp_path / "clear.png", 2000, seed=0)
    torch.testing.assert_close(x, toy.from_image(tmp_path / "white.png", 2000, seed=0))  # the disc, not a square
    assert x.norm(dim=1).max() < 1.1  # a uniform disc of pooled std 0.5 has radius 1; the square's corners are at 1.22
    plt.imsave(tmp_path / "black.png", np.zeros((10, 10, 3)))
    with pytest.raises(ValueError, match="black.png: every pixel is dark"):
        toy.from_image(tmp_path / "black.png", 10)
    with pytest.raises(ValueError, match=r"threshold is a luminance in \(0, 1\]"):
        toy.from_image(tmp_path / "white.png", 10, threshold=0)
