"""Inductive Moment Matching: the one-step map f_{s,t}, the mapping r(s,t), the weighting w(s,t), the grouped
MMD loss, and the pushforward / restart samplers.

    f_{s,t}(x_t) = c_skip(s,t) x_t + c_out(s,t) G(c_in(t) x_t, 1000 t, 1000 s)      [P] Sec. 4.1, App. C.5
    r(s,t)       = max(s, eta^-1(eta_t - d_eta)), d_eta = (eta_max - eta_min) / 2^k   [P] App. C.6-C.7
    w(s,t)       = 1/2 sigmoid(b - lambda_t) (-d lambda_t/dt) alpha_t^a / (alpha_t^2 + sigma_t^2)   [P] Eq. 13
    loss         = mean over groups of w(s,t) MMD^2_V(f_{s,t}(x_t), stopgrad f_{s,r}(x_r))   [P] Eq. 67
with the Laplace kernel exp(-||a - b|| / (|c_out(s,t)| D)) ([P] App. C.8), M particles per group sharing
(s, r, t), and x_t, x_r built from the same (x, eps).

smoothing="step" (imm-edu's deviation for low-dimensional data; the "imm" preset uses it, "imm_paper" does not):
the kernel sees rho_c(u) = sqrt(u^2 + c^2) - c instead of u = ||a - b|| / (|c_out(s,t)| D), with
c = core |c_out(r,t)| / |c_out(s,t)|: `core` times the bandwidth of one induction step t -> r, relative to the
jump's (under the fm schedule that ratio is (t - r) / (t - s)). Why: the
V-statistic contains, for each particle, a term -2 k(y_t^j, y_r^j) that pulls it towards its *own* target
(x_t and x_r share x and eps). With the Laplace kernel's cusp at 0 that pull is an L1 (norm) consistency loss,
whose fixed point follows the conditional *median* velocity, not the mean one, so jumps to s > 0 over-disperse
(benchmarks/diagnose_imm.md). The quadratic core makes the pull an L2 loss at the scale of one step (fixed point:
the probability-flow ODE), while pairs farther apart than one step still see the Laplace kernel. The target uses the *current* weights without gradient;
the EMA copy kept by the training loop is only for evaluation ([P] Sec. 4.1).

A consistency model is the preset "cm": one particle per group (M = 1), the energy kernel -||a - b||^2 and a
fixed target time s = 0, which reduces the loss to a weighted ||f_{0,t}(x_t) - stopgrad f_{0,r}(x_r)||^2
([P] Lemma 1). Same code path, different settings.

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
from dataclasses import dataclass

import torch
from torch.nn.functional import logsigmoid

from .checks import check_times
from .kernels import mmd2
from .model import ToyModel
from .nets import MLP
from .parameterization import C_NOISE, c_in, coefficients
from .schedules import T_MAX, alpha_sigma, eta, eta_inv, interpolate, log_snr, neg_dlog_snr

MAPPINGS = ("eta_decrement", "t_decrement")
SAMPLERS = ("pushforward", "restart")
SMOOTHINGS = ("none", "step", "fixed")
ESTIMATORS = ("v", "u")


@dataclass
class IMMConfig:
    M: int = 4  # particles per group; [P] Fig. 5: M = 4 best per compute, M = 1, 2 collapse on ImageNet
    k: int = 10  # r-decrement 2^-k of the eta range; [P] uses 12-15 on images, smaller k bootstraps faster on toys
    kernel: str = "laplace"  # [P] Sec. 4.2
    smoothing: str = "none"  # [P]: "none"; "step": quadratic kernel core `core` steps wide (module docstring)
    core: float = 3.0  # "step": core width in steps (1 and 10 were worse on the toys); "fixed": c = core in u units
    bandwidth: float = 1.0  # multiplies [P]'s bandwidth |c_out(s,t)| D (an ablation knob; [P]: 1)
    estimator: str = "v"  # [P] Eq. 67: "v" (V-statistic); "u": drops every j = k term, own target included
    param: str = "simple_edm"  # [P] Table 3: best 2-step FID on CIFAR-10
    schedule: str = "fm"  # OT-FM, [P] Table 5
    mapping: str = "eta_decrement"  # [P] Fig. 11: constant decrement in eta wins the ablation
    min_gap: float = 0.0  # Delta of [P] App. I.6: r <= t - Delta (needed in FP16 only)
    fixed_s: bool = False  # True: s = t_min always (the consistency-model setting of Lemma 1)
    second_time: str = "s"  # network's 2nd time input: "s" or "stride" (t - s), [P] App. I.1
    a: float = 1.0  # [P] Eq. 13 weighting exponent
    b: float = 5.0  # [P] Eq. 13 sigmoid shift (CIFAR-10: 5)
    sigma_d: float = 0.5  # data std = prior std, [P] Sec. 4.1
    t_max: float = T_MAX["fm"]  # T = 0.994 keeps eta_T ~ 165, [P] App. I.1
    t_min: float = 0.0  # [P] ImageNet setting; sampling ends at exact data time
    sampler: str = "pushforward"  # default for sample(); the "cm" preset uses "restart" (multistep CM sampling)
    dim: int = 2  # D, the dimension of a data point (2 for the toys)
    width: int = 128
    depth: int = 3
    emb_dim: int = 64


PRESETS = {  # named settings of the one IMM class; method_name() tells them apart, in this order
    "cm": {"M": 1, "kernel": "energy", "fixed_s": True, "sampler": "restart"},  # [P] Lemma 1: CM = IMM with M = 1
    "imm": {"smoothing": "step"},  # the series' IMM: [P]'s choices plus the smoothed kernel core (low D)
    "imm_paper": {"smoothing": "none"},  # exactly [P]'s kernel
}


def mapping_r(s, t, *, k=10, schedule="fm", t_min=0.0, t_max=T_MAX["fm"], mapping="eta_decrement", min_gap=0.0):
    """r(s,t) in float64, with s <= r < t: eta_decrement max(s, min(t - Delta, eta^-1(eta_t - d_eta))),
    d_eta = (eta(t_max) - eta(t_min)) / 2^k ([P] App. C.6-C.7, I.6); t_decrement max(s, t - (t_max - t_min)/2^k)
    is the ablation's constant decrement in t ([P] Fig. 11)."""
    s, t = torch.as_tensor(s, dtype=torch.float64), torch.as_tensor(t, dtype=torch.float64)
    check_times(s, t)
    if mapping == "eta_decrement":
        d_eta = (eta(t_max, schedule) - eta(t_min, schedule)) / 2**k
        r = eta_inv((eta(t, schedule) - d_eta).clamp_min(0), schedule)
    elif mapping == "t_decrement":
        r = t - (t_max - t_min) / 2**k
    else:
        raise ValueError(f"unknown mapping {mapping!r}; choose one of {MAPPINGS}")
    if min_gap > 0:
        r = torch.minimum(r, t - min_gap)
    return torch.maximum(s, torch.minimum(r, t))  # round-off in eta_inv(eta(t)) must not push r above t


