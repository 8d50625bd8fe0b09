"""PgQueuer: 2 consumer processes (asyncio), drain mode; jobs enqueued with its bulk enqueue.
Done jobs leave its queue table. Twice: its defaults (psycopg, batch 10), and matched to stage
5's reference row (batch 100) on its fastest driver (asyncpg)."""

from workshop.bench.alternatives.common import (
    WORKERS,
    create_database,
    drain_behind_gate,
    holds,
    python,
    row,
    run_to_end,
)
from workshop.bench.db import connect

NAME = "PgQueuer, 2 consumer processes"
MATCHED = "PgQueuer, 2 consumer processes, asyncpg, batch 100 (matched)"
DATABASE = "bench_pgqueuer"
APP = "workshop.bench.alternatives.pgqueuer_app"


def measure(count: int, matched: bool = False):
    create_database(DATABASE)
    with connect(DATABASE) as conn:
        installed = conn.execute("SELECT to_regclass('pgqueuer')").fetchone()[0]
        if installed:
            conn.execute("TRUNCATE pgqueuer, pgqueuer_log")
    if not installed:
        run_to_end(python(APP, "install"))
    run_to_end(python(APP, "enqueue", str(count)))

    drained = holds(DATABASE, "SELECT NOT EXISTS (SELECT FROM pgqueuer)")
    settings = ["asyncpg", "100"] if matched else []
    start = lambda: [python(APP, "work", *settings) for _ in range(WORKERS)]  # noqa: E731
    rate = drain_behind_gate(DATABASE, "pgqueuer", start, count, drained)
    return row(MATCHED if matched else NAME, rate, f"{count:,} tasks")
