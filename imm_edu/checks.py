"""Input validation shared by the package: clear errors that say what was wrong and what is allowed."""
import numbers

import torch

MAX_NUMBERS = 20_000_000  # n * D per draw: 10 million 2-D points, 80 MB as float32; a laptop holds it with room


def check_count(value, name="n"):
    """value must be a positive integer (Python or numpy; not a bool or a float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_n(n, dim=2):
    """n, a number of D-dimensional points to draw, must be a positive integer with n * D <= MAX_NUMBERS."""
    n = check_count(n, "n")
    if n * dim > MAX_NUMBERS:
        raise ValueError(f"n = {n:,} points is too many for one call: at most {MAX_NUMBERS // dim:,} points of "
                         f"dimension {dim} ({MAX_NUMBERS:,} numbers, {4 * MAX_NUMBERS // 10**6} MB) are allowed; "
                         f"for more, draw several batches with different seeds")
    return n


def check_points(x, name="x", dim=None):
    """x must be a finite float tensor of shape (N, D) (D = dim if given)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, D), got {type(x).__name__}")
    if x.dim() != 2 or (dim is not None and x.shape[1] != dim):
        want = f"(N, {dim})" if dim is not None else "(N, D)"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_times(s, t):
    """Times must be finite, inside [0, 1], and s <= t elementwise (IMM jumps from t down to s)."""
    for name, v in (("s", s), ("t", t)):
        if not torch.isfinite(v).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        if (v < 0).any() or (v > 1).any():
            raise ValueError(f"times must lie in [0, 1] (t=0 data, t=1 noise); got {name} in "
                             f"[{v.min().item():.4g}, {v.max().item():.4g}]")
    if (s > t).any():
        raise ValueError("need s <= t: a jump goes from time t down to the earlier time s (t=0 is data)")
