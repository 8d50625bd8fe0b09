"""bin/find-python: honour $PYTHON, else find a Python >= 3.12 on PATH or among pyenv's versions,
else say what to install."""

import os
import subprocess
import sys

from workshop import REPO_ROOT

FIND_PYTHON = REPO_ROOT / "bin" / "find-python"


def find_python(tmp_path, **env):
    """Run the script with a PATH that holds only a stub `python3` that is too old."""
    stub_bin = tmp_path / "bin"
    stub_bin.mkdir(exist_ok=True)
    old_python = stub_bin / "python3"
    old_python.write_text("#!/bin/sh\nexit 1\n")  # fails the version check, like a 3.11
    old_python.chmod(0o755)
    base = {"PATH": f"{stub_bin}:/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    return subprocess.run(
        [FIND_PYTHON], env={**base, **env}, capture_output=True, text=True, check=False
    )


def fake_pyenv(tmp_path, version):
    root = tmp_path / "pyenv"
    (root / "versions" / version / "bin").mkdir(parents=True)
    (root / "versions" / version / "bin" / "python3").symlink_to(sys.executable)
    return root


def test_python_variable_wins(tmp_path):
    result = find_python(tmp_path, PYTHON=sys.executable)

    assert result.returncode == 0
    assert os.path.samefile(result.stdout.strip(), sys.executable)


def test_python_variable_that_is_too_old_is_refused(tmp_path):
    result = find_python(tmp_path, PYTHON=str(tmp_path / "bin" / "python3"))

    assert result.returncode == 1
    assert "is not a Python 3.12 or newer" in result.stderr


def test_finds_an_unselected_pyenv_version(tmp_path):
    root = fake_pyenv(tmp_path, "3.13.0")

    result = find_python(tmp_path, PYENV_ROOT=str(root))

    assert result.returncode == 0, result.stderr
    assert os.path.samefile(result.stdout.strip(), sys.executable)


def test_says_what_to_install_when_there_is_none(tmp_path):
    result = find_python(tmp_path, PYENV_ROOT=str(tmp_path / "no-pyenv"))

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("No Python 3.12 or newer found: install one")
    assert len(result.stderr.strip().splitlines()) == 1
