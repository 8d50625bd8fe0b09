"""Stage 4: a worker killed with SIGKILL mid-task loses nothing. Its lease runs out, another
worker's rescuer puts the task back, and it runs once more. A live worker's long task keeps its
lease; a task that kills its worker every time ends DEAD."""

import os
import signal
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from taskqueue.enqueue import enqueue
from taskqueue.models import Execution, Task
from taskqueue.rescuer import RESCUER_LOCK, rescue_expired
from workshop import embedded
from workshop.processes import wait_until
from workshop.testing.logfmt import events
from workshop.testing.threads import InThread

pytestmark = pytest.mark.django_db(transaction=True)

FAST = ["--poll-interval", "0.05", "--lease", "1", "--rescue-interval", "0.1"]


def outcomes(task):
    return list(task.executions.order_by("attempt").values_list("outcome", flat=True))


def test_a_task_whose_worker_is_killed_runs_exactly_once_more(manage):
    task = enqueue("pretend_work", {"ms": 1500})
    doomed = manage("worker", *FAST)
    doomed.wait_for(f"event=task.start task={task.pk} ")

    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait() == -signal.SIGKILL
    rescuer = manage("worker", *FAST)

    wait_until(lambda: Task.objects.get(pk=task.pk).status == Task.Status.DONE, what="DONE")
    task.refresh_from_db()
    assert task.attempts == 2
    assert outcomes(task) == ["LOST", "DONE"]
    (rescued,) = events(rescuer.lines, "task.rescued")
    assert rescued["task"] == str(task.pk) and rescued["status"] == "QUEUED"
    rescuer.stop(signal.SIGTERM)


def test_a_long_task_that_keeps_renewing_its_lease_is_never_rescued(manage):
    task = enqueue("pretend_work", {"ms": 3500})  # three and a half leases
    runner = manage("worker", *FAST)
    runner.wait_for(f"event=task.start task={task.pk} ")
    watcher = manage("worker", *FAST)  # rescues every 0.1 s all along
    watcher.wait_for("event=worker.ready")

    runner.wait_for(f"event=task.done task={task.pk} ", timeout=30)

    assert outcomes(Task.objects.get(pk=task.pk)) == ["DONE"]
    assert Execution.objects.filter(task=task).count() == 1
    assert events(watcher.lines, "task.rescued") == []
    for worker in (runner, watcher):
        worker.stop(signal.SIGTERM)


def test_a_task_that_kills_its_worker_every_time_ends_dead(manage):
    task = enqueue("crash_worker")  # registered with max_attempts=3

    def is_dead():
        return Task.objects.get(pk=task.pk).status == Task.Status.DEAD

    crashes = 0
    for _ in range(6):  # bounded: the task must be DEAD long before this runs out
        worker = manage("worker", *FAST)
        # Either the task kills this worker too, or the worker rescues the last lost attempt
        # and buries the task.
        wait_until(lambda: worker.popen.poll() is not None or is_dead(), timeout=60)  # noqa: B023
        if worker.popen.poll() is None:
            break
        assert worker.popen.returncode == -signal.SIGKILL
        crashes += 1
    assert is_dead()
    worker.stop(signal.SIGTERM)

    task.refresh_from_db()
    assert crashes == 3
    assert task.attempts == task.max_attempts == 3
    assert outcomes(task) == ["LOST", "LOST", "LOST"]


