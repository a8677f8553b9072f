"""Real images for the series: the 1,797 handwritten 8x8 digits of scikit-learn (no download), as 64-D points.

Scaling, the same convention as the toys (toy.py): every pixel is centred by the *mean training image* and all
pixels are multiplied by *one* number, chosen so that the training split has pooled std 0.5 = sigma_d:

    x = (v - m) * c,   v in [0, 16]^64 the pixel values, m the mean training image (64,),
    c = 0.5 / sqrt(mean over training images and pixels of (v - m)^2)  (c = 0.1155, one scalar)
    v = x / c + m      the inverse, clipped to [0, 16] for display (to_images)

so data and prior noise N(0, 0.5^2 I) have the same scale, and the affine map keeps the image's shape (no
per-pixel stretching: the always-blank corner pixels stay nearly constant instead of being blown up to std 0.5).

Splits: the images are sorted by class, shuffled within each class (fixed seed) and dealt in turn to six piles;
pile 0 is `held_out` (300 images), pile 1 is `floor` (300), piles 2-5 are `train` (1,197, about 120 per class).
Models and the metric's classifier train on `train` only. Every quality number compares samples with `held_out`;
the data-vs-data floor compares `floor` (another 300 real images, also never trained on) with `held_out`.

    load(split) -> (x (N, 64) float32 scaled, labels (N,))    to_images(x) -> (N, 8, 8) pixels in [0, 16]
"""
import functools

import numpy as np
import torch

NAME = "digits"  # the dataset's name wherever a toy name is accepted (fit, train_all, bench)
SIDE, PIXELS, MAX_VALUE = 8, 64, 16.0
SIGMA_D = 0.5
SPLITS = ("train", "held_out", "floor")
SPLIT_SEED = 0


@functools.cache
def _raw():
    """All 1,797 images as (pixel values (1797, 64) float64, labels (1797,) int64, split index (1797,))."""
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(SPLIT_SEED)
    order = np.lexsort((rng.random(len(d.target)), d.target))  # sorted by class, random order within a class
    pile = np.empty(len(d.target), dtype=np.int64)
    pile[order] = np.arange(len(d.target)) % 6  # dealt in turn to six piles: each gets ~1/6 of every class
    split = np.select([pile == 0, pile == 1], [1, 2], 0)  # index into SPLITS: pile 0 held_out, 1 floor, 2-5 train
    return d.data.astype(np.float64), d.target.astype(np.int64), split


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"unknown digits split {split!r}; choose one of {SPLITS}")
    return SPLITS.index(split)


def pixels(split="train"):
    """Raw pixel values (N, 64) float64 in [0, 16] and labels (N,) of one split."""
    values, labels, split_of = _raw()
    keep = split_of == _check_split(split)
    return values[keep], labels[keep]


@functools.cache
def scaling():
    """(m, c): the mean training image (64,) and the one scale factor that give the training split pooled std 0.5."""
    v, _ = pixels("train")
    m = v.mean(0)
    return m, SIGMA_D / np.sqrt(((v - m) ** 2).mean())


def from_pixels(values):
    """Pixel values (N, 64) or (N, 8, 8) in [0, 16] -> scaled points x = (v - m) c, (N, 64) float32."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim not in (2, 3) or v.shape[1:] not in ((PIXELS,), (SIDE, SIDE)):
        raise ValueError(f"pixel values must have shape (N, 64) or (N, 8, 8), got {v.shape}")
    m, c = scaling()
    return torch.as_tensor((v.reshape(len(v), PIXELS) - m) * c, dtype=torch.float32)


def load(split="train"):
    """One split as (x, labels): x (N, 64) float32 in the series' scale (pooled std 0.5 on `train`), labels (N,)."""
    v, labels = pixels(split)
    return from_pixels(v), torch.as_tensor(labels)


def to_images(x):
    """Scaled points (N, 64) (tensor or array) -> (N, 8, 8) float64 pixel values v = x / c + m, clipped to [0, 16]."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim != 2 or x.shape[1] != PIXELS:
        raise ValueError(f"digit points must have shape (N, 64), got {x.shape}")
    m, c = scaling()
    return np.clip(x / c + m, 0.0, MAX_VALUE).reshape(len(x), SIDE, SIDE)
