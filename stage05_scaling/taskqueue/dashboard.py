"""What the dashboard shows, read from the database: one function per panel.

Each query reads through an index that holds only what it needs: the open tasks (QUEUED and
IN_PROGRESS, the partial indexes task_claimable and task_running), the last minute's finished
ones (task_retained, at most stats.SAMPLE of them), the failures (task_failures), the minutes'
history (rollup.py). None of them reads the retained rows, so the page stays cheap on a table
of millions of finished rows, at any rate.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from taskqueue import charts, sql
from taskqueue.db import connection
from taskqueue.models import MinuteStats, PausedQueue, Task, WorkerProcess
from taskqueue.stats import finished_rates

HOUR = timedelta(hours=1)
FAILURES_SHOWN = 20
GONE_SHOWN = 10


def queues(configured: list[str]) -> list[dict]:
    """One row per queue: the configured ones, those with tasks, and the paused ones."""
    with connection.cursor() as cursor:
        cursor.execute(sql.QUEUE_OVERVIEW)
        found = {row[0]: row[1:] for row in cursor.fetchall()}
    _, done_per_second = finished_rates()
    paused = dict(PausedQueue.objects.values_list("name", "paused_at"))
    rows = []
    for name in sorted(set(configured) | set(found) | set(paused) | set(done_per_second)):
        queued, due, claimed, running, failed, dead, oldest = found.get(
            name, (0, 0, 0, 0, 0, 0, None)
        )
        rows.append(
            {
                "name": name,
                "queued": queued,
                "due": due,
                "claimed": claimed,
                "running": running,
                "failed": failed,
                "dead": dead,
                "oldest_due": None if oldest is None else float(oldest),
                "per_second": done_per_second.get(name, 0.0),
                "paused_at": paused.get(name),
            }
        )
    return rows


def workers() -> tuple[list[WorkerProcess], list[WorkerProcess]]:
    """The live worker processes (stopped or past their expiry: gone), and the latest gone."""
    now = timezone.now()
    live = list(
        WorkerProcess.objects.filter(stopped_at__isnull=True, expires_at__gt=now).order_by(
            "hostname", "pid"
        )
    )
    gone = list(
        WorkerProcess.objects.exclude(pk__in=[worker.pk for worker in live]).order_by(
            "-heartbeat_at"
        )[:GONE_SHOWN]
    )
    for worker in live:
        worker.running_for = (now - worker.task_started_at) if worker.task_started_at else None
    return live, gone


def failures() -> list[Task]:
    """The latest FAILED and DEAD tasks (index task_failures), newest first."""
    return list(
        Task.objects.filter(status__in=[Task.Status.FAILED, Task.Status.DEAD])
        .order_by("-finished_at")
        .only("id", "name", "queue_name", "status", "attempts", "error", "finished_at")[
            :FAILURES_SHOWN
        ]
    )


def history(now: datetime) -> list[charts.Chart]:
    """The last hour, a point a minute (rollup.py): finished per second, and how long tasks
    waited to start, p50 and p95."""
    start = (now - HOUR).replace(second=0, microsecond=0)
    minutes = list(MinuteStats.objects.filter(minute__gte=start).order_by("minute"))
    by_minute = {row.minute: row for row in minutes}
    # Minutes with nothing finished have no row: they are zero on the chart.
    every = [start + timedelta(minutes=step) for step in range(61)]
    every = [minute for minute in every if minute <= now - timedelta(minutes=1)]
    finished = [(m, (by_minute[m].finished / 60) if m in by_minute else 0.0) for m in every]
    with_latency = [row for row in minutes if row.p50_ms is not None]
    return [
        charts.line_chart("Finished per second", "tasks/s", start, now, {"finished / s": finished}),
        charts.line_chart(
            "Wait from due to start",
            "ms",
            start,
            now,
            {
                "p50": [(row.minute, row.p50_ms) for row in with_latency],
                "p95": [(row.minute, row.p95_ms) for row in with_latency],
            },
        ),
    ]


def attempts(task: Task) -> list[dict]:
    """Each attempt of a task: its worker, when it started and ended, how (error records carry
    these since retries.error_record wrote them; the last attempt's come from the row)."""
    rows = []
    errors = list(task.errors or [])
    for number in range(1, task.attempts + 1):
        error = next((e for e in errors if e.get("attempt") == number), None)
        worker = task.worker_ids[number - 1] if number <= len(task.worker_ids or []) else ""
        row = {"number": number, "worker": worker, "started_at": None, "ended_at": None}
        if error:
            row |= {
                "worker": error.get("worker") or worker,
                "started_at": moment(error.get("started_at")),
                "ended_at": moment(error.get("ended_at")),
                "error": error.get("exception_class_path", ""),
                "traceback": error.get("traceback", ""),
            }
        elif number == task.attempts:
            row |= {"started_at": task.started_at, "ended_at": task.finished_at}
        rows.append(row)
    # Error records from before attempts were numbered: shown after, as they were stored.
    for error in errors:
        if "attempt" not in error:
            rows.append(
                {
                    "number": "?",
                    "worker": "",
                    "error": error.get("exception_class_path", ""),
                    "traceback": error.get("traceback", ""),
                }
            )
    return rows


def moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
