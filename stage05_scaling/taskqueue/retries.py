"""What happens when a task raises: retry later, or give up.

Exponential backoff with full jitter: attempt n waits a random time between 0 and
min(cap, base * 2**(n-1)). The doubling spreads retries out as a failure persists; the jitter
keeps a thousand tasks that failed together (the API was down) from all retrying in the same
second and knocking it down again.

Stage 5: each error is kept on the row (`errors`, Django's TaskError shape), not in an
Execution table.
"""

import random
import time
import traceback

from django.db.models import F, JSONField, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.utils import timezone

from taskqueue import sql
from taskqueue.db import connection
from taskqueue.dbtime import in_seconds
from taskqueue.models import Task
from taskqueue.registry import TASKS

RETRY, FAILED, DEAD, CANCELLED = "RETRY", "FAILED", "DEAD", "CANCELLED"


def backoff(attempt: int, base: float, cap: float, rng=random.random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...)."""
    return rng() * min(cap, base * 2 ** (attempt - 1))


def outcome_of(task, definition, error: BaseException) -> str:
    if definition is None or not isinstance(error, definition.retry_on):
        return FAILED
    if task.attempts >= task.max_attempts:
        return DEAD
    return RETRY


def error_record(error: BaseException, task=None) -> dict:
    """An error as django.tasks' TaskError stores it, and, for the dashboard's story of a
    task, which attempt it ended, on which worker, from when to when."""
    kind = type(error)
    record = {
        "exception_class_path": f"{kind.__module__}.{kind.__qualname__}",
        "traceback": "".join(traceback.format_exception(error)),
    }
    if task is not None:
        started = getattr(task, "started_at", None)
        record |= {
            "attempt": task.attempts,
            "worker": task.worker,
            "started_at": started.isoformat() if started else None,
            "ended_at": timezone.now().isoformat(),
        }
    return record


def record_failure(task, definition, error: BaseException, *, lost: bool = False) -> str:
    """Store the error on the task, and send it back to the queue or to its end.

    `lost`: the attempt ended with its worker (killed, or gone silent), not with an error of the
    task's. It counts, so that a task that kills its worker every time ends DEAD, but it goes
    back at once and keeps its place in the queue, whatever `retry_on` says: a worker's death
    is rarely the task's fault."""
    if lost:
        outcome = DEAD if task.attempts >= task.max_attempts else RETRY
        task.retry_in = 0.0
    else:
        outcome = outcome_of(task, definition, error)
        if outcome == RETRY:
            task.retry_in = backoff(task.attempts, definition.backoff_base, definition.backoff_cap)
    changes = {
        "error": f"{type(error).__name__}: {error}",
        **started_at(task),
        # Appended by the database (jsonb ||): the claim did not fetch the earlier ones.
        "errors": CombinedExpression(
            F("errors"), "||", Value([error_record(error, task)], JSONField())
        ),
    }
    # Only this attempt's: if our worker was given up for lost meanwhile, the task was given
    # back, and perhaps claimed again; that newer attempt owns the row now.
    ours = Task.objects.filter(
        pk=task.id, worker=task.worker, attempts=task.attempts, status=Task.Status.IN_PROGRESS
    )
    if outcome == RETRY:
        again = {"status": Task.Status.QUEUED}  # a lost attempt keeps its place in the queue
        if not lost:
            again["run_after"] = in_seconds(task.retry_in)
        # Never back to the queue once an operator asked to cancel it (checked by this same
        # UPDATE, so a cancel that lands meanwhile is seen): it ends CANCELLED instead.
        if ours.filter(cancel_requested_at__isnull=True).update(**changes, **again):
            return outcome
        outcome = CANCELLED
    changes.update(status=outcome, finished_at=timezone.now())
    ours.update(**changes)
    return outcome


def record_cancelled(task, error: BaseException) -> None:
    """A running task that an operator cancelled: CANCELLED, never retried."""
    Task.objects.filter(
        pk=task.id, worker=task.worker, attempts=task.attempts, status=Task.Status.IN_PROGRESS
    ).update(
        **started_at(task),
        status=Task.Status.CANCELLED,
        finished_at=timezone.now(),
        error=f"{type(error).__name__}: {error}",
        errors=CombinedExpression(
            F("errors"), "||", Value([error_record(error, task)], JSONField())
        ),
    )


def started_at(task) -> dict:
    """When the attempt started, for a task the worker ran (claim.Claimed): the database's
    now() less how long ago (the worker's clock measures only the interval)."""
    if not getattr(task, "started", 0.0):
        return {}  # a task given back by the rescuer: its heartbeat wrote the start, if any
    return {"started_at": in_seconds(task.started - time.monotonic())}


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
        task.finished_at, task.error, task.cancel_requested_at = None, "", None
        task.save(
            update_fields=[
                "max_attempts", "status", "run_after", "finished_at", "error",
                "cancel_requested_at",
            ]
        )  # fmt: skip
        count += 1
    return count


def cancel(tasks) -> int:
    """Cancel tasks (the admin action, `POST /tasks/<id>/cancel/`): a QUEUED one at once; a
    running one is stopped by its worker's supervisor at its next heartbeat, and ends
    CANCELLED (supervisor.py), whatever way it ends meanwhile: a retry, a shutdown or a
    give-back that would put it back in the queue ends it CANCELLED instead. Return how many."""
    ids = list(tasks.values_list("pk", flat=True))
    cancelled = 0
    with connection.cursor() as cursor:
        cursor.execute(sql.CANCEL, {"ids": ids})
        rows = cursor.fetchall()
        cancelled += sum(not skipped for _, skipped in rows)
        for task_id, skipped in rows:
            if skipped:  # held by someone else a moment ago: now alone, and waited for
                cursor.execute(sql.CANCEL_ONE, [task_id])
                cancelled += cursor.rowcount
    return cancelled
