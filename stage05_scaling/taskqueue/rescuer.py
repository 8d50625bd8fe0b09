"""The rescuer: give tasks whose lease has expired back to the queue.

Every worker runs it now and then, but one at a time: a transaction-level advisory lock lets
the first worker in and makes the others skip the round. The lost attempt counts, so a task
that kills its worker every time (a poison task) ends DEAD after its last attempt instead of
crashing workers for ever.
"""

from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from taskqueue import events
from taskqueue.dbtime import in_seconds
from taskqueue.models import Task
from taskqueue.registry import TASKS
from taskqueue.retries import backoff

RESCUER_LOCK = 0x7A5C_0004  # any number no other code in this database uses for a lock


class LeaseExpired(Exception):
    """Recorded in a task's `errors` when its worker vanished mid-task (never raised)."""


def rescue_expired(worker_id: str) -> list[int]:
    """Re-queue (or bury) the tasks whose lease has run out; return their ids."""
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RESCUER_LOCK])
            if not cursor.fetchone()[0]:
                return []  # another worker is rescuing right now
        expired = list(
            Task.objects.select_for_update(skip_locked=True).filter(
                status=Task.Status.IN_PROGRESS, lease_expires_at__lt=Now()
            )
        )
        for task in expired:
            lost_by = task.worker
            message = f"lost: worker {lost_by} stopped renewing its lease"
            changes = {
                "error": message,
                "errors": [
                    *task.errors,
                    {
                        "exception_class_path": "taskqueue.rescuer.LeaseExpired",
                        "traceback": message,
                    },
                ],
                "lease_expires_at": None,
            }
            if task.attempts >= task.max_attempts:
                changes.update(status=Task.Status.DEAD, finished_at=now)
            else:
                definition = TASKS.get(task.name)
                delay = (
                    backoff(task.attempts, definition.backoff_base, definition.backoff_cap)
                    if definition
                    else 0
                )
                changes.update(status=Task.Status.QUEUED, run_after=in_seconds(delay))
            Task.objects.filter(pk=task.pk).update(**changes)
            task.status = changes["status"]
            events.emit(
                "task.dead" if task.status == Task.Status.DEAD else "task.rescued",
                task=task.pk,
                name=task.name,
                attempt=task.attempts,
                lost_by=lost_by,
                status=task.status,
                worker=worker_id,
            )
    return [task.pk for task in expired]
