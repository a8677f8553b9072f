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


class NotWeights:  # a class that a foreign pickle might name; weights_only loading refuses it
    pass


def test_unreadable_files_get_our_reason_without_torch_s_unsafe_advice(tmp_path):
    import os
    (tmp_path / "random.pt").write_bytes(os.urandom(2000))
    torch.save({"model": NotWeights()}, tmp_path / "object.pt")
    for name, reason in (("random.pt", "UnpicklingError: Unsupported operand"),
                         ("object.pt", "UnpicklingError: Unsupported global: GLOBAL ")):
        with pytest.raises(ValueError) as err:
            checkpoints.load(tmp_path / name)
        message = str(err.value)
        assert f"{name} is not a readable imm_edu checkpoint ({reason}" in message
        assert name != "object.pt" or "NotWeights was not an allowed global" in message
        assert "weights_only" not in message and "safe_globals" not in message and "\n" not in message
