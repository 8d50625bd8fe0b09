"""Stage 5: `worker --processes N` keeps N worker processes running: a child that dies is
replaced, a stop signal reaches every child once, and the parent exits when they all have."""

import os
import re
import signal

import pytest

from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from workshop.processes import wait_until
from workshop.testing.logfmt import events

pytestmark = pytest.mark.django_db(transaction=True)


def children(supervisor) -> list[int]:
    (ready,) = events(supervisor.lines, "supervisor.ready")
    return [int(pid) for pid in ready["pids"].split(",")]


def all_done(tasks) -> bool:
    return Task.objects.filter(pk__in=[t.pk for t in tasks], status="DONE").count() == len(tasks)


def test_a_killed_child_is_replaced_and_the_work_goes_on(manage):
    supervisor = manage("worker", "-v2", "--processes", "2", "--lease", "1")
    supervisor.wait_for("event=supervisor.ready")
    first, second = children(supervisor)
    supervisor.wait_for("event=worker.ready")

    os.kill(first, signal.SIGKILL)

    match = supervisor.wait_for(rf"event=supervisor.restarted old={first} pid=(\d+)")
    replacement = int(match.group(1))
    tasks = [enqueue("pretend_work", {"ms": 5}) for _ in range(50)]
    wait_until(lambda: all_done(tasks), what="every task done")
    (exited,) = events(supervisor.lines, "supervisor.child_exited")
    assert (exited["pid"], exited["exit"]) == (str(first), str(-signal.SIGKILL))
    assert replacement not in (first, second)
    supervisor.stop(signal.SIGTERM)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_stop_signal_reaches_every_child_once_and_all_exit_cleanly(manage, signum):
    supervisor = manage("worker", "-v2", "--processes", "3")
    supervisor.wait_for("event=supervisor.ready")
    wait_until(
        lambda: len(events(supervisor.lines, "worker.ready")) == 3, what="three workers ready"
    )

    supervisor.send_signal(signum)

    assert supervisor.wait() == 0
    stopped = events(supervisor.lines, "worker.stopped")
    # Exit 0 from each: one signal each. A second one would have forced exit 4.
    assert [(line["signal"], line["exit"]) for line in stopped] == [(signum.name, "0")] * 3
    assert re.search(r"event=supervisor.stopped exit=0 restarts=0", supervisor.output)


def test_burst_children_drain_the_queue_and_the_supervisor_exits(manage):
    tasks = [enqueue("noop") for _ in range(500)]

    supervisor = manage("worker", "--processes", "2", "--burst", "--batch-size", "20")

    assert supervisor.wait(timeout=60) == 0
    assert all_done(tasks)
    assert "supervisor.restarted" not in supervisor.output
