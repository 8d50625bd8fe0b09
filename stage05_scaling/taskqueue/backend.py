"""This queue as a `django.tasks` backend: Django 6 defines the Tasks API and ships no worker;
stage 5 is that worker.

    # settings.py
    TASKS = {"default": {"BACKEND": "taskqueue.backend.PostgresBackend"}}

    # anywhere
    from django.tasks import task

    @task(priority=10, max_attempts=3, retry_on=(TimeoutError,), timeout=60)
    def send_receipt(order_id): ...

    result = send_receipt.enqueue(order_id=42)   # a row in taskqueue_task, committed with you
    result.refresh(); result.status, result.return_value

Django's statuses map onto the queue's: QUEUED is READY, IN_PROGRESS is RUNNING, DONE is
SUCCESSFUL, and FAILED, DEAD and CANCELLED are all FAILED.
"""

import logging
from dataclasses import dataclass

from django.tasks import TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task as DjangoTask
from django.tasks.base import TaskError
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import (
    log_task_finished,
    log_task_started,
    task_enqueued,
    task_finished,
    task_started,
)

from taskqueue import registry

DJANGO_STATUS = {
    "QUEUED": TaskResultStatus.READY,
    "IN_PROGRESS": TaskResultStatus.RUNNING,
    "DONE": TaskResultStatus.SUCCESSFUL,
    "FAILED": TaskResultStatus.FAILED,
    "DEAD": TaskResultStatus.FAILED,
    "CANCELLED": TaskResultStatus.FAILED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueTask(DjangoTask):
    """Django's Task plus stage 4's retry policy: `@task(max_attempts=3, retry_on=(...))`."""

    max_attempts: int = 5
    # Exceptions worth another attempt (a timeout, a dropped connection). Any other exception
    # fails the task at once: retrying a bug only repeats it.
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    backoff_base: float = 1.0  # seconds before the first retry, at most
    backoff_cap: float = 300.0  # never wait longer than this between attempts
    # Seconds an attempt may run; past it, the worker's supervisor stops it and the attempt
    # fails with TimeLimitExceeded (a TimeoutError: retried as `retry_on` says). None: no limit.
    timeout: float | None = None

    def __post_init__(self):
        DjangoTask.__post_init__(self)  # the backend validates priority, queue, run_after
        registry.register(self)


class PostgresBackend(BaseTaskBackend):
    task_class = QueueTask
    supports_defer = True
    supports_priority = True
    supports_get_result = True
    supports_async_task = True  # the worker runs coroutines with async_to_sync

    def validate_task(self, task):
        super().validate_task(task)
        timeout = getattr(task, "timeout", None)
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise InvalidTask("timeout must be a positive number of seconds, or None.")

    def enqueue(self, task, args, kwargs):
        from taskqueue.enqueue import insert

        self.validate_task(task)
        row = insert(task, args, kwargs)
        result = task_result(row, task)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id):
        from taskqueue.models import Task

        try:
            row = Task.objects.get(pk=int(result_id))
        except (ValueError, TypeError, Task.DoesNotExist):
            raise TaskResultDoesNotExist(result_id) from None
        try:
            definition = registry.lookup(row.name)
        except registry.UnknownTask as error:
            raise TaskResultDoesNotExist(f"{result_id}: {error}") from None
        return task_result(row, definition)


def task_result(row, definition: QueueTask) -> TaskResult:
    """A queue row as Django's TaskResult."""
    result = TaskResult(
        task=definition.using(priority=row.priority, queue_name=row.queue_name),
        id=str(row.pk),
        status=DJANGO_STATUS[row.status],
        enqueued_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        last_attempted_at=row.started_at,
        args=list(row.args),
        kwargs=dict(row.kwargs),
        backend=definition.backend,
        errors=[
            # Only TaskError's fields: the records also say which attempt, worker and when.
            TaskError(
                exception_class_path=error["exception_class_path"], traceback=error["traceback"]
            )
            for error in row.errors
        ],
        worker_ids=list(row.worker_ids),
    )
    object.__setattr__(result, "_return_value", row.result)  # TaskResult's own field, frozen
    return result


def task_result_from_claim(claimed, definition: QueueTask) -> TaskResult:
    """A task the worker just claimed, as Django's TaskResult (for TaskContext and signals).
    The claim does not fetch the attempt history (most tasks never need it): the row is read
    here, and described as get_result() describes it."""
    from taskqueue.models import Task

    row = Task.objects.get(pk=claimed.id)
    row.started_at = claimed.started_at  # the row learns it only later (sql.TASKS_STARTED)
    return task_result(row, definition)


def worker_signals_wanted() -> bool:
    """Whether anyone listens to task_started or task_finished besides Django's own receivers,
    which only log (at INFO, which stage 5's settings turn off for django.tasks).

    A TaskResult built and two signals sent cost more than a no-op task itself; with nobody
    listening, the worker skips them. Asked once per batch, so a receiver connected at any
    time is served from the next batch on."""
    if logging.getLogger("django.tasks").isEnabledFor(logging.INFO):
        return True
    own = {log_task_started, log_task_finished}
    for signal in (task_started, task_finished):
        sync, asynchronous = signal._live_receivers(PostgresBackend)
        if any(receiver not in own for receiver in [*sync, *asynchronous]):
            return True
    return False
