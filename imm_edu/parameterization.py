"""Network parameterizations: how a raw network output G becomes the one-step map f_{s,t}(x_t).

[P] Sec. 4.1-4.2, App. C.5: f_{s,t}(x_t) = DDIM(x_t, g(x_t, s, t), s, t) with g = c_skip(t) x_t + c_out(t) G,
which collapses to f = c_skip(s,t) x_t + c_out(s,t) G. Each entry of PARAMETERIZATIONS returns that combined
(c_skip(s,t), c_out(s,t)); A = alpha, S = sigma:

    identity    c_skip = S_s / S_t,                          c_out = A_s - S_s A_t / S_t      (divides by sigma_t)
    simple_edm  c_skip = (A_s A_t + S_s S_t) / (A_t^2+S_t^2),
                c_out  = -(A_s S_t - S_s A_t) / sqrt(A_t^2+S_t^2) * sigma_d
    euler_fm    c_skip = 1,                                  c_out = -(t - s) sigma_d          (OT-FM only)

At s = t every variant gives c_skip = 1, c_out = 0, so f_{t,t}(x_t) = x_t exactly ([P] Lemma 4).
With s = 0 the map is a denoiser: f_{0,t}(x_t) = g(x_t, t), the x-prediction DDIM steps with.
Network inputs: c_in(t) x_t with c_in = 1 / (sigma_d sqrt(A_t^2 + S_t^2)), and c_noise(t) = 1000 t.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import torch

from .schedules import alpha_sigma

C_NOISE = 1000.0  # [P] App. I.1: c_noise(t) = 1000 t; a large constant keeps r and t distinguishable (Fig. 9)


def _identity(s, t, schedule, sigma_d):
    (a_s, s_s), (a_t, s_t) = alpha_sigma(s, schedule), alpha_sigma(t, schedule)
    return s_s / s_t, a_s - s_s * a_t / s_t


def _simple_edm(s, t, schedule, sigma_d):
    (a_s, s_s), (a_t, s_t) = alpha_sigma(s, schedule), alpha_sigma(t, schedule)
    norm2 = a_t**2 + s_t**2
    return (a_s * a_t + s_s * s_t) / norm2, -(a_s * s_t - s_s * a_t) / norm2.sqrt() * sigma_d


def _euler_fm(s, t, schedule, sigma_d):
    if schedule != "fm":
        raise ValueError(f"the euler_fm parameterization needs the 'fm' schedule, got {schedule!r}")
    return torch.ones_like(t), -(t - s) * sigma_d


PARAMETERIZATIONS = {"simple_edm": _simple_edm, "euler_fm": _euler_fm, "identity": _identity}


def coefficients(s, t, *, param="simple_edm", schedule="fm", sigma_d=0.5):
    """Combined (c_skip(s,t), c_out(s,t)) of f_{s,t} = c_skip x_t + c_out G for tensors s, t of equal shape."""
    if param not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization {param!r}; choose one of {sorted(PARAMETERIZATIONS)}")
    return PARAMETERIZATIONS[param](s, t, schedule, sigma_d)


def c_in(t, schedule="fm", sigma_d=0.5):
    """Input scale c_in(t) = 1 / (sigma_d sqrt(alpha_t^2 + sigma_t^2)): the net sees x_t at unit scale."""
    a_t, s_t = alpha_sigma(t, schedule)
    return 1 / (sigma_d * (a_t**2 + s_t**2).sqrt())
