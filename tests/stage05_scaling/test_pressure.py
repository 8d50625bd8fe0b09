"""Stage 5 under pressure: what an operator's probes cost on a big table, what they say when
something holds back vacuum, and retention that keeps up.

The probes (/health/, /metrics/, the dashboard) must not read the finished rows retention keeps:
a load balancer asks every second, and a scan of 300,000 rows takes 40-50 ms. Each statement
they run is run again under EXPLAIN ANALYZE on a table of 20,000 finished rows and 5,000 that
finished this minute: none may read the first, nor more of the second than the rate's sample."""

import json
from datetime import timedelta

import psycopg
import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from taskqueue import sql, stats
from taskqueue.db import ALIAS
from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from taskqueue.retention import prune_a_little
from workshop.processes import wait_until
from workshop.testing.logfmt import events

pytestmark = pytest.mark.django_db(transaction=True)

RETAINED = 20_000
OPEN = 3_002  # QUEUED, DEAD
FINISHED = """
INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                            attempts, worker, worker_ids, error, errors, started_at,
                            finished_at, result)
SELECT 'taskqueue.tasks.noop', 'default', 0, '[]', '{}', 5, %s, 1, 'w', '["w"]', '', '[]',
       now() - %s * interval '1 second', now() - %s * interval '1 second', 'null'
FROM generate_series(1, %s)
"""


BACKLOG = """
INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                            attempts, worker, worker_ids, error, errors, run_after)
SELECT 'taskqueue.tasks.noop', 'default', 0, '[]', '{}', 5, 'QUEUED', 0, '', '[]', '', '[]',
       now() - interval '1 minute'
FROM generate_series(1, %s)
"""


def finished(count: int, ago: timedelta, status: str = "DONE") -> None:
    seconds = ago.total_seconds()
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(FINISHED, [status, seconds, seconds, count])


