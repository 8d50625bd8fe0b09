"""Who knows that a worker is alive: its supervisor, not a thread of the worker itself. Each test
here is a way the lease-per-task design of stage 4 broke (real processes, real signals):
attempts charged to tasks that never ran, a live task taken from a worker whose task held the
GIL, a late success thrown away, orphans after a supervisor's death, a queue's name deciding
before a task's priority."""

import os
import re
import signal
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from taskqueue.claim import claim_batch
from taskqueue.enqueue import enqueue, enqueue_many
from taskqueue.models import Task, WorkerProcess
from workshop.processes import wait_until
from workshop.testing.logfmt import events
from workshop.testing.threads import InThread

from task_rows import outcomes, status

pytestmark = pytest.mark.django_db(transaction=True)

FAST = ["--poll-interval", "0.05", "--lease", "1", "--rescue-interval", "0.1"]


def child_running(supervisor, task) -> int:
    """The pid of the child that runs `task`, once its supervisor has seen it running."""
    line = supervisor.wait_for(f"event=task.start task={task.pk} ").string
    wait_until(lambda: WorkerProcess.objects.filter(task_id=task.pk).exists(), what="beat")
    return int(re.search(r"worker=[^:\s]+:(\d+):", line).group(1))


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def test_tasks_claimed_but_never_started_are_not_charged_when_their_worker_dies(manage):
    running = enqueue("pretend_work", {"ms": 60_000})
    waiting = [enqueue("noop") for _ in range(20)]
    Task.objects.update(max_attempts=1)  # one attempt each: a charge would bury them
    supervisor = manage("worker", "-v2", "--batch-size", "21")
    child = child_running(supervisor, running)  # the 20 others wait in its batch

    os.kill(child, signal.SIGKILL)

    wait_until(
        lambda: all(status(task) == Task.Status.DONE for task in waiting),
        what="the 20 never-started tasks run, by the next child",
    )
    for task in waiting:
        assert outcomes(task) == ["DONE"]
        assert Task.objects.get(pk=task.pk).attempts == 1
    assert outcomes(running) == ["WorkerLost", "DEAD"]  # its one attempt was used, and lost
    supervisor.stop(signal.SIGTERM)


def test_a_task_that_holds_the_gil_is_not_taken_from_its_live_worker(manage):
    # Four leases long, holding the GIL all along: a heartbeat thread in the worker would
    # starve, and another worker's rescuer take the task away while it runs.
    task = enqueue("hold_the_gil", {"seconds": 4})
    runner = manage("worker", "-v2", *FAST)
    runner.wait_for(f"event=task.start task={task.pk} ")
    watcher = manage("worker", "-v2", *FAST)  # its rescuer looks every 0.1 s
    watcher.wait_for("event=worker.ready")

    wait_until(lambda: status(task) == Task.Status.DONE, timeout=60, what="DONE")

    assert outcomes(task) == ["DONE"]
    assert Task.objects.get(pk=task.pk).attempts == 1
    assert events(watcher.lines, "worker.lost") == []
    assert events(watcher.lines, "task.start") == []
    for worker in (runner, watcher):
        worker.stop(signal.SIGTERM)


def test_a_success_that_comes_after_the_worker_was_given_up_is_kept(manage):
    # Long enough to outlast a rescuer round that the freeze below may catch the supervisor in
    # (the server ends it after rescuer.FROZEN_AFTER), and the lease after it.
    slow = enqueue("pretend_work", {"ms": 10_000})
    Task.objects.filter(pk=slow.pk).update(max_attempts=1)
    runner = manage("worker", "-v2", *FAST)
    runner.wait_for(f"event=task.start task={slow.pk} ")
    wait_until(
        lambda: WorkerProcess.objects.filter(task_id=slow.pk).exists(),
        what="the supervisor's heartbeat to say its child runs the task",
    )
    # The supervisor freezes (a debugger, a machine swapping, a network cut): no heartbeat.
    # Its child runs on.
    runner.send_signal(signal.SIGSTOP)
    watcher = manage("worker", "-v2", *FAST)

    wait_until(lambda: status(slow) == Task.Status.DEAD, what="given up: its only attempt lost")
    wait_until(lambda: status(slow) == Task.Status.DONE, what="then its success arrives")

    assert outcomes(slow) == ["WorkerLost", "DONE"]
    runner.send_signal(signal.SIGCONT)
    for worker in (runner, watcher):
        worker.stop(signal.SIGTERM)


