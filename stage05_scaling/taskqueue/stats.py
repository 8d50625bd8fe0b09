"""What an operator asks of a queue, answered from the table: how deep is it, how old is the
oldest waiting task, how fast is it draining, what died, and is the table bloating?

One function, `queue_stats()`, feeds the `queue_stats` command, the health endpoint, the
Prometheus metrics and the dashboard, so that they never disagree.
"""

from taskqueue import sql
from taskqueue.db import connection

WINDOW = 60  # seconds of finished tasks behind "tasks per second"


def queue_stats() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(sql.COUNT_BY_QUEUE)
        counts = cursor.fetchall()
        cursor.execute(sql.OLDEST_DUE)
        oldest, claimed = cursor.fetchone()
        cursor.execute(sql.FINISHED_SINCE, [WINDOW])
        (recent,) = cursor.fetchone()
        cursor.execute(sql.TABLE_HEALTH)
        live, dead, since_vacuum = cursor.fetchone() or (0, 0, None)
    by_status: dict[str, int] = {}
    by_queue: dict[str, dict[str, int]] = {}
    for queue, status, count in counts:
        by_status[status] = by_status.get(status, 0) + count
        by_queue.setdefault(queue, {})[status] = count
    return {
        "by_status": by_status,
        "by_queue": by_queue,
        "queued": by_status.get("QUEUED", 0),
        "in_progress": by_status.get("IN_PROGRESS", 0),
        "dead": by_status.get("DEAD", 0),
        "failed": by_status.get("FAILED", 0),
        "oldest_queued_seconds": round(float(oldest), 3),
        "claimed_not_started": claimed,
        "tasks_per_second": round(recent / WINDOW, 2),
        "table": {
            "live_rows": live,
            "dead_rows": dead,
            "seconds_since_vacuum": None if since_vacuum is None else round(float(since_vacuum)),
        },
    }
