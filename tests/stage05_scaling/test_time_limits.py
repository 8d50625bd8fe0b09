"""What a supervisor makes possible besides liveness: a time limit per task, cancelling a task
while it runs, and a shutdown that keeps to its grace period. A task that lets go when asked
fails or ends CANCELLED and its worker lives on; one that holds the GIL cannot be asked, so its
supervisor kills its worker process (real processes, real signals)."""

import signal
import threading

import pytest
from django.db import connection, transaction

from taskqueue.claim import claim_batch, release
from taskqueue.done import Completions
from taskqueue.enqueue import enqueue, enqueue_many
from taskqueue.models import Task
from taskqueue.registry import lookup
from taskqueue.report import TIME_LIMIT
from taskqueue.rescuer import WorkerLost, give_back
from taskqueue.retries import cancel, record_failure
from taskqueue.shutdown import EXIT_FORCED, EXIT_GRACE_EXPIRED, Shutdown
from workshop.processes import wait_until
from workshop.testing.logfmt import events
from workshop.testing.threads import InThread

from task_rows import outcomes, status

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_task_past_its_time_limit_fails_and_is_retried_as_its_policy_says(manage):
    task = enqueue("slow_api_call", {"ms": 60_000})  # timeout=1, max_attempts=2

    supervisor = manage("worker", "-v2", "--poll-interval", "0.05")

    wait_until(lambda: status(task) == Task.Status.DEAD, timeout=30, what="DEAD")
    assert outcomes(task) == ["TimeLimitExceeded", "TimeLimitExceeded", "DEAD"]
    # The task let go when asked: its worker lived on.
    assert events(supervisor.lines, "supervisor.killed") == []
    assert events(supervisor.lines, "supervisor.child_exited") == []
    supervisor.stop(signal.SIGTERM)


def test_a_task_past_its_time_limit_that_holds_the_gil_is_killed_with_its_worker(manage):
    task = enqueue("stuck_in_c", {"seconds": 60})  # timeout=1, max_attempts=1

    supervisor = manage("worker", "-v2", "--poll-interval", "0.05")

    wait_until(lambda: status(task) == Task.Status.DEAD, timeout=30, what="DEAD")
    assert outcomes(task) == ["TimeLimitExceeded", "DEAD"]
    (killed,) = events(supervisor.lines, "supervisor.killed")
    assert killed["task"] == str(task.pk)
    supervisor.wait_for("event=supervisor.restarted")  # and the worker is replaced
    supervisor.stop(signal.SIGTERM)


@pytest.mark.parametrize("task_name", ["pretend_work", "hold_the_gil"])
def test_cancelling_a_running_task_stops_it_and_it_is_not_retried(manage, task_name):
    kwargs = {"ms": 60_000} if task_name == "pretend_work" else {"seconds": 60}
    task = enqueue(task_name, kwargs)
    supervisor = manage("worker", "-v2", "--poll-interval", "0.05")
    supervisor.wait_for(f"event=task.start task={task.pk} ")

    assert cancel(Task.objects.filter(pk=task.pk)) == 1

    wait_until(lambda: status(task) == Task.Status.CANCELLED, timeout=10, what="CANCELLED")
    assert outcomes(task) == ["Cancelled", "CANCELLED"]
    assert Task.objects.get(pk=task.pk).attempts == 1
    supervisor.stop(signal.SIGTERM)


@pytest.mark.parametrize(
    "grace, signals, exit_code",
    [("1", 1, EXIT_GRACE_EXPIRED), ("600", 2, EXIT_FORCED)],
    ids=["grace period over", "second signal"],
)
def test_a_task_holding_the_gil_at_shutdown_is_killed_and_goes_back(
    manage, grace, signals, exit_code
):
    task = enqueue("hold_the_gil", {"seconds": 300})
    supervisor = manage("worker", "-v2", "--poll-interval", "0.05", "--grace", grace)
    supervisor.wait_for(f"event=task.start task={task.pk} ")

    for _ in range(signals):
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait_for("event=supervisor.stopping")

    # The child cannot stop the task, nor itself: without its parent it would stay for 300 s.
    assert supervisor.wait(timeout=60) == exit_code
    (killed,) = events(supervisor.lines, "supervisor.killed")
    assert (killed["task"], killed["reason"]) == (str(task.pk), "past its grace period")
    task.refresh_from_db()  # back to the queue, as a task interrupted at shutdown goes
    assert (task.status, task.worker, task.attempts) == (Task.Status.QUEUED, "", 1)


def test_a_stop_meant_for_one_attempt_lets_go_when_its_retry_starts():
    """The stop of attempt 1 is still being sent (every 50 ms, until the attempt ends) when a
    quick retry starts attempt 2 of the same task id. It must let go then: otherwise the
    thread that sends it never reads the next stop, and attempt 2, past its own time limit,
    is killed with its process instead of cancelled (seen in the coroutine test above). The
    thread is driven by hand here, as the STOP_TASK signal would drive it."""
    shutdown = Shutdown(grace=1, on_stop_task=lambda: (7, TIME_LIMIT))
    cancels = []
    shutdown.stop_with(lambda: cancels.append(1))
    with shutdown.task_running(7):
        stopping = threading.Thread(target=shutdown._stop_one_task, daemon=True)
        stopping.start()
        wait_until(lambda: cancels == [1], what="attempt 1 cancelled")
    shutdown.stop_with(lambda: cancels.append(2))
    with shutdown.task_running(7):  # attempt 2, at once
        stopping.join(timeout=2)

        assert not stopping.is_alive(), "the stop of attempt 1 holds on to attempt 2"
        assert cancels == [1]  # and attempt 2 was not cancelled by it


