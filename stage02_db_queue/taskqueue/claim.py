"""How a worker takes tasks from the queue: the heart of every stage.

Stage 2 shows two claims. Neither is what you want.
"""

import time

from django.db import transaction
from django.utils import timezone

from taskqueue.models import Task


def pause(seconds: float) -> None:
    """The gap between reading the rows and marking them. `--race-window` widens it so the race
    shows every time; without it the gap is a few milliseconds and the race shows now and then."""
    if seconds:
        time.sleep(seconds)


def claim_naive(batch_size: int, worker_id: str, race_window: float = 0.0) -> list[Task]:
    """SELECT the oldest queued tasks, then UPDATE them to IN_PROGRESS.

    Broken: two workers can both SELECT the same rows before either UPDATEs them,
    and then both run them.
    """
    tasks = list(Task.objects.filter(status=Task.Status.QUEUED).order_by("id")[:batch_size])
    if tasks:
        pause(race_window)
        Task.objects.filter(pk__in=[task.pk for task in tasks]).update(
            status=Task.Status.IN_PROGRESS, started_at=timezone.now(), worker=worker_id
        )
    return tasks


def claim_locked(batch_size: int, worker_id: str, race_window: float = 0.0) -> list[Task]:
    """The same, with SELECT ... FOR UPDATE inside a transaction.

    Correct: a second worker's SELECT waits on the first worker's row locks, and when the first
    commits, those rows are no longer QUEUED, so it takes the next ones. But it waits: workers
    queue up behind each other's locks, one claim at a time.
    """
    with transaction.atomic():
        tasks = list(
            Task.objects.select_for_update()
            .filter(status=Task.Status.QUEUED)
            .order_by("id")[:batch_size]
        )
        if tasks:
            pause(race_window)
            Task.objects.filter(pk__in=[task.pk for task in tasks]).update(
                status=Task.Status.IN_PROGRESS, started_at=timezone.now(), worker=worker_id
            )
    return tasks


CLAIMS = {"naive": claim_naive, "locked": claim_locked}
