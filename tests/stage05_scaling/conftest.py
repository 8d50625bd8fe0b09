import pytest


@pytest.fixture(autouse=True)
def no_schedules_in_child_processes(monkeypatch):
    """The settings' hourly-hello would enqueue a greet task in any test that runs a worker
    across the hour, and a test that counts its tasks would count one too many. Schedules are
    off in every worker a test starts, unless the test passes TASKQUEUE_SCHEDULES itself."""
    monkeypatch.setenv("TASKQUEUE_SCHEDULES", "{}")
