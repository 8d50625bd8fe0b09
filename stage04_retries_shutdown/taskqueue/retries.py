"""What happens when a task raises: retry later, or give up.

Exponential backoff with full jitter: attempt n waits a random time between 0 and
min(cap, base * 2**(n-1)). The doubling spreads retries out as a failure persists; the jitter
keeps a thousand tasks that failed together (the API was down) from all retrying in the same
second and knocking it down again.
"""

import random
import traceback
from datetime import timedelta

from django.utils import timezone

from taskqueue.models import Execution, Task
from taskqueue.registry import TaskSpec


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
    if outcome == Execution.Outcome.RETRY:
        delay = backoff(task.attempts, spec.backoff_base, spec.backoff_cap)
        task.status = Task.Status.QUEUED
        task.run_after = now + timedelta(seconds=delay)
    else:
        task.status = Task.Status(outcome)
        task.finished_at = now
    task.save(update_fields=["status", "error", "run_after", "finished_at", "lease_expires_at"])
    return outcome


def requeue(tasks) -> int:
    """Give FAILED or DEAD tasks a fresh set of attempts (the admin action and `requeue`)."""
    return tasks.filter(status__in=[Task.Status.FAILED, Task.Status.DEAD]).update(
        status=Task.Status.QUEUED,
        attempts=0,
        run_after=timezone.now(),
        finished_at=None,
        error="",
    )