def attempts_logged(log) -> list[str]:
    """What the task noted of its attempts, each line `start N` or `end N`, pid apart."""
    return [line.rsplit(" ", 1)[0] for line in log.read_text().splitlines()]


def test_a_coroutine_past_its_time_limit_is_cancelled_and_its_attempts_never_overlap(
    manage, tmp_path
):
    log = tmp_path / "attempts.log"
    task = enqueue("slow_async_call", {"ms": 60_000, "log": str(log)})  # timeout=1, 2 attempts

    supervisor = manage("worker", "-v2", "--poll-interval", "0.05")

    wait_until(lambda: status(task) == Task.Status.DEAD, timeout=30, what="DEAD")
    assert outcomes(task) == ["TimeLimitExceeded", "TimeLimitExceeded", "DEAD"]
    # Each attempt's `finally` ran before the next attempt began.
    assert attempts_logged(log) == ["start 1", "end 1", "start 2", "end 2"]
    assert events(supervisor.lines, "supervisor.killed") == []
    supervisor.stop(signal.SIGTERM)


def test_a_coroutine_that_ignores_its_cancel_ends_with_its_worker_process(manage, tmp_path):
    log = tmp_path / "attempts.log"
    task = enqueue("deaf_coroutine", {"seconds": 60, "log": str(log)})  # timeout=1, 2 attempts

    supervisor = manage("worker", "-v2", "--poll-interval", "0.05")

    wait_until(lambda: status(task) == Task.Status.DEAD, timeout=30, what="DEAD")
    assert outcomes(task) == ["TimeLimitExceeded", "TimeLimitExceeded", "DEAD"]
    # Killed with its worker each time: the second attempt ran in a new process.
    assert len(events(supervisor.lines, "supervisor.killed")) == 2
    starts = log.read_text().splitlines()
    assert [line.split()[:2] for line in starts] == [["start", "1"], ["start", "2"]]
    assert starts[0].split()[2] != starts[1].split()[2]
    supervisor.stop(signal.SIGTERM)


@pytest.mark.parametrize(
    "way_back",
    ["a retryable error", "its worker lost", "a shutdown", "not started", "a give-back"],
)
def test_a_cancel_requested_while_it_runs_holds_whatever_way_it_comes_back(way_back):
    task = enqueue("fail")  # RuntimeError, retried
    (claimed,) = claim_batch(1, "worker-a", ["default"])
    assert cancel(Task.objects.filter(pk=task.pk)) == 1  # running: asked to stop

    if way_back == "a retryable error":
        record_failure(claimed, lookup("fail"), RuntimeError("failed"))
    elif way_back == "its worker lost":
        record_failure(claimed, None, WorkerLost("gone"), lost=True)
    elif way_back == "a shutdown":
        release([task.pk], "worker-a", uncount=False)
    elif way_back == "not started":
        release([task.pk], "worker-a", uncount=True)
    else:
        give_back("worker-a", None, "")

    # Not back in the queue, where a worker would start it again: CANCELLED.
    assert status(task) == Task.Status.CANCELLED
    assert claim_batch(10, "worker-b", ["default"]) == []


def waiting_for_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        return cursor.fetchone()[0]


def test_a_completion_and_a_bulk_cancel_at_once_never_deadlock():
    # A table of some size, as in production: the completion then finds its rows by their
    # primary key, in the order it lists them (a nested loop), not in the heap's order.
    enqueue_many("noop", [{}] * 5000)
    Task.objects.update(status=Task.Status.DONE)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE taskqueue_task")
    first, second = enqueue("noop"), enqueue("noop")
    claim_batch(2, "worker-a", ["default"])
    done = Completions("worker-a")
    done.add(second.pk, 1, "null")  # finished in this order: the second task first
    done.add(first.pk, 1, "null")
    locked, release_it = threading.Event(), threading.Event()

    def hold_the_first():  # an operator's open transaction on the first task
        with transaction.atomic():
            Task.objects.select_for_update().get(pk=first.pk)
            locked.set()
            release_it.wait(30)

    holder = InThread(hold_the_first)
    assert locked.wait(10)
    cancelling = InThread(cancel, Task.objects.filter(pk__in=[first.pk, second.pk]))
    wait_until(lambda: waiting_for_locks() == 1, what="the cancel waiting for the first task")
    completing = InThread(done.flush)
    wait_until(lambda: waiting_for_locks() == 2, what="the completion waiting too")

    release_it.set()

    # Had the completion locked the second task first, each would wait for the other, and
    # PostgreSQL would end one of them (a deadlock) after a second.
    holder.result()
    assert cancelling.result() == 2  # first in line: both asked to stop
    assert completing.result() == {first.pk, second.pk}  # then both recorded DONE
