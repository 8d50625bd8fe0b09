"""A worker killed mid-task loses nothing. Its supervisor sees the death at once and gives its
tasks back: the running one charged an attempt, the rest not. A supervisor killed with its
children leaves their rows to expire, and another supervisor's rescuer gives their tasks
back. A task that kills its worker every time ends DEAD."""

import contextlib
import os
import re
import signal
import threading
from datetime import timedelta

import pytest
from django.db import Error, connection, transaction
from django.utils import timezone

from taskqueue import rescuer
from taskqueue.enqueue import enqueue
from taskqueue.models import Task, WorkerProcess
from taskqueue.rescuer import RESCUER_LOCK, rescue_lost
from workshop import embedded
from workshop.processes import wait_until
from workshop.testing.logfmt import events
from workshop.testing.threads import InThread

from task_rows import outcomes, status

pytestmark = pytest.mark.django_db(transaction=True)

FAST = ["--poll-interval", "0.05", "--lease", "1", "--rescue-interval", "0.1"]


def child_running(supervisor, task) -> int:
    """The pid of the child that runs `task` (the worker id is host:pid:token), once its
    supervisor has seen it running (the heartbeat writes what each child runs)."""
    line = supervisor.wait_for(f"event=task.start task={task.pk} ").string
    wait_until(lambda: WorkerProcess.objects.filter(task_id=task.pk).exists(), what="beat")
    return int(re.search(r"worker=[^:\s]+:(\d+):", line).group(1))


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it died with its parent already
        os.kill(pid, signal.SIGKILL)


def test_a_child_killed_mid_task_has_its_task_run_again_without_a_lease_wait(manage):
    task = enqueue("pretend_work", {"ms": 1500})
    # A lease of 10 minutes: the lease cannot be what brings the task back within the test.
    supervisor = manage("worker", "-v2", "--lease", "600")
    child = child_running(supervisor, task)

    os.kill(child, signal.SIGKILL)

    given = supervisor.wait_for(rf"event=tasks.given_back worker=\S+:{child}:")
    assert "running=" + str(task.pk) in given.string
    wait_until(lambda: status(task) == Task.Status.DONE, what="DONE")
    assert outcomes(task) == ["WorkerLost", "DONE"]
    assert Task.objects.get(pk=task.pk).attempts == 2
    supervisor.stop(signal.SIGTERM)


def test_a_supervisor_killed_with_its_children_is_rescued_by_another_after_the_lease(manage):
    task = enqueue("pretend_work", {"ms": 1500})
    doomed = manage("worker", "-v2", *FAST)
    child = child_running(doomed, task)
    # What a rescuer knows of a vanished machine is its last heartbeat (at most 0.1 s old).
    wait_until(lambda: WorkerProcess.objects.filter(task_id=task.pk).exists(), what="beat")
    # The whole process group at once: what `docker kill` or a lost machine looks like.
    doomed.send_signal(signal.SIGKILL)
    kill(child)
    assert doomed.wait() == -signal.SIGKILL

    rescuer = manage("worker", "-v2", *FAST)

    wait_until(lambda: status(task) == Task.Status.DONE, what="DONE")
    assert outcomes(task) == ["WorkerLost", "DONE"]
    (lost,) = events(rescuer.lines, "worker.lost")
    assert lost["running"] == str(task.pk)  # the row said what it ran: that one was charged
    rescuer.stop(signal.SIGTERM)


def test_a_task_that_kills_its_worker_every_time_ends_dead(manage):
    task = enqueue("crash_worker")  # defined with max_attempts=3

    supervisor = manage("worker", "-v2", *FAST)

    wait_until(lambda: status(task) == Task.Status.DEAD, timeout=60, what="DEAD")
    task.refresh_from_db()
    assert task.attempts == task.max_attempts == 3
    assert outcomes(task) == ["WorkerLost", "WorkerLost", "WorkerLost", "DEAD"]
    exits = events(supervisor.lines, "supervisor.child_exited")
    assert [line["exit"] for line in exits] == [str(-signal.SIGKILL)] * 3
    supervisor.stop(signal.SIGTERM)


def test_one_rescuer_at_a_time():
    task = enqueue("noop")
    # A worker that never had a row (or whose row was deleted) holds the task.
    Task.objects.filter(pk=task.pk).update(
        status=Task.Status.IN_PROGRESS, worker="gone", attempts=1
    )

    with transaction.atomic(), connection.cursor() as cursor:
        # Another session holds the rescuer's lock: this round is skipped, not queued behind.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RESCUER_LOCK])
        assert InThread(rescue_lost).result() == []

    assert rescue_lost() == ["gone"]
    task.refresh_from_db()
    # Nobody knew it was running: it goes back with its attempt taken back.
    assert (task.status, task.attempts) == (Task.Status.QUEUED, 0)


