"""Stage 5's monitoring: queue_stats, the health endpoint, Prometheus metrics, the dashboard's
access, and retention. All read the same numbers from the table (taskqueue/stats.py)."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from taskqueue import views
from taskqueue.claim import claim_batch
from taskqueue.enqueue import enqueue
from taskqueue.models import Task, WorkerProcess
from taskqueue.retention import prune
from taskqueue.stats import AUTOVACUUM_OFF
from taskqueue.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def busy_queue():
    """2 queued (one of them on "emails"), 3 done, 1 dead."""
    for _ in range(3):
        enqueue("noop")
    Worker(burst=True).run()
    enqueue("noop")
    enqueue("send_welcome_email", {"user_id": 1})
    Task.objects.create(name="taskqueue.tasks.fail", status="DEAD", finished_at=timezone.now())


def test_health_reports_depth_by_queue_and_status_and_throughput(busy_queue):
    response = Client().get("/health/")

    assert response.status_code == 200
    stats = response.json()
    # Nothing to warn of, unless this server does not vacuum (a test server may not).
    vacuums = server_vacuums()
    assert stats["table"]["autovacuum"] is vacuums
    assert stats["warnings"] == ([] if vacuums else [AUTOVACUUM_OFF])
    assert stats["status"] == ("ok" if vacuums else "warning")
    # The tasks that are state; the DONE ones are history, counted by their rate below.
    assert stats["by_queue"] == {"default": {"QUEUED": 1, "DEAD": 1}, "emails": {"QUEUED": 1}}
    assert (stats["queued"], stats["dead"]) == (2, 1)
    assert stats["tasks_per_second"] == round(4 / 60, 2)  # 3 done + 1 dead in the last minute
    assert stats["oldest_queued_seconds"] >= 0
    assert {"live_rows", "dead_rows", "seconds_since_vacuum"} <= stats["table"].keys()


def test_a_task_claimed_in_a_batch_and_not_started_counts_as_waiting():
    waiting = enqueue("noop")
    Task.objects.filter(pk=waiting.pk).update(run_after=timezone.now() - timedelta(seconds=60))
    claim_batch(1, "worker-a", ["default"])  # claimed: IN_PROGRESS, and no start yet

    stats = Client().get("/health/").json()

    assert stats["queued"] == 0
    assert stats["claimed_not_started"] == 1
    assert stats["oldest_queued_seconds"] >= 60  # waiting since it came due, a minute ago
    assert "taskqueue_claimed_not_started 1.0" in Client().get("/metrics/").content.decode()


def test_health_shows_counts_only_never_arguments_or_errors():
    enqueue("greet", {"name": "secret-customer-name"})
    Task.objects.create(name="taskqueue.tasks.fail", status="DEAD", error="secret-error-text")

    body = Client().get("/health/").content.decode() + Client().get("/metrics/").content.decode()

    assert "secret-customer-name" not in body and "secret-error-text" not in body


def test_health_is_503_when_the_database_is_down(monkeypatch):
    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(views, "queue_stats", unreachable)

    response = Client().get("/health/")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_metrics_are_prometheus_text(busy_queue):
    response = Client().get("/metrics/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert 'taskqueue_tasks{queue="default",status="DEAD"} 1.0' in text
    assert 'status="DONE"' not in text  # history, not state: its rate is the next line's
    assert "taskqueue_finished_per_second " in text
    assert 'taskqueue_tasks{queue="emails",status="QUEUED"} 1.0' in text
    assert "# TYPE taskqueue_oldest_queued_seconds gauge" in text
    assert "taskqueue_table_dead_rows " in text


def test_queue_stats_prints_the_same_numbers(busy_queue):
    out = StringIO()
    call_command("queue_stats", "--json", stdout=out)

    assert json.loads(out.getvalue())["by_status"] == {"QUEUED": 2, "DEAD": 1}


def test_the_dashboard_is_for_staff_only(admin_client, django_user_model):
    assert admin_client.get("/dashboard/").status_code == 200
    client = Client()
    assert client.get("/dashboard/").status_code == 302  # to the admin's login
    client.force_login(django_user_model.objects.create_user("alice"))
    assert client.get("/dashboard/").status_code == 302


def test_prune_deletes_old_done_and_cancelled_and_keeps_failures_and_recent():
    old = timezone.now() - timedelta(days=8)
    kept, gone = [], []
    for status in ("DONE", "CANCELLED"):
        gone.append(Task.objects.create(name="n", status=status, finished_at=old))
        kept.append(Task.objects.create(name="n", status=status, finished_at=timezone.now()))
    for status in ("FAILED", "DEAD"):
        kept.append(Task.objects.create(name="n", status=status, finished_at=old))
    kept.append(Task.objects.create(name="n", status="QUEUED"))

    assert prune(7 * 86400, batch=1) == 2  # one row per batch: the loop goes on until done

    assert set(Task.objects.values_list("pk", flat=True)) == {task.pk for task in kept}


def test_prune_deletes_the_rows_of_workers_that_ended_a_day_ago():
    now = timezone.now()
    for name, stopped in [("ended", now - timedelta(days=2)), ("recent", now), ("alive", None)]:
        WorkerProcess.objects.create(
            id=name, hostname="h", pid=1, expires_at=now + timedelta(hours=1), stopped_at=stopped
        )

    prune(7 * 86400)

    assert sorted(WorkerProcess.objects.values_list("id", flat=True)) == ["alive", "recent"]


def test_the_worker_prunes_as_part_of_its_housekeeping(settings):
    settings.TASKQUEUE_KEEP_FINISHED_DAYS = 1
    Task.objects.create(name="n", status="DONE", finished_at=timezone.now() - timedelta(days=2))

    Worker(burst=True).run()

    assert Task.objects.count() == 0


def test_autovacuum_settings_are_on_the_table():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'taskqueue_task'")
        (options,) = cursor.fetchone()
    assert "autovacuum_vacuum_scale_factor=0.01" in options
    assert "fillfactor=70" in options


def server_vacuums() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('autovacuum')")
        return cursor.fetchone()[0] == "on"
