"""workshop.settings: DEBUG is off unless asked for, secrets come from the environment, a weak
key is refused with DEBUG off, and a fresh clone runs with nothing set (a strong key made up
once, in the git-ignored .secret_key)."""

import os
import subprocess
import sys

import pytest

from workshop import REPO_ROOT


def check(*options: str, **env) -> subprocess.CompletedProcess:
    """`manage.py check` in stage 5, with only these settings variables from the environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "HTTPS")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *options],
        cwd=REPO_ROOT / "stage05_scaling",
        env={**base, **env},
        capture_output=True,
        text=True,
    )


def test_debug_is_off_unless_asked_for():
    shown = "from django.conf import settings; print(settings.DEBUG)"
    for env, expected in (({}, "False"), ({"DEBUG": "true"}, "True")):
        base = {k: v for k, v in os.environ.items() if k != "DEBUG"}
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", shown],
            cwd=REPO_ROOT / "stage05_scaling",
            env={**base, **env},
            capture_output=True,
            text=True,
        )
        assert result.stdout.strip().splitlines()[-1] == expected, result.stderr


@pytest.mark.parametrize(
    "key", ["x", "django-insecure-" + "k" * 50, "a" * 60, "short-but-not-so-random-0123456789"]
)
def test_with_debug_off_a_weak_key_refuses_to_start(key):
    result = check(DEBUG="false", SECRET_KEY=key)

    assert result.returncode != 0
    assert "SECRET_KEY is too weak for DEBUG off" in result.stderr


@pytest.mark.parametrize("debug", ["true", "false"])
def test_a_strong_secret_key_from_the_environment_starts(debug):
    result = check(DEBUG=debug, SECRET_KEY="a-real-secret-" + "0123456789abcdef" * 3)

    assert result.returncode == 0, result.stderr


def test_with_nothing_set_a_fresh_clone_starts_with_a_strong_key_of_its_own():
    result = check()

    assert result.returncode == 0, result.stderr
    key = (REPO_ROOT / ".secret_key").read_text().strip()
    assert len(key) >= 50
    ignored = subprocess.run(["git", "check-ignore", ".secret_key"], cwd=REPO_ROOT)
    assert ignored.returncode == 0  # never committed


def test_behind_tls_check_deploy_is_clean():
    result = check("--deploy", "--fail-level", "WARNING", HTTPS="true")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_database_password_comes_from_database_url(monkeypatch):
    from workshop.database import database_settings

    monkeypatch.setenv("DATABASE_URL", "postgres://app:from-the-env@db:5432/app")
    assert database_settings("stage05_scaling")["PASSWORD"] == "from-the-env"
