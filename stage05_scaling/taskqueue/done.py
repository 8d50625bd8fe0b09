"""Marking finished tasks DONE, a batch at a time.

A worker that marks each task DONE as it finishes pays a round trip and a commit per task; for
a task that takes microseconds, that is nearly all the cost. So results wait here and are
written together: at the end of each batch, and whenever the oldest has waited `max_wait`
seconds, so that a slow batch does not hide finished work for long.

The price: a worker that dies with results still here has those tasks run again (its
supervisor gives them back, rescuer.py). At-least-once already allowed that (stage 4); this
makes the window a little wider.

A result is kept when it comes late, too: a worker given up for lost (its heartbeat stopped, a
network cut) whose task then succeeds has its success recorded, as long as no newer attempt
has started. The guard is the attempt, not only the worker: the rescuer may have marked the
task DEAD or queued it for a retry meanwhile, and a success is worth more than either.
"""

import time

from taskqueue import events, sql
from taskqueue.db import run


class Completions:
    def __init__(self, worker_id: str, max_wait: float = 0.1):
        self.worker_id = worker_id
        self.max_wait = max_wait
        self.ids: list[int] = []
        self.attempts: list[int] = []
        self.results: list[str] = []  # JSON text of each return value
        self._since = 0.0

    def add(self, task_id: int, attempt: int, result_json: str) -> None:
        if not self.ids:
            self._since = time.monotonic()
        self.ids.append(task_id)
        self.attempts.append(attempt)
        self.results.append(result_json)

    def due(self) -> bool:
        return bool(self.ids) and time.monotonic() - self._since >= self.max_wait

    def params(self) -> dict:
        # Three arrays, one parameter each: the statement is the same size for 1 or 1,000.
        return {
            "ids": self.ids,
            "attempts": self.attempts,
            "results": self.results,
            "worker": self.worker_id,
        }

    def flush(self) -> set[int]:
        """Write what is waiting; return the ids written. Only rows of this attempt are changed:
        a task given back and claimed again belongs to a newer attempt now. If the database
        is away, the results stay here and the next flush tries again."""
        if not self.ids:
            return set()
        return self.written({row[0] for row in run(sql.COMPLETE, self.params())})

    def written(self, ids: set[int]) -> set[int]:
        """The results of `ids` are in the table (by flush(), or with the next claim, claim.py):
        forget them all, and say which were dropped."""
        for task_id in set(self.ids) - ids:
            events.emit("task.result_dropped", task=task_id, worker=self.worker_id)
        flushed = set(self.ids)
        self.ids, self.attempts, self.results = [], [], []
        return flushed
