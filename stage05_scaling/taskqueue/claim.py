"""How a worker takes tasks from the queue: the heart of every stage.

Stage 5: the same SKIP LOCKED claim as stage 4, in one statement and one round trip, however
big the batch: a CTE picks and locks the rows, the UPDATE around it marks them and RETURNING
sends them back. Finished tasks are marked DONE the same way, a batch at a time (done.py).
The ORM wrote this in three round trips; at thousands of tasks a second, round trips are the
cost.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from taskqueue import sql
from taskqueue.db import run
from taskqueue.done import Completions


@dataclass(slots=True)
class Claimed:
    """A claimed task, as the worker needs it (a model instance costs more to build)."""

    id: int
    name: str
    args: list
    kwargs: dict
    attempts: int
    max_attempts: int
    queue_name: str
    priority: int
    created_at: datetime
    started_at: datetime | None  # set by the worker when it starts the task
    worker: str = ""
    retry_in: float = 0.0
    started: float = 0.0  # the same, time.monotonic(): how long ago it started, when it ends


def claim_batch(
    batch_size: int, worker_id: str, queues: list[str], completions: Completions | None = None
) -> list[Claimed]:
    """Lock up to `batch_size` due tasks of `queues`, mark them IN_PROGRESS with one more
    attempt and this worker's name, and commit at once (autocommit: one statement, one
    transaction). With `completions` waiting, they are written by the same statement."""
    params = {"batch_size": batch_size, "worker": worker_id}
    one = len(queues) == 1
    if one:
        params["queue"] = queues[0]
    else:
        params["queues"] = list(queues)
    results = completions.take() if completions is not None else []
    if results:
        params |= completions.params(results)
        statement = sql.COMPLETE_AND_CLAIM if one else sql.COMPLETE_AND_CLAIM_FROM_QUEUES
        try:
            rows = run(statement, params)
        except BaseException:
            completions.put_back(results)
            raise
        completions.written(results, {row[1] for row in rows if row[0]})
        rows = [row[1:] for row in rows if not row[0]]
    else:
        rows = run(sql.CLAIM if one else sql.CLAIM_FROM_QUEUES, params)
    tasks = [
        Claimed(
            id,
            name,
            load(args),
            load(kwargs),
            attempts,
            max_attempts,
            queue_name,
            priority,
            created_at,
            started_at,
            worker_id,
        )
        for (id, name, args, kwargs, attempts, max_attempts, queue_name, priority, created_at,
             started_at) in rows
    ]  # fmt: skip
    # RETURNING does not keep the claim's order: restore it.
    tasks.sort(key=lambda task: (-task.priority, task.id))
    return tasks


EMPTY = {"[]": list, "{}": dict}  # most tasks have no args or no kwargs: skip the decoder


def load(value):
    # Django reads jsonb columns as text and decodes them itself; a raw cursor must too.
    if isinstance(value, str):
        return EMPTY[value]() if value in EMPTY else json.loads(value)
    return value


def release(task_ids, worker_id: str, uncount: bool) -> int:
    """Give claimed tasks back to the queue (shutdown). `uncount`: they never started, so the
    claim's attempt is taken back."""
    params = {"ids": list(task_ids), "worker": worker_id, "uncount": uncount}
    return len(run(sql.RELEASE, params))
