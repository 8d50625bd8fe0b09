"""Stage 5 is a django.tasks backend. Django's documented behaviour of the Tasks API is the
oracle: what `@task`, `.enqueue()`, `.get_result()`, `.refresh()`, priority, `run_after`,
queue names, TaskContext and stored results do, this backend must do, with a real worker."""

from datetime import timedelta
from pathlib import Path
from signal import SIGTERM

import pytest
from django.tasks import TaskResultStatus, default_task_backend, task_backends
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.utils import timezone

from taskqueue.models import Task
from taskqueue.shutdown import EXIT_GRACE_EXPIRED
from taskqueue.tasks import (
    fail,
    greet,
    greet_later,
    noop,
    pretend_work_async,
    reject,
    send_welcome_email,
    which_attempt,
)
from taskqueue.worker import Worker
from workshop.testing.logfmt import events

pytestmark = pytest.mark.django_db(transaction=True)


def run_worker():
    Worker(burst=True).run()


def test_the_backend_declares_what_it_supports():
    backend = task_backends["default"]
    assert (
        backend.supports_defer,
        backend.supports_priority,
        backend.supports_get_result,
        backend.supports_async_task,
    ) == (True, True, True, True)


def test_enqueue_returns_a_ready_result_that_a_worker_makes_successful():
    result = greet.enqueue(name="Ada")

    assert result.status == TaskResultStatus.READY
    assert (result.args, result.kwargs, result.backend) == ([], {"name": "Ada"}, "default")
    assert result.enqueued_at is not None and result.started_at is None
    assert not result.is_finished
    with pytest.raises(ValueError, match="Task has not finished yet"):
        _ = result.return_value

    run_worker()
    result.refresh()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.is_finished
    assert result.return_value == "Hello, Ada!"
    assert result.started_at is not None and result.finished_at >= result.started_at
    assert result.attempts == 1 and len(result.worker_ids) == 1
    assert result.errors == []


def test_get_result_from_the_task_and_from_the_backend():
    result = greet.enqueue("Grace")
    run_worker()

    assert greet.get_result(result.id).return_value == "Hello, Grace!"
    assert default_task_backend.get_result(result.id).status == TaskResultStatus.SUCCESSFUL
    with pytest.raises(TaskResultMismatch):
        noop.get_result(result.id)
    with pytest.raises(TaskResultDoesNotExist):
        greet.get_result("999999999")
    with pytest.raises(TaskResultDoesNotExist):
        greet.get_result("not-a-number")


def test_a_failed_task_reports_failed_with_its_errors():
    result = reject.enqueue(message="invalid card number")
    run_worker()
    result.refresh()

    assert result.status == TaskResultStatus.FAILED
    assert [error.exception_class for error in result.errors] == [ValueError]
    assert "invalid card number" in result.errors[0].traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value


def test_a_retried_task_lists_each_attempt_s_worker_and_error():
    result = fail.enqueue("down")  # 3 attempts
    for _ in range(50):
        run_worker()
        result.refresh()
        if result.is_finished:
            break

    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 3
    assert [error.exception_class for error in result.errors] == [RuntimeError] * 3


def test_higher_priority_runs_first():
    order = []
    task_started.connect(recorder := lambda sender, task_result, **kw: order.append(task_result.id))
    try:
        low = greet.using(priority=-5).enqueue("low")
        high = greet.using(priority=20).enqueue("high")
        run_worker()
    finally:
        task_started.disconnect(recorder)

    assert order == [high.id, low.id]
    assert greet.get_result(high.id).task.priority == 20


def test_run_after_defers_a_task():
    later = greet.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("later")
    now = greet.enqueue("now")
    run_worker()

    assert greet.get_result(now.id).status == TaskResultStatus.SUCCESSFUL
    assert greet.get_result(later.id).status == TaskResultStatus.READY


def test_queue_names_are_stored_and_checked():
    result = send_welcome_email.enqueue(3)
    assert Task.objects.get(pk=result.id).queue_name == "emails"
    assert result.task.queue_name == "emails"

    with pytest.raises(InvalidTask, match="Queue 'reports' is not valid for backend"):
        greet.using(queue_name="reports")


@pytest.mark.parametrize(
    ("using", "message"),
    [
        ({"priority": 101}, "priority must be a whole number between -100 and 100"),
        ({"run_after": timezone.now().replace(tzinfo=None)}, "run_after must be an aware datetime"),
    ],
)
def test_django_s_own_validation_refuses_bad_options(using, message):
    with pytest.raises(InvalidTask, match=message):
        greet.using(**using)


def test_a_task_that_takes_context_gets_its_attempt_and_result_id():
    result = which_attempt.enqueue()
    run_worker()

    assert which_attempt.get_result(result.id).return_value == {"attempt": 1, "id": result.id}


def test_a_coroutine_task_runs_to_completion():
    result = greet_later.enqueue("async")
    run_worker()

    assert greet_later.get_result(result.id).return_value == "Hello, async!"


def test_a_coroutine_stopped_at_shutdown_ends_before_its_task_goes_back(manage, tmp_path):
    log = tmp_path / "attempts.log"
    result = pretend_work_async.enqueue(ms=60_000, log=str(log))
    worker = manage("worker", "-v2", "--poll-interval", "0.05", "--grace", "0.5")
    worker.wait_for(f"event=task.start task={result.id} ")

    worker.send_signal(SIGTERM)

    # Cancelled when the grace period ran out: its `finally` ran, in the worker, before the
    # worker sent the task back and exited (nothing of the attempt runs on after it).
    assert worker.wait(timeout=30) == EXIT_GRACE_EXPIRED
    pid = events(worker.lines, "worker.ready")[0]["worker"].split(":")[1]
    assert Path(log).read_text().splitlines() == [f"start 1 {pid}", f"end 1 {pid}"]
    row = Task.objects.get(pk=result.id)
    assert (row.status, row.attempts) == (Task.Status.QUEUED, 1)


def test_arguments_and_return_values_round_trip_as_json():
    result = greet.enqueue(name=("not", "a", "string"))  # a tuple comes back as a list
    assert result.kwargs == {"name": ["not", "a", "string"]}
    with pytest.raises(TypeError, match="JSON"):
        greet.enqueue(name=object())
    assert Task.objects.count() == 1


def test_signals_are_sent_for_enqueue_start_and_finish():
    seen = []

    def record(signal_name):
        def receiver(sender, task_result, **kwargs):
            seen.append((signal_name, task_result.id, task_result.status))

        return receiver

    receivers = {
        task_enqueued: record("enqueued"),
        task_started: record("started"),
        task_finished: record("finished"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        result = greet.enqueue("signals")
        run_worker()
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)

    assert seen == [
        ("enqueued", result.id, TaskResultStatus.READY),
        ("started", result.id, TaskResultStatus.RUNNING),
        ("finished", result.id, TaskResultStatus.SUCCESSFUL),
    ]


def test_enqueue_inside_a_transaction_that_rolls_back_leaves_nothing():
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        greet.enqueue("never")
        raise RuntimeError("rolled back")

    assert Task.objects.count() == 0
