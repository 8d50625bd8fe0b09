"""Retention: delete finished tasks once they are old enough to be of no more use.

A queue table that keeps every task grows for ever: its indexes grow, vacuum takes longer, and
the admin and the stats slow down. DONE and CANCELLED tasks older than
TASKQUEUE_KEEP_FINISHED_DAYS go; FAILED and DEAD ones stay until someone has looked at them
(retried or deleted them in the admin), since they are the ones that need a person.

The rows of a schedule's ticks (schedules.py) go with the tasks of their age, except each
schedule's latest: that one tells the workers where the schedule stands. The rows of worker
processes that ended go a day after their end (KEEP_ENDED_WORKERS): every restart adds one.

Deleting runs in small batches, each its own short transaction, so that pruning a million rows
never holds locks or bloats the table in one long stroke.
"""

from django.conf import settings

from taskqueue import sql
from taskqueue.db import atomic, connection

RETENTION_LOCK = 0x7A5C_0005  # as the rescuer's lock: one pruning worker at a time
KEEP_ENDED_WORKERS = 86400.0  # seconds: at most this, or the finished tasks' time, if shorter


def prune(older_than_seconds: float, batch: int = 10_000, max_batches: int | None = None) -> int:
    """Delete finished tasks older than the cutoff, and schedule ticks as old; return how many
    tasks were deleted."""
    deleted, batches = 0, 0
    while max_batches is None or batches < max_batches:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.PRUNE_FINISHED,
                {
                    "older_than": older_than_seconds,
                    "key_window_hours": settings.TASKQUEUE_KEY_WINDOW_HOURS,
                    "batch": batch,
                },
            )
            count = cursor.rowcount
            cursor.execute(sql.PRUNE_TICKS, [older_than_seconds, batch])
            ticks = cursor.rowcount
            cursor.execute(sql.PRUNE_WORKERS, [min(older_than_seconds, KEEP_ENDED_WORKERS), batch])
        deleted += count
        batches += 1
        if count < batch and ticks < batch:
            break
    return deleted


def prune_a_little() -> int:
    """A worker's share of the pruning, now and then: one batch, if no other worker is at it
    and retention is on (TASKQUEUE_KEEP_FINISHED_DAYS > 0)."""
    days = settings.TASKQUEUE_KEEP_FINISHED_DAYS
    if days <= 0:
        return 0
    with atomic(), connection.cursor() as cursor:
        cursor.execute(sql.TRY_LOCK, [RETENTION_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        return prune(days * 86400, max_batches=1)
