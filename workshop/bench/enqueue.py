"""Enqueue rows: stage 5 one task at a time and in bulk, each beside plain psycopg doing the
same INSERTs (one commit each) or the same COPY, in the same run. Timed inside the child
process, after Django has started.

And 8 enqueuers at once, as 8 web workers would be, started behind the gate: plain INSERTs,
enqueue() while no worker waits (busy workers: no NOTIFY, migration 0008), and enqueue() while
one waits (a NOTIFY with every commit, which PostgreSQL serialises)."""

import statistics
from functools import partial

from workshop.bench import Row
from workshop.bench.db import STAGE5_DB, connect, gate, reset
from workshop.bench.run import child, result_of

GROUP = "enqueue"
ONE = "stage 5 enqueue(), one commit each"
ONE_PLAIN = "plain psycopg INSERT, one commit each"
ONE_STATEMENT = "enqueue()'s INSERT from plain psycopg (trigger, RETURNING)"
BULK = "stage 5 enqueue_many() (COPY)"
BULK_PLAIN = "plain psycopg COPY"
# Each stage 5 row and its plain reference run in turns, REPEATS times each, and each row is the
# median of its runs: a shared machine's drift then weighs on both sides of a ratio alike.
REPEATS = 3


def in_turns(cases: list[tuple[str, object]], total: int) -> list[Row]:
    """Run each (row name, run once -> (tasks/s, client CPU µs per task or None)) in turns,
    REPEATS rounds; the medians."""
    runs: dict[str, list[tuple[float, float | None]]] = {name: [] for name, _ in cases}
    for _ in range(REPEATS):
        for name, run_once in cases:
            runs[name].append(run_once())
    rows = []
    for name, _ in cases:
        rate = statistics.median(rate for rate, _ in runs[name])
        note = f"{total:,} tasks, median of {REPEATS}"
        if cpu := [cpu for _, cpu in runs[name] if cpu is not None]:
            note += f"; client CPU {statistics.median(cpu):,.0f} µs/task"
        rows.append(Row(GROUP, name, rate, "tasks/s", note=note))
    return rows


def once(program: str, count: int) -> tuple[float, float]:
    reset(STAGE5_DB)  # each run starts from an empty table
    result = result_of(child(program, count))
    return count / result["seconds"], result["cpu"] / count * 1e6


ENQUEUERS = 8
MANY_PLAIN = f"{ENQUEUERS} plain psycopg INSERT loops at once"
MANY_QUIET = f"{ENQUEUERS} enqueue() loops at once, no worker waiting"
MANY_NOTIFY = f"{ENQUEUERS} enqueue() loops at once, a worker waiting (NOTIFY each)"
WAITING_WORKER = """
INSERT INTO taskqueue_workerprocess (id, hostname, pid, queues, expires_at, exit, waiting)
VALUES ('bench-waiting', 'bench', 0, '["default"]', now() + interval '1 hour', '', true)
"""


def concurrent(program: str, each: int, waiting: bool) -> tuple[float, None]:
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
    return each * ENQUEUERS / (last - opened), None


def steps(sizes) -> list:
    one, bulk, each = sizes.enqueue_one, sizes.enqueue_bulk, sizes.enqueue_one // ENQUEUERS
    return [
        (
            "one at a time",
            partial(in_turns, [(ONE, partial(once, "enqueue-one", one)),
                               (ONE_STATEMENT, partial(once, "statement-loop", one)),
                               (ONE_PLAIN, partial(once, "insert-loop", one))], one),
        ),
        (
            "bulk",
            partial(in_turns, [(BULK, partial(once, "enqueue-many", bulk)),
                               (BULK_PLAIN, partial(once, "copy", bulk))], bulk),
        ),
        (
            f"{ENQUEUERS} at once",
            partial(in_turns, [
                (MANY_PLAIN, partial(concurrent, "insert-loop-timed", each, False)),
                (MANY_QUIET, partial(concurrent, "enqueue-loop", each, False)),
                (MANY_NOTIFY, partial(concurrent, "enqueue-loop", each, True)),
            ], each * ENQUEUERS),
        ),
    ]  # fmt: skip
