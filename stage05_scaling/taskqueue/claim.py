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

from taskqueue.db import run
from taskqueue.done import COMPLETE, Completions


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
    started_at: datetime
    worker: str = ""
    retry_in: float = 0.0


CLAIM = """
WITH next AS (
    SELECT id FROM taskqueue_task
    WHERE status = 'QUEUED' AND queue_name = %(queue)s AND run_after <= now()
    ORDER BY priority DESC, run_after, id
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
)
UPDATE taskqueue_task AS task
SET status = 'IN_PROGRESS',
    started_at = now(),
    attempts = task.attempts + 1,
    worker = %(worker)s::text,
    worker_ids = task.worker_ids || to_jsonb(%(worker)s::text)
FROM next
WHERE task.id = next.id
RETURNING task.id, task.name, task.args, task.kwargs, task.attempts, task.max_attempts,
          task.queue_name, task.priority, task.created_at, task.started_at
"""
# Several queues: the highest priority due task of any of them first, then the oldest, so no
# queue waits behind another's name. The index `task_claimable` is ordered within one queue,
# so each queue's best candidates come from an index scan of their own (LATERAL), and the
# batch is the best of those. SKIP LOCKED inside: a row another worker holds is passed over.
CLAIM_FROM_QUEUES = """
WITH next AS (
    SELECT candidate.id
    FROM unnest(%(queues)s::text[]) AS served(queue_name)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_after FROM taskqueue_task
        WHERE status = 'QUEUED' AND queue_name = served.queue_name AND run_after <= now()
        ORDER BY priority DESC, run_after, id
        LIMIT %(batch_size)s
        FOR UPDATE SKIP LOCKED
    ) AS candidate
    ORDER BY candidate.priority DESC, candidate.run_after, candidate.id
    LIMIT %(batch_size)s
)
""" + CLAIM[CLAIM.index("UPDATE taskqueue_task") :]


def with_completion(claim: str) -> str:
    """The claim, preceded by the completion of the last batch, in one statement: one round
    trip and one commit per batch instead of two. The claim's rows come back with `finished`
    false, the ids it marked DONE with `finished` true."""
    head, take = claim.split("\nUPDATE taskqueue_task", 1)
    completed = COMPLETE.strip().replace("\n", "\n    ")
    return (
        f"WITH completed AS (\n    {completed}\n),\n{head.strip().removeprefix('WITH ')}"
        f",\nclaimed AS (\nUPDATE taskqueue_task{take.rstrip()}\n)\n"
        "SELECT false AS finished, * FROM claimed\n"
        "UNION ALL\n"
        "SELECT true, id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM completed\n"
    )


COMPLETE_AND_CLAIM = with_completion(CLAIM)
COMPLETE_AND_CLAIM_FROM_QUEUES = with_completion(CLAIM_FROM_QUEUES)


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
    if completions is not None and completions.ids:
        params |= completions.params()
        rows = run(COMPLETE_AND_CLAIM if one else COMPLETE_AND_CLAIM_FROM_QUEUES, params)
        completions.written({row[1] for row in rows if row[0]})
        rows = [row[1:] for row in rows if not row[0]]
    else:
        rows = run(CLAIM if one else CLAIM_FROM_QUEUES, params)
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


# Back to the queue: the attempt the claim counted taken back, with its entry in the worker
# list, when the task never started (`uncount`).
RELEASE = """
UPDATE taskqueue_task
SET status = 'QUEUED', worker = '',
    attempts = attempts - %(uncount)s::int,
    worker_ids = CASE WHEN %(uncount)s THEN worker_ids - -1 ELSE worker_ids END
WHERE id = ANY(%(ids)s) AND worker = %(worker)s AND status = 'IN_PROGRESS'
RETURNING id
"""


def release(task_ids, worker_id: str, uncount: bool) -> int:
    """Give claimed tasks back to the queue (shutdown). `uncount`: they never started, so the
    claim's attempt is taken back."""
    params = {"ids": list(task_ids), "worker": worker_id, "uncount": uncount}
    return len(run(RELEASE, params))
