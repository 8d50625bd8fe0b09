"""Latency rows: enqueue-to-start on an idle queue, one stage 5 worker woken by NOTIFY, then
one that polls (backing off to its 1 s poll interval), as stage 5's `demo` measures it: one
task at a time, each after the last is done and a random pause, in the database's clock."""

import random
import time
from functools import partial

from workshop.bench import Row
from workshop.bench.db import STAGE5_DB, STAGE5_DIR, bench_env, connect, reset
from workshop.demo import running
from workshop.processes import wait_until

GROUP = "latency"
ENQUEUE_ONE = """
INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                            attempts, worker, worker_ids, error, errors)
VALUES ('taskqueue.tasks.noop', 'default', 0, '[]', '{}', 5, 'QUEUED', 0, '', '[]', '', '[]')
RETURNING id
"""
PERCENTILES = """
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY
           extract(epoch FROM started_at - created_at) * 1000)
FROM taskqueue_task WHERE id = ANY(%s)
"""


def sample(samples: int, max_pause: float) -> list[float]:
    ids = []
    with connect(STAGE5_DB) as conn:
        for _ in range(samples):
            # Autocommit: the INSERT commits, and the trigger's NOTIFY goes out, at once.
            (task_id,) = conn.execute(ENQUEUE_ONE).fetchone()
            ids.append(task_id)
            wait_until(
                lambda task_id=task_id: conn.execute(
                    "SELECT status = 'DONE' FROM taskqueue_task WHERE id = %s", [task_id]
                ).fetchone()[0],
                what=f"task {task_id} done",
            )
            time.sleep(random.uniform(0, max_pause))
        return conn.execute(PERCENTILES, [ids]).fetchone()[0]


def measure(mode: str, samples: int, max_pause: float) -> list[Row]:
    reset(STAGE5_DB)
    args = ["--no-listen"] if mode == "poll" else []
    with running(STAGE5_DIR, args, ready_lines=2, env=bench_env(STAGE5_DB)):  # supervisor, child
        p50, p95, p99 = sample(samples, max_pause)
    label = "LISTEN/NOTIFY" if mode == "notify" else "polling (backoff to 1 s)"
    note = f"{samples} tasks one at a time, idle queue"
    return [
        Row(GROUP, f"{label}, enqueue to start, {name}", value, "ms", note=note)
        for name, value in (("p50", p50), ("p95", p95), ("p99", p99))
    ]


def steps(sizes) -> list:
    return [
        ("latency, notify", partial(measure, "notify", sizes.latency_samples, 0.05)),
        # A poller's wait grows while idle: pauses up to 1 s show its whole range.
        ("latency, poll", partial(measure, "poll", sizes.poll_samples, 1.0)),
    ]
