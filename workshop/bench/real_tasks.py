"""Tasks that take time, with the worker's own settings (the batch adapts, prefetch.py): how
close stage 5 comes to the ideal, where the ideal is every process busy all the time.

- 5 ms tasks (a sleep, as an API call) on 2 processes: the ideal is 400 a second. A batch of
  one pays two round trips and a commit per task; a batch of a hundred lets one worker hoard.
- 20 tasks of 1 s on 4 processes: the ideal is 5 seconds, 5 tasks each. A worker that claimed
  more than it can start soon would make the others wait.
"""

from functools import partial

from workshop.bench import Row
from workshop.bench.db import STAGE5_DB, connect, gate, reset, wait_all
from workshop.bench.processing import last_finished
from workshop.bench.run import worker

GROUP = "real tasks"
FIVE_MS = "stage 5, 2 processes, 5 ms tasks, of the ideal"
ONE_SECOND = "stage 5, 4 processes, 20 tasks of 1 s, seconds"
ENQUEUE = """
INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                            attempts, worker, worker_ids, error, errors)
SELECT 'taskqueue.tasks.pretend_work', 'default', 0, '[]', jsonb_build_object('ms', %s::int), 5,
       'QUEUED', 0, '', '[]', '', '[]'
FROM generate_series(1, %s)
"""


def seconds_to_drain(processes: int, ms: int, count: int) -> float:
    reset(STAGE5_DB)
    with connect(STAGE5_DB) as conn:
        conn.execute(ENQUEUE, [ms, count])
    with gate(STAGE5_DB, "taskqueue_task") as open_gate:
        supervisor = worker(processes, None)
        opened = open_gate(processes, [supervisor])
    wait_all([supervisor])
    return last_finished(count) - opened


def five_ms(count: int) -> list[Row]:
    seconds = seconds_to_drain(2, 5, count)
    ideal = 2 * 1000 / 5  # tasks/s: two processes, each busy all the time
    note = f"{count / seconds:,.0f} tasks/s of an ideal {ideal:,.0f}; {count:,} tasks"
    return [Row(GROUP, FIVE_MS, count / seconds / ideal, "x", note=note)]


def one_second() -> list[Row]:
    seconds = seconds_to_drain(4, 1000, 20)
    return [Row(GROUP, ONE_SECOND, seconds, "s", note="the ideal is 5 s (5 each)")]


def steps(sizes) -> list:
    return [
        (FIVE_MS, partial(five_ms, sizes.five_ms_tasks)),
        (ONE_SECOND, one_second),
    ]
