"""Kernels and MMD estimators, shared by the IMM loss and by the sample-quality metrics.

Every kernel is a function of a *scaled* distance u = scale * ||a - b|| (scale = 1/bandwidth):
    laplace  k = exp(-u)          [P] Sec. 4.2: IMM's kernel; its gradient is a unit vector at every distance
    rbf      k = exp(-u^2 / 2)    Gaussian; gradient fades for far-apart points
    energy   k = -u^2             [P] Lemma 1: matches the mean only; with M = 1 IMM becomes a consistency model
    distance k = -u               energy-distance kernel (conditionally p.d.): sees the whole distribution
The distance is sqrt(clamp(||a-b||^2, eps_k^2)) so the gradient stays finite on the diagonal ([P] App. C.8).

Optional smoothing (imm-edu's, not [P]'s): u -> rho_c(u) = sqrt(u^2 + c^2) - c, the pseudo-Huber form of iCT
([P] Lemma 2). rho_c(u) ~ u^2 / (2c) below c (a quadratic core, no cusp at 0) and ~ u - c above it, so a
Laplace kernel keeps its tails and loses only its cusp. c = 0 gives back the plain distance.

MMD^2 of groups a, b of shape (G, M, D) ([P] Eq. 67, one value per group):
    V-statistic: mean_{j,k} [k(a_j,a_k) + k(b_j,b_k) - 2 k(a_j,b_k)]     (diagonal kept; what IMM uses)
    U-statistic: same, but the a-a and b-b means skip j = k               (unbiased)
                 paired=True (a_j and b_j built from the same noise, as in IMM's groups): the a-b mean skips
                 j = k too, since E k(a_j, b_j) of a dependent pair is not E k(a, b)

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import torch

EPS_K = 1e-8  # [P] App. C.8

KERNELS = {
    "laplace": lambda u: torch.exp(-u),
    "rbf": lambda u: torch.exp(-0.5 * u * u),
    "energy": lambda u: -u * u,
    "distance": lambda u: -u,
}


def check_kernel(kernel):
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}")
    return KERNELS[kernel]


def safe_dist(a, b):
    """Pairwise distances sqrt(clamp(||a_j - b_k||^2, eps_k^2)): (..., M, D), (..., K, D) -> (..., M, K)."""
    if not (torch.is_grad_enabled() and (a.requires_grad or b.requires_grad)):  # evaluation: big sets, no grad
        # exact differences: the matmul form |a|^2 + |b|^2 - 2ab loses ~1e-3 to cancellation in float32
        return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").clamp_min(EPS_K)
    d2 = (a.unsqueeze(-2) - b.unsqueeze(-3)).pow(2).sum(-1)  # (..., M, K)
    return d2.clamp_min(EPS_K**2).sqrt()


def _per_group(v, like):
    v = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return v[..., None, None] if v.dim() > 0 else v  # (G,) -> (G, 1, 1) to broadcast over a (G, M, K) matrix


def gram(a, b, kernel="laplace", scale=1.0, smooth=0.0):
    """Kernel matrix k(a_j, b_k) of u = scale * ||a_j - b_k||, or of rho_c(u) = sqrt(u^2 + c^2) - c with c = smooth
    when smooth > 0; scale and smooth are numbers or (G,) tensors (one per group)."""
    fn = check_kernel(kernel)
    u = _per_group(scale, a) * safe_dist(a, b)
    c = _per_group(smooth, a)
    if (c > 0).any():
        u = torch.sqrt(u * u + c * c) - c
    return fn(u)


def _as_groups(a, b):
    if a.dim() == 2 and b.dim() == 2:
        return a[None], b[None], True
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ValueError(f"expected (N, D) and (K, D) sets or (G, M, D) groups, got {tuple(a.shape)}, {tuple(b.shape)}")
    return a, b, False


def mmd2(a, b, kernel="laplace", scale=1.0, unbiased=False, smooth=0.0, paired=False):
    """Squared MMD between sets a and b: (G, M, D), (G, K, D) -> (G,); or (N, D), (K, D) -> scalar."""
    a, b, single = _as_groups(a, b)
    k_aa, k_bb, k_ab = (gram(p, q, kernel, scale, smooth) for p, q in ((a, a), (b, b), (a, b)))
    if unbiased:
        m, k = a.shape[1], b.shape[1]
        if m < 2 or k < 2:
            raise ValueError("the U-statistic needs at least 2 points in each set")
        aa = (k_aa.sum((1, 2)) - k_aa.diagonal(dim1=1, dim2=2).sum(1)) / (m * (m - 1))
        bb = (k_bb.sum((1, 2)) - k_bb.diagonal(dim1=1, dim2=2).sum(1)) / (k * (k - 1))
    else:
        aa, bb = k_aa.mean((1, 2)), k_bb.mean((1, 2))
    if unbiased and paired:
        if a.shape[1] != b.shape[1]:
            raise ValueError(f"paired sets need equal sizes, got {a.shape[1]} and {b.shape[1]}")
        ab = (k_ab.sum((1, 2)) - k_ab.diagonal(dim1=1, dim2=2).sum(1)) / (m * (m - 1))
    else:
        ab = k_ab.mean((1, 2))
    out = aa + bb - 2 * ab  # (G,)
    return out[0] if single else out
