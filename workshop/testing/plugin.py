"""Pytest fixtures every stage's tests share (loaded with `-p workshop.testing.plugin`).

The tests of a stage run real worker processes against pytest's test database, so they need the
database name pytest-django chose and a way to start, watch and signal those processes.
"""

import signal

import pytest

from workshop.processes import ManagedProcess
from workshop.testing.browser import browser  # noqa: F401 (a fixture, for the dashboard test)
from workshop.testing.pooler import pgbouncer, pooled_env  # noqa: F401 (fixtures: PgBouncer)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "soak: a run of minutes' worth of load (chaos, locust): not in per-step runs"
    )


@pytest.fixture
def stage_dir(settings):
    """The folder of the stage under test (its manage.py lives there)."""
    return settings.BASE_DIR


@pytest.fixture
def test_db_env():
    """Environment that points a child process at the database this test uses."""
    from django.db import connection

    return {"WORKSHOP_DB_NAME": connection.settings_dict["NAME"]}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, for the `manage` fixture's teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def manage(request, stage_dir, test_db_env):
    """Start `manage.py ...` as a real process: `manage("worker", "--burst")`.

    Every process still running when the test ends is killed, so a failing test leaves nothing
    behind to disturb the next one. When the test failed, what each process printed is shown
    with the failure.
    """
    started: list[ManagedProcess] = []

    def start(*args: str, env: dict | None = None) -> ManagedProcess:
        process = ManagedProcess(stage_dir, *args, env={**test_db_env, **(env or {})})
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(signal.SIGKILL, timeout=10)
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for process in started:
            print(f"--- `{process.name}` (pid {process.pid}) printed:\n{process.output}")
