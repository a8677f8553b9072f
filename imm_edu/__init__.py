"""imm-edu: a compact, tested implementation of Inductive Moment Matching (IMM) for 2-D toys, next to DDIM,
flow matching, consistency models and shortcut models, behind an interactive notebook series.

Time convention: t = 0 is data, t = 1 is noise (as in the IMM paper, arXiv 2503.07565).

    from imm_edu import toy, build, fit
    x = toy.sample("checkerboard", 1000)
    result = fit(build("imm"), "checkerboard", steps=3000)   # ~1 min on a laptop CPU
    samples = result.model.sample(2000, steps=2)
"""
from . import kernels, metrics, schedules, toy
from .checkpoints import load, load_pretrained, save
from .ddim import DDIM, DDIMConfig, ddim
from .flow import FlowMatching, FMConfig
from .imm import IMM, PRESETS, IMMConfig, imm_loss, mapping_r, weight
from .model import pick_device
from .shortcut import Shortcut, ShortcutConfig
from .train import METHOD_NAMES, build, fit, train_steps

__all__ = [
    "toy", "schedules", "kernels", "metrics",
    "ddim", "DDIM", "DDIMConfig", "FlowMatching", "FMConfig",
    "IMM", "IMMConfig", "PRESETS", "imm_loss", "mapping_r", "weight", "Shortcut", "ShortcutConfig",
    "build", "fit", "train_steps", "METHOD_NAMES", "pick_device",
    "save", "load", "load_pretrained",
]