def weight(t, *, a=1.0, b=5.0, schedule="fm"):
    """w(s,t) = 1/2 sigmoid(b - lambda_t) (-d lambda_t/dt) alpha_t^a / (alpha_t^2 + sigma_t^2)  [P] Eq. 13.

    Depends on t only; computed in float64 through log-sigmoid (brief pitfall 5)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    a_t, s_t = alpha_sigma(t, schedule)
    log_w = logsigmoid(b - log_snr(t, schedule)) + torch.log(neg_dlog_snr(t, schedule)) + a * torch.log(a_t)
    return 0.5 * torch.exp(log_w) / (a_t**2 + s_t**2)


def kernel_scales(s, t, r=None, *, D, smoothing="none", core=3.0, bandwidth=1.0, param="simple_edm", schedule="fm",
                  sigma_d=0.5):
    """Per-group kernel settings of the IMM loss: scale = 1 / (bandwidth |c_out(s,t)| D) ([P] App. C.8:
    bandwidth = 1) and the core width c in units of the scaled distance u: 0 for smoothing="none", `core` for
    "fixed" (an ablation), core |c_out(r,t)| / |c_out(s,t)| for "step". Float64, shape of s."""
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"unknown smoothing {smoothing!r}; choose one of {SMOOTHINGS}")
    s, t = torch.as_tensor(s, dtype=torch.float64), torch.as_tensor(t, dtype=torch.float64)
    # w~ = 1/|c_out| -> inf as s -> t; clamp so round-off in y_t - y_r is not blown up (brief pitfall 2)
    jump = coefficients(s, t, param=param, schedule=schedule, sigma_d=sigma_d)[1].abs().clamp_min(1e-6)
    scale = 1 / (bandwidth * jump * D)
    if smoothing != "step":
        return scale, torch.full_like(jump, core if smoothing == "fixed" else 0.0)
    if r is None:
        raise ValueError('smoothing="step" needs r, the target time of the induction step')
    step = coefficients(torch.as_tensor(r, dtype=torch.float64), t, param=param, schedule=schedule,
                        sigma_d=sigma_d)[1].abs()
    return scale, core * (step / jump).clamp(1e-6, 1.0)


def imm_loss(y_t, y_r, s, t, r=None, *, schedule="fm", kernel="laplace", smoothing="none", core=3.0, bandwidth=1.0,
             estimator="v", param="simple_edm", a=1.0, b=5.0, sigma_d=0.5):
    """[P] Eq. 67: mean_i w(s_i,t_i) MMD^2_V(y_t[i], y_r[i]) with kernel bandwidth |c_out(s_i,t_i)| D
    (smoothing="step" adds the quadratic core of width |c_out(r_i,t_i)| D, see the module docstring;
    estimator="u" is the unbiased MMD^2 of paired groups, without any particle's pull to its own target).

    y_t, y_r: (G, M, D) particle outputs f_{s,t}(x_t) and f_{s,r}(x_r); s, t, r: (G,). Returns a scalar."""
    if y_t.dim() != 3 or y_t.shape != y_r.shape:
        raise ValueError(f"y_t and y_r must both have shape (groups, M, D), got {tuple(y_t.shape)}, {tuple(y_r.shape)}")
    if s.shape != (y_t.shape[0],) or t.shape != s.shape:
        raise ValueError(f"s and t must have shape (groups,) = ({y_t.shape[0]},), got {tuple(s.shape)}, {tuple(t.shape)}")
    if not (torch.isfinite(y_t).all() and torch.isfinite(y_r).all()):
        raise ValueError("particle outputs contain NaN or infinite values")
    check_times(s, t)
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {ESTIMATORS}")
    scale, smooth = kernel_scales(s, t, r, D=y_t.shape[-1], smoothing=smoothing, core=core, bandwidth=bandwidth,
                                  param=param, schedule=schedule, sigma_d=sigma_d)  # (G,) each
    per_group = mmd2(y_t, y_r, kernel, scale.to(y_t.dtype), unbiased=estimator == "u", smooth=smooth.to(y_t.dtype),
                     paired=True)  # (G,)
    return (weight(t, a=a, b=b, schedule=schedule).to(y_t.dtype) * per_group).mean()


class IMM(ToyModel):
    """The IMM one-step map f_{s,t}(x_t), its grouped moment-matching loss, and few-step samplers."""

    method = "imm"

    def __init__(self, cfg=None):
        super().__init__(cfg or IMMConfig())
        c = self.cfg
        for name, value, allowed in (("mapping", c.mapping, MAPPINGS), ("sampler", c.sampler, SAMPLERS),
                                     ("second_time", c.second_time, ("s", "stride")), ("smoothing", c.smoothing,
                                                                                      SMOOTHINGS),
                                     ("estimator", c.estimator, ESTIMATORS)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; choose one of {allowed}")
        coefficients(torch.zeros(1), torch.ones(1), param=c.param, schedule=c.schedule)  # validates both names
        mmd2(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), c.kernel)  # validates the kernel name
        self.net = MLP(dim=c.dim, width=c.width, depth=c.depth, emb_dim=c.emb_dim, two_times=True)

    def f(self, x_t, s, t):
        """f_{s,t}(x_t) = c_skip(s,t) x_t + c_out(s,t) G(c_in(t) x_t, 1000 t, 1000 s); s, t of shape () or (B,)."""
        cfg, x_t = self.cfg, self.points(x_t, "x_t")
        n = len(x_t)
        s = torch.as_tensor(s, dtype=torch.float64, device=x_t.device).expand(n)
        t = torch.as_tensor(t, dtype=torch.float64, device=x_t.device).expand(n)
        check_times(s, t)
        c_skip, c_out = (c.float()[:, None] for c in coefficients(s, t, param=cfg.param, schedule=cfg.schedule,
                                                                   sigma_d=cfg.sigma_d))  # (B, 1) each
        second = s if cfg.second_time == "s" else t - s
        g = self.net(c_in(t, cfg.schedule, cfg.sigma_d).float()[:, None] * x_t, C_NOISE * t.float(),
                     C_NOISE * second.float())
        return c_skip * x_t + c_out * g

    def sample_times(self, groups, gen):
        """One (s, r, t) per group in float64: t ~ U(t_min, T), s ~ U(t_min, t) (or s = t_min), r = r(s,t)."""
        c = self.cfg
        t = c.t_min + (c.t_max - c.t_min) * torch.rand(groups, generator=gen, dtype=torch.float64)
        s = torch.full_like(t, c.t_min) if c.fixed_s else c.t_min + (t - c.t_min) * torch.rand(
            groups, generator=gen, dtype=torch.float64)
        r = mapping_r(s, t, k=c.k, schedule=c.schedule, t_min=c.t_min, t_max=c.t_max, mapping=c.mapping,
                      min_gap=c.min_gap)
        return s, r, t

    def loss(self, x, gen):
        """IMM loss on a batch x (B, D) split into B/M contiguous groups of M particles ([P] Alg. 1)."""
        c, (B, D) = self.cfg, x.shape
        if B % c.M:
            raise ValueError(f"batch size {B} is not divisible by the group size M = {c.M}")
        s, r, t = (v.to(x.device) for v in self.sample_times(B // c.M, gen))  # (G,) each
        eps = (c.sigma_d * torch.randn(x.shape, generator=gen)).to(x.device)
        per = lambda v: v.repeat_interleave(c.M)  # (G,) -> (B,): the M particles of a group share times
        x_t = interpolate(x, eps, per(t), c.schedule)  # same (x, eps) for x_t and x_r: lower variance
        x_r = interpolate(x, eps, per(r), c.schedule)  # = DDIM(x_t, x, r, t) without dividing by sigma_t
        y_t = self.f(x_t, per(s), per(t)).view(-1, c.M, D)  # (G, M, D)
        with torch.no_grad():
            y_r = self.f(x_r, per(s), per(r)).view(-1, c.M, D)  # target: current weights, stop-gradient
        return imm_loss(y_t, y_r, s, t, r, schedule=c.schedule, kernel=c.kernel, smoothing=c.smoothing,
                        core=c.core, bandwidth=c.bandwidth, estimator=c.estimator, param=c.param, a=c.a, b=c.b,
                        sigma_d=c.sigma_d)

    def grid(self, steps, grid="uniform"):
        """Pushforward times: uniform T -> t_min, or for 2 steps [P]'s CIFAR grid through eta = 1.4 ("eta_mid")."""
        if grid == "eta_mid":
            if steps != 2:
                raise ValueError(f"the eta_mid grid is defined for 2 steps only, got steps={steps}")
            return [self.cfg.t_max, eta_inv(1.4, self.cfg.schedule).item(), self.cfg.t_min]
        return super().grid(steps, grid)

    def sampler(self, x, times, seed=0, sampler=None):
        """Yields x at every grid time, x_T first.
        pushforward ([P] Alg. 2): x <- f_{t_{i+1}, t_i}(x).
        restart ([P] Alg. 5): x~ = f_{t_min, t_i}(x), then x = alpha_{t_{i+1}} x~ + sigma_{t_{i+1}} eps~ (fresh noise);
        it yields the re-noised x at each intermediate time and x~ at the end."""
        times, sampler = self.check_grid(times), sampler or self.cfg.sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
        gen = torch.Generator().manual_seed(int(seed) + 1)  # restart noise, independent of the prior's
        yield x
        for t, s in zip(times[:-1], times[1:]):
            if sampler == "pushforward":
                x = self.f(x, s, t)
            else:
                x = self.f(x, times[-1], t)
                if s != times[-1]:
                    eps = (self.cfg.sigma_d * torch.randn(x.shape, generator=gen)).to(x.device)
                    x = interpolate(x, eps, s, self.cfg.schedule)
            yield x
