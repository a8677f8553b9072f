"""Exercises for lessons 4-7. Each check_... compares a student's function with the library on fixed random
inputs (via check_function) and has a `.solution`: a reference answer written the way a student would, which
show_solution(check_...) prints. The notebooks run every check on its own solution, so CI tests the checkers.

    lesson 4  check_simple_edm_jump   check_mapping_r
    lesson 5  check_group_mmd2        check_imm_weight
    lesson 6  check_pushforward       check_restart_step      check_v_statistic_split
    lesson 7  check_cm_loss           check_shortcut_target

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import functools

import torch

from . import check_function

__all__ = ["check_simple_edm_jump", "check_mapping_r", "check_group_mmd2", "check_imm_weight",
           "check_pushforward", "check_restart_step", "check_v_statistic_split", "check_cm_loss", "check_shortcut_target"]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _times(n, seed, low=0.05, high=0.95):
    """n pairs s < t (float64), t in [low, high], s in [0, t)."""
    g = _gen(seed)
    t = low + (high - low) * torch.rand(n, generator=g, dtype=torch.float64)
    return t * torch.rand(n, generator=g, dtype=torch.float64), t


def _with_solution(solution):
    """Decorator: attach the reference solution to a check function."""
    def attach(check):
        check.solution = solution
        return check
    return attach


@functools.cache
def _net(seed=0):
    from ..train import build
    return build("imm", seed=seed).eval()


# ---------------------------------------------------------------------------------------------- lesson 4

def _simple_edm_jump(x_t, G, s, t, sigma_d=0.5):
    """f_{s,t}(x_t) = c_skip(s,t) x_t + c_out(s,t) G, simple-EDM coefficients on the OT-FM path."""
    alpha_s, sigma_s = 1 - s, s  # OT-FM schedule: alpha = 1 - t, sigma = t
    alpha_t, sigma_t = 1 - t, t
    norm2 = alpha_t**2 + sigma_t**2
    c_skip = (alpha_s * alpha_t + sigma_s * sigma_t) / norm2
    c_out = -(alpha_s * sigma_t - sigma_s * alpha_t) / norm2**0.5 * sigma_d
    return c_skip * x_t + c_out * G


def _jump_reference(x_t, G, s, t, sigma_d=0.5):
    from ..parameterization import coefficients
    s, t = torch.as_tensor(s, dtype=torch.float64), torch.as_tensor(t, dtype=torch.float64)
    c_skip, c_out = coefficients(s, t, param="simple_edm", schedule="fm", sigma_d=sigma_d)
    return c_skip * x_t + c_out * G


@_with_solution(_simple_edm_jump)
def check_simple_edm_jump(fn):
    """fn(x_t, G, s, t, sigma_d=0.5) -> f_{s,t}(x_t) for the simple-EDM parameterization ([P] App. C.5)."""
    g = _gen(4)
    cases = []
    for s, t in [(0.0, 0.9), (0.3, 0.7), (0.5, 0.5), (0.0, 0.05), (0.2, 0.994)]:
        cases.append({"x_t": torch.randn(6, 2, generator=g, dtype=torch.float64),
                      "G": torch.randn(6, 2, generator=g, dtype=torch.float64), "s": s, "t": t})
    return check_function(fn, _jump_reference, cases, "simple-EDM jump f_{s,t}",
                          hint="c_skip = (a_s a_t + s_s s_t)/(a_t^2 + s_t^2), "
                               "c_out = -(a_s s_t - s_s a_t)/sqrt(a_t^2 + s_t^2) * sigma_d; at s = t you must get x_t")


def _mapping_r_solution(s, t, k):
    """r(s,t) = max(s, eta^-1(eta_t - d_eta)), d_eta = (eta(T) - eta(0)) / 2^k, OT-FM: eta = t/(1-t)."""
    T = 0.994  # t_max of the OT-FM schedule
    eta = lambda u: u / (1 - u)
    eta_inv = lambda n: n / (1 + n)
    d_eta = (eta(T) - eta(0.0)) / 2**k
    r = eta_inv((eta(t) - d_eta).clamp_min(0))
    return torch.maximum(s, r)


def _mapping_r_reference(s, t, k):
    from ..imm import mapping_r
    return mapping_r(s, t, k=k)


@_with_solution(_mapping_r_solution)
def check_mapping_r(fn):
    """fn(s, t, k) -> r(s,t) of [P] App. C.6-C.7 (constant decrement in eta) on the OT-FM path, T = 0.994."""
    cases = []
    for seed, k in [(1, 4), (2, 8), (3, 10), (4, 12)]:
        s, t = _times(32, seed, high=0.994)
        cases.append({"s": s, "t": t, "k": k})
    return check_function(fn, _mapping_r_reference, cases, "mapping r(s,t)",
                          hint="eta_t = t/(1-t), eta^-1(n) = n/(1+n), d_eta = eta(0.994)/2^k; clamp with max(s, ...)")


# ---------------------------------------------------------------------------------------------- lesson 5

def _group_mmd2_solution(y_t, y_r, scale):
    """V-statistic MMD^2 per group with the Laplace kernel exp(-scale ||a - b||), diagonal kept."""
    def k(a, b):  # (G, M, D), (G, M, D) -> (G, M, M)
        return torch.exp(-scale[:, None, None] * torch.cdist(a, b))
    return k(y_t, y_t).mean((1, 2)) + k(y_r, y_r).mean((1, 2)) - 2 * k(y_t, y_r).mean((1, 2))


def _group_mmd2_reference(y_t, y_r, scale):
    from ..kernels import mmd2
    return mmd2(y_t, y_r, "laplace", scale)


@_with_solution(_group_mmd2_solution)
def check_group_mmd2(fn):
    """fn(y_t, y_r, scale) -> (G,) grouped MMD^2 ([P] Eq. 67 without the weight); y: (G, M, D), scale: (G,)."""
    g = _gen(5)
    cases = []
    for G, M, D in [(3, 4, 2), (2, 1, 2), (4, 8, 3), (1, 2, 5)]:
        cases.append({"y_t": torch.randn(G, M, D, generator=g, dtype=torch.float64),
                      "y_r": torch.randn(G, M, D, generator=g, dtype=torch.float64) + 0.3,
                      "scale": 0.5 + torch.rand(G, generator=g, dtype=torch.float64)})
    return check_function(fn, _group_mmd2_reference, cases, "grouped MMD^2", atol=1e-7,
                          hint="mean over all j, k INCLUDING j = k (V-statistic), within each group only")


def _imm_weight_solution(t, a=1.0, b=5.0):
    """w(s,t) = 1/2 sigmoid(b - lambda_t) (-d lambda_t/dt) alpha_t^a / (alpha_t^2 + sigma_t^2), OT-FM path."""
    alpha, sigma = 1 - t, t
    lam = 2 * torch.log(alpha / sigma)  # log-SNR
    neg_dlam = 2 / (t * (1 - t))  # -d lambda/dt for alpha = 1 - t, sigma = t
    return 0.5 * torch.sigmoid(b - lam) * neg_dlam * alpha**a / (alpha**2 + sigma**2)


def _imm_weight_reference(t, a=1.0, b=5.0):
    from ..imm import weight
    return weight(t, a=a, b=b)


@_with_solution(_imm_weight_solution)
def check_imm_weight(fn):
    """fn(t, a, b) -> w(s,t) of [P] Eq. 13 on the OT-FM path (it depends on t only)."""
    t = torch.linspace(0.01, 0.99, 25, dtype=torch.float64)
    cases = [{"t": t, "a": 1.0, "b": 5.0}, {"t": t, "a": 2.0, "b": 4.0}]
    return check_function(fn, _imm_weight_reference, cases, "IMM weighting w(s,t)", atol=1e-8, rtol=1e-6,
                          hint="lambda_t = 2 log(alpha_t / sigma_t); -d lambda/dt = 2 / (t (1 - t)) for OT-FM")


# ---------------------------------------------------------------------------------------------- lesson 6

def _pushforward_solution(model, x, times):
    """Pushforward sampling ([P] Alg. 2): jump from each grid time straight to the next one."""
    for t, s in zip(times[:-1], times[1:]):
        x = model.f(x, s, t)
    return x


@torch.no_grad()
def _pushforward_reference(model, x, times):
    *_, x0 = model.sampler(x, times, sampler="pushforward")
    return x0


@_with_solution(_pushforward_solution)
def check_pushforward(fn):
    """fn(model, x, times) -> the pushforward sample from x at times[0] down to times[-1]."""
    model, g = _net(), _gen(6)
    cases = [{"x": 0.5 * torch.randn(16, 2, generator=g), "times": times}
             for times in ([0.994, 0.0], [0.994, 0.5, 0.0], [0.994, 0.75, 0.5, 0.25, 0.0], [0.9, 0.6])]
    with torch.no_grad():  # the model is a fixed (untrained) IMM network, left out of the messages
        return check_function(lambda **kw: fn(model, **kw), lambda **kw: _pushforward_reference(model, **kw),
                              cases, "pushforward sampler",
                              hint="x <- f(x, s, t) for consecutive (t, s) = (times[i], times[i+1])")


def _restart_step_solution(model, x, t, s, eps):
    """One restart step ([P] Alg. 5): jump from t all the way to data time 0, then re-noise to time s."""
    x_clean = model.f(x, 0.0, t)
    return (1 - s) * x_clean + s * eps  # OT-FM: alpha_s = 1 - s, sigma_s = s


@torch.no_grad()
def _restart_step_reference(model, x, t, s, eps):
    from ..schedules import interpolate
    return interpolate(model.f(x, model.cfg.t_min, t), eps, s, model.cfg.schedule)


@_with_solution(_restart_step_solution)
def check_restart_step(fn):
    """fn(model, x, t, s, eps) -> x at time s after one restart step from time t with fresh noise eps."""
    model, g = _net(), _gen(7)
    cases = [{"x": 0.5 * torch.randn(16, 2, generator=g), "t": t, "s": s,
              "eps": 0.5 * torch.randn(16, 2, generator=g)} for t, s in [(0.994, 0.5), (0.5, 0.25), (0.3, 0.0)]]
    with torch.no_grad():
        return check_function(lambda **kw: fn(model, **kw), lambda **kw: _restart_step_reference(model, **kw),
                              cases, "restart step",
                              hint="first f(x, 0, t) (a clean sample), then alpha_s x + sigma_s eps")


def _v_statistic_split_solution(a, b):
    """One group's V-statistic MMD^2 (Laplace kernel, unit bandwidth) is (1 - 1/M) cross + (2/M) pull, with
    cross = the U-statistic that skips every j = k term, and pull = mean_j [k(0) - k(a_j, b_j)], the pull of each
    particle towards its own target."""
    m = a.shape[0]
    k = lambda p, q: torch.exp(-torch.cdist(p, q))
    off = 1 - torch.eye(m, dtype=a.dtype)  # 1 off the diagonal
    cross = ((k(a, a) + k(b, b) - 2 * k(a, b)) * off).sum() / (m * (m - 1))
    pull = (1 - torch.exp(-(a - b).norm(dim=-1))).mean()
    return torch.stack([cross, pull])


def _v_statistic_split_reference(a, b):
    from ..kernels import gram, mmd2
    pull = 1 - gram(a, b).diagonal().mean()  # k(0) = 1 for the Laplace kernel
    return torch.stack([mmd2(a, b, unbiased=True, paired=True), pull])


@_with_solution(_v_statistic_split_solution)
def check_v_statistic_split(fn):
    """fn(a, b) -> tensor([cross, pull]) for one group a, b of shape (M, D) (Laplace kernel, unit bandwidth)."""
    g = _gen(8)
    cases = [{"a": torch.randn(m, d, generator=g, dtype=torch.float64),
              "b": torch.randn(m, d, generator=g, dtype=torch.float64)} for m, d in [(2, 2), (4, 2), (8, 64)]]
    cases.append({"a": cases[1]["a"], "b": cases[1]["a"] + 0.01})  # targets next to their outputs: pull ~ 0.014
    return check_function(fn, _v_statistic_split_reference, cases, "V-statistic split",
                          hint="cross: average k(a_j,a_k) + k(b_j,b_k) - 2 k(a_j,b_k) over the M(M-1) pairs j != k; "
                               "pull: mean over j of 1 - exp(-||a_j - b_j||)")


# ---------------------------------------------------------------------------------------------- lesson 7

def _cm_loss_solution(y_t, y_r, s, t):
    """[P] Lemma 1: with M = 1 and the energy kernel -||a - b||^2 / (|c_out| D)^2, the IMM loss is a weighted
    squared distance between each output and its target: the consistency-model loss."""
    from imm_edu import weight
    from imm_edu.parameterization import coefficients
    _, c_out = coefficients(s, t)  # simple-EDM, OT-FM, sigma_d = 0.5
    D = y_t.shape[-1]
    dist2 = (y_t - y_r).pow(2).sum(-1)[:, 0]  # (G,): one particle per group
    return (weight(t) * 2 * dist2 / (c_out.abs() * D) ** 2).mean()


def _cm_loss_reference(y_t, y_r, s, t):
    from ..imm import imm_loss
    return imm_loss(y_t, y_r, s, t, kernel="energy")


@_with_solution(_cm_loss_solution)
def check_cm_loss(fn):
    """fn(y_t, y_r, s, t) -> imm_loss with M = 1 particle per group and the energy kernel, as an L2 loss."""
    g = _gen(8)
    cases = []
    for G, seed in [(5, 1), (12, 2)]:
        s, t = _times(G, seed, low=0.2)
        cases.append({"y_t": torch.randn(G, 1, 2, generator=g, dtype=torch.float64),
                      "y_r": torch.randn(G, 1, 2, generator=g, dtype=torch.float64), "s": s, "t": t})
    return check_function(fn, _cm_loss_reference, cases, "consistency loss = IMM with M = 1", rtol=1e-6,
                          hint="MMD^2 of one particle each = k(a,a) + k(b,b) - 2 k(a,b) = 2 ||a-b||^2 / (|c_out| D)^2")


def _shortcut_target_solution(v, x_t, t, d):
    """Shortcut models: the target velocity of one step of size 2d = the mean of two chained d-steps."""
    v1 = v(x_t, t, d)  # first small step, from t to t - d (t = 1 is noise here)
    x_mid = x_t - d * v1
    v2 = v(x_mid, t - d, d)  # second small step, from t - d to t - 2d
    return (v1 + v2) / 2


def _shortcut_target_reference(v, x_t, t, d):
    from ..shortcut import shortcut_target  # the function build("shortcut") trains with (without its clipping)
    return shortcut_target(v, x_t, t, d)


def _toy_velocity(x, t, d):
    """A smooth, nonlinear stand-in for a shortcut network v(x_t, t, d)."""
    return torch.sin(3 * x) * (1 + t) - x * d + torch.tensor([0.3, -0.2], dtype=x.dtype) * t


@_with_solution(_shortcut_target_solution)
def check_shortcut_target(fn):
    """fn(v, x_t, t, d) -> the shortcut self-consistency target for a step of size 2d (Frans et al. 2024)."""
    g = _gen(9)
    cases = [{"x_t": torch.randn(8, 2, generator=g, dtype=torch.float64), "t": t, "d": d}
             for t, d in [(1.0, 0.25), (0.5, 0.125), (0.3, 1 / 128)]]
    return check_function(lambda **kw: fn(_toy_velocity, **kw),
                          lambda **kw: _shortcut_target_reference(_toy_velocity, **kw), cases, "shortcut target",
                          hint="v1 = v(x_t, t, d); x' = x_t - d v1; v2 = v(x', t - d, d); target = (v1 + v2)/2")
