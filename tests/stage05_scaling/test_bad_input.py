"""The rows of stage 5's bad-input table that no other test file covers: SQL in arguments,
the admin for staff only, and a worker started while the database is down."""

import signal

import pytest
from django.tasks import task
from django.test import Client

from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from taskqueue.worker import Worker
from workshop.processes import wait_until
from workshop.testing.logfmt import events

pytestmark = pytest.mark.django_db(transaction=True)


@task
def returns_a_set():
    return {1, 2, 3}


INJECTION = "Robert'); DROP TABLE taskqueue_task; --"


def test_sql_in_arguments_is_data_not_sql():
    task = enqueue("greet", {"name": INJECTION})

    Worker(burst=True).run()

    task.refresh_from_db()
    assert task.kwargs == {"name": INJECTION}
    assert task.result == f"Hello, {INJECTION}!"  # and the table is still there to say so


def test_the_admin_is_for_staff_only(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("alice"))

    response = client.get("/admin/taskqueue/task/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_worker_started_without_a_database_waits_with_backoff_instead_of_crashing(manage):
    # Nothing listens on port 1. (That a worker picks up again once its database is back is
    # test_crash_recovery.py's restart test.)
    worker = manage(
        "worker", "-v2", env={"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"}
    )

    wait_until(lambda: len(events(worker.lines, "worker.db_error")) >= 5, timeout=30)

    assert worker.popen.poll() is None  # still running: waiting, not crash-looping
    delays = [float(line["retry_in"]) for line in events(worker.lines, "worker.db_error")]
    assert delays[:5] == [0.0, 0.25, 0.5, 1.0, 2.0]  # at once (a session ended), then backoff
    worker.stop(signal.SIGTERM)


def test_a_return_value_that_is_not_json_fails_the_task_at_once():
    result = returns_a_set.enqueue()

    Worker(burst=True).run()

    row = Task.objects.get(pk=result.id)
    assert (row.status, row.attempts) == (Task.Status.FAILED, 1)  # a bug: not retried
    assert row.error.startswith("ResultNotJSON: the task's return value is not JSON")
