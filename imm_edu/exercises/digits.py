"""Exercises for lesson 8 (IMM on 8x8 digits). Each check_... compares a student's function with the library on
fixed random inputs (via check_function) and has a `.solution` that show_solution(check_...) prints.

    check_to_images            scaled 64-D points back to 8x8 pixel images (digits.to_images)
    check_frechet_gaussians    the Frechet distance of two Gaussians, the formula behind FD-digits and FID
    check_kernel_argument      u = ||a - b|| / (|c_out| D), the Laplace kernel's argument in IMM's loss

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import numpy as np
import torch

from . import check_function
from .imm import _gen, _times, _with_solution

__all__ = ["check_to_images", "check_frechet_gaussians", "check_kernel_argument"]


def _to_images_solution(x, m, c):
    """Undo x = (v - m) c: v = x / c + m, clipped to the valid pixel range [0, 16], as (N, 8, 8) images."""
    v = x / c + m  # (N, 64)
    return v.clamp(0, 16).reshape(len(x), 8, 8)


def _to_images_reference(x, m, c):
    return np.clip(x.numpy() / c + m.numpy(), 0, 16).reshape(len(x), 8, 8)


@_with_solution(_to_images_solution)
def check_to_images(fn):
    """fn(x, m, c) -> (N, 8, 8) pixel values of scaled digit points x (N, 64); m: mean image (64,), c: the scale."""
    from .. import digits

    m, c = digits.scaling()
    g = _gen(10)
    held_out = digits.load("held_out")[0][:5].double()
    cases = [{"x": held_out, "m": torch.as_tensor(m), "c": float(c)},  # real digits: no clipping needed
             {"x": 0.8 * torch.randn(7, 64, generator=g, dtype=torch.float64), "m": torch.as_tensor(m), "c": float(c)}]
    return check_function(fn, _to_images_reference, cases, "digit points -> 8x8 images", atol=1e-6,
                          hint="v = x / c + m, then clip to [0, 16] (noisy samples leave the range), then reshape")


def _frechet_solution(mu1, cov1, mu2, cov2):
    """||mu1 - mu2||^2 + tr(cov1) + tr(cov2) - 2 tr((cov1^1/2 cov2 cov1^1/2)^1/2), roots by eigendecomposition."""
    def sqrtm(a):  # symmetric PSD: a = V diag(L) V^T  ->  V diag(sqrt L) V^T
        vals, vecs = torch.linalg.eigh(a)
        return vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T

    root1 = sqrtm(cov1)
    cross = sqrtm(root1 @ cov2 @ root1)
    return (mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * cross.trace()


def _frechet_reference(mu1, cov1, mu2, cov2):
    from ..metrics import frechet_gaussians
    return frechet_gaussians(mu1, cov1, mu2, cov2)


@_with_solution(_frechet_solution)
def check_frechet_gaussians(fn):
    """fn(mu1, cov1, mu2, cov2) -> the Frechet distance of N(mu1, cov1) and N(mu2, cov2) (a number)."""
    g = _gen(11)
    cases = []
    for F, rank in [(1, 1), (3, 3), (8, 8), (6, 2)]:  # the last: singular covariances, as from few samples
        a = torch.randn(F, rank, generator=g, dtype=torch.float64)
        b = torch.randn(F, rank, generator=g, dtype=torch.float64)
        cases.append({"mu1": torch.randn(F, generator=g, dtype=torch.float64), "cov1": a @ a.T,
                      "mu2": torch.randn(F, generator=g, dtype=torch.float64), "cov2": b @ b.T})
    same = cases[2]
    cases.append({"mu1": same["mu1"], "cov1": same["cov1"], "mu2": same["mu1"], "cov2": same["cov1"]})  # -> 0
    return check_function(fn, _frechet_reference, cases, "Frechet distance of two Gaussians", atol=1e-6, rtol=1e-6,
                          hint="tr((cov1 cov2)^1/2) = tr((cov1^1/2 cov2 cov1^1/2)^1/2); take both square roots of "
                               "symmetric PSD matrices with torch.linalg.eigh and clip negative eigenvalues to 0")


def _kernel_argument_solution(a, b, s, t):
    """u = ||a - b|| / (|c_out(s,t)| D), simple-EDM on the OT-FM path with sigma_d = 0.5."""
    norm = ((1 - t) ** 2 + t**2).sqrt()  # sqrt(alpha_t^2 + sigma_t^2)
    c_out = -((1 - s) * t - s * (1 - t)) / norm * 0.5
    D = a.shape[-1]
    return (a - b).norm(dim=-1) / (c_out.abs() * D)


def _kernel_argument_reference(a, b, s, t):
    from ..parameterization import coefficients
    _, c_out = coefficients(s, t)
    return (a - b).norm(dim=-1) / (c_out.abs() * a.shape[-1])


@_with_solution(_kernel_argument_solution)
def check_kernel_argument(fn):
    """fn(a, b, s, t) -> (N,) Laplace-kernel arguments u for pairs of rows of a, b (N, D) at times s, t (N,)."""
    g = _gen(12)
    cases = []
    for D, seed in [(2, 1), (64, 2), (3072, 3)]:
        s, t = _times(6, seed, low=0.2)
        cases.append({"a": 0.5 * torch.randn(6, D, generator=g, dtype=torch.float64),
                      "b": 0.5 * torch.randn(6, D, generator=g, dtype=torch.float64), "s": s, "t": t})
    return check_function(fn, _kernel_argument_reference, cases, "Laplace kernel argument u", rtol=1e-6,
                          hint="c_out = -(alpha_s sigma_t - sigma_s alpha_t) / sqrt(alpha_t^2 + sigma_t^2) * sigma_d, "
                               "alpha = 1 - t, sigma = t; D is the number of coordinates (a.shape[-1])")
