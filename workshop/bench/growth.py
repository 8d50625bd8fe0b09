"""Growth rows: stage 5 (2 processes, batch 100) again, after the table has filled with
finished rows, as a queue's table does when nothing prunes it. Compared to the empty table.

The finished rows are written with one INSERT ... SELECT, then VACUUM ANALYZE, as autovacuum
would leave a table that size. They finished just now, so retention (7 days) leaves them be.
"""

from functools import partial

from workshop.bench import Row
from workshop.bench.db import STAGE5_DB, connect, reset
from workshop.bench.processing import median_of, stage5_rate

GROUP = "growth"
INSERT_FINISHED = """
INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                            attempts, worker, worker_ids, error, errors, started_at,
                            finished_at, result)
SELECT 'taskqueue.tasks.noop', 'default', 0, '[]', '{}', 5, 'DONE', 1, 'bench', '["bench"]', '',
       '[]', now(), now(), 'null'
FROM generate_series(1, %s)
"""


def name(finished: int) -> str:
    return f"stage 5, 2 processes, batch 100, {finished:,} finished rows"


def fill(finished: int) -> None:
    """An empty table, then `finished` finished rows, vacuumed and analysed."""
    reset(STAGE5_DB)
    with connect(STAGE5_DB) as conn:
        conn.execute(INSERT_FINISHED, [finished])
        conn.execute("VACUUM ANALYZE taskqueue_task")


def measure(finished: int, count: int, runs: int) -> list[Row]:
    fill(finished)
    # Each run adds its tasks to the finished ones: a few percent more rows by the last.
    rate = median_of(runs, partial(stage5_rate, 2, 100, count, fresh=False))
    return [Row(GROUP, name(finished), rate, "tasks/s", note=f"{count:,} tasks, median of {runs}")]


def steps(sizes) -> list:
    return [
        (
            f"{sizes.growth_rows:,} finished rows",
            partial(measure, sizes.growth_rows, sizes.tasks, sizes.repeats),
        )
    ]
