import pytest
import torch

from imm_edu import build, checkpoints


@pytest.mark.parametrize("method", ["imm", "cm", "ddim", "fm"])
def test_save_load_round_trip(tmp_path, method):
    model = build(method, seed=0, width=32, depth=1)
    path = checkpoints.save(model, tmp_path / f"{method}.pt", meta={"note": "test"})
    loaded = checkpoints.load(path)
    assert loaded.cfg == model.cfg and loaded.meta == {"note": "test"}
    torch.testing.assert_close(loaded.sample(50, 2, seed=1), model.sample(50, 2, seed=1))


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoints.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        checkpoints.load(tmp_path / "junk.pt")
    path = checkpoints.save(build("fm", width=32, depth=1), tmp_path / "fm.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="not a readable"):
        checkpoints.load(truncated)
    ckpt = torch.load(path, weights_only=True)
    torch.save({**ckpt, "format_version": 99}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format 99"):
        checkpoints.load(tmp_path / "future.pt")
    torch.save({**ckpt, "config": {**ckpt["config"], "width": 64}}, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="do not match"):
        checkpoints.load(tmp_path / "mismatch.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not an imm_edu checkpoint"):
        checkpoints.load(tmp_path / "foreign.pt")
