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

from django.db import connection
from django.db.models import F

from taskqueue.models import Task


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
    WHERE status = 'QUEUED' AND {queue_filter} AND run_after <= now()
    ORDER BY queue_name, priority DESC, run_after, id
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
)
UPDATE taskqueue_task AS task
SET status = 'IN_PROGRESS',
    started_at = now(),
    attempts = task.attempts + 1,
    worker = %(worker)s,
    worker_ids = task.worker_ids || to_jsonb(%(worker)s::text),
    lease_expires_at = now() + make_interval(secs => %(lease)s)
FROM next
WHERE task.id = next.id
RETURNING task.id, task.name, task.args, task.kwargs, task.attempts, task.max_attempts,
          task.queue_name, task.priority, task.created_at, task.started_at
"""
# One queue: equality, so that the index `task_claimable` (queue_name first) serves the scan.
ONE_QUEUE = CLAIM.format(queue_filter="queue_name = %(queue)s")
SOME_QUEUES = CLAIM.format(queue_filter="queue_name = ANY(%(queues)s)")


def claim_batch(batch_size: int, worker_id: str, queues: list[str], lease: float) -> list[Claimed]:
    """Lock up to `batch_size` due tasks of `queues`, mark them IN_PROGRESS with a lease and one
    more attempt, and commit at once (autocommit: one statement, one transaction)."""
    params = {"batch_size": batch_size, "worker": worker_id, "lease": lease}
    if len(queues) == 1:
        sql, params["queue"] = ONE_QUEUE, queues[0]
    else:
        sql, params["queues"] = SOME_QUEUES, list(queues)
    rows = run(sql, params)
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


def run(sql: str, params) -> list[tuple]:
    """Run one of the hot statements (the claim, the completion) on the psycopg connection
    under Django's: parameters travel apart from the SQL, arrays in binary, and the statement
    is prepared once and then only executed. Errors are Django's, as from any query."""
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


EMPTY = {"[]": list, "{}": dict}  # most tasks have no args or no kwargs: skip the decoder


def load(value):
    # Django reads jsonb columns as text and decodes them itself; a raw cursor must too.
    if isinstance(value, str):
        return EMPTY[value]() if value in EMPTY else json.loads(value)
    return value


def release(task_ids, worker_id: str, uncount: bool) -> int:
    """Give claimed tasks back to the queue (shutdown). `uncount`: they never started, so the
    claim's attempt is taken back."""
    changes = {"status": Task.Status.QUEUED, "worker": "", "lease_expires_at": None}
    if uncount:
        changes["attempts"] = F("attempts") - 1
    return Task.objects.filter(
        pk__in=list(task_ids), worker=worker_id, status=Task.Status.IN_PROGRESS
    ).update(**changes)