def scans(statement: str, params) -> list[dict]:
    """Run `statement` under EXPLAIN ANALYZE; each node of its plan that reads taskqueue_task,
    with `read`: the rows it returned or filtered out, over all its loops."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params)
        (plan,) = cursor.fetchone()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    found, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Relation Name") == "taskqueue_task":
            rows = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            found.append(node | {"read": rows * node["Actual Loops"]})
    return found


def test_health_metrics_and_the_dashboard_read_none_of_the_retained_rows(admin_client):
    finished(RETAINED, timedelta(hours=2))  # in no window: not this minute's, not pruned yet
    finished(5_000, timedelta(seconds=1))  # a busy minute: 5,000 tasks a minute ago
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(BACKLOG, [OPEN - 2])  # a backlog: no reason to read the finished rows
    enqueue("noop")
    Task.objects.create(name="taskqueue.tasks.fail", status="DEAD", finished_at=timezone.now())
    connection = connections[ALIAS]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE taskqueue_task")  # the planner knows the table's size

    statements = []

    def record(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert Client().get("/health/").status_code == 200
        assert Client().get("/metrics/").status_code == 200
        assert admin_client.get("/dashboard/?panels=1").status_code == 200

    on_tasks = [(text, params) for text, params in statements if "taskqueue_task" in text]
    assert len(on_tasks) >= 8  # counts, oldest due, throughput, horizon, the queues, failures
    for text, params in on_tasks:
        for node in scans(text, params):
            assert node["Node Type"] != "Seq Scan", f"a scan of every row:\n{text}"
            # At most the open tasks and the rate's sample: none of the 25,000 finished rows.
            assert node["read"] <= OPEN + stats.SAMPLE, f"reads {node['read']} rows:\n{text}"


def test_a_month_of_kept_failures_is_not_in_retention_s_way(settings):
    """Retention's statements and its lag read the DONE and CANCELLED rows only (the index
    task_retained), never the older FAILED and DEAD ones kept for 30 days."""
    settings.TASKQUEUE_KEEP_FINISHED_DAYS = 7
    finished(5_000, timedelta(days=20), "FAILED")  # kept: older than every prunable row
    finished(10, timedelta(days=8))  # prunable
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("ANALYZE taskqueue_task")
    statements = [
        (sql.OLDEST_FINISHED, [24]),
        (sql.PRUNE_FINISHED, {"older_than": 7 * 86400, "key_window_hours": 24, "batch": 10_000}),
        (sql.RECENTLY_FINISHED, {"window": 60, "sample": stats.SAMPLE}),
        (sql.ROLL_UP, {"grace": 5}),
    ]
    for statement, params in statements:
        for node in scans(statement, params):
            assert node["read"] <= 10, f"reads {node['read']} rows:\n{statement}"


def test_the_finished_rate_is_read_from_the_latest_thousand():
    with connections[ALIAS].cursor() as cursor:  # 1,500 tasks, one every 20 ms, the last now
        cursor.execute(FINISHED, ["DONE", 0, 0, 1_500])
        cursor.execute(
            "UPDATE taskqueue_task SET finished_at = now() - (id % 1500) * interval '20 ms'"
        )

    rate = Client().get("/health/").json()["tasks_per_second"]

    assert 45 <= rate <= 55  # the latest 1,000 took 20 s: 50 a second


def test_a_transaction_holding_the_horizon_is_a_warning_until_it_ends(monkeypatch):
    monkeypatch.setattr(stats, "HORIZON_WARNING", 0.5)
    params = connections[ALIAS].get_connection_params()
    keys = {"dbname", "user", "password", "host", "port"}
    holder = psycopg.connect(**{key: value for key, value in params.items() if key in keys})
    try:
        # An xid, then idle in transaction: what a forgotten BEGIN in a shell looks like.
        holder.execute("SELECT pg_current_xact_id()")

        def verdict() -> dict:
            return Client().get("/health/").json()

        def horizon_warning() -> dict | None:
            body = verdict()
            return body if any("horizon" in text for text in body["warnings"]) else None

        held = wait_until(horizon_warning, timeout=10)
        assert held["status"] == "warning"
        assert "held the xmin horizon" in held["warnings"][0]
        assert held["horizon"]["oldest_transaction_seconds"] >= 0.5
        metrics = Client().get("/metrics/").content.decode()
        assert "taskqueue_oldest_transaction_seconds " in metrics
    finally:
        holder.rollback()
        holder.close()
    wait_until(lambda: horizon_warning() is None, timeout=10)


def test_a_task_table_that_autovacuum_passes_over_is_a_warning():
    """Off for the table here (the server's setting is the other way to turn it off): every
    claim's dead row versions stay until someone runs VACUUM by hand."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("ALTER TABLE taskqueue_task SET (autovacuum_enabled = false)")
    try:
        body = Client().get("/health/").json()
        assert body["status"] == "warning"
        assert stats.AUTOVACUUM_OFF in body["warnings"]
        assert "taskqueue_table_autovacuum 0.0" in Client().get("/metrics/").content.decode()
    finally:
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("ALTER TABLE taskqueue_task RESET (autovacuum_enabled)")


def test_retention_prunes_batch_after_batch_until_it_has_caught_up(settings):
    settings.TASKQUEUE_KEEP_FINISHED_DAYS = 7
    settings.TASKQUEUE_KEEP_FAILED_DAYS = 30
    finished(25_000, timedelta(days=8))  # two and a half batches past the cutoff
    finished(1, timedelta(days=1))
    finished(1, timedelta(days=31), "DEAD")
    finished(1, timedelta(days=29), "FAILED")

    assert prune_a_little(budget=60) == 25_001  # a budget no batch reaches: all of it

    left = sorted(Task.objects.values_list("status", flat=True))
    assert left == ["DONE", "FAILED"]  # the recent DONE, the failure still in its 30 days


def test_failures_are_pruned_in_their_time_even_when_finished_tasks_are_kept(settings):
    settings.TASKQUEUE_KEEP_FINISHED_DAYS = 0  # keep every finished task
    settings.TASKQUEUE_KEEP_FAILED_DAYS = 30
    finished(1, timedelta(days=100))
    finished(1, timedelta(days=31), "DEAD")

    assert prune_a_little() == 1

    assert list(Task.objects.values_list("status", flat=True)) == ["DONE"]


def test_retention_running_behind_is_a_warning(settings):
    settings.TASKQUEUE_KEEP_FINISHED_DAYS = 7
    finished(1, timedelta(days=7, hours=2))

    body = Client().get("/health/").json()

    assert body["status"] == "warning"
    assert body["retention"]["behind_seconds"] >= 7200 - 60
    assert any(warning.startswith("retention is") for warning in body["warnings"])


END_THE_WORKERS_SESSIONS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


def test_a_worker_whose_session_is_ended_reconnects_at_once(manage):
    """pg_terminate_backend (an operator, a failover, a pooler's restart) ends the worker's
    sessions while the server stays up: the worker's first retry is immediate, not a second
    later (backoff starts with the second failure), and it goes on running tasks."""
    worker = manage("worker", "-v2", "--poll-interval", "30")
    first = enqueue("noop")
    wait_until(lambda: status(first) == "DONE", timeout=10, what="the first task done")

    with connections[ALIAS].cursor() as cursor:
        cursor.execute(END_THE_WORKERS_SESSIONS)
        assert cursor.fetchone()[0] >= 2  # its claims' and its listener's, at least

    (error,) = events([worker.wait_for("event=worker.db_error").string], "worker.db_error")
    assert float(error["retry_in"]) == 0
    second = enqueue("noop")
    wait_until(lambda: status(second) == "DONE", timeout=10, what="the second task done")


def status(task) -> str:
    return Task.objects.get(pk=task.pk).status
