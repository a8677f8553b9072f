"""Exercises for lessons 0-3. Each check_... compares a student's function with the library on fixed random
inputs (via check_function), recognises a few common mistakes, and has a `.solution`: a reference answer
written the way a student would, which show_solution(check_...) prints. The notebooks run every check on its
own solution, so CI tests the checkers.

    lesson 0  check_edm_sigma      check_standardize
    lesson 1  check_interpolant    check_log_snr
    lesson 2  check_ddim_step      check_euler_step
    lesson 3  check_mmd2_rbf       check_energy_mmd2

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import math

import torch

from .. import kernels, schedules, toy
from ..ddim import ddim
from . import check_function

__all__ = ["check_edm_sigma", "check_standardize", "check_interpolant", "check_log_snr", "check_ddim_step",
           "check_euler_step", "check_mmd2_rbf", "check_energy_mmd2"]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _points(n, seed, scale=(1.0, 1.0), shift=(0.0, 0.0)):
    """(n, 2) float64 Gaussian points with per-axis scale and shift (anisotropic on purpose)."""
    x = torch.randn(n, 2, generator=_gen(seed), dtype=torch.float64)
    return x * torch.tensor(scale, dtype=torch.float64) + torch.tensor(shift, dtype=torch.float64)


def _times(n, seed, low=0.02, high=0.98):
    return low + (high - low) * torch.rand(n, generator=_gen(seed), dtype=torch.float64)


def _check(student, reference, cases, name, *, hint="", mistakes=(), **tol):
    """check_function, plus a diagnosis when a wrong answer matches a known mistake on every case."""
    result = check_function(student, reference, cases, name, hint=hint, **tol)
    if not result.message.startswith("[wrong]"):
        return result
    for wrong, diagnosis in mistakes:
        if _matches(student, wrong, cases):
            result.message += f"\n  diagnosis: {diagnosis}"
            break
    return result


def _matches(student, wrong, cases):
    """True when the student's answers equal the mistake's on every case where the mistake is finite."""
    compared = 0
    for c in cases:
        try:
            expected = torch.as_tensor(wrong(**c), dtype=torch.float64)
            if not torch.isfinite(expected).all():
                continue
            got = torch.as_tensor(student(**c), dtype=torch.float64)
            if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-6, rtol=1e-5):
                return False
        except Exception:  # the student's code fails here, or the mistake does not apply
            return False
        compared += 1
    return compared > 0


def _with_solution(solution):
    """Decorator: attach the reference solution to a check function."""
    def attach(check):
        check.solution = solution
        return check
    return attach


# ------------------------------------------------------------------------------------------------ lesson 0

def edm_sigma(t, schedule="fm", sigma_d=0.5):
    """EDM / k-diffusion noise level of IMM time t: x_t / alpha_t = x + eta_t eps with eps ~ N(0, sigma_d^2 I),
    and EDM writes x + sigma n with n ~ N(0, I), so sigma = sigma_d * eta_t = sigma_d * sigma_t / alpha_t."""
    if schedule == "fm":
        alpha, sigma = 1 - t, t
    else:
        alpha, sigma = torch.cos(math.pi * t / 2), torch.sin(math.pi * t / 2)
    return sigma_d * sigma / alpha


@_with_solution(edm_sigma)
def check_edm_sigma(student_fn):
    """Exercise 0.1: convert IMM time t to EDM's sigma (both schedules)."""
    cases = [{"t": _times(6, seed), "schedule": sch, "sigma_d": 0.5} for seed, sch in ((1, "fm"), (2, "cosine"))]
    cases.append({"t": _times(4, 3), "schedule": "fm", "sigma_d": 1.0})
    reference = lambda t, schedule, sigma_d: sigma_d * schedules.eta(t, schedule)
    mistakes = [
        (lambda t, schedule, sigma_d: schedules.eta(t, schedule),
         "you returned eta_t = sigma_t / alpha_t. EDM's noise n has std 1, IMM's eps has std sigma_d: multiply "
         "by sigma_d."),
        (lambda t, schedule, sigma_d: sigma_d * schedules.eta(1 - t, schedule),
         "you reversed time. In IMM t = 0 is data (sigma = 0) and t = 1 is noise (sigma -> infinity)."),
        (lambda t, schedule, sigma_d: sigma_d * schedules.alpha_sigma(t, schedule)[1],
         "you returned sigma_d * sigma_t. EDM does not shrink the data (its alpha is 1): divide x_t by alpha_t first."),
    ]
    return _check(student_fn, reference, cases, "edm_sigma", mistakes=mistakes,
                  hint="sigma_EDM = sigma_d * sigma_t / alpha_t")


