"""One training loop for every method, blind to which one it trains.

    build(method, seed=0, **config)       a fresh model: "imm", "imm_paper", "cm" (IMM with M = 1, [P] Lemma 1),
                                          "ddim", "fm" ("imm", "imm_paper" and "cm" are presets of one IMM class),
                                          "shortcut" (shortcut models, Frans et al. 2024)
    train_steps(model, data, ...)         generator of (step, loss): the bare loop
    fit(model, data, ...)                 adds the device, an EMA copy, a tqdm progress bar, Ctrl-C, loss history

[P] = Zhou, Ermon, Song, "Inductive Moment Matching", ICML 2025, arXiv 2503.07565.
"""
import copy
import math
import numbers
import time
from dataclasses import dataclass, field, fields

import torch

from . import digits, toy
from .checks import check_count, check_points
from .ddim import DDIM, DDIMConfig
from .flow import FMConfig, FlowMatching
from .imm import IMM, PRESETS, IMMConfig
from .model import ema_step, pick_device
from .shortcut import Shortcut, ShortcutConfig

METHODS = {"imm": (IMM, IMMConfig), "ddim": (DDIM, DDIMConfig), "fm": (FlowMatching, FMConfig),
           "shortcut": (Shortcut, ShortcutConfig)}
METHOD_NAMES = ("imm", "imm_paper", "cm", "ddim", "fm", "shortcut")  # imm, imm_paper, cm: PRESETS of the IMM class


def build(method, seed=0, **config):
    """A freshly initialised model of `method`; weights depend only on `seed` (the global RNG is untouched)."""
    if method not in METHOD_NAMES:
        raise ValueError(f"unknown method {method!r}; choose one of {METHOD_NAMES}")
    cls, cfg_cls = METHODS["imm" if method in PRESETS else method]
    if method in PRESETS:
        config = {**PRESETS[method], **config}
    known = {f.name for f in fields(cfg_cls)}
    if unknown := sorted(set(config) - known):
        raise ValueError(f"unknown {cfg_cls.__name__} field(s) {unknown}; valid fields: {sorted(known)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(cfg_cls(**config))


def method_name(model):
    """Registry name of a model: the first of PRESETS ('cm', 'imm', 'imm_paper') whose settings an IMM model has,
    else its class's name."""
    if model.method == "imm":
        return next((name for name, preset in PRESETS.items()
                     if all(getattr(model.cfg, k) == v for k, v in preset.items())), "imm")
    return model.method


def training_points(data, n=200_000, seed=0, dim=2):
    """The training set: a toy name (n points drawn with `seed`), "digits" (the 1,197 images of the digits' train
    split, (1197, 64)), or an (N, dim) tensor used as it is."""
    if isinstance(data, str) and data == digits.NAME:
        return check_points(digits.load("train")[0], "the digits' train split", dim=dim)
    if isinstance(data, str):
        return check_points(toy.sample(data, n, seed=seed), f"toy {data!r}", dim=dim)
    return check_points(torch.as_tensor(data, dtype=torch.float32), "data", dim=dim)


def check_recipe(steps, batch, lr, ema=0.0):
    """steps and batch positive integers, lr a positive number, ema a decay in [0, 1)."""
    check_count(steps, "steps")
    check_count(batch, "batch")
    for name, value, ok, allowed in (("lr", lr, lambda v: v > 0, "a positive number"),
                                     ("ema", ema, lambda v: 0 <= v < 1, "a decay in [0, 1)")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not ok(value):
            raise ValueError(f"{name} must be {allowed}, got {value!r}")


def train_steps(model, data, steps, *, batch=1024, lr=1e-3, seed=0, cosine=False):
    """Adam on model.loss over random mini-batches of `data` (N, D); yields (step, loss) after each update.
    cosine=True decays the learning rate from lr to 0 along a half cosine over the `steps`."""
    check_recipe(steps, batch, lr)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    data = data.to(model.device)
    model.train()
    for step in range(1, steps + 1):
        x = data[torch.randint(0, len(data), (batch,), generator=gen).to(data.device)]  # (batch, D)
        loss = model.loss(x, gen)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; try a lower lr or a smaller k")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        yield step, loss.item()


@dataclass
class Fit:
    model: torch.nn.Module  # the EMA copy, in eval mode: use this one to sample
    losses: list = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False


def fit(model, data="checkerboard", *, steps=3000, batch=1024, lr=1e-3, cosine=False, seed=0, ema=0.999,
        device=None, progress=True, callback=None):
    """Train `model` on `data` (toy name, "digits", or (N, D) points); returns a Fit with the EMA model and the losses.

    cosine=True decays lr to 0 over the steps. The EMA decay warms up as min(ema, (1 + step) / (10 + step)).
    callback(step, ema_model), if given, runs after every step (e.g. to score the model during training).
    Ctrl-C (KeyboardInterrupt) stops training cleanly and keeps the model as trained so far."""
    from tqdm.auto import tqdm

    check_recipe(steps, batch, lr, ema)  # bad settings and data fail here, before a progress bar is drawn
    data = training_points(data, seed=seed, dim=model.cfg.dim)
    device = torch.device(device) if device else pick_device()
    model.to(device)
    ema_model = copy.deepcopy(model).eval().requires_grad_(False)
    out = Fit(ema_model)
    start = time.perf_counter()
    bar = tqdm(total=steps, desc=f"training {method_name(model)}", disable=not progress, mininterval=0.5)
    try:
        for step, loss in train_steps(model, data, steps, batch=batch, lr=lr, seed=seed, cosine=cosine):
            ema_step(ema_model.parameters(), model.parameters(), step, ema)
            if callback:
                callback(step, ema_model)
            out.losses.append(loss)
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss:.4f}")
    except KeyboardInterrupt:
        out.interrupted = True
        print(f"stopped by the user after {len(out.losses)} steps; keeping the model trained so far")
    finally:
        bar.close()
    out.seconds = time.perf_counter() - start
    return out
