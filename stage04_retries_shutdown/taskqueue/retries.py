"""What happens when a task raises: retry later, or give up.

Exponential backoff with full jitter: attempt n waits a random time between 0 and
min(cap, base * 2**(n-1)). The doubling spreads retries out as a failure persists; the jitter
keeps a thousand tasks that failed together (the API was down) from all retrying in the same
second and knocking it down again.
"""

import random
import traceback

from django.db.models.functions import Now
from django.utils import timezone

from taskqueue.dbtime import in_seconds
from taskqueue.models import Execution, Task
from taskqueue.registry import TASKS, TaskSpec


def backoff(attempt: int, base: float, cap: float, rng=random.random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...)."""
    return rng() * min(cap, base * 2 ** (attempt - 1))


def outcome_of(task: Task, spec: TaskSpec | None, error: BaseException) -> str:
    if spec is None or not isinstance(error, spec.retry_on):
        return Execution.Outcome.FAILED
    if task.attempts >= task.max_attempts:
        return Execution.Outcome.DEAD
    return Execution.Outcome.RETRY


def record_failure(task: Task, execution: Execution, spec: TaskSpec | None, error: BaseException):
    """Store the error on the attempt, and send the task back to the queue or to its end."""
    outcome = outcome_of(task, spec, error)
    now = timezone.now()
    execution.outcome = outcome
    execution.finished_at = now
    execution.error_type = type(error).__name__
    execution.error_message = str(error)
    execution.traceback = "".join(traceback.format_exception(error))
    execution.save()

    task.error = f"{execution.error_type}: {execution.error_message}"
    task.lease_expires_at = None
    changes = {}
    if outcome == Execution.Outcome.RETRY:
        task.retry_in = backoff(task.attempts, spec.backoff_base, spec.backoff_cap)
        task.status = Task.Status.QUEUED
        changes["run_after"] = in_seconds(task.retry_in)
    else:
        task.status = Task.Status(outcome)
        task.finished_at = now
    # Only while the task is still ours: if our lease ran out meanwhile, it was rescued and
    # another attempt owns the row now.
    Task.objects.filter(pk=task.pk, worker=task.worker, status=Task.Status.IN_PROGRESS).update(
        status=task.status,
        error=task.error,
        finished_at=task.finished_at,
        lease_expires_at=None,
        **changes,
    )
    return outcome


def requeue(tasks) -> int:
    """Give FAILED or DEAD tasks a fresh set of attempts (the admin action and `requeue`).

    Attempts keep counting (each has its Execution row, numbered): the task gets as many more
    as its registration allows."""
    count = 0
    for task in tasks.filter(status__in=[Task.Status.FAILED, Task.Status.DEAD]):
        spec = TASKS.get(task.name)
        task.max_attempts = task.attempts + (spec.max_attempts if spec else 1)
        task.status, task.run_after = Task.Status.QUEUED, Now()
        task.finished_at, task.error = None, ""
        task.save(update_fields=["max_attempts", "status", "run_after", "finished_at", "error"])
        count += 1
    return count
