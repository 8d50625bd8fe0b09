"""Enqueue rows: stage 5 one task at a time and in bulk, each beside plain psycopg doing the
same INSERTs (one commit each) or the same COPY, in the same run. Timed inside the child
process, after Django has started.

And 8 enqueuers at once, as 8 web workers would be, started behind the gate: plain INSERTs,
enqueue() while no worker waits (busy workers: no NOTIFY, migration 0010), and enqueue() while
one waits (a NOTIFY with every commit, which PostgreSQL serialises)."""

from functools import partial

from workshop.bench import Row
from workshop.bench.db import STAGE5_DB, connect, gate, reset
from workshop.bench.run import child, result_of

GROUP = "enqueue"
ONE = "stage 5 enqueue(), one commit each"
ONE_PLAIN = "plain psycopg INSERT, one commit each"
BULK = "stage 5 enqueue_many() (COPY)"
BULK_PLAIN = "plain psycopg COPY"
# (row name, child program, bulk?)
CASES = [
    (ONE, "enqueue-one", False),
    (ONE_PLAIN, "insert-loop", False),
    (BULK, "enqueue-many", True),
    (BULK_PLAIN, "copy", True),
]


def measure(name: str, program: str, count: int) -> list[Row]:
    reset(STAGE5_DB)  # each case starts from an empty table
    seconds = result_of(child(program, count))["seconds"]
    return [Row(GROUP, name, count / seconds, "tasks/s", note=f"{count:,} tasks")]


ENQUEUERS = 8
MANY_PLAIN = f"{ENQUEUERS} plain psycopg INSERT loops at once"
MANY_QUIET = f"{ENQUEUERS} enqueue() loops at once, no worker waiting"
MANY_NOTIFY = f"{ENQUEUERS} enqueue() loops at once, a worker waiting (NOTIFY each)"
WAITING_WORKER = """
INSERT INTO taskqueue_workerprocess (id, hostname, pid, queues, expires_at, exit, waiting)
VALUES ('bench-waiting', 'bench', 0, '["default"]', now() + interval '1 hour', '', true)
"""


def concurrent(name: str, program: str, each: int, waiting: bool) -> list[Row]:
    reset(STAGE5_DB)
    with connect(STAGE5_DB) as conn:
        conn.execute("DELETE FROM taskqueue_workerprocess")
        if waiting:
            conn.execute(WAITING_WORKER)
    try:
        with gate(STAGE5_DB, "taskqueue_task") as open_gate:
            loops = [child(program, each) for _ in range(ENQUEUERS)]
            opened = open_gate(ENQUEUERS, loops)
        last = max(result_of(process)["last"] for process in loops)
    finally:
        with connect(STAGE5_DB) as conn:
            conn.execute("DELETE FROM taskqueue_workerprocess")
    total = each * ENQUEUERS
    return [Row(GROUP, name, total / (last - opened), "tasks/s", note=f"{total:,} tasks")]


def steps(sizes) -> list:
    each = sizes.enqueue_one // ENQUEUERS
    return [
        (name, partial(measure, name, program, sizes.enqueue_bulk if bulk else sizes.enqueue_one))
        for name, program, bulk in CASES
    ] + [
        (MANY_PLAIN, partial(concurrent, MANY_PLAIN, "insert-loop-timed", each, False)),
        (MANY_QUIET, partial(concurrent, MANY_QUIET, "enqueue-loop", each, False)),
        (MANY_NOTIFY, partial(concurrent, MANY_NOTIFY, "enqueue-loop", each, True)),
    ]
