"""Retention: delete finished tasks once they are old enough to be of no more use.

A queue table that keeps every task grows for ever: its indexes grow, vacuum takes longer, and
the admin and the stats slow down. DONE and CANCELLED tasks older than
TASKQUEUE_KEEP_FINISHED_DAYS go; FAILED and DEAD ones stay longer, TASKQUEUE_KEEP_FAILED_DAYS,
since they are the ones that need a person (to retry or delete them in the admin).

The rows of a schedule's ticks (schedules.py) go with the tasks of their age, except each
schedule's latest: that one tells the workers where the schedule stands. The rows of worker
processes that ended go a day after their end (KEEP_ENDED_WORKERS): every restart adds one.

Deleting runs in small batches, each its own short transaction, so that pruning a million rows
never holds locks or bloats the table in one long stroke. A worker's housekeeping prunes batch
after batch for up to BUDGET seconds: retention keeps up with a queue that finishes tens of
thousands of tasks a second, where one batch per round (10,000 rows every 10 s) would fall
behind at 1,000 a second and let the table grow for ever.
"""

import time

from django.conf import settings

from taskqueue import sql
from taskqueue.db import atomic, connection

RETENTION_LOCK = 0x7A5C_0005  # as the rescuer's lock: one pruning worker at a time
KEEP_ENDED_WORKERS = 86400.0  # seconds: at most this, or the finished tasks' time, if shorter
BATCH = 10_000
BUDGET = 2.0  # seconds of each housekeeping round (10 s) a worker may spend pruning


def prune(
    older_than_seconds: float | None,
    batch: int = BATCH,
    max_batches: int | None = None,
    failed_older_than: float | None = None,
) -> int:
    """Delete finished tasks older than the cutoff (none if None), FAILED and DEAD ones older
    than theirs (none if None), schedule ticks as old as the first, ended workers' rows; return
    how many tasks were deleted."""
    deleted, batches = 0, 0
    workers = min(older_than_seconds or KEEP_ENDED_WORKERS, KEEP_ENDED_WORKERS)
    while max_batches is None or batches < max_batches:
        count = ticks = 0
        with connection.cursor() as cursor:
            if older_than_seconds is not None:
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
            if failed_older_than is not None:
                cursor.execute(sql.PRUNE_FAILED, [failed_older_than, batch])
                count += cursor.rowcount
            cursor.execute(sql.PRUNE_WORKERS, [workers, batch])
        deleted += count
        batches += 1
        if count < batch and ticks < batch:
            break
    return deleted


def prune_a_little(budget: float = BUDGET) -> int:
    """A worker's share of the pruning, now and then: batches until nothing old is left or the
    budget is spent, each in its own transaction, while no other worker is at it and retention
    is on (TASKQUEUE_KEEP_FINISHED_DAYS or TASKQUEUE_KEEP_FAILED_DAYS over 0). Returns how many
    tasks it deleted."""
    days, failed_days = settings.TASKQUEUE_KEEP_FINISHED_DAYS, settings.TASKQUEUE_KEEP_FAILED_DAYS
    finished = days * 86400 if days > 0 else None
    failed = failed_days * 86400 if failed_days > 0 else None
    if finished is None and failed is None:
        return 0
    deadline, deleted = time.monotonic() + budget, 0
    while True:
        with atomic(), connection.cursor() as cursor:
            cursor.execute(sql.TRY_LOCK, [RETENTION_LOCK])
            if not cursor.fetchone()[0]:
                return deleted
            count = prune(finished, max_batches=1, failed_older_than=failed)
        deleted += count
        if count < BATCH or time.monotonic() >= deadline:
            return deleted
