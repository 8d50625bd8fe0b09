"""Pytest fixtures every stage's tests share (loaded with `-p workshop.testing.plugin`).

The tests of a stage run real worker processes against pytest's test database, so they need the
database name pytest-django chose and a way to start, watch and signal those processes.
"""

import signal

import pytest

from workshop.processes import ManagedProcess
from workshop.testing.browser import browser  # noqa: F401 (a fixture, for the dashboard test)


@pytest.fixture
def stage_dir(settings):
    """The folder of the stage under test (its manage.py lives there)."""
    return settings.BASE_DIR


@pytest.fixture
def test_db_env():
    """Environment that points a child process at the database this test uses."""
    from django.db import connection

    return {"WORKSHOP_DB_NAME": connection.settings_dict["NAME"]}


@pytest.fixture
def manage(stage_dir, test_db_env):
    """Start `manage.py ...` as a real process: `manage("worker", "--burst")`.

    Every process still running when the test ends is killed, so a failing test leaves nothing
    behind to disturb the next one.
    """
    started: list[ManagedProcess] = []

    def start(*args: str, env: dict | None = None) -> ManagedProcess:
        process = ManagedProcess(stage_dir, *args, env={**test_db_env, **(env or {})})
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(signal.SIGKILL, timeout=10)
