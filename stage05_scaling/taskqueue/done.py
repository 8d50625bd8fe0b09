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

Stage 5, step 6: the worker's main thread writes results between tasks; while a long task
runs, a thread of the worker's writes them (batch.py). Each write takes what waits (take()),
so that no result is written twice, and puts it back if the database is away (put_back()).
"""

import threading
import time
from typing import NamedTuple

from taskqueue import events, sql
from taskqueue.db import run


class Result(NamedTuple):
    task_id: int
    attempt: int
    json: str  # the return value, as JSON text
    started: float  # when the attempt started, time.monotonic()


class Completions:
    def __init__(self, worker_id: str, max_wait: float = 0.1):
        self.worker_id = worker_id
        self.max_wait = max_wait
        self._waiting: list[Result] = []
        self._since = 0.0
        self._lock = threading.Lock()  # the worker's thread and its batch watch both write

    @property
    def ids(self) -> list[int]:
        return [result.task_id for result in self._waiting]

    def add(self, task_id: int, attempt: int, result_json: str, started: float = 0.0) -> None:
        """`started`: when the attempt started (time.monotonic()); 0: just now."""
        with self._lock:
            if not self._waiting:
                self._since = time.monotonic()
            self._waiting.append(Result(task_id, attempt, result_json, started or time.monotonic()))

    def due(self) -> bool:
        return bool(self._waiting) and time.monotonic() - self._since >= self.max_wait

    def take(self) -> list[Result]:
        """Everything waiting, to be written by the caller (who puts it back if it cannot)."""
        with self._lock:
            taken, self._waiting = self._waiting, []
            return taken

    def put_back(self, results: list[Result]) -> None:
        with self._lock:
            if results and not self._waiting:
                self._since = time.monotonic()
            self._waiting[:0] = results

    def params(self, results: list[Result]) -> dict:
        """Four arrays, one parameter each: the statement is the same size for 1 or 1,000."""
        now = time.monotonic()
        return {
            "ids": [result.task_id for result in results],
            "attempts": [result.attempt for result in results],
            "results": [result.json for result in results],
            "started_ago": [now - result.started for result in results],
            "worker": self.worker_id,
        }

    def flush(self) -> set[int]:
        """Write what is waiting; return the ids written. Only rows of this attempt are changed:
        a task given back and claimed again belongs to a newer attempt now. If the database
        is away, the results stay here and the next flush tries again."""
        results = self.take()
        if not results:
            return set()
        try:
            rows = run(sql.COMPLETE, self.params(results))
        except BaseException:
            self.put_back(results)
            raise
        return self.written(results, {row[0] for row in rows})

    def written(self, results: list[Result], ids: set[int]) -> set[int]:
        """`results` are in the table (by flush(), or with the next claim, claim.py), but for
        those whose attempt was no longer the task's: say which were dropped."""
        for result in results:
            if result.task_id not in ids:
                events.emit("task.result_dropped", task=result.task_id, worker=self.worker_id)
        return {result.task_id for result in results}
