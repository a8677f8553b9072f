"""Noise schedules: the interpolant x_t = alpha_t * x + sigma_t * eps and the quantities derived from it.

Time convention (the IMM paper's): t = 0 is data, t = 1 is the prior (noise). Libraries that put data at t = 1
(Meta's flow_matching, torchcfm, the shortcut-models code) use t' = 1 - t.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.

Schedules ([P] Sec. 4.2):
    "fm"     (OT-FM / linear): alpha = 1 - t,          sigma = t
    "cosine" (VP):             alpha = cos(pi t / 2),  sigma = sin(pi t / 2)
eta = sigma / alpha (noise-to-signal ratio) and lambda = 2 log(alpha / sigma) (log-SNR) are computed in float64,
as [P]'s code does, because eta explodes as t -> 1.
"""
import math

import torch

SCHEDULES = ("fm", "cosine")
T_MAX = {"fm": 0.994, "cosine": 0.996}  # [P] App. I.1: eta_T ~ 160, keeps r distinguishable from t


def check_schedule(schedule):
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")


def as_time(t, like=None):
    """Times as a tensor on `like`'s device and dtype if given; else tensors stay as they are and Python numbers
    become float64 (so eta(0.994) is exact to float64, not float32)."""
    if isinstance(t, torch.Tensor):
        return t if like is None else t.to(device=like.device, dtype=like.dtype)
    kw = {"dtype": torch.float64} if like is None else {"device": like.device, "dtype": like.dtype}
    return torch.as_tensor(t, **kw)


def alpha_sigma(t, schedule="fm"):
    """(alpha_t, sigma_t) of the interpolant x_t = alpha_t x + sigma_t eps."""
    check_schedule(schedule)
    t = as_time(t)
    if schedule == "fm":
        return 1 - t, t
    return torch.cos(0.5 * math.pi * t), torch.sin(0.5 * math.pi * t)


def interpolate(x, eps, t, schedule="fm"):
    """x_t = alpha_t x + sigma_t eps; t broadcasts against x's batch dimension (shape () or (B,))."""
    alpha, sigma = alpha_sigma(as_time(t, x), schedule)
    if alpha.dim() == 1:
        alpha, sigma = alpha[:, None], sigma[:, None]  # (B, 1)
    return alpha * x + sigma * eps


def eta(t, schedule="fm"):
    """eta_t = sigma_t / alpha_t in float64: FM t/(1-t), cosine tan(pi t/2); eta_1 = inf exactly in both."""
    check_schedule(schedule)
    t = as_time(t).double()
    if schedule == "fm":
        return t / (1 - t)
    return torch.where(t == 1, torch.inf, torch.tan(0.5 * math.pi * t))  # float64 tan(pi/2) is 1.6e16, not inf


def eta_inv(n, schedule="fm"):
    """Inverse of eta in float64: FM n/(1+n), cosine (2/pi) arctan(n). eta = inf maps to t = 1."""
    check_schedule(schedule)
    n = as_time(n).double()
    t = n / (1 + n) if schedule == "fm" else torch.atan(n) * (2 / math.pi)
    return torch.where(torch.isinf(n), torch.ones_like(t), t)


def log_snr(t, schedule="fm"):
    """lambda_t = 2 log(alpha_t / sigma_t) = -2 log eta_t, in float64."""
    return -2 * torch.log(eta(t, schedule))


def neg_dlog_snr(t, schedule="fm"):
    """-d lambda_t / dt in float64: FM 2 / (t (1 - t)), cosine 2 pi / sin(pi t) (brief Sec. 1, derived)."""
    check_schedule(schedule)
    t = as_time(t).double()
    return 2 / (t * (1 - t)) if schedule == "fm" else 2 * math.pi / torch.sin(math.pi * t)
