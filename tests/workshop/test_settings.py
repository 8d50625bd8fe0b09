"""workshop.settings: secrets come from the environment, and the development key that lets a
fresh clone run refuses to serve with DEBUG off."""

import os
import subprocess
import sys

import pytest

from workshop import REPO_ROOT


def check(**env) -> subprocess.CompletedProcess:
    """`manage.py check` in stage 5, with only these settings variables from the environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT / "stage05_scaling",
        env={**base, **env},
        capture_output=True,
        text=True,
    )


def test_with_debug_off_the_development_key_refuses_to_start():
    result = check(DEBUG="false")

    assert result.returncode != 0
    assert "Set SECRET_KEY in the environment when DEBUG is off." in result.stderr


@pytest.mark.parametrize("debug", ["true", "false"])
def test_a_secret_key_from_the_environment_starts(debug):
    result = check(DEBUG=debug, SECRET_KEY="a-real-secret-" + "x" * 40)

    assert result.returncode == 0, result.stderr


def test_the_database_password_comes_from_database_url(monkeypatch):
    from workshop.database import database_settings

    monkeypatch.setenv("DATABASE_URL", "postgres://app:from-the-env@db:5432/app")
    assert database_settings("stage05_scaling")["PASSWORD"] == "from-the-env"
