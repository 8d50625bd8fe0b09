"""Growth rows: stage 5 (2 processes, batch 100) again, after the table has filled with
finished rows, as a queue's table does when nothing prunes it. Compared to the empty table.
On the same table: what an operator's probes cost (/health/, /metrics/, the dashboard's
panels), and how fast retention deletes those rows once they are old, against the rate the
workers finish tasks at.

The finished rows are written with one INSERT ... SELECT, then VACUUM ANALYZE, as autovacuum
would leave a table that size. They finished just now, so retention (7 days) leaves them be,
until the retention row makes them 8 days old.
"""

from functools import partial

from workshop.bench import Row
from workshop.bench.db import STAGE5_DB, connect, reset
from workshop.bench.processing import median_of, stage5_rate
from workshop.bench.run import child, result_of

GROUP = "growth"
INSERT_FINISHED = """
INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                            attempts, worker, worker_ids, error, errors, started_at,
                            finished_at, result)
SELECT 'taskqueue.tasks.noop', 'default', 0, '[]', '{}', 5, 'DONE', 1, 'bench', '["bench"]', '',
       '[]', now() - %s * interval '1 day', now() - %s * interval '1 day', 'null'
FROM generate_series(1, %s)
"""
PROBES = {"health": "/health/", "metrics": "/metrics/", "dashboard": "the dashboard's panels"}
PROBE_CALLS = 50


def name(finished: int) -> str:
    return f"stage 5, 2 processes, batch 100, {finished:,} finished rows"


def fill(finished: int, days_ago: float = 0) -> None:
    """An empty table, then `finished` finished rows, vacuumed and analysed."""
    reset(STAGE5_DB)
    with connect(STAGE5_DB) as conn:
        conn.execute(INSERT_FINISHED, [days_ago, days_ago, finished])
        conn.execute("VACUUM ANALYZE taskqueue_task")


def measure(finished: int, count: int, runs: int) -> list[Row]:
    fill(finished)
    # Each run adds its tasks to the finished ones: a few percent more rows by the last.
    rate = median_of(runs, partial(stage5_rate, 2, 100, count, fresh=False))
    rows = [Row(GROUP, name(finished), rate, "tasks/s", note=f"{count:,} tasks, median of {runs}")]
    probes = result_of(child("probes", PROBE_CALLS))
    for key, label in PROBES.items():
        note = f"median of {PROBE_CALLS} calls, the target is at most 5 ms"
        label = f"{label}, {finished:,} finished rows"
        rows.append(Row(GROUP, label, probes[key], "ms", note=note))
    fill(finished, days_ago=8)  # all past retention's 7 days
    pruned = result_of(child("prune", 7))
    rows.append(
        Row(
            GROUP,
            f"retention, pruning {finished:,} finished rows",
            pruned["deleted"] / pruned["seconds"],
            "rows/s",
            note=f"batches of 10,000; the workers above finished {rate:,.0f} tasks/s",
        )
    )
    return rows


def steps(sizes) -> list:
    return [
        (
            f"{sizes.growth_rows:,} finished rows",
            partial(measure, sizes.growth_rows, sizes.tasks, sizes.repeats),
        )
    ]