def standardize(points):
    """Centre (N, 2) points and scale them by ONE number so that sqrt(mean of all squared coordinates) = 0.5."""
    points = torch.as_tensor(points, dtype=torch.float64)
    centred = points - points.mean(0)
    return centred * (0.5 / centred.pow(2).mean().sqrt())


@_with_solution(standardize)
def check_standardize(student_fn):
    """Exercise 0.2: the normalisation every toy shares (zero mean, pooled std 0.5, shape kept)."""
    cases = [{"points": _points(n, seed, scale, shift)}
             for n, seed, scale, shift in ((50, 1, (3.0, 0.5), (2.0, -1.0)), (200, 2, (0.1, 0.2), (0.0, 5.0)))]
    reference = lambda points: toy.normalize(points).double()
    mistakes = [
        (lambda points: (points - points.mean(0)) / points.std(0) * 0.5,
         "you scaled each axis by its own std, which changes the shape. Use one pooled number for both axes."),
        (lambda points: (points - points.mean(0)) / points.std() * 0.5,
         "close: torch.std() is the unbiased (N-1) estimate around the overall mean. Use sqrt(mean(centred**2))."),
        (lambda points: points * (0.5 / points.pow(2).mean().sqrt()),
         "you forgot to subtract the mean first."),
    ]
    return _check(student_fn, reference, cases, "standardize", mistakes=mistakes, atol=1e-5,
                  hint="centre with points.mean(0), then multiply by 0.5 / sqrt(mean of centred**2)")


# ------------------------------------------------------------------------------------------------ lesson 1

def interpolant(x, eps, t, schedule="fm"):
    """x_t = alpha_t x + sigma_t eps for one time t (a float); fm: (1-t, t), cosine: (cos(pi t/2), sin(pi t/2))."""
    if schedule == "fm":
        alpha, sigma = 1 - t, t
    else:
        alpha, sigma = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
    return alpha * x + sigma * eps


@_with_solution(interpolant)
def check_interpolant(student_fn):
    """Exercise 1.1: the interpolant x_t for both schedules."""
    cases = [{"x": _points(5, seed), "eps": 0.5 * _points(5, seed + 10), "t": t, "schedule": sch}
             for seed, t, sch in ((1, 0.3, "fm"), (2, 0.8, "fm"), (3, 0.3, "cosine"), (4, 0.9, "cosine"))]
    reference = lambda x, eps, t, schedule: schedules.interpolate(x, eps, t, schedule)
    mistakes = [
        (lambda x, eps, t, schedule: schedules.interpolate(x, eps, 1 - t, schedule),
         "you reversed time: in this series t = 0 is data (x_0 = x) and t = 1 is noise (x_1 = eps)."),
        (lambda x, eps, t, schedule: schedules.interpolate(x, eps, t, "fm"),
         "your cosine schedule gives the fm result: use alpha = cos(pi t / 2), sigma = sin(pi t / 2)."),
    ]
    return _check(student_fn, reference, cases, "interpolant", mistakes=mistakes,
                  hint="x_t = alpha_t * x + sigma_t * eps")


