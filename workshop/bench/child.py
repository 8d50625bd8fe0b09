"""The timed parts that run inside stage 5's Django: `python -m workshop.bench.child WHAT N`,
started from stage05_scaling/ (so `config` and `taskqueue` import) by the bench's modules.

Prints one line, `result {json}`. The loops (`orm-loop`, `psycopg-loop`) are the references
that stage 5's worker is measured against: the least Python that still claims with SKIP
LOCKED, with none of the worker's bookkeeping (leases, results, retries, events).
"""

import functools
import json
import os
import statistics
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

import psycopg  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from taskqueue.enqueue import enqueue, enqueue_many  # noqa: E402
from taskqueue.models import Task  # noqa: E402
from taskqueue.sql import CLAIM, COMPLETE_AND_CLAIM, INSERT_TASK  # noqa: E402

NOOP = "taskqueue.tasks.noop"
COLUMNS = (
    "name, queue_name, priority, args, kwargs, max_attempts, status, attempts, worker,"
    " worker_ids, error, errors"
)
NOOP_ROW = (NOOP, "default", 0, "[]", "{}", 5, "QUEUED", 0, "", "[]", "", "[]")


def plain_connection() -> psycopg.Connection:
    """A psycopg connection of our own, to the database Django uses (WORKSHOP_DB_NAME)."""
    # With Django's own parameters: the same client-side binding and adapters as stage 5's
    # statements get, so that the difference measured is the code around them.
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


def enqueue_one(count: int) -> None:
    for _ in range(count):
        enqueue("noop")  # autocommit: one transaction, one commit each


def enqueue_bulk(count: int) -> None:
    enqueue_many("noop", [{}] * count)


def insert_loop(count: int) -> None:
    sql = f"INSERT INTO taskqueue_task ({COLUMNS}) VALUES ({', '.join(['%s'] * 12)})"
    with plain_connection() as conn:
        for _ in range(count):
            conn.execute(sql, NOOP_ROW)


def statement_loop(count: int) -> None:
    """enqueue()'s own INSERT (RETURNING, the NOTIFY trigger), from plain psycopg: the part of
    enqueue()'s cost that is SQL, without its Python."""
    params = [NOOP, "default", 0, "[]", "{}", 5, None, None]
    with plain_connection() as conn:
        for _ in range(count):
            conn.execute(INSERT_TASK, params, prepare=True).fetchall()


def plain_copy(count: int) -> None:
    with (
        plain_connection() as conn,
        conn.transaction(),
        conn.cursor() as cursor,
        cursor.copy(f"COPY taskqueue_task ({COLUMNS}) FROM STDIN") as copy,
    ):
        for _ in range(count):
            copy.write_row(NOOP_ROW)


def orm_loop(batch: int, claim_first: bool = False) -> tuple[int, float]:
    """The bare Django ORM loop: lock a batch of ids, mark them DONE, commit. No bookkeeping.

    `claim_first`: as a crash-safe queue must run it: the claim commits (IN_PROGRESS, so a
    task outlives its worker's transaction), then a second write marks the batch DONE. Two new
    row versions per task, as stage 5 writes."""
    done, last = 0, time.time()
    queued = Task.objects.filter(status=Task.Status.QUEUED)
    while True:
        with transaction.atomic():
            ids = list(
                queued.select_for_update(skip_locked=True).values_list("id", flat=True)[:batch]
            )
            if not ids:
                return done, last
            first = Task.Status.IN_PROGRESS if claim_first else Task.Status.DONE
            Task.objects.filter(id__in=ids).update(status=first)
        if claim_first:
            Task.objects.filter(id__in=ids).update(status=Task.Status.DONE)
        done, last = done + len(ids), time.time()


def psycopg_loop(batch: int) -> tuple[int, float]:
    """Stage 5's own statements (the first claim, then one statement that completes the last
    batch and claims the next) from a plain psycopg loop."""
    done, last = 0, time.time()
    worker = f"psycopg-loop:{os.getpid()}"
    claim = {"batch_size": batch, "worker": worker, "queue": "default"}
    with plain_connection() as conn:
        rows = conn.execute(CLAIM, claim, prepare=True).fetchall()
        while rows:
            ids, attempts = [row[0] for row in rows], [row[4] for row in rows]
            completed = {
                "ids": ids,
                "attempts": attempts,
                "results": ["null"] * len(ids),
                "started_ago": [0.0] * len(ids),
            }
            batch_rows = conn.execute(COMPLETE_AND_CLAIM, claim | completed, prepare=True)
            rows = [row[1:] for row in batch_rows.fetchall() if not row[0]]
            done, last = done + len(ids), time.time()
    return done, last


def enqueue_loop(count: int) -> tuple[int, float]:
    """enqueue() one task at a time; `last` for a start gate shared with other enqueuers."""
    for _ in range(count):
        enqueue("noop")
    return count, time.time()


def insert_loop_timed(count: int) -> tuple[int, float]:
    insert_loop(count)
    return count, time.time()


TIMED = {
    "enqueue-one": enqueue_one,
    "enqueue-many": enqueue_bulk,
    "insert-loop": insert_loop,
    "statement-loop": statement_loop,
    "copy": plain_copy,
}
LOOPS = {
    "orm-loop": orm_loop,
    "orm-loop-claim-first": functools.partial(orm_loop, claim_first=True),
    "psycopg-loop": psycopg_loop,
    "enqueue-loop": enqueue_loop,
    "insert-loop-timed": insert_loop_timed,
}


def probes(calls: int) -> dict:
    """What an operator's probes cost, the median of `calls` calls each, in ms: /health/'s
    numbers, /metrics/' text, the dashboard's panels (each after one call that warms up)."""
    from django.utils import timezone
    from prometheus_client import generate_latest

    from taskqueue import dashboard
    from taskqueue.stats import queue_stats
    from taskqueue.views import registry

    def panels() -> None:
        dashboard.queues(["default"])
        dashboard.workers()
        dashboard.failures()
        dashboard.history(timezone.now())

    measured = {}
    for name, probe in [
        ("health", queue_stats),
        ("metrics", lambda: generate_latest(registry)),
        ("dashboard", panels),
    ]:
        probe()
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            probe()
            times.append(time.perf_counter() - started)
        measured[name] = statistics.median(times) * 1000
    return measured


def prune_rows(days: int) -> dict:
    """Retention's rate: prune() as a worker's housekeeping runs it, to the end."""
    from taskqueue.retention import prune

    started = time.perf_counter()
    deleted = prune(days * 86400)
    return {"deleted": deleted, "seconds": time.perf_counter() - started}


MEASURED = {"probes": probes, "prune": prune_rows}


def main(what: str, number: int) -> None:
    if what in MEASURED:
        result = MEASURED[what](number)
    elif what in TIMED:
        started, cpu = time.perf_counter(), time.process_time()
        TIMED[what](number)
        # process_time: this process's CPU, what the enqueuing side costs a web worker.
        result = {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}
    else:
        done, last = LOOPS[what](number)
        result = {"done": done, "last": last}
    print("result " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
