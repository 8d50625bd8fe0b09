"""As in stage 4: a task that raises never kills the worker; retryable errors come back later
with exponential backoff and jitter, up to max_attempts, then DEAD; other errors fail at once."""

import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.tasks import task
from django.utils import timezone

from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from taskqueue.retries import backoff
from taskqueue.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)

calls = []


@task(retry_on=(ConnectionError,), backoff_base=0.2)
def flaky():
    """Fails with a retryable error twice, then succeeds."""
    calls.append(timezone.now())
    if len(calls) <= 2:
        raise ConnectionError(f"try {len(calls)} refused")
    return "third time lucky"


def error_classes(task) -> list[str]:
    return [error["exception_class_path"] for error in task.errors]


def drain(until, worker=None):
    """Run a burst worker in this process again and again until `until()` holds: a retry
    becomes due only after its backoff, so one burst is not enough."""
    worker = worker or Worker(burst=True)
    deadline = timezone.now() + timedelta(seconds=30)
    while not until():
        assert timezone.now() < deadline, "timed out"
        worker.run()
    return worker


def test_backoff_doubles_its_ceiling_up_to_the_cap_and_jitters_below_it():
    always_max = lambda: 1.0  # noqa: E731
    ceilings = [backoff(n, base=1, cap=10, rng=always_max) for n in range(1, 7)]
    assert ceilings == [1, 2, 4, 8, 10, 10]

    rng = random.Random(42).random
    delays = [backoff(4, base=1, cap=10, rng=rng) for _ in range(200)]
    assert all(0 <= delay <= 8 for delay in delays)
    assert len({round(delay, 3) for delay in delays}) > 150  # jitter: spread, not one value


def test_a_retryable_error_is_retried_after_a_backoff_until_it_succeeds():
    calls.clear()
    task = enqueue("test_retries.flaky")

    drain(lambda: Task.objects.get(pk=task.pk).status == Task.Status.DONE)

    task.refresh_from_db()
    assert (task.attempts, task.result) == (3, "third time lucky")
    assert error_classes(task) == ["builtins.ConnectionError", "builtins.ConnectionError"]
    assert (
        "Traceback" in task.errors[0]["traceback"]
        and "try 1 refused" in task.errors[0]["traceback"]
    )
    assert len(task.worker_ids) == 3 and all(task.worker_ids)
    # each retry waited no longer than its ceiling: 0.2 s, then 0.4 s (plus a little for the run)
    assert calls[1] - calls[0] < timedelta(seconds=0.2 + 1)
    assert calls[2] - calls[1] < timedelta(seconds=0.4 + 1)


def test_a_task_is_not_claimed_before_its_run_after():
    task = enqueue("noop")
    Task.objects.filter(pk=task.pk).update(run_after=timezone.now() + timedelta(hours=1))

    Worker(burst=True).run()

    assert Task.objects.get(pk=task.pk).status == Task.Status.QUEUED


def test_an_error_the_task_does_not_retry_fails_it_at_once():
    task = enqueue("reject", {"message": "bad card number"})

    Worker(burst=True).run()

    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.FAILED, 1)
    assert task.error == "ValueError: bad card number"


def test_after_max_attempts_the_task_is_dead_and_the_worker_still_runs():
    task = enqueue("fail", {"message": "still down"})  # defined with max_attempts=3
    after = enqueue("noop")

    drain(lambda: Task.objects.get(pk=task.pk).status == Task.Status.DEAD)

    task.refresh_from_db()
    assert task.attempts == task.max_attempts == 3
    assert error_classes(task) == ["builtins.RuntimeError"] * 3
    assert Task.objects.get(pk=after.pk).status == Task.Status.DONE


def test_an_unknown_task_name_fails_with_a_clear_message():
    task = Task.objects.create(name="os.system", args=["rm -rf /"])

    Worker(burst=True).run()

    task.refresh_from_db()
    assert task.status == Task.Status.FAILED
    assert task.error.startswith("UnknownTask: unknown task 'os.system': not in the registry")


def test_requeue_gives_dead_tasks_a_fresh_set_of_attempts():
    task = enqueue("fail")
    drain(lambda: Task.objects.get(pk=task.pk).status == Task.Status.DEAD)

    call_command("requeue", "--all")

    task.refresh_from_db()
    assert (task.status, task.attempts, task.max_attempts) == (Task.Status.QUEUED, 3, 6)
    assert len(task.errors) == 3  # the history stays
    # ...and a worker runs it again, attempts 4 to 6, until it is DEAD once more.
    drain(lambda: Task.objects.get(pk=task.pk).status == Task.Status.DEAD)
    task.refresh_from_db()
    assert (task.attempts, len(task.errors), len(task.worker_ids)) == (6, 6, 6)


def test_the_admin_action_requeues_the_selected_dead_tasks(admin_client):
    task = enqueue("fail")
    drain(lambda: Task.objects.get(pk=task.pk).status == Task.Status.DEAD)

    response = admin_client.post(
        "/admin/taskqueue/task/",
        {"action": "retry_selected", "_selected_action": [task.pk]},
        follow=True,
    )

    assert "Re-queued 1 task(s)." in response.content.decode()
    assert Task.objects.get(pk=task.pk).status == Task.Status.QUEUED


def test_the_admin_action_cancels_queued_tasks_only(admin_client):
    queued = enqueue("noop")
    dead = enqueue("fail")
    drain(lambda: Task.objects.get(pk=dead.pk).status == Task.Status.DEAD)
    queued = enqueue("noop")

    response = admin_client.post(
        "/admin/taskqueue/task/",
        {"action": "cancel_selected", "_selected_action": [queued.pk, dead.pk]},
        follow=True,
    )

    assert "Cancelled 1 task(s)." in response.content.decode()
    assert Task.objects.get(pk=queued.pk).status == Task.Status.CANCELLED
    assert Task.objects.get(pk=dead.pk).status == Task.Status.DEAD
