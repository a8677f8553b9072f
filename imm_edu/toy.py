"""2-D toy distributions, all in one convention: zero mean and pooled standard deviation SIGMA_D = 0.5.

"Pooled std" means sqrt(E||x||^2 / 2) = 0.5: the data is centred and scaled by one number (the shape is kept),
so the data std matches the prior noise eps ~ N(0, sigma_d^2 I) with sigma_d = 0.5, as in all of [P]'s runs.

    sample(name, n, seed=0) -> (n, 2) float tensor        names() -> the built-in names
    from_points(path_or_array, n, seed=0)                  from_image(png_path, n, seed=0)
    GMM: a Gaussian mixture whose noised marginal q_t and posterior mean E[x | x_t] are known exactly.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import functools
import math
import re
from pathlib import Path

import numpy as np
import torch
from sklearn import datasets

from .checks import check_n
from .schedules import alpha_sigma

SIGMA_D = 0.5  # pooled data std, = [P]'s sigma_d


def _generator(seed):
    return torch.Generator().manual_seed(int(seed))


def _sklearn(fn, **kw):
    def draw(n, seed):
        x = fn(n_samples=n, random_state=seed, **kw)[0]
        return torch.as_tensor(x[:, [0, 2]] if x.shape[1] == 3 else x, dtype=torch.float32)  # swiss roll: (x, z)
    return draw


def _eight_gaussians(n, seed):
    g = _generator(seed)
    angle = torch.randint(0, 8, (n,), generator=g) * (math.pi / 4)
    centres = torch.stack([angle.cos(), angle.sin()], 1) * 2
    return centres + 0.1 * torch.randn(n, 2, generator=g)


def _grid25(n, seed):
    g = _generator(seed)
    centres = (torch.randint(0, 5, (n, 2), generator=g) - 2).float()
    return centres + 0.06 * torch.randn(n, 2, generator=g)


def _checkerboard(n, seed):
    g = _generator(seed)  # 4x4 board, 8 filled unit squares
    x = torch.rand(n, generator=g) * 4 - 2
    row = torch.randint(0, 2, (n,), generator=g) * 2 + torch.rand(n, generator=g)  # in [0,1) or [2,3)
    y = row - 2 + (torch.floor(x) % 2)
    return torch.stack([x, y], 1)


def _pinwheel(n, seed):
    g = _generator(seed)  # 5 arms of radially stretched Gaussians, twisted by their radius
    arm = torch.randint(0, 5, (n,), generator=g)
    r = 1 + 0.3 * torch.randn(n, generator=g)
    tangential = 0.05 * torch.randn(n, generator=g)
    angle = arm * (2 * math.pi / 5) + 0.25 * torch.exp(r)
    p = torch.stack([r, tangential], 1)
    c, s = angle.cos(), angle.sin()
    return torch.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]], 1)


def _spirals(n, seed):
    g = _generator(seed)  # two interleaved Archimedean spirals
    u = torch.sqrt(torch.rand(n, generator=g)) * 3 * math.pi
    sign = torch.randint(0, 2, (n,), generator=g) * 2 - 1
    x = sign[:, None] * torch.stack([u * u.cos(), u * u.sin()], 1)
    return x + 0.25 * torch.randn(n, 2, generator=g)


def _rings(n, seed):
    g = _generator(seed)  # three concentric rings, points spread by ring length
    radius = torch.tensor([1.0, 2.0, 3.0])[torch.multinomial(torch.tensor([1.0, 2.0, 3.0]), n, True, generator=g)]
    angle = torch.rand(n, generator=g) * 2 * math.pi
    return (radius + 0.05 * torch.randn(n, generator=g))[:, None] * torch.stack([angle.cos(), angle.sin()], 1)


class GMM:
    """Isotropic Gaussian mixture sum_k w_k N(mu_k, s_k^2 I), with exact noised marginals.

    Under x_t = alpha_t x + sigma_t eps, eps ~ N(0, sigma_d^2 I), component k of q_t is
    N(alpha_t mu_k, v_k I) with v_k = alpha_t^2 s_k^2 + sigma_t^2 sigma_d^2, and
    E[x | x_t] = sum_k pi_k(x_t) (mu_k + alpha_t s_k^2 / v_k (x_t - alpha_t mu_k)), pi_k = posterior weights.
    """

    def __init__(self, means, stds, weights):
        self.means = torch.as_tensor(means, dtype=torch.float64)  # (K, 2)
        self.stds = torch.as_tensor(stds, dtype=torch.float64)  # (K,)
        w = torch.as_tensor(weights, dtype=torch.float64)
        self.weights = w / w.sum()

    def normalized(self, target_std=SIGMA_D):
        """The same mixture shifted to zero mean and scaled to pooled std `target_std` (done exactly)."""
        mean = self.weights @ self.means
        second = self.weights @ ((self.means - mean).pow(2).sum(1) + 2 * self.stds**2)
        scale = target_std / math.sqrt(second.item() / 2)
        return GMM((self.means - mean) * scale, self.stds * scale, self.weights)

    def sample(self, n, seed=0):
        g = _generator(seed)
        k = torch.multinomial(self.weights.float(), n, True, generator=g)
        x = self.means[k] + self.stds[k, None] * torch.randn(n, 2, generator=g, dtype=torch.float64)
        return x.float()

    def _components(self, t, schedule, sigma_d):
        alpha, sigma = (v.double() for v in alpha_sigma(float(t), schedule))
        var = alpha**2 * self.stds**2 + sigma**2 * sigma_d**2  # (K,)
        return alpha, alpha * self.means, var

    def _log_joint(self, x_t, t, schedule, sigma_d):
        _, mean, var = self._components(t, schedule, sigma_d)
        d2 = (x_t.double()[:, None, :] - mean).pow(2).sum(-1)  # (N, K)
        return torch.log(self.weights) - d2 / (2 * var) - torch.log(2 * math.pi * var)  # (N, K)

    def log_prob(self, x_t, t=0.0, schedule="fm", sigma_d=SIGMA_D):
        """log q_t(x_t), exact; (N, 2) -> (N,) float64."""
        return torch.logsumexp(self._log_joint(x_t, t, schedule, sigma_d), 1)

    def posterior_mean(self, x_t, t, schedule="fm", sigma_d=SIGMA_D):
        """E[x | x_t], exact; (N, 2) -> (N, 2) float64."""
        alpha, mean, var = self._components(t, schedule, sigma_d)
        pi = torch.softmax(self._log_joint(x_t, t, schedule, sigma_d), 1)  # (N, K)
        x_t = x_t.double()[:, None, :]
        per_k = self.means + (alpha * self.stds**2 / var)[:, None] * (x_t - mean)  # (N, K, 2)
        return (pi[..., None] * per_k).sum(1)

    def sample_marginal(self, n, t, schedule="fm", sigma_d=SIGMA_D, seed=0):
        """Exact samples of q_t (float32), drawn component by component."""
        alpha, mean, var = self._components(t, schedule, sigma_d)
        g = _generator(seed)
        k = torch.multinomial(self.weights.float(), n, True, generator=g)
        return (mean[k] + var[k, None].sqrt() * torch.randn(n, 2, generator=g, dtype=torch.float64)).float()


GAUSSIAN_MIXTURE = GMM(means=[[-1.0, -0.6], [1.2, -0.4], [0.1, 1.1]], stds=[0.25, 0.4, 0.15],
                       weights=[0.45, 0.35, 0.2]).normalized()

_RAW = {
    "checkerboard": _checkerboard,
    "eight_gaussians": _eight_gaussians,
    "grid25": _grid25,
    "moons": _sklearn(datasets.make_moons, noise=0.05),
    "circles": _sklearn(datasets.make_circles, noise=0.04, factor=0.5),
    "swiss_roll": _sklearn(datasets.make_swiss_roll, noise=0.3),
    "pinwheel": _pinwheel,
    "spirals": _spirals,
    "rings": _rings,
}


def names():
    """Names accepted by sample(): the built-in toys, all at zero mean and pooled std 0.5."""
    return sorted(_RAW) + ["gmm"]


@functools.cache
def _normalizer(name):
    ref = _RAW[name](200_000, 12345)  # one fixed reference sample sets the affine map for every draw
    mean = ref.mean(0)
    return mean, SIGMA_D / ref.sub(mean).pow(2).mean().sqrt()


def sample(name, n, seed=0):
    """n points of toy `name` as an (n, 2) float32 tensor; the same (name, n, seed) always gives the same points.
    n is at most 10 million (checks.MAX_NUMBERS / 2)."""
    check_n(n)
    if name == "gmm":
        return GAUSSIAN_MIXTURE.sample(n, seed)
    if name not in _RAW:
        raise ValueError(f"unknown toy distribution {name!r}; valid names: {', '.join(names())}")
    mean, scale = _normalizer(name)
    return (_RAW[name](n, seed) - mean) * scale


def normalize(points):
    """Centre (N, 2) points and scale them to pooled std 0.5, the convention of every built-in toy."""
    points = torch.as_tensor(np.asarray(points), dtype=torch.float32)
    if points.dim() != 2 or points.shape[1] != 2 or len(points) < 2:
        raise ValueError(f"points must have shape (N, 2) with N >= 2, got {tuple(points.shape)}")
    if not torch.isfinite(points).all():
        raise ValueError("points contain NaN or infinite values")
    centred = points - points.mean(0)
    rms = centred.pow(2).mean().sqrt()
    if rms == 0:
        raise ValueError("all points are identical; there is no spread to normalise")
    return centred * (SIGMA_D / rms)


POINT_FILES = (".csv", ".txt", ".npy")
_SEPARATOR = re.compile(r"\s*[,;]\s*|\s+")  # a comma or semicolon (spaces around it allowed), or spaces / a tab


def _number(field):
    try:
        return float(field)
    except ValueError:
        return None


def read_point_text(path):
    """(N, 2) float64 from a text file with one point "x,y" per line; the two numbers may be separated by a comma,
    a semicolon, a tab or spaces. Blank lines and lines starting with # are skipped, and so is a first line without
    any number in it (a header such as "x,y"). Any other line that is not two finite numbers is an error naming it."""
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not plain (UTF-8) text; save it as CSV text, one point x,y per line") from None
    rows, first = [], True
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = _SEPARATOR.split(line)
        values = [_number(f) for f in fields]
        header, first = first and all(v is None for v in values), False
        if header:
            continue
        where = f"{path}, line {number} ({line!r})"
        if len(fields) != 2:
            hint = "; write decimals with a point (1.5, not 1,5)" if "," in line and ";" in line else ""
            raise ValueError(f"{where}: expected 2 numbers x, y separated by a comma, semicolon, tab or spaces, "
                             f"got {len(fields)} fields{hint}")
        for field, value in zip(fields, values):
            if value is None or not math.isfinite(value):
                raise ValueError(f"{where}: {field!r} is not a finite number; expected 2 numbers x, y")
        rows.append(values)
    if not rows:
        raise ValueError(f"{path} holds no points; expected one point per line, e.g. 0.5,1.25")
    return np.array(rows)


def from_points(source, n, seed=0):
    """n points drawn (with replacement) from an (N, 2) array or a file, normalised like the toys.

    Files: .npy (an (N, 2) array), or .csv / .txt with one point per line (see read_point_text)."""
    check_n(n)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"no point file at {path}")
        if path.suffix not in POINT_FILES:
            raise ValueError(f"point files must be {', '.join(POINT_FILES)}; got {path.name!r}")
        raw = np.load(path) if path.suffix == ".npy" else read_point_text(path)
        try:
            points = normalize(raw)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
    else:
        points = normalize(source)
    return points[torch.randint(0, len(points), (n,), generator=_generator(seed))]


def from_image(path, n, seed=0, threshold=0.5):
    """n points whose density follows the dark pixels of an image (PNG), normalised like the toys.

    Draw black shapes on a white or transparent background: transparent pixels are background (the image is laid
    on white). Each dark pixel (luminance < threshold) is a unit square; points are uniform inside the chosen
    squares, with y pointing up.
    """
    import matplotlib.image  # only needed here: keeps the core free of plotting imports

    check_n(n)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold is a luminance in (0, 1], got {threshold!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no image at {path}")
    img = matplotlib.image.imread(path)  # PNG: floats in [0, 1]; other formats: integers
    img = img / np.iinfo(img.dtype).max if img.dtype.kind == "u" else img.astype(np.float64)
    if img.ndim == 3 and img.shape[-1] == 4:  # RGBA (imread gives grey+alpha and palettes as RGBA too): lay on white
        alpha = img[..., -1:]
        img = alpha * img[..., :-1] + (1 - alpha)
    dark = (img.mean(-1) if img.ndim == 3 else img) < threshold  # (H, W)
    if dark.sum() < 2:
        raise ValueError(f"{path.name}: fewer than 2 dark pixels (luminance < {threshold}); use black shapes on white")
    if dark.all():
        raise ValueError(f"{path.name}: every pixel is dark (luminance < {threshold}), so there is no shape to find; "
                         f"draw black shapes on a white or transparent background (invert a light-on-dark image)")
    rows, cols = np.nonzero(dark)
    centres = torch.as_tensor(np.stack([cols + 0.5, -(rows + 0.5)], 1), dtype=torch.float64)  # (P, 2)
    mean = centres.mean(0)
    pooled_var = (centres - mean).pow(2).mean() + 1 / 12  # + variance of the uniform jitter inside a pixel
    g = _generator(seed)
    pick = torch.randint(0, len(centres), (n,), generator=g)
    pts = centres[pick] + torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5
    return ((pts - mean) * (SIGMA_D / pooled_var.sqrt())).float()
