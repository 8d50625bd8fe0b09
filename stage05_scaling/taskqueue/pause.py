"""Pausing a queue: its workers stop claiming from it within a second; running tasks finish;
enqueues still land, and wait. From the dashboard, the admin (PausedQueue rows) or
`manage.py queues pause NAME`.

The claim does not look at pauses: it stays the one statement the benchmark measures. Instead a
worker reads the (tiny) table of paused queues at most every CHECK_EVERY seconds and leaves the
paused ones out of the queues it claims from. Resuming sends a NOTIFY, so that idle workers look
at once.
"""

import time

from taskqueue import sql
from taskqueue.db import atomic, connection
from taskqueue.models import PausedQueue

CHECK_EVERY = 0.5  # seconds: a pause takes effect within this, plus the batch in hand


def pause(name: str, by: str = "") -> bool:
    """Pause `name`; False if it was paused already."""
    _, created = PausedQueue.objects.get_or_create(name=name, defaults={"paused_by": by})
    return created


def resume(name: str) -> bool:
    """Resume `name`, and wake idle workers; False if it was not paused."""
    with atomic():
        deleted, _ = PausedQueue.objects.filter(name=name).delete()
        if deleted:
            with connection.cursor() as cursor:
                cursor.execute(sql.WAKE, [sql.CHANNEL])
    return bool(deleted)


class Pauses:
    """A worker's view of which of its queues are paused, read again every CHECK_EVERY s."""

    def __init__(self, queues: list[str]):
        self.queues = queues
        self.paused: set[str] = set()
        self._next_check = 0.0

    def claimable(self) -> tuple[list[str], set[str] | None]:
        """The queues to claim from now, and the paused set if it changed since last time."""
        changed = None
        if time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + CHECK_EVERY
            paused = set(
                PausedQueue.objects.filter(name__in=self.queues).values_list("name", flat=True)
            )
            if paused != self.paused:
                self.paused = changed = paused
        return [queue for queue in self.queues if queue not in self.paused], changed
