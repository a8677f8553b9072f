"""Save and load trained models: weights + config + a format version, read back with weights_only=True.

    save(model, path, meta=None, half=False)   load(path) -> model (eval mode, on the CPU, float32)
    load_pretrained(method, toy)               a shipped model from data/, checked against data/manifest.json's SHA-256
"""
import hashlib
import json
from pathlib import Path

import torch

FORMAT_VERSION = 1


def _data_dir():
    """data/ at the top of a clone (the source of truth, also for editable installs), or imm_edu/data/ in an
    installed wheel, where the build puts a copy of that folder as package data (see pyproject.toml)."""
    package = Path(__file__).resolve().parent
    return package / "data" if (package / "data").is_dir() else package.parent / "data"


DATA_DIR = _data_dir()
MANIFEST = DATA_DIR / "manifest.json"


def save(model, path, meta=None, half=False):
    """Write the weights, the config and `meta` (e.g. training time, quality) to `path`.

    half=True stores the weights as float16, halving the file (the shipped checkpoints use it); load() casts them
    back to float32."""
    from .train import method_name

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format_version": FORMAT_VERSION, "method": method_name(model), "config": model.config_dict(),
                "state_dict": {k: v.detach().cpu().to(torch.float16 if half else v.dtype)
                               for k, v in model.state_dict().items()},
                "meta": meta or {}}, path)
    return path


def load(path):
    """Rebuild the model stored at `path` (on the CPU, eval mode); clear errors for missing/corrupt/mismatched files."""
    from .train import build

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors from a truncated or foreign file
        raise ValueError(f"{path} is not a readable imm_edu checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or not {"format_version", "method", "config", "state_dict"} <= set(ckpt):
        raise ValueError(f"{path} is not an imm_edu checkpoint (missing format_version/method/config/state_dict)")
    if ckpt["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{path} has checkpoint format {ckpt['format_version']}, this imm_edu reads {FORMAT_VERSION}")
    model = build(ckpt["method"], **ckpt["config"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not match the stored config: {err}") from None
    model.meta = ckpt.get("meta", {})
    return model.eval()


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest():
    """The list of shipped checkpoints (dicts with method, toy, file, sha256, config, quality, ...)."""
    if not MANIFEST.exists():
        raise FileNotFoundError(f"no manifest at {MANIFEST}; run `python -m imm_edu.train_all` to make the checkpoints")
    return json.loads(MANIFEST.read_text())["models"]


def load_pretrained(method, toy):
    """The shipped model trained with `method` on `toy`, after checking its SHA-256 against the manifest."""
    entries = manifest()
    entry = next((e for e in entries if e["method"] == method and e["toy"] == toy), None)
    if entry is None:
        have = ", ".join(f"({e['method']}, {e['toy']})" for e in entries)
        raise ValueError(f"no pretrained model for method={method!r}, toy={toy!r}; available: {have}")
    path = DATA_DIR / entry["file"]
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} listed in the manifest is missing; rerun python -m imm_edu.train_all")
    if (digest := sha256(path)) != entry["sha256"]:
        raise ValueError(f"checksum mismatch for {path.name}: manifest says {entry['sha256'][:12]}..., file is "
                         f"{digest[:12]}...; the file is corrupt or was retrained without updating the manifest")
    return load(path)