def test_children_die_with_their_supervisor_and_their_tasks_are_rescued(manage):
    task = enqueue("pretend_work", {"ms": 1500})
    first = manage("worker", "-v2", "--processes", "2", *FAST)
    wait_until(lambda: len(events(first.lines, "worker.ready")) == 2, what="two workers")
    (ready,) = events(first.lines, "supervisor.ready")
    children = [int(pid) for pid in ready["pids"].split(",")]
    first.wait_for(f"event=task.start task={task.pk} ")
    wait_until(lambda: WorkerProcess.objects.filter(task_id=task.pk).exists(), what="beat")

    first.send_signal(signal.SIGKILL)

    wait_until(lambda: not any(alive(pid) for pid in children), timeout=5, what="no orphans")
    second = manage("worker", "-v2", "--processes", "2", *FAST)
    wait_until(lambda: status(task) == Task.Status.DONE, what="rescued, and run again")
    assert outcomes(task) == ["WorkerLost", "DONE"]
    live = WorkerProcess.objects.filter(stopped_at__isnull=True)
    assert sorted(live.values_list("supervisor_pid", flat=True)) == [second.pid] * 2
    second.stop(signal.SIGTERM)


def test_the_highest_priority_runs_first_whatever_its_queue(manage):
    enqueue_many("noop", [{}] * 300, priority=-100)  # queue "default"
    urgent = enqueue("send_welcome_email", {"user_id": 1}, priority=100)  # queue "emails"

    worker = manage("worker", "-v2", "--burst", "--queue", "default", "--queue", "emails")

    assert worker.wait(timeout=60) == 0
    first = events(worker.lines, "task.start")[0]
    assert first["task"] == str(urgent.pk)


def lock_row_while(task, started: threading.Event, release: threading.Event) -> None:
    """In a thread: hold `task`'s row lock, as an operator's open transaction would."""
    with transaction.atomic():
        Task.objects.select_for_update().get(pk=task.pk)
        started.set()
        release.wait(60)


def waiting_for_a_lock(fragment: str) -> bool:
    """Whether a session waits for a lock in a statement that contains `fragment`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE %s",
            [f"%{fragment}%"],
        )
        return cursor.fetchone()[0] > 0


def test_a_worker_killed_while_its_claim_waits_for_a_lock_leaves_nothing_held(manage):
    finishing = enqueue("pretend_work", {"ms": 2000})
    waiting = enqueue("noop")
    supervisor = manage("worker", "-v2", "--batch-size", "1", *FAST)
    child = child_running(supervisor, finishing)
    locked, release = threading.Event(), threading.Event()
    holder = InThread(lock_row_while, finishing, locked, release)
    assert locked.wait(10)
    # The task ends: the statement that records it and claims the next waits for the lock.
    wait_until(lambda: waiting_for_a_lock("completed AS"), what="the claim waiting for the lock")

    os.kill(child, signal.SIGKILL)
    # Its supervisor gives back what it held, passing over the locked row, and writes its end.
    ended = WorkerProcess.objects.filter(pid=child, stopped_at__isnull=False)
    wait_until(ended.exists, what="the child's row marked stopped")
    release.set()  # the dead child's statement now commits: it claimed `waiting` for itself
    holder.result()

    wait_until(lambda: status(waiting) == Task.Status.DONE, what="the task it claimed, run")
    assert outcomes(waiting) == ["DONE"]
    assert Task.objects.get(pk=waiting.pk).attempts == 1  # it never started: not charged
    supervisor.stop(signal.SIGTERM)


def test_a_worker_waits_for_a_lock_no_longer_than_its_lock_timeout(manage):
    finishing = enqueue("pretend_work", {"ms": 2000})
    supervisor = manage("worker", "-v2", *FAST, env={"TASKQUEUE_LOCK_TIMEOUT": "0.5"})
    supervisor.wait_for(f"event=task.start task={finishing.pk} ")
    locked, release = threading.Event(), threading.Event()
    holder = InThread(lock_row_while, finishing, locked, release)
    assert locked.wait(10)

    # The server ends the statement that waits; the worker lives on and tries again.
    supervisor.wait_for("event=worker.db_error .*lock timeout")
    release.set()
    holder.result()

    wait_until(lambda: status(finishing) == Task.Status.DONE, what="DONE once the lock is gone")
    assert events(supervisor.lines, "supervisor.child_exited") == []
    supervisor.stop(signal.SIGTERM)


@pytest.mark.parametrize("row", ["stopped", "expired"])
def test_a_worker_whose_row_says_it_ended_claims_nothing(row):
    task = enqueue("noop")
    now = timezone.now()
    WorkerProcess.objects.create(
        id="written-off",
        hostname="here",
        pid=1,
        expires_at=now - timedelta(seconds=1) if row == "expired" else now + timedelta(minutes=1),
        stopped_at=now if row == "stopped" else None,
    )

    assert claim_batch(10, "written-off", ["default"]) == []
    assert len(claim_batch(10, "written-off", ["default", "emails"])) == 0
    assert status(task) == Task.Status.QUEUED
