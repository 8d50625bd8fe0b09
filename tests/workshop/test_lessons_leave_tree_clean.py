"""Following the lessons leaves the repository as it was: each lesson's measuring and demo
command, run at a small size in a fresh clone, writes nothing git tracks, and every quote in the
READMEs still matches its source afterwards.

The clone is of the committed HEAD (what a learner gets). Its own `workshop` package comes
first on the path, so that the commands write into the clone, not into this checkout."""

import os
import subprocess
import sys

import pytest

from workshop import REPO_ROOT

# (folder in the clone, command): each lesson's commands that write files, at a small size.
COMMANDS = [
    (".", ["-m", "workshop.measure_claims", "--tasks", "40", "--repeat", "1"]),
    (".", ["-m", "workshop.bench", "--only", "enqueue", "--quick", "--out", ".measurements"]),
    ("stage02_db_queue", ["manage.py", "demo", "--tasks", "40"]),
    ("stage03_skip_locked", ["manage.py", "explain_claim", "--finished", "500"]),
    ("stage05_scaling", ["manage.py", "demo", "--tasks", "200", "--samples", "3"]),
    (
        "stage05_scaling",
        ["manage.py", "compare_threads", "--noop-tasks", "100", "--slow-tasks", "10"],
    ),
    (
        "stage05_scaling",
        ["manage.py", "loadtest", "--workers", "1", "--seconds", "3", "--users", "2"],
    ),
]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if os.environ.get("DATABASE_URL"):
        # What the commands write does not depend on the server: once, on the embedded one,
        # keeps `.ci/run` (which runs the suite on both) short.
        pytest.skip("runs on the embedded PostgreSQL only")
    head = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    if head.stdout.strip():
        pytest.skip("uncommitted changes: this test clones HEAD; commit, then run it")
    path = tmp_path_factory.mktemp("lessons") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def env(clone):
    # The clone's own embedded PostgreSQL (in its git-ignored .pgdata/), as a learner's would
    # be, or DATABASE_URL's server when that is set; stopped afterwards.
    environment = {**os.environ, "PYTHONPATH": str(clone)}
    yield environment
    subprocess.run(
        [sys.executable, "-m", "workshop.database", "stop"],
        cwd=clone,
        env=environment,
        capture_output=True,
    )


def test_the_lesson_commands_leave_git_status_clean_and_the_quotes_current(clone, env):
    for folder, command in COMMANDS:
        if folder != ".":
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
                cwd=clone / folder,
                env=env,
                check=True,
                capture_output=True,
            )
        done = subprocess.run(
            [sys.executable, *command], cwd=clone / folder, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{folder}: {' '.join(command)}\n{done.stdout}{done.stderr}"

    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    )
    assert status.stdout == "", f"the lessons' commands changed the repository:\n{status.stdout}"
    quotes = subprocess.run(
        [sys.executable, "-m", "workshop.excerpts"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    assert quotes.returncode == 0, quotes.stdout
