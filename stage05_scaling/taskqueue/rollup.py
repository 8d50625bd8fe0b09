"""The queue's history, a row a minute: how many tasks finished, how many failed, and how long
they waited to start (p50, p95). The dashboard's charts read it (dashboard.py).

Why a table of its own, instead of grouping the task table for each page view: an hour of a
busy queue is millions of rows, read again at every refresh by every open dashboard, and
retention deletes finished tasks anyway. Here each minute is counted once, after it ends, by
whichever worker's housekeeping gets the advisory lock (as retention does), reading only that
minute's rows through the index on finished_at.

The latency of a minute is that of the tasks that finished in it: from due (`run_after`, which
is the enqueue time unless the task was deferred or retried) to the start of their last attempt.
A task that finishes more than GRACE seconds after its minute ended is not counted.
"""

from taskqueue import sql
from taskqueue.db import atomic, connection

ROLLUP_LOCK = 0x7A5C_0006  # one worker rolls up at a time (retention is 0x7A5C_0005)
GRACE = 5  # seconds after a minute ends before it is counted (completions still landing)
KEEP_DAYS = 7


def roll_up() -> int:
    """Count the minutes that ended since the last roll-up; return how many rows were added.
    Nothing if another worker is at it."""
    with atomic(), connection.cursor() as cursor:
        cursor.execute(sql.TRY_LOCK, [ROLLUP_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(sql.ROLL_UP, {"grace": GRACE})
        added = cursor.rowcount
        cursor.execute(sql.PRUNE_MINUTES, [KEEP_DAYS])
        return added
