"""The package installs anywhere: a wheel built from this repo holds every subpackage and every file of data/, and,
installed into a fresh virtual environment, loads a shipped model from outside the repo.

No network: the wheel is built with the installed setuptools (--no-build-isolation) and installed with
--no-index --no-deps into a venv that sees this interpreter's packages (torch, numpy, ...). About 20 s.
"""
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# what a build would otherwise pick up or write into the clone: git metadata, old builds, caches, test outputs
NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".ipynb_checkpoints",
                                    "artifacts")


def pip(*args, cwd=None):
    run = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *map(str, args)],
                         capture_output=True, text=True, cwd=cwd)
    assert run.returncode == 0, f"pip {' '.join(map(str, args))} failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the repo (so no build/ or egg-info lands in the clone)."""
    source = tmp_path_factory.mktemp("source") / "imm-edu"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", out, source)
    (path,) = out.glob("imm_edu-*.whl")
    return path


def test_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"imm_edu/{p.relative_to(REPO / 'imm_edu').as_posix()}" for p in (REPO / "imm_edu").rglob("*.py")}
    data = {f"imm_edu/data/{p.relative_to(REPO / 'data').as_posix()}" for p in (REPO / "data").rglob("*")
            if p.is_file()}
    assert "imm_edu/data/manifest.json" in data and any(d.endswith(".pt") for d in data)
    assert modules - names == set(), "modules missing from the wheel: add their package to pyproject.toml"
    assert data - names == set(), "data files missing from the wheel (pyproject.toml, package-data)"


def test_installed_wheel_works_outside_the_repo(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)  # sees torch & co., not the repo
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # --force-reinstall: the editable imm-edu of the outer environment has the same version
    pip("--python", python, "install", "--no-deps", "--no-index", "--force-reinstall", "-q", wheel)
    script = """
import imm_edu, imm_edu.exercises, imm_edu.widgets
from imm_edu import load_pretrained
from imm_edu.checkpoints import DATA_DIR
x = load_pretrained("imm", "checkerboard").sample(100, 1, seed=0)
print(imm_edu.__file__, DATA_DIR, list(x.shape), sep="\\n")
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([python, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    module, data_dir, shape = run.stdout.splitlines()[-3:]
    assert Path(module).is_relative_to(env_dir), f"imported {module}, not the installed wheel"
    assert Path(data_dir) == Path(module).parent / "data"
    assert shape == "[100, 2]"