def log_snr(t, schedule="fm"):
    """lambda_t = 2 log(alpha_t / sigma_t) for a tensor of times t in (0, 1)."""
    if schedule == "fm":
        alpha, sigma = 1 - t, t
    else:
        alpha, sigma = torch.cos(math.pi * t / 2), torch.sin(math.pi * t / 2)
    return 2 * torch.log(alpha / sigma)


@_with_solution(log_snr)
def check_log_snr(student_fn):
    """Exercise 1.2: the log signal-to-noise ratio of both schedules."""
    cases = [{"t": _times(7, seed), "schedule": sch} for seed, sch in ((1, "fm"), (2, "cosine"))]
    reference = lambda t, schedule: schedules.log_snr(t, schedule)
    mistakes = [
        (lambda t, schedule: schedules.log_snr(t, schedule) / 2,
         "missing the factor 2: the SNR is alpha^2 / sigma^2, so lambda = 2 log(alpha / sigma)."),
        (lambda t, schedule: -schedules.log_snr(t, schedule),
         "sign flipped: lambda is large near the data (t = 0), where the signal alpha_t dominates."),
        (lambda t, schedule: schedules.log_snr(t, schedule) / math.log(10),
         "use the natural logarithm (torch.log), not log10."),
    ]
    return _check(student_fn, reference, cases, "log_snr", mistakes=mistakes,
                  hint="lambda_t = 2 log(alpha_t / sigma_t)")


# ------------------------------------------------------------------------------------------------ lesson 2

def ddim_step(x_t, x_hat, s, t, schedule="fm"):
    """DDIM(x_t, x_hat, s, t) = (alpha_s - sigma_s alpha_t / sigma_t) x_hat + (sigma_s / sigma_t) x_t, [P] Eq. 11."""
    if schedule == "fm":
        (a_s, s_s), (a_t, s_t) = (1 - s, s), (1 - t, t)
    else:
        (a_s, s_s) = (math.cos(math.pi * s / 2), math.sin(math.pi * s / 2))
        (a_t, s_t) = (math.cos(math.pi * t / 2), math.sin(math.pi * t / 2))
    return (a_s - s_s * a_t / s_t) * x_hat + (s_s / s_t) * x_t


@_with_solution(ddim_step)
def check_ddim_step(student_fn):
    """Exercise 2.1: one DDIM step from t down to s with the x-prediction x_hat."""
    cases = [{"x_t": _points(4, seed), "x_hat": _points(4, seed + 10), "s": s, "t": t, "schedule": sch}
             for seed, s, t, sch in ((1, 0.2, 0.7, "fm"), (2, 0.0, 0.5, "fm"), (3, 0.4, 0.9, "cosine"))]
    reference = lambda x_t, x_hat, s, t, schedule: ddim(x_t, x_hat, s, t, schedule)
    mistakes = [
        (lambda x_t, x_hat, s, t, schedule: ddim(x_t, x_hat, t, s, schedule),
         "s and t are swapped: the step goes from the noisier time t down to s < t; divide by sigma_t."),
    ]
    return _check(student_fn, reference, cases, "ddim_step", mistakes=mistakes,
                  hint="(alpha_s - sigma_s * alpha_t / sigma_t) * x_hat + (sigma_s / sigma_t) * x_t")


def euler_step(x_t, v, s, t):
    """One Euler step of the flow-matching ODE dx/dt = v from t down to s: x_s = x_t - (t - s) v."""
    return x_t - (t - s) * v


@_with_solution(euler_step)
def check_euler_step(student_fn):
    """Exercise 2.2: an Euler step of flow matching, checked against DDIM with x_hat = x_t - t v (fm schedule)."""
    cases = [{"x_t": _points(4, seed), "v": _points(4, seed + 10), "s": s, "t": t}
             for seed, s, t in ((1, 0.2, 0.7), (2, 0.0, 1.0), (3, 0.5, 0.6))]
    reference = lambda x_t, v, s, t: ddim(x_t, x_t - t * v, s, t, "fm")
    mistakes = [
        (lambda x_t, v, s, t: x_t + (t - s) * v,
         "wrong direction: v = d x_t / dt points towards the noise, and we walk back in time (t -> s < t)."),
        (lambda x_t, v, s, t: x_t - s * v,
         "the step size is t - s, not s."),
    ]
    return _check(student_fn, reference, cases, "euler_step", mistakes=mistakes, hint="x_s = x_t - (t - s) * v")