def test_a_rescuer_frozen_in_its_round_does_not_stop_the_others(monkeypatch):
    """A rescuer stopped (SIGSTOP, a debugger) while it holds the rescuer's lock loses its
    transaction after rescuer.FROZEN_AFTER, and the lock with it: the next one does the round."""
    tasks = [enqueue("noop"), enqueue("noop")]
    Task.objects.filter(pk__in=[task.pk for task in tasks]).update(
        status=Task.Status.IN_PROGRESS, worker="gone", attempts=1
    )
    WorkerProcess.objects.create(
        id="gone",
        hostname="elsewhere",
        pid=1,
        expires_at=timezone.now() - timedelta(seconds=1),
        task_id=tasks[0].pk,
    )
    charge, main = rescuer.record_failure, threading.current_thread()
    frozen, thaw = threading.Event(), threading.Event()

    def freeze_in_a_thread(*args, **kwargs):
        if threading.current_thread() is not main and not frozen.is_set():
            frozen.set()  # the rescuer in the thread stops here, inside its transaction
            thaw.wait(60)
        return charge(*args, **kwargs)

    monkeypatch.setattr(rescuer, "record_failure", freeze_in_a_thread)
    stopped = InThread(rescue_lost, name="frozen rescuer")
    assert frozen.wait(10)
    assert rescue_lost() == []  # the frozen one holds the lock

    rescued = wait_until(rescue_lost, timeout=30, what="the next rescuer's round")

    assert rescued == ["gone"]
    assert {status(task) for task in tasks} == {Task.Status.QUEUED}
    thaw.set()
    with pytest.raises(Error):  # the server ended its transaction
        stopped.result()


def test_docker_compose_stop_loses_nothing(manage):
    """`docker compose stop`: SIGTERM, then SIGKILL of the whole container when its timeout
    runs out before the task does. The task is rescued when the rows expire: it runs again."""
    task = enqueue("pretend_work", {"ms": 60_000})
    worker = manage("worker", "-v2", *FAST, "--grace", "60")
    child = child_running(worker, task)

    worker.send_signal(signal.SIGTERM)
    worker.wait_for("event=worker.stopping")
    worker.send_signal(signal.SIGKILL)  # docker's timeout, shorter than our grace period
    kill(child)
    assert worker.wait() == -signal.SIGKILL
    Task.objects.filter(pk=task.pk).update(kwargs={"ms": 10})  # make the second run quick
    replacement = manage("worker", "-v2", *FAST)

    wait_until(lambda: status(task) == Task.Status.DONE, what="DONE")
    assert outcomes(task) == ["WorkerLost", "DONE"]
    replacement.stop(signal.SIGTERM)


def test_a_worker_survives_losing_its_database_connection(manage):
    """What a database restart looks like from a worker: every connection is cut."""
    worker = manage("worker", "-v2", *FAST)
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
    assert "supervisor.child_exited" not in worker.output
    worker.stop(signal.SIGTERM)


@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="restarts the embedded server, not someone else's"
)
def test_a_database_restart_mid_run_loses_nothing(manage):
    tasks = [enqueue("pretend_work", {"ms": 20}) for _ in range(150)]
    worker = manage("worker", "-v2", *FAST)
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
    # Its supervisor went on vouching for it once the database was back.
    assert WorkerProcess.objects.filter(stopped_at__isnull=True).count() == 1
    worker.stop(signal.SIGTERM)


def test_a_task_that_calls_sys_exit_fails_and_its_worker_lives_on(manage):
    task = enqueue("exit_the_process")
    after = enqueue("noop")

    supervisor = manage("worker", "-v2", *FAST)

    wait_until(lambda: status(after) == Task.Status.DONE, what="the next task DONE")
    assert outcomes(task) == ["SystemExit", "FAILED"]
    assert events(supervisor.lines, "supervisor.child_exited") == []
    supervisor.stop(signal.SIGTERM)


def test_a_row_locked_by_an_operator_holds_up_the_rescue_of_its_worker_only():
    blocked, free = enqueue("noop"), enqueue("noop")
    for task, worker in ((blocked, "gone-a"), (free, "gone-b")):
        Task.objects.filter(pk=task.pk).update(
            status=Task.Status.IN_PROGRESS, worker=worker, attempts=1
        )
        WorkerProcess.objects.create(
            id=worker,
            hostname="elsewhere",
            pid=1,
            expires_at=timezone.now() - timedelta(seconds=1),
            task_id=task.pk,
        )
    locked, release = threading.Event(), threading.Event()

    def hold_the_blocked_row():  # an operator's open transaction
        with transaction.atomic():
            Task.objects.select_for_update().get(pk=blocked.pk)
            locked.set()
            release.wait(30)

    holder = InThread(hold_the_blocked_row)
    assert locked.wait(10)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '200ms'")  # as a worker's own connection has one
    try:
        assert rescue_lost() == ["gone-b"]  # the other worker's task did not wait for it
        assert status(free) == Task.Status.QUEUED
        release.set()
        holder.result()
        assert rescue_lost() == ["gone-a"]  # and its turn comes at the next round
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert outcomes(blocked) == ["WorkerLost", "QUEUED"]
