"""Sample quality for digit images: a small classifier trained on real digits, and what it says about samples.

    fd           FD-digits: the Frechet distance between Gaussians fitted to the classifier's 64-D penultimate
                 features of the samples and of the held-out digits (FID's recipe, with our own small network)
    energy       the energy distance in pixel space (64-D, the series' scale), as for the toys
    class_tv     class coverage: total variation 1/2 sum_c |p_c - 1/10| between the histogram of predicted classes
                 and the uniform one (0 = every digit equally often, 0.9 = one digit only). Even a perfect sampler
                 has TV > 0 from chance: uniform_tv(300) = 0.069 on average for 300 independent samples
    confidence   the classifier's mean top softmax probability (real held-out digits: 0.99)
    copying      median distance of the samples to their nearest training image, divided by the same for the
                 held-out digits (1 = as far from the training set as fresh real digits; well below 1 = the model
                 reproduces training images, which FD-digits also punishes, see below)
The floor is what real digits score: the `floor` split against the `held_out` split (digits.py), 300 vs 300. Both
splits are never trained on: the classifier knows its training images too well (confidence 1.00), so 300 training
images score FD-digits 7.0 against the held-out ones, above the floor of 5.6 (a memorising model would too). The
splits are stratified by class, so the floor's class TV (0.007) is below what chance allows a sampler.

The classifier (nets.Classifier, 64 -> 128 -> 64 features -> 10 classes) is trained by `train_classifier` on the
`train` split only: deterministic, a few seconds on one thread. The shipped copy, data/digits_classifier.pt, is
loaded with weights_only=True after its SHA-256 is checked against data/manifest.json ("digit_classifier").
"""
import functools
import json
import math
import time

import torch

from . import digits, metrics
from .checkpoints import DATA_DIR, MANIFEST, sha256
from .checks import check_points
from .nets import Classifier

CLASSIFIER_FILE = "digits_classifier.pt"
CLASSIFIER_RECIPE = {"width": 128, "features": 64, "steps": 3000, "batch": 128, "lr": 2e-3, "weight_decay": 1e-4,
                     "noise": 0.1, "seed": 0}  # noise: std of Gaussian input noise added to training images
LABELS = {"fd": "FD-digits", "energy": "energy distance (64-D)", "class_tv": "class coverage TV",
          "confidence": "mean confidence", "copying": "copying (NN distance to train / real's)"}


def train_classifier(recipe=CLASSIFIER_RECIPE):
    """A Classifier trained with Adam + cosine lr on the `train` split (plus small input noise); deterministic."""
    r = recipe
    x, y = digits.load("train")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(r["seed"])
        net = Classifier(digits.PIXELS, r["width"], r["features"])
    gen = torch.Generator().manual_seed(r["seed"])
    opt = torch.optim.AdamW(net.parameters(), lr=r["lr"], weight_decay=r["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, r["steps"])
    for _ in range(r["steps"]):
        idx = torch.randint(0, len(x), (r["batch"],), generator=gen)
        xb = x[idx] + r["noise"] * torch.randn(r["batch"], digits.PIXELS, generator=gen)  # (batch, 64)
        loss = torch.nn.functional.cross_entropy(net(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval().requires_grad_(False)


@torch.no_grad()
def accuracy(net, split):
    x, y = digits.load(split)
    return (net(x).argmax(1) == y).double().mean().item()


def save_classifier(path=DATA_DIR / CLASSIFIER_FILE, recipe=CLASSIFIER_RECIPE):
    """Train, save (float32 weights, config, accuracies) and return the manifest entry of the classifier."""
    cpu = time.process_time()
    net = train_classifier(recipe)
    cpu = time.process_time() - cpu
    meta = {"train_accuracy": accuracy(net, "train"), "held_out_accuracy": accuracy(net, "held_out"),
            "floor_accuracy": accuracy(net, "floor")}
    config = {"dim": digits.PIXELS, "width": recipe["width"], "features": recipe["features"]}
    torch.save({"format_version": 1, "config": config, "state_dict": net.state_dict(), "meta": meta}, path)
    return {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size, "recipe": dict(recipe),
            "cpu_seconds": round(cpu, 1), **meta}


@functools.cache
def classifier():
    """The shipped classifier (eval mode, no gradients), after checking its SHA-256 against the manifest."""
    path = DATA_DIR / CLASSIFIER_FILE
    entry = json.loads(MANIFEST.read_text()).get("digit_classifier") if MANIFEST.exists() else None
    if entry is None or not path.exists():
        raise FileNotFoundError(f"no digit classifier at {path} (or no manifest entry); run "
                                "`python -m imm_edu.train_all --toys digits` to make it")
    if (digest := sha256(path)) != entry["sha256"]:
        raise ValueError(f"checksum mismatch for {path.name}: manifest says {entry['sha256'][:12]}..., file is "
                         f"{digest[:12]}...")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    net = Classifier(**ckpt["config"])
    net.load_state_dict(ckpt["state_dict"])
    return net.eval().requires_grad_(False)


@torch.no_grad()
def features(x):
    """Penultimate features phi(x) (N, 64) of digit points x (N, 64) in the series' scale."""
    return classifier().body(check_points(torch.as_tensor(x, dtype=torch.float32), "digits", dim=digits.PIXELS))


@torch.no_grad()
def class_probabilities(x):
    """Softmax class probabilities (N, 10) of digit points x (N, 64)."""
    return classifier().head(features(x)).softmax(1)


def class_histogram(x):
    """Fraction of the points predicted as each digit 0-9, (10,) float64."""
    return torch.bincount(class_probabilities(x).argmax(1), minlength=10).double() / len(x)


def fd(x, reference):
    """FD-digits: Frechet distance of the classifier features of x and of `reference`."""
    return metrics.frechet_distance(features(x), features(reference))


def class_tv(x, reference=None):
    """Total variation between the predicted-class histogram of x and the uniform one (reference unused)."""
    return 0.5 * (class_histogram(x) - 0.1).abs().sum().item()


def confidence(x, reference=None):
    """Mean top softmax probability of the classifier on x (reference unused)."""
    return class_probabilities(x).max(1).values.mean().item()


def nearest_train_distance(x):
    """Median over the points x (N, 64) of the distance to the nearest image of the `train` split."""
    return torch.cdist(torch.as_tensor(x, dtype=torch.float32), digits.load("train")[0]).min(1).values.median().item()


def copying(x, reference):
    """nearest_train_distance of x over that of `reference` (the held-out digits): < 1 means closer to training
    images than unseen real digits are."""
    return nearest_train_distance(x) / nearest_train_distance(reference)


def uniform_tv(n, classes=10):
    """E[class TV] of n independent draws from the uniform class distribution: (C / 2) E|X/n - 1/C|, X ~ Bin(n, 1/C)."""
    p = 1 / classes
    log_pmf = lambda k: (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p)
                         + (n - k) * math.log1p(-p))
    return classes / 2 * sum(math.exp(log_pmf(k)) * abs(k / n - p) for k in range(n + 1))


METRICS = {"fd": fd, "energy": metrics.energy_distance, "class_tv": class_tv, "confidence": confidence,
           "copying": copying}


def evaluate(x, reference):
    """Every digit metric of samples x against `reference`, as a dict."""
    return {name: fn(x, reference) for name, fn in METRICS.items()}


def floor(n=300):
    """The metrics of n real `floor` digits against n `held_out` digits: what a perfect sampler scores."""
    return evaluate(digits.load("floor")[0][:n], digits.load("held_out")[0][:n])
