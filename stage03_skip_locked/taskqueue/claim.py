"""How a worker takes tasks from the queue: the heart of every stage.

Stage 3: SELECT ... FOR UPDATE SKIP LOCKED. Each worker locks the rows it claims; the others skip
those rows instead of waiting for them, so no task is claimed twice and nobody stands in line.
"""

import time

from django.db import transaction
from django.utils import timezone

from taskqueue.models import Task


def pause(seconds: float) -> None:
    """The gap between reading the rows and marking them. `--race-window` widens it; in stage 2
    that showed the race every time, here it shows there is none."""
    if seconds:
        time.sleep(seconds)


def claimable(batch_size: int):
    """The oldest queued tasks that no other transaction has locked. Served by the partial index
    `task_claimable` (see models.py): the scan never steps over finished rows."""
    return (
        Task.objects.select_for_update(skip_locked=True)
        .filter(status=Task.Status.QUEUED)
        .order_by("id")[:batch_size]
    )


def claim_batch(batch_size: int, worker_id: str, race_window: float = 0.0) -> list[Task]:
    """Lock up to `batch_size` claimable tasks, mark them IN_PROGRESS, and commit at once.

    The row locks last only for this short transaction (claim-and-commit): no transaction stays
    open while the tasks run, and anyone can see they are IN_PROGRESS. The price: a worker that
    dies mid-task leaves its rows IN_PROGRESS for good. Stage 4 adds leases to rescue them.
    """
    with transaction.atomic():
        tasks = list(claimable(batch_size))
        if tasks:
            pause(race_window)
            Task.objects.filter(pk__in=[task.pk for task in tasks]).update(
                status=Task.Status.IN_PROGRESS, started_at=timezone.now(), worker=worker_id
            )
    return tasks
