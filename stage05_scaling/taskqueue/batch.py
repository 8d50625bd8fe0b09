"""A claimed batch while the worker runs it, and what keeps it from hoarding.

The batch is sized for the tasks as they were (prefetch.py). Tasks change: a downstream API
that answered in 5 ms takes 30 s now, and a worker that claimed 100 tasks of 5 ms holds 99 of
them, unstarted, while other workers sit idle; the results of the tasks it finished wait for
the next claim to be written, so `get_result` says RUNNING and a kill runs them again.

So while the worker's main thread runs a task, a thread of its own (`BatchWatch`) looks after
the rest, every WATCH_EVERY seconds, on a connection of its own:
- results that have waited `max_wait` (0.1 s) are written (done.py);
- once the batch has run BUDGET seconds, the tasks it has not started go back to the queue,
  uncharged, where an idle worker takes them.
And before each start, the main thread asks whether its claim still holds (`vouched`): if its
supervisor has not refreshed the worker's row for a lease (a network cut, a frozen machine),
the rescuer may have given the batch back, and a task started now could run twice.

A task that holds the GIL stops this thread too (as it stops every thread of its process):
until it lets go, its batch waits.
"""

import threading
import time
from collections import deque

from django.db import DatabaseError

from taskqueue import events
from taskqueue.claim import Claimed, release
from taskqueue.connections import use_bounded
from taskqueue.db import connection
from taskqueue.done import Completions

BUDGET = 1.0  # seconds: ten times what a batch is sized for (prefetch.TARGET)
WATCH_EVERY = 0.02  # seconds between looks


class Batch:
    """The tasks of one claim, handed out one at a time; the rest can be taken back at once.
    Each deque operation is atomic (the GIL), so the worker's thread and its watch never hand
    out one task twice, without a lock on the way of every task."""

    def __init__(self, tasks: list[Claimed]):
        self.claimed = time.monotonic()
        self._left = deque(tasks)

    def next(self) -> Claimed | None:
        try:
            return self._left.popleft()
        except IndexError:
            return None

    def rest(self) -> list[Claimed]:
        """Every task not started yet, taken out of the batch."""
        left = []
        while (task := self.next()) is not None:
            left.append(task)
        return left

    def put_back(self, tasks: list[Claimed]) -> None:
        self._left.extendleft(reversed(tasks))


class BatchWatch(threading.Thread):
    def __init__(self, worker_id: str, completions: Completions):
        super().__init__(name="batch-watch", daemon=True)
        self.worker_id = worker_id
        self.completions = completions
        self.batch: Batch | None = None  # the one the worker runs (running(), done_with())
        self.stopped = threading.Event()
        self._lock = threading.Lock()  # who owns tasks the release could not give back
        self._stranded: list[Claimed] = []

    def running(self, batch: Batch) -> None:
        self.batch = batch

    def done_with(self, batch: Batch) -> list[Claimed]:
        """The worker has run `batch`: what this thread took from a batch and could not give
        back (the database refused the release) is the worker's to give back."""
        with self._lock:
            self.batch = None
            stranded, self._stranded = self._stranded, []
            return stranded

    def run(self) -> None:
        use_bounded()  # this thread's own connection, with the worker's time limits
        try:
            while not self.stopped.wait(WATCH_EVERY):
                try:
                    self.look()
                except DatabaseError as error:  # away for now: what waits stays, and waits
                    events.emit(
                        "batch_watch.db_error", error=str(error).strip(), worker=self.worker_id
                    )
                    connection.close()
        finally:
            connection.close()

    def look(self) -> None:
        if self.completions.due():
            self.completions.flush()
        batch = self.batch
        if batch is not None and time.monotonic() - batch.claimed >= BUDGET:
            unstarted = batch.rest()
            if not unstarted:
                return
            try:
                release([task.id for task in unstarted], self.worker_id, uncount=True)
            except BaseException:
                with self._lock:  # still claimed: the worker runs them, or gives them back
                    if self.batch is batch:
                        batch.put_back(unstarted)
                    else:
                        self._stranded.extend(unstarted)
                raise
            events.emit(
                "task.released",
                tasks=len(unstarted),
                reason="the batch ran over its budget",
                worker=self.worker_id,
            )

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
