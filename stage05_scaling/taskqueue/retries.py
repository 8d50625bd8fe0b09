"""What happens when a task raises: retry later, or give up.

Exponential backoff with full jitter: attempt n waits a random time between 0 and
min(cap, base * 2**(n-1)). The doubling spreads retries out as a failure persists; the jitter
keeps a thousand tasks that failed together (the API was down) from all retrying in the same
second and knocking it down again.

Stage 5: each error is kept on the row (`errors`, Django's TaskError shape), not in an
Execution table.
"""

import random
import traceback

from django.db.models import F, JSONField, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.utils import timezone

from taskqueue.dbtime import in_seconds
from taskqueue.models import Task
from taskqueue.registry import TASKS

RETRY, FAILED, DEAD = "RETRY", "FAILED", "DEAD"


def backoff(attempt: int, base: float, cap: float, rng=random.random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...)."""
    return rng() * min(cap, base * 2 ** (attempt - 1))


def outcome_of(task, definition, error: BaseException) -> str:
    if definition is None or not isinstance(error, definition.retry_on):
        return FAILED
    if task.attempts >= task.max_attempts:
        return DEAD
    return RETRY


def error_record(error: BaseException) -> dict:
    """An error as django.tasks' TaskError stores it."""
    kind = type(error)
    return {
        "exception_class_path": f"{kind.__module__}.{kind.__qualname__}",
        "traceback": "".join(traceback.format_exception(error)),
    }


def record_failure(task, definition, error: BaseException) -> str:
    """Store the error on the task, and send it back to the queue or to its end."""
    outcome = outcome_of(task, definition, error)
    changes = {
        "error": f"{type(error).__name__}: {error}",
        # Appended by the database (jsonb ||): the claim did not fetch the earlier ones.
        "errors": CombinedExpression(F("errors"), "||", Value([error_record(error)], JSONField())),
        "lease_expires_at": None,
    }
    if outcome == RETRY:
        task.retry_in = backoff(task.attempts, definition.backoff_base, definition.backoff_cap)
        changes.update(status=Task.Status.QUEUED, run_after=in_seconds(task.retry_in))
    else:
        changes.update(status=outcome, finished_at=timezone.now())
    # Only while the task is still ours: if our lease ran out meanwhile, it was rescued and
    # another attempt owns the row now.
    Task.objects.filter(pk=task.id, worker=task.worker, status=Task.Status.IN_PROGRESS).update(
        **changes
    )
    return outcome


def requeue(tasks) -> int:
    """Give FAILED, DEAD or CANCELLED tasks a fresh set of attempts (the admin action and
    `requeue`). Attempts keep counting: the task gets as many more as its definition allows."""
    count = 0
    for task in tasks.filter(
        status__in=[Task.Status.FAILED, Task.Status.DEAD, Task.Status.CANCELLED]
    ):
        definition = TASKS.get(task.name)
        task.max_attempts = task.attempts + (definition.max_attempts if definition else 1)
        task.status, task.run_after = Task.Status.QUEUED, Now()
        task.finished_at, task.error = None, ""
        task.save(update_fields=["max_attempts", "status", "run_after", "finished_at", "error"])
        count += 1
    return count


def cancel(tasks) -> int:
    """Take QUEUED tasks off the queue (the admin action). A task already running is not
    stopped: it finishes or fails as it would have."""
    return tasks.filter(status=Task.Status.QUEUED).update(
        status=Task.Status.CANCELLED, finished_at=Now()
    )