# ------------------------------------------------------------------------------------------------ lesson 3

def mmd2_rbf(a, b, bandwidth):
    """Squared MMD (V-statistic, diagonal kept) of sets a (N, D), b (K, D), RBF kernel exp(-|u-v|^2 / (2 h^2))."""
    k = lambda u, v: torch.exp(-torch.cdist(u, v).pow(2) / (2 * bandwidth**2))
    return k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()


@_with_solution(mmd2_rbf)
def check_mmd2_rbf(student_fn):
    """Exercise 3.1: MMD^2 with a Gaussian (RBF) kernel, as a V-statistic."""
    cases = [{"a": _points(na, seed), "b": _points(nb, seed + 10, shift=(0.5, 0.0)), "bandwidth": h}
             for seed, na, nb, h in ((1, 20, 30, 0.5), (2, 8, 8, 1.0), (3, 40, 10, 2.0))]
    reference = lambda a, b, bandwidth: kernels.mmd2(a, b, "rbf", 1 / bandwidth)
    mistakes = [
        (lambda a, b, bandwidth: kernels.mmd2(a, b, "rbf", 1 / bandwidth, unbiased=True),
         "you left out the diagonal (the unbiased U-statistic). This exercise asks for the V-statistic: "
         "average over all pairs, j = k included."),
        (lambda a, b, bandwidth: kernels.mmd2(a, b, "rbf", math.sqrt(2) / bandwidth),
         "kernel width off by sqrt(2): use exp(-|u - v|^2 / (2 h^2))."),
        (lambda a, b, bandwidth: kernels.mmd2(a, b, "rbf", 1 / bandwidth)
         - kernels.gram(a, b, "rbf", 1 / bandwidth).mean(),
         "the cross term counts twice: MMD^2 = mean k(a,a') + mean k(b,b') - 2 mean k(a,b)."),
    ]
    return _check(student_fn, reference, cases, "mmd2_rbf", mistakes=mistakes,
                  hint="mean k(a, a) + mean k(b, b) - 2 mean k(a, b), each over all pairs")


def energy_mmd2(a, b):
    """MMD^2 (V) with the energy kernel k(u, v) = -|u - v|^2 from the means only: 2 |mean(a) - mean(b)|^2."""
    return 2 * (a.mean(0) - b.mean(0)).pow(2).sum()


@_with_solution(energy_mmd2)
def check_energy_mmd2(student_fn):
    """Exercise 3.2: the energy kernel's MMD^2 depends on the means only; write it from the means."""
    cases = [{"a": _points(na, seed, scale), "b": _points(nb, seed + 10, (1.0, 1.0), (0.3, -0.2))}
             for seed, na, nb, scale in ((1, 20, 30, (1.0, 1.0)), (2, 50, 5, (3.0, 0.2)), (3, 10, 10, (0.5, 0.5)))]
    reference = lambda a, b: kernels.mmd2(a, b, "energy")
    mistakes = [
        (lambda a, b: (a.mean(0) - b.mean(0)).pow(2).sum(),
         "missing a factor 2: expand -|u - v|^2 = -|u|^2 - |v|^2 + 2 u.v and collect the terms."),
        (lambda a, b: 2 * (a.mean(0) - b.mean(0)).norm(),
         "square the distance between the means (no square root)."),
    ]
    return _check(student_fn, reference, cases, "energy_mmd2", mistakes=mistakes, atol=1e-6,
                  hint="expand -|u - v|^2 = -|u|^2 - |v|^2 + 2 u.v inside the three means")
