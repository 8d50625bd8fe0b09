"""PgQueuer: 2 consumer processes (asyncio), its defaults (batch 10, LISTEN/NOTIFY), drain
mode; jobs enqueued with its bulk enqueue. Done jobs leave its queue table."""

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
DATABASE = "bench_pgqueuer"
APP = "workshop.bench.alternatives.pgqueuer_app"


def measure(count: int):
    create_database(DATABASE)
    with connect(DATABASE) as conn:
        installed = conn.execute("SELECT to_regclass('pgqueuer')").fetchone()[0]
        if installed:
            conn.execute("TRUNCATE pgqueuer, pgqueuer_log")
    if not installed:
        run_to_end(python(APP, "install"))
    run_to_end(python(APP, "enqueue", str(count)))

    drained = holds(DATABASE, "SELECT NOT EXISTS (SELECT FROM pgqueuer)")
    start = lambda: [python(APP, "work") for _ in range(WORKERS)]  # noqa: E731
    rate = drain_behind_gate(DATABASE, "pgqueuer", start, count, drained)
    return row(NAME, rate, f"{count:,} tasks")
