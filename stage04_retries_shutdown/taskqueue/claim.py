"""How a worker takes tasks from the queue: the heart of every stage.

Stage 4: SKIP LOCKED as in stage 3, now only for tasks that are due (`run_after`), counting an
attempt and granting a lease with each claim.
"""

import time

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from taskqueue.dbtime import in_seconds
from taskqueue.models import Task


def pause(seconds: float) -> None:
    """The gap between reading the rows and marking them. `--race-window` widens it."""
    if seconds:
        time.sleep(seconds)


def claimable(batch_size: int):
    """The due queued tasks that no other transaction has locked, oldest first. Served by the
    partial index `task_claimable` (see models.py)."""
    return (
        Task.objects.select_for_update(skip_locked=True)
        .filter(status=Task.Status.QUEUED, run_after__lte=Now())
        .order_by("run_after", "id")[:batch_size]
    )


def claim_batch(
    batch_size: int, worker_id: str, race_window: float = 0.0, lease: float = 30.0
) -> list[Task]:
    """Lock up to `batch_size` claimable tasks, mark them IN_PROGRESS with a lease and one more
    attempt, and commit at once (claim-and-commit)."""
    with transaction.atomic():
        tasks = list(claimable(batch_size))
        if tasks:
            pause(race_window)
            now = timezone.now()
            Task.objects.filter(pk__in=[task.pk for task in tasks]).update(
                status=Task.Status.IN_PROGRESS,
                started_at=now,
                worker=worker_id,
                attempts=F("attempts") + 1,
                lease_expires_at=in_seconds(lease),
            )
            for task in tasks:
                task.status, task.started_at, task.worker = Task.Status.IN_PROGRESS, now, worker_id
                task.attempts += 1
    return tasks


def release(tasks: list[Task], worker_id: str, uncount: bool) -> int:
    """Give claimed tasks back to the queue (shutdown). `uncount`: they never started, so the
    claim's attempt is taken back."""
    changes = {"status": Task.Status.QUEUED, "worker": "", "lease_expires_at": None}
    if uncount:
        changes["attempts"] = F("attempts") - 1
    return Task.objects.filter(
        pk__in=[task.pk for task in tasks], worker=worker_id, status=Task.Status.IN_PROGRESS
    ).update(**changes)
