"""Stage 4's monitoring hooks: one logfmt line per claim, start, success, failure, retry, death,
release, rescue and shutdown, which a person can read and a program can parse."""

import signal

import pytest

from taskqueue.enqueue import enqueue
from workshop.testing.logfmt import events

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_reports_each_step_as_a_parseable_line(manage):
    done = enqueue("greet", {"name": 'Ada "the first" Lovelace'})
    dead = enqueue("fail", {"message": "card declined"})  # 3 attempts, 0.1 s backoff base
    failed = enqueue("reject")
    worker = manage("worker", "-v2", "--poll-interval", "0.05")
    worker.wait_for(f"event=task.dead task={dead.pk} ", timeout=30)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait() == 0

    lines = events(worker.lines)
    assert all({"ts", "level", "event"} <= line.keys() for line in lines)
    # Each names who it comes from: a worker process, or their supervisor.
    assert all(line.keys() & {"worker", "supervisor"} for line in lines)
    by_event = {}
    for line in lines:
        by_event.setdefault(line["event"], []).append(line)
    assert {
        "worker.ready",
        "claim",
        "task.start",
        "task.done",
        "task.retry",
        "task.dead",
        "task.failed",
        "worker.stopping",
        "worker.stopped",
    } <= by_event.keys()
    assert by_event["task.done"][0]["task"] == str(done.pk)
    assert [line["attempt"] for line in by_event["task.retry"]] == ["1", "2"]
    assert all(float(line["retry_in"]) >= 0 for line in by_event["task.retry"])
    assert by_event["task.dead"][0]["message"] == "card declined"
    assert by_event["task.dead"][0]["level"] == "error"
    assert by_event["task.failed"][0]["task"] == str(failed.pk)
    assert by_event["worker.stopped"][0]["signal"] == "SIGTERM"
