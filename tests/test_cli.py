"""python -m imm_edu: the demo writes a PNG, every subcommand has --help, train -> sample round trip, clear errors."""
import numpy as np
import pytest

from imm_edu.__main__ import COMMANDS, main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_demo_is_the_default_and_writes_a_png(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["--n", "400"])  # no subcommand: the demo, default output imm_demo.png in the current directory
    png = tmp_path / "imm_demo.png"
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 20_000
    assert str(png) in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: python -m imm_edu {command}" in capsys.readouterr().out


def test_train_then_sample_npy_and_png(tmp_path):
    ckpt = tmp_path / "fm_moons.pt"
    main(["train", "fm", "moons", "--steps", "5", "--batch", "64", "--out", str(ckpt)])
    main(["sample", str(ckpt), "--n", "50", "--steps", "3", "--out", str(tmp_path / "x.npy")])
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (50, 2) and np.isfinite(x).all()
    main(["sample", "imm/moons", "--n", "100", "--steps", "1", "--out", str(tmp_path / "x.png")])
    assert (tmp_path / "x.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("argv, message", [
    (["sample", "imm/no_such_toy"], "no pretrained model"),
    (["sample", "missing.pt"], "no checkpoint at"),
    (["sample", "imm/moons", "--out", "x.txt"], "must end in .npy or .png"),
    (["sample", "not-a-model"], "method/toy"),
    (["demo", "--toy", "pinwheel"], "no pretrained model"),
])
def test_bad_input_exits_with_a_message(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_unknown_method_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit):
        main(["train", "ddpm", "moons"])
    assert "invalid choice" in capsys.readouterr().err


def test_digits_train_and_sample_as_an_image_grid(tmp_path, capsys):
    ckpt = tmp_path / "fm_digits.pt"
    main(["train", "fm", "digits", "--steps", "3", "--batch", "32", "--out", str(ckpt)])
    assert "fd at 32 NFE" in capsys.readouterr().out
    main(["sample", str(ckpt), "--n", "30", "--steps", "2", "--out", str(tmp_path / "d.npy")])
    assert np.load(tmp_path / "d.npy").shape == (30, 64)
    main(["sample", "imm/digits", "--n", "40", "--steps", "1", "--out", str(tmp_path / "d.png")])
    assert (tmp_path / "d.png").read_bytes()[:8] == PNG_MAGIC
