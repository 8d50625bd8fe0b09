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

from django.db import connection, transaction

ROLLUP_LOCK = 0x7A5C_0006  # one worker rolls up at a time (retention is 0x7A5C_0005)
GRACE = 5  # seconds after a minute ends before it is counted (completions still landing)
KEEP_DAYS = 7

ROLL_UP = """
WITH since AS (
    SELECT greatest(
        max(minute) + interval '1 minute',
        date_trunc('minute', now()) - interval '1 hour'
    ) AS at
    FROM (SELECT minute FROM taskqueue_minutestats UNION ALL SELECT NULL) AS rolled
)
INSERT INTO taskqueue_minutestats (minute, finished, failed, p50_ms, p95_ms)
SELECT date_trunc('minute', finished_at),
       count(*) FILTER (WHERE status = 'DONE'),
       count(*) FILTER (WHERE status IN ('FAILED', 'DEAD')),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY waited_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY waited_ms)
FROM taskqueue_task, since,
     LATERAL (SELECT extract(epoch FROM started_at - run_after) * 1000 AS waited_ms) AS waited
WHERE finished_at >= since.at
  AND finished_at < date_trunc('minute', now() - make_interval(secs => %s))
GROUP BY 1
ON CONFLICT (minute) DO NOTHING
"""
PRUNE = "DELETE FROM taskqueue_minutestats WHERE minute < now() - make_interval(days => %s)"


def roll_up() -> int:
    """Count the minutes that ended since the last roll-up; return how many rows were added.
    Nothing if another worker is at it."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(ROLL_UP, [GRACE])
        added = cursor.rowcount
        cursor.execute(PRUNE, [KEEP_DAYS])
        return added
