"""Stage 5 behind PgBouncer in transaction pooling (workshop.testing.pooler starts it): worker,
enqueue and the Tasks API work through it, a worker told to LISTEN finds out by itself that it
hears nothing there and polls, and a short chaos run loses nothing.

The worker processes and the commands connect through the pooler, as web and worker processes
do in production; the test itself reads the table directly."""

import os
import re
import signal

import pytest
from django.core.management import call_command

from taskqueue.models import Task, WorkerProcess
from workshop.processes import wait_until
from workshop.testing.logfmt import events

pytestmark = pytest.mark.django_db(transaction=True)

TASKS_API = """
from taskqueue.tasks import greet
result = greet.enqueue(name="pooler")
print("task", result.id)
"""
RESULT = """
from taskqueue.tasks import greet
result = greet.get_result({id!r})
print(result.status, result.return_value)
"""


def test_worker_enqueue_and_the_tasks_api_work_through_pgbouncer(manage, pooled_env):
    worker = manage("worker", "-v2", env=pooled_env)
    (ready,) = events([worker.wait_for("event=worker.ready").string], "worker.ready")
    assert ready["wakeup"] == "poll"  # disable_server_side_cursors: a pooler is there

    enqueued = manage("enqueue", "noop", "--count", "3", env=pooled_env)
    assert enqueued.wait(30) == 0, enqueued.output
    shell = manage("shell", "-c", TASKS_API, env=pooled_env)
    assert shell.wait(30) == 0, shell.output
    (task_id,) = re.findall(r"^task (\S+)$", shell.output, re.MULTILINE)

    wait_until(lambda: Task.objects.filter(status="DONE").count() == 4, timeout=30, what="DONE")
    answer = manage("shell", "-c", RESULT.format(id=task_id), env=pooled_env)
    assert answer.wait(30) == 0, answer.output
    assert "SUCCESSFUL Hello, pooler!" in answer.output
    worker.stop(signal.SIGTERM)


def test_a_worker_told_to_listen_behind_pgbouncer_hears_nothing_and_polls(manage, pooled_env):
    worker = manage("worker", "-v2", env={**pooled_env, "TASKQUEUE_LISTEN": "on"})
    (ready,) = events([worker.wait_for("event=worker.ready").string], "worker.ready")
    assert ready["wakeup"] == "notify"  # as told

    worker.wait_for("event=listener.unheard")  # its NOTIFY to itself never came back
    # Idle since it started: it never said it waits, so no enqueue pays for a NOTIFY.
    assert not WorkerProcess.objects.filter(id=ready["worker"], waiting=True).exists()
    enqueued = manage("enqueue", "noop", env=pooled_env)
    assert enqueued.wait(30) == 0, enqueued.output
    wait_until(lambda: Task.objects.filter(status="DONE").exists(), timeout=30, what="DONE")
    worker.stop(signal.SIGTERM)


@pytest.mark.soak
def test_a_short_chaos_run_through_pgbouncer_loses_nothing(capsys, pooled_env, monkeypatch):
    if os.environ.get("DATABASE_URL"):
        pytest.skip("on the embedded PostgreSQL only (keeps .ci/run short): the chaos runs on both")
    for key, value in pooled_env.items():  # the workers it starts go through the pooler
        monkeypatch.setenv(key, value)

    call_command("chaos", tasks=200, duration=4, kill_every=1, processes=2, seed=7)

    assert "Nothing lost, nothing unfinished, no side effect twice." in capsys.readouterr().out
    emails = Task.objects.filter(name="taskqueue.tasks.send_welcome_email")
    assert emails.filter(status="DONE").count() == 200
