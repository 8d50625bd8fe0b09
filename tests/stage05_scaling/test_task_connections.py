"""A task runs on connections of its own, never on the worker's, and they are tidied after it
as Django tidies a request's: careless code in a task cannot change or break the worker's claims,
and a task whose connection died fails alone (real worker processes)."""

import signal

import pytest
from django.db import connection

from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from workshop.processes import wait_until
from workshop.testing.logfmt import events

from task_rows import outcomes, status

pytestmark = pytest.mark.django_db(transaction=True)


def done(*tasks) -> bool:
    return all(status(task) == Task.Status.DONE for task in tasks)


def test_a_task_that_leaves_its_session_changed_does_not_change_the_worker_s(manage):
    # Read-only, a 1 ms statement timeout, a transaction left open: on the worker's connection,
    # its next claim would fail, or never commit.
    careless = enqueue("leave_the_session_changed")
    after = [enqueue("count_sent_emails") for _ in range(3)]
    worker = manage("worker", "-v2", "--poll-interval", "0.05", "--batch-size", "1")

    wait_until(lambda: done(careless, *after), what="every task DONE")

    assert [outcomes(task) for task in after] == [["DONE"]] * 3
    assert events(worker.lines, "worker.db_error") == []
    assert "Traceback" not in worker.output
    worker.stop(signal.SIGTERM)


def test_a_task_whose_connection_was_terminated_fails_alone(manage):
    first = enqueue("backend_pid")
    worker = manage("worker", "-v2", "--poll-interval", "0.05")
    wait_until(lambda: done(first), what="the first task DONE")
    first.refresh_from_db()
    with connection.cursor() as cursor:  # the server ends the task's session, as a restart would
        cursor.execute("SELECT pg_terminate_backend(%s)", [first.result])

    later = [enqueue("count_sent_emails") for _ in range(2)]

    wait_until(lambda: done(*later), what="the later tasks DONE")
    assert [outcomes(task) for task in later] == [["DONE"], ["DONE"]]
    worker.stop(signal.SIGTERM)
