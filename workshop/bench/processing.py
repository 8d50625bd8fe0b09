"""Processing rows: the time from all workers started to the queue drained, for stages 2, 3
and 5 and for two reference loops without a worker's bookkeeping.

Every row: N no-op tasks enqueued, the workers started behind the gate (db.gate: start-up is
left out), then N divided by the time from the gate opening to the last task finished.
"""

import statistics
from functools import partial

from workshop import measure_claims
from workshop.bench import Row
from workshop.bench.db import (
    STAGE5_DB,
    connect,
    gate,
    migrate,
    reset,
    wait_all,
)
from workshop.bench.run import child, result_of, worker

GROUP = "processing"
INSERT_NOOPS = """
INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                            attempts, worker, worker_ids, error, errors)
SELECT 'taskqueue.tasks.noop', 'default', 0, '[]', '{}', 5, 'QUEUED', 0, '', '[]', '', '[]'
FROM generate_series(1, %s)
"""


def stage5_name(processes: int, batch: int) -> str:
    return f"stage 5, {processes} process{'es' if processes > 1 else ''}, batch {batch}"


STAGE5_REFERENCE = stage5_name(2, 100)  # what every ratio_to_stage5 divides by
STAGE2 = ("stage02_db_queue", "stage 2 (FOR UPDATE)", ["--claim", "locked"])
STAGE3 = ("stage03_skip_locked", "stage 3 (SKIP LOCKED)", [])
ORM_LOOP = "bare Django ORM loop, 2 processes, batch 100"
ORM_LOOP_TWO_WRITES = "bare Django ORM loop, claim committed first, 2 processes, batch 100"
PSYCOPG_LOOP = "plain psycopg claim+complete loop, 2 processes, batch 1"


def enqueue_noops(count: int, database: str = STAGE5_DB) -> int:
    """Add `count` no-op tasks with one INSERT; return the highest id before them."""
    with connect(database) as conn:
        (before,) = conn.execute("SELECT coalesce(max(id), 0) FROM taskqueue_task").fetchone()
        conn.execute(INSERT_NOOPS, [count])
        conn.execute("ANALYZE taskqueue_task")
    return before


def last_finished(count: int, after: int = 0) -> float:
    """When the last of the `count` tasks after id `after` finished (epoch seconds); an error
    if not all of them are DONE."""
    with connect(STAGE5_DB) as conn:
        done, last = conn.execute(
            "SELECT count(*), extract(epoch FROM max(finished_at)) FROM taskqueue_task"
            " WHERE id > %s AND status = 'DONE'",
            [after],
        ).fetchone()
    if done != count:
        raise RuntimeError(f"{done} of {count} tasks done")
    return float(last)


def stage5_rate(processes: int, batch: int, count: int, fresh: bool = True) -> float:
    """Tasks/s of `worker --processes N --burst`; `fresh=False` keeps the rows already there."""
    if fresh:
        reset(STAGE5_DB)
    before = enqueue_noops(count)
    with gate(STAGE5_DB, "taskqueue_task") as open_gate:
        supervisor = worker(processes, batch)
        opened = open_gate(processes, [supervisor])
    wait_all([supervisor])
    return count / (last_finished(count, after=before) - opened)


REPEATS = 3  # stage 5's rows and the reference loops: the median of this many runs


def median_of(runs: int, once) -> float:
    return statistics.median(once() for _ in range(runs))


def stage5(processes: int, batch: int, count: int, runs: int = REPEATS) -> list[Row]:
    rate = median_of(runs, partial(stage5_rate, processes, batch, count))
    note = f"{count:,} tasks, median of {runs}"
    return [Row(GROUP, stage5_name(processes, batch), rate, "tasks/s", note=note)]


def loop(name: str, program: str, batch: int, count: int, runs: int = REPEATS) -> list[Row]:
    rate = median_of(runs, partial(loop_rate, name, program, batch, count))
    return [Row(GROUP, name, rate, "tasks/s", note=f"{count:,} tasks, median of {runs}")]


def loop_rate(name: str, program: str, batch: int, count: int) -> float:
    reset(STAGE5_DB)
    enqueue_noops(count)
    with gate(STAGE5_DB, "taskqueue_task") as open_gate:
        loops = [child(program, batch) for _ in range(2)]
        opened = open_gate(2, loops)
    results = [result_of(process) for process in loops]
    done = sum(result["done"] for result in results)
    if done != count:
        raise RuntimeError(f"{name}: {done} of {count} tasks done")
    return count / (max(result["last"] for result in results) - opened)


def older_stage(stage: str, label: str, extra: list[str], workers: int, batch: int, count: int):
    """Stages 2 and 3, measured as `make measure-claims` does (no --processes there: separate
    burst workers), in a database of their own."""
    database = f"bench_{stage.split('_')[0]}"
    migrate(stage, database)
    rate = measure_claims.measure(stage, extra, workers, batch, count, database=database)
    name = f"{label}, {workers} processes, batch {batch}"
    return [Row(GROUP, name, rate, "tasks/s", note=f"{count:,} tasks")]


def steps(sizes) -> list:
    # A commit per task (batch 1, stages 2 and 3) is slow: those rows take fewer tasks.
    count, slow, runs = sizes.tasks, sizes.slow_tasks, sizes.repeats
    found = [
        ("stage 2", partial(older_stage, *STAGE2, 2, 100, slow)),
        ("stage 3", partial(older_stage, *STAGE3, 2, 100, slow)),
    ]
    for batch in (100, 1):
        for processes in (1, 2, 4):
            tasks = count if batch > 1 else slow
            found.append(
                (stage5_name(processes, batch), partial(stage5, processes, batch, tasks, runs))
            )
    found.append((ORM_LOOP, partial(loop, ORM_LOOP, "orm-loop", 100, count, runs)))
    found.append(
        (
            ORM_LOOP_TWO_WRITES,
            partial(loop, ORM_LOOP_TWO_WRITES, "orm-loop-claim-first", 100, count),
        )
    )
    found.append((PSYCOPG_LOOP, partial(loop, PSYCOPG_LOOP, "psycopg-loop", 1, slow, runs)))
    return found
