"""What an operator asks of a queue, answered from the table: how deep is it, how old is the
oldest waiting task, how fast is it draining, what died, and is the table bloating?

One function, `queue_stats()`, feeds the `queue_stats` command, the health endpoint, the
Prometheus metrics and the dashboard, so that they never disagree.

Cheap enough for a load balancer to ask every second, however many finished rows retention
keeps: each query reads an index that holds only what it counts (the open tasks, the
failures, the last minute's finished ones) or a statistics view, never the retained rows.

And what comes before a queue slows down (`pressure()`): a transaction that holds back vacuum
(the xmin horizon), and retention falling behind. Either one turns the verdict to "warning",
with what to look at; the endpoint still answers 200, since the queue still works.
"""

from django.conf import settings

from taskqueue import sql
from taskqueue.db import connection

WINDOW = 60  # seconds of finished tasks behind "tasks per second"
SAMPLE = 1_000  # at most this many of them read (the latest): bounded work at any rate
HORIZON_WARNING = 60.0  # seconds a transaction may hold the xmin horizon before a warning
# Transaction ids a session or a replication slot may hold the horizon back by before a
# warning, when its age in seconds is not known: a queue's every claim is a transaction, so
# 100,000 is a few minutes of a busy queue.
XID_WARNING = 100_000
RETENTION_WARNING = 3600.0  # seconds retention may run behind its cutoff before a warning
AUTOVACUUM_OFF = (
    "autovacuum is off for the task table (the server's autovacuum setting, or the table's"
    " autovacuum_enabled): nothing removes the row versions every claim leaves, and each claim"
    " reads more; turn it on"
)


def queue_stats() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(sql.COUNT_BY_QUEUE)
        counts = cursor.fetchall()
        cursor.execute(sql.OLDEST_DUE)
        oldest, claimed = cursor.fetchone()
        cursor.execute(sql.TABLE_HEALTH)
        live, dead, since_vacuum, autovacuum = cursor.fetchone() or (0, 0, None, True)
    by_status: dict[str, int] = {}
    by_queue: dict[str, dict[str, int]] = {}
    for queue, status, count in counts:
        by_status[status] = by_status.get(status, 0) + count
        by_queue.setdefault(queue, {})[status] = count
    finished, _ = finished_rates()
    seen = pressure()
    if not autovacuum:
        seen["warnings"].append(AUTOVACUUM_OFF)
    return {
        "status": "warning" if seen["warnings"] else "ok",
        "by_status": by_status,
        "by_queue": by_queue,
        "queued": by_status.get("QUEUED", 0),
        "in_progress": by_status.get("IN_PROGRESS", 0),
        "dead": by_status.get("DEAD", 0),
        "failed": by_status.get("FAILED", 0),
        "oldest_queued_seconds": round(float(oldest), 3),
        "claimed_not_started": claimed,
        "tasks_per_second": round(finished, 2),
        "table": {
            "live_rows": live,
            "dead_rows": dead,
            "seconds_since_vacuum": None if since_vacuum is None else round(float(since_vacuum)),
            "autovacuum": autovacuum,
        },
        **seen,
    }


def finished_rates() -> tuple[float, dict[str, float]]:
    """Tasks finished per second (whatever their end), and DONE per second by queue: over the
    last WINDOW seconds, or, when more than SAMPLE finished in it, over the time the latest
    SAMPLE took."""
    with connection.cursor() as cursor:
        cursor.execute(sql.RECENTLY_FINISHED, {"window": WINDOW, "sample": SAMPLE})
        rows = cursor.fetchall()
    total = sum(count for _, _, count, _ in rows)
    span = float(WINDOW)
    if total >= SAMPLE:
        span = max(max(float(age) for *_, age in rows), 0.001)
    return total / span, {queue: done / span for queue, done, _, _ in rows}


def pressure() -> dict:
    """What holds back vacuum, how far behind retention is, and the warnings they call for."""
    with connection.cursor() as cursor:
        cursor.execute(sql.HORIZON)
        transaction, xids, prepared, slot = cursor.fetchone()
        cursor.execute(sql.OLDEST_FINISHED, [settings.TASKQUEUE_KEY_WINDOW_HOURS])
        (oldest_finished,) = cursor.fetchone()
    keep = settings.TASKQUEUE_KEEP_FINISHED_DAYS * 86400
    behind = None
    if keep > 0 and oldest_finished is not None:
        behind = max(0.0, float(oldest_finished) - keep)
    horizon = {
        "oldest_transaction_seconds": seconds(transaction),
        "oldest_transaction_xids": xids,
        "oldest_prepared_transaction_seconds": seconds(prepared),
        "replication_slot_xmin_age": slot,
    }
    warnings = []
    for name, age, view in [
        ("a transaction", transaction, "pg_stat_activity"),
        ("a prepared transaction", prepared, "pg_prepared_xacts"),
    ]:
        if age is not None and age > HORIZON_WARNING:
            warnings.append(
                f"{name} has held the xmin horizon for {age:.0f} s: vacuum cannot remove the row"
                f" versions that died since, and every claim reads more ({view} says which)"
            )
    if not warnings and xids is not None and xids > XID_WARNING:
        warnings.append(
            f"a session holds the xmin horizon {xids} transactions back (pg_stat_activity;"
            " grant this role pg_monitor to see since when)"
        )
    if slot is not None and slot > XID_WARNING:
        warnings.append(
            f"a replication slot holds the xmin horizon {slot} transactions back"
            " (pg_replication_slots)"
        )
    if behind is not None and behind > RETENTION_WARNING:
        warnings.append(f"retention is {behind:.0f} s behind: the table grows")
    return {
        "horizon": horizon,
        "retention": {
            "oldest_finished_seconds": seconds(oldest_finished),
            "behind_seconds": None if behind is None else round(behind),
        },
        "warnings": warnings,
    }


def seconds(value) -> float | None:
    return None if value is None else round(float(value), 1)
