"""procrastinate: 2 `procrastinate worker --one-shot` processes, jobs deferred with its
batch_defer. Twice: its defaults (concurrency 1, one job per fetch, LISTEN/NOTIFY), and with
concurrency 10, its documented way to keep more jobs in flight (it has no batch fetch)."""

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

NAME = "procrastinate, 2 worker processes"
MATCHED = "procrastinate, 2 worker processes, concurrency 10 (matched)"
APP = "workshop.bench.alternatives.procrastinate_app.app"
DATABASE = "bench_procrastinate"
CLI = ("procrastinate", f"--app={APP}")
DEFER = """
import sys
from workshop.bench.alternatives.procrastinate_app import app, noop
with app.open():
    noop.batch_defer(*[{}] * int(sys.argv[1]))
"""


def measure(count: int, matched: bool = False):
    create_database(DATABASE)
    with connect(DATABASE) as conn:
        installed = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0]
        if installed:
            conn.execute("TRUNCATE procrastinate_jobs CASCADE")
    if not installed:
        run_to_end(python(*CLI, "schema", "--apply"))
    run_to_end(python(DEFER, str(count), program=("-c",)))

    def start():
        options = ["--concurrency", "10"] if matched else []
        return [python(*CLI, "worker", "--one-shot", *options) for _ in range(WORKERS)]

    succeeded = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
    drained = holds(DATABASE, f"SELECT ({succeeded}) >= %s", count)

    rate = drain_behind_gate(DATABASE, "procrastinate_jobs", start, count, drained)
    return row(MATCHED if matched else NAME, rate, f"{count:,} tasks")
