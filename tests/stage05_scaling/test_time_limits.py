"""What a supervisor makes possible besides liveness: a time limit per task, cancelling a task
while it runs, and a shutdown that keeps to its grace period. A task that lets go when asked
fails or ends CANCELLED and its worker lives on; one that holds the GIL cannot be asked, so its
supervisor kills its worker process (real processes, real signals)."""

import signal

import pytest

from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from taskqueue.retries import cancel
from taskqueue.shutdown import EXIT_FORCED, EXIT_GRACE_EXPIRED
from workshop.processes import wait_until
from workshop.testing.logfmt import events

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