def test_one_rescuer_at_a_time():
    task = enqueue("noop")
    Task.objects.filter(pk=task.pk).update(
        status=Task.Status.IN_PROGRESS,
        worker="gone",
        attempts=1,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    with transaction.atomic(), connection.cursor() as cursor:
        # Another session holds the rescuer's lock: this round is skipped, not queued behind.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RESCUER_LOCK])
        assert InThread(rescue_expired, "worker-b").result() == []

    assert rescue_expired("worker-b") == [task.pk]
    assert Task.objects.get(pk=task.pk).status == Task.Status.QUEUED


def test_docker_compose_stop_loses_nothing(manage):
    """`docker compose stop`: SIGTERM, then SIGKILL when its timeout runs out before the task
    does. The task is released or, here, rescued: it runs again."""
    task = enqueue("pretend_work", {"ms": 60_000})
    worker = manage("worker", *FAST, "--grace", "60")
    worker.wait_for(f"event=task.start task={task.pk} ")

    worker.send_signal(signal.SIGTERM)
    worker.wait_for("event=worker.stopping")
    worker.send_signal(signal.SIGKILL)  # docker's timeout, shorter than our grace period
    assert worker.wait() == -signal.SIGKILL
    Task.objects.filter(pk=task.pk).update(kwargs={"ms": 10})  # make the second run quick
    replacement = manage("worker", *FAST)

    wait_until(lambda: Task.objects.get(pk=task.pk).status == Task.Status.DONE, what="DONE")
    assert outcomes(Task.objects.get(pk=task.pk)) == ["LOST", "DONE"]
    replacement.stop(signal.SIGTERM)


def test_a_worker_survives_losing_its_database_connection(manage):
    """What a database restart looks like from a worker: every connection is cut."""
    worker = manage("worker", *FAST)
    first = enqueue("noop")
    worker.wait_for(f"event=task.done task={first.pk} ")  # connected, and working

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    worker.wait_for("event=worker.db_error")
    task = enqueue("noop")

    worker.wait_for(f"event=task.done task={task.pk} ", timeout=60)
    assert worker.popen.poll() is None  # still running
    worker.stop(signal.SIGTERM)


@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="restarts the embedded server, not someone else's"
)
def test_a_database_restart_mid_run_loses_nothing(manage):
    tasks = [enqueue("pretend_work", {"ms": 20}) for _ in range(150)]
    worker = manage("worker", *FAST)
    worker.wait_for(f"event=task.done task={tasks[10].pk} ")

    connection.close()  # this test's own connection goes down with the server too
    embedded.restart()

    wait_until(
        lambda: Task.objects.filter(status=Task.Status.DONE).count() == len(tasks),
        timeout=120,
        what="every task done after the restart",
    )
    assert events(worker.lines, "worker.db_error")  # it noticed, waited, and reconnected
    assert worker.popen.poll() is None
    worker.stop(signal.SIGTERM)


# What this stage does not handle, on purpose (README, section 3); stage 5 handles both.


def test_known_limit_a_task_that_holds_the_gil_loses_its_lease_while_it_runs(manage):
    """The heartbeat is a thread of the worker: a task that holds the GIL starves it. The
    lease runs out while the task runs, and another worker takes it and runs it again."""
    task = enqueue("hold_the_gil", {"seconds": 3})
    runner = manage("worker", *FAST)
    runner.wait_for(f"event=task.start task={task.pk} ")

    watcher = manage("worker", *FAST)

    watcher.wait_for(rf"event=task.start task={task.pk} name=\S+ attempt=2 ", timeout=30)
    # ...while the first worker, alive all along, still runs it (and every later run of a
    # task that holds the GIL longer than a lease loses its lease the same way).
    assert runner.popen.poll() is None
    assert "task.done" not in runner.output
    for worker in (runner, watcher):
        worker.stop(signal.SIGTERM)


def test_known_limit_tasks_claimed_but_not_started_are_charged_when_the_worker_dies(manage):
    """The rescuer cannot tell the task a dead worker was running from the ones it had only
    claimed: each loses an attempt."""
    running = enqueue("pretend_work", {"ms": 60_000})
    waiting = [enqueue("noop") for _ in range(3)]  # claimed in the same batch
    doomed = manage("worker", *FAST)
    doomed.wait_for(f"event=task.start task={running.pk} ")

    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait() == -signal.SIGKILL
    Task.objects.filter(pk=running.pk).update(kwargs={"ms": 10})  # make its second run quick
    rescuer = manage("worker", *FAST)

    wait_until(
        lambda: all(Task.objects.get(pk=t.pk).status == Task.Status.DONE for t in waiting),
        what="the waiting tasks done",
    )
    for task in waiting:
        task.refresh_from_db()
        # One run (one Execution row, DONE), two attempts charged.
        assert (outcomes(task), task.attempts) == (["DONE"], 2)
    rescuer.stop(signal.SIGTERM)
