"""python -m imm_edu: the demo writes a PNG, every subcommand has --help, train -> sample round trip, clear errors."""
import numpy as np
import pytest

from imm_edu.__main__ import COMMANDS, main
from imm_edu.checkpoints import load
from imm_edu.train import METHOD_NAMES, method_name

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


def test_every_argument_has_help():
    import argparse

    from imm_edu.__main__ import parser

    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name, p in sub.choices.items()
               for a in p._actions if not a.help]
    assert sorted(sub.choices) == sorted(COMMANDS) and not missing, f"arguments without help: {missing}"


def test_train_then_sample_npy_and_png(tmp_path, capsys):
    ckpt = tmp_path / "fm_moons.pt"
    main(["train", "fm", "moons", "--steps", "5", "--batch", "64", "--out", str(ckpt)])
    main(["sample", str(ckpt), "--n", "50", "--steps", "3", "--out", str(tmp_path / "x.npy")])
    assert f"wrote 50 samples to {tmp_path / 'x.npy'}" in capsys.readouterr().out  # says where the file went
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (50, 2) and np.isfinite(x).all()
    main(["sample", "imm/moons", "--n", "100", "--steps", "1", "--out", str(tmp_path / "x.png")])
    assert (tmp_path / "x.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_every_method_trains_from_the_command_line(method, tmp_path, capsys):
    main(["train", method, "moons", "--steps", "2", "--batch", "64", "--out", str(tmp_path / "m.pt")])
    assert f"trained {method} on moons" in capsys.readouterr().out
    assert method_name(load(tmp_path / "m.pt")) == method  # the preset survives the round trip


@pytest.mark.parametrize("argv, message", [
    (["sample", "imm/no_such_toy"], "no pretrained model"),
    (["sample", "missing.pt"], "no checkpoint at"),
    (["sample", "imm/moons", "--out", "x.txt"], "must end in .npy or .png"),
    (["sample", "not-a-model"], "method/toy"),
    (["demo", "--toy", "pinwheel"], "no pretrained model"),
    (["sample", "imm/moons", "--n", "1000000000"], "at most 10,000,000 points"),
    (["sample", "imm/moons", "--n", "0"], "n must be a positive integer, got 0"),
    (["train", "imm", "no_such_toy", "--steps", "5"], "unknown toy distribution 'no_such_toy'; valid names"),
    (["train", "fm", "moons", "--steps", "0"], "steps must be a positive integer, got 0"),
    (["demo", "--n", "20000"], "--n = 20,000 is too many points to score: at most 10,000"),
    (["bench", "--n", "0"], "--n must be a positive integer, got 0"),
])
def test_bad_input_exits_with_a_message(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err
    assert "it/s" not in err  # no progress bar was drawn before the error
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
