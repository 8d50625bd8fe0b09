"""Stage 1: the loop does the work N times, sleeps the interval between runs, and Ctrl-C ends it
with a friendly line."""

import signal
from io import StringIO

import pytest
from django.core.management import call_command

from taskqueue.management.commands import worker


@pytest.fixture
def sleeps(monkeypatch):
    """Replace the loop's sleep with one that records how long it was asked to sleep."""
    asked: list[float] = []
    monkeypatch.setattr(worker, "sleep", asked.append)
    return asked


def run_worker(**options) -> list[str]:
    out = StringIO()
    call_command("worker", stdout=out, **options)
    return out.getvalue().splitlines()


def test_does_the_work_n_times_with_the_interval_between(sleeps):
    lines = run_worker(interval=5, iterations=3)

    assert [line.split(" ", 1)[1] for line in lines] == ["Hello, World!"] * 3
    assert sleeps == [5, 5]  # between runs, not after the last one


def test_default_interval_is_an_hour(sleeps):
    run_worker(iterations=2)

    assert sleeps == [3600]


def test_each_line_starts_with_the_time(sleeps):
    (line,) = run_worker(iterations=1)

    assert line.split(" ", 1)[0].count(":") == 2  # HH:MM:SS


def test_ctrl_c_ends_the_loop_with_one_friendly_line(manage):
    process = manage("worker", "--interval", "3600")
    process.wait_for("Hello, World!")

    process.send_signal(signal.SIGINT)

    assert process.wait() == 0
    assert "Stopped by Ctrl-C after 1 run(s). Bye!" in process.output
    assert "Traceback" not in process.output
