"""The shipped checkpoints in data/: every manifest entry loads, checksums hold, tampering is caught.

Tampering tests work on tmp_path copies; data/ itself is never modified."""
import math
import shutil

import pytest
import torch

from imm_edu import bench, checkpoints, load, load_pretrained, metrics, save, toy
from imm_edu.checkpoints import sha256
from imm_edu.train import METHOD_NAMES, build, method_name, train_steps
from imm_edu.train_all import DATASETS, shipped

ENTRIES = checkpoints.manifest()


def test_manifest_covers_every_method_and_toy():
    have = {(e["method"], e["toy"]) for e in ENTRIES}
    missing = {(m, t) for m in METHOD_NAMES for t in DATASETS if shipped(m, t)} - have
    assert not missing, f"no shipped model for {sorted(missing)}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e['method']}-{e['toy']}")
def test_manifest_entry_loads_and_samples(entry):
    assert entry["sha256"] == sha256(checkpoints.DATA_DIR / entry["file"])
    limit = 1_100_000 if entry["toy"] == "digits" else 200_000  # ~1 MB for 64-D images, KBs for a 2-D toy
    assert entry["bytes"] == (checkpoints.DATA_DIR / entry["file"]).stat().st_size < limit
    assert {"steps", "batch", "lr", "seed", "ema"} <= set(entry["recipe"])
    assert entry["train_seconds"] > 0 and entry["quality"]["by_nfe"]
    model = load_pretrained(entry["method"], entry["toy"])
    assert method_name(model) == entry["method"] and model.config_dict() == entry["config"]
    assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())
    x = model.sample(200, 2)
    assert x.shape == (200, 64 if entry["toy"] == "digits" else 2) and torch.isfinite(x).all()


def test_manifest_quality_is_reproducible():
    """The recorded energy distance is what the shipped file gives (deterministic sampling, same held-out set)."""
    entry = next(e for e in ENTRIES if e["method"] == "imm" and e["toy"] == "checkerboard")
    x = load_pretrained("imm", "checkerboard").sample(bench.N_EVAL, 1, seed=bench.SAMPLE_SEED)
    value = metrics.energy_distance(x, bench.held_out("checkerboard"))
    assert value == pytest.approx(entry["quality"]["by_nfe"]["1"], rel=1e-2)  # cross-machine round-off only


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of data/ (manifest + two checkpoints) that load_pretrained reads instead of the real one."""
    for e in ENTRIES:
        if e["toy"] == "moons" and e["method"] in ("imm", "fm"):
            shutil.copy(checkpoints.DATA_DIR / e["file"], tmp_path / e["file"])
    shutil.copy(checkpoints.MANIFEST, tmp_path / "manifest.json")
    monkeypatch.setattr(checkpoints, "DATA_DIR", tmp_path)
    monkeypatch.setattr(checkpoints, "MANIFEST", tmp_path / "manifest.json")
    return tmp_path


def test_copy_loads_untampered(data_copy):
    assert load_pretrained("imm", "moons").cfg.M == 4


def test_tampered_checkpoint_is_rejected(data_copy):
    path = data_copy / "imm_moons.pt"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the weights
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_pretrained("imm", "moons")
    load_pretrained("fm", "moons")  # the untouched neighbour still loads


def test_missing_checkpoint_file_is_clear(data_copy):
    (data_copy / "fm_moons.pt").unlink()
    with pytest.raises(FileNotFoundError, match="train_all"):
        load_pretrained("fm", "moons")


def test_unknown_pair_lists_available():
    with pytest.raises(ValueError, match=r"no pretrained model.*available: .*\(imm, checkerboard\)"):
        load_pretrained("imm", "no_such_toy")
    with pytest.raises(ValueError, match="no pretrained model"):
        load_pretrained("ddpm", "moons")


def test_missing_manifest_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "MANIFEST", tmp_path / "manifest.json")
    with pytest.raises(FileNotFoundError, match="python -m imm_edu.train_all"):
        load_pretrained("imm", "moons")


def test_half_precision_save_halves_the_file_and_keeps_outputs(tmp_path):
    model = build("imm", seed=3).eval()
    full, half = save(model, tmp_path / "full.pt"), save(model, tmp_path / "half.pt", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    x_t = torch.randn(64, 2)
    torch.testing.assert_close(load(half).f(x_t, 0.2, 0.9), model.f(x_t, 0.2, 0.9), atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(load(full).f(x_t, 0.2, 0.9), model.f(x_t, 0.2, 0.9), atol=0, rtol=0)


def test_cosine_option_of_the_recipe_decays_lr_to_zero(monkeypatch):
    seen = []

    class SpyAdam(torch.optim.Adam):
        def step(self, *args, **kwargs):
            seen.append(self.param_groups[0]["lr"])
            return super().step(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", SpyAdam)
    data = toy.sample("moons", 256)
    list(train_steps(build("fm", width=16), data, 4, batch=32, lr=0.1, cosine=True))
    assert seen == pytest.approx([0.1 * 0.5 * (1 + math.cos(math.pi * i / 4)) for i in range(4)])
    seen.clear()
    list(train_steps(build("fm", width=16), data, 3, batch=32, lr=0.1))
    assert seen == [0.1] * 3
