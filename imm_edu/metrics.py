"""Sample-quality metrics between generated points and held-out data, and the data-vs-data floor.

    energy_distance  2 E||x - y|| - E||x - x'|| - E||y - y'||  (V-statistic; = MMD^2 with the "distance" kernel)
    energy_scorer    the same against one fixed reference, its own term computed once
    sliced_w2        sqrt(mean over random directions of W2^2 of the 1-D projections)
    mmd              MMD^2 with a sum of RBF kernels at bandwidths 0.05 ... 1 (data std is 0.5)
    frechet_distance ||mu_x - mu_y||^2 + tr(S_x + S_y - 2 (S_x^1/2 S_y S_x^1/2)^1/2) of Gaussians fitted to x and y
                     (on a classifier's features this is FID; digit_metrics.py builds FD-digits on it)
    data_floor       the metric between two independent draws of the same toy: what a perfect model scores
All metrics are >= 0 up to estimator noise, and 0 for identical sets.
"""
import math

import torch

from . import toy
from .checks import check_points
from .kernels import gram, mmd2

RBF_BANDWIDTHS = (0.05, 0.1, 0.2, 0.5, 1.0)
MAX_PAIRS = 10**8  # |x| * |y| per metric call: all pairwise distances of 10,000 x 10,000 points take ~3 GB
MAX_EACH = math.isqrt(MAX_PAIRS)  # the most points per set when both sets have the same size


def _pair(x, y, pairwise=True):
    """x (N, D) and y (K, D) as float64 tensors (arrays from numpy are fine), checked; pairwise=True also refuses
    more than MAX_PAIRS pairs (for metrics that compare every x with every y)."""
    x, y = (check_points(torch.as_tensor(v), name) for v, name in ((x, "x"), (y, "y")))
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be points of the same dimension D, got x of shape {tuple(x.shape)} "
                         f"and y of shape {tuple(y.shape)}")
    if pairwise and len(x) * len(y) > MAX_PAIRS:
        raise ValueError(f"{len(x):,} x {len(y):,} points is too many pairs to compare (at most {MAX_PAIRS:,}, e.g. "
                         f"{MAX_EACH:,} points each); compare random subsets, "
                         f"e.g. x[torch.randperm(len(x))[:{MAX_EACH}]]")
    return x.double(), y.double()


@torch.no_grad()
def energy_distance(x, y):
    x, y = _pair(x, y)
    return mmd2(x, y, "distance").item()


def energy_scorer(reference):
    """x -> energy_distance(x, reference), with the reference's own term E||y - y'|| computed once: a third of the
    work saved when many sample sets are scored against one reference (training_cost does, at every checkpoint)."""
    y = check_points(reference, "reference").double()
    yy = gram(y, y, "distance").mean()

    @torch.no_grad()
    def score(x):
        x = check_points(x, "x", dim=y.shape[1]).double()
        return (gram(x, x, "distance").mean() + yy - 2 * gram(x, y, "distance").mean()).item()

    return score


@torch.no_grad()
def mmd(x, y, bandwidths=RBF_BANDWIDTHS):
    x, y = _pair(x, y)
    return sum(mmd2(x, y, "rbf", 1 / h).item() for h in bandwidths)


@torch.no_grad()
def sliced_w2(x, y, projections=256, seed=0):
    """Sliced Wasserstein-2 with `projections` random unit directions; sets of unequal size use quantiles."""
    x, y = _pair(x, y)
    theta = torch.randn(x.shape[1], projections, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    theta = theta / theta.norm(dim=0, keepdim=True)  # (D, P)
    px, py = (x @ theta).sort(0).values, (y @ theta).sort(0).values  # (N, P), (K, P)
    if len(px) != len(py):
        q = (torch.arange(min(len(px), len(py)), dtype=x.dtype) + 0.5) / min(len(px), len(py))
        px, py = torch.quantile(px, q, dim=0), torch.quantile(py, q, dim=0)
    return (px - py).pow(2).mean().sqrt().item()


def sqrtm_psd(a):
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition: V sqrt(max(L, 0)) V^T.
    Negative eigenvalues from round-off are clipped to 0, so the result is real and symmetric."""
    vals, vecs = torch.linalg.eigh((a + a.T) / 2)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_gaussians(mu1, cov1, mu2, cov2):
    """Frechet (W2^2) distance of N(mu1, cov1) and N(mu2, cov2): ||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 C), with
    C = (cov1^1/2 cov2 cov1^1/2)^1/2. C has the trace of (cov1 cov2)^1/2 but is a symmetric PSD product, so both
    roots are taken by sqrtm_psd (no complex parts, unlike a general matrix square root). Computed in float64."""
    mu1, cov1, mu2, cov2 = (torch.as_tensor(v, dtype=torch.float64) for v in (mu1, cov1, mu2, cov2))
    root1 = sqrtm_psd(cov1)
    cross = sqrtm_psd(root1 @ cov2 @ root1)
    return ((mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * cross.trace()).item()


@torch.no_grad()
def frechet_distance(x, y):
    """Frechet distance of the Gaussians fitted (mean, unbiased covariance) to the rows of x (N, F) and y (K, F)."""
    x, y = _pair(x, y, pairwise=False)  # means and covariances only: no pairs, no limit
    return frechet_gaussians(x.mean(0), x.T.cov(), y.mean(0), y.T.cov())


METRICS = {"energy": energy_distance, "sliced_w2": sliced_w2, "mmd": mmd}


def evaluate(samples, reference):
    """All metrics of `samples` against `reference`, as a dict."""
    return {name: fn(samples, reference) for name, fn in METRICS.items()}


def data_floor(name, n=5000, seed=1):
    """Metrics between two independent draws of toy `name` of size n: the best score n samples can reach."""
    return evaluate(toy.sample(name, n, seed=seed), toy.sample(name, n, seed=seed + 1))
