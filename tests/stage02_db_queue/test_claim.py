"""Stage 2's lesson, proven on real PostgreSQL: the naive claim lets two workers take the same
task; SELECT ... FOR UPDATE does not, but makes the second worker wait."""

import threading

import pytest
from django.db import connection

from taskqueue import claim
from taskqueue.models import Task
from workshop.processes import wait_until
from workshop.testing.threads import InThread, claimed_ids

pytestmark = pytest.mark.django_db(transaction=True)


def test_naive_claim_hands_the_same_task_to_two_workers(monkeypatch):
    first, second = Task.objects.bulk_create([Task(name="noop"), Task(name="noop")])
    # Both workers must have done their SELECT before either does its UPDATE: exactly the
    # interleaving the lesson describes, made certain with a barrier instead of luck.
    both_selected = threading.Barrier(2, timeout=30)
    monkeypatch.setattr(claim, "pause", lambda seconds: both_selected.wait())

    worker_a = InThread(claim.claim_naive, 1, "worker-a")
    worker_b = InThread(claim.claim_naive, 1, "worker-b")

    assert claimed_ids(worker_a) == [first.pk]
    assert claimed_ids(worker_b) == [first.pk]  # the double claim
    assert Task.objects.get(pk=second.pk).status == Task.Status.QUEUED


def lock_waiters() -> int:
    """How many other sessions on this database are blocked waiting for a row lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_locked_claim_makes_the_second_worker_wait_then_take_the_next_task(monkeypatch):
    first, second = Task.objects.bulk_create([Task(name="noop"), Task(name="noop")])
    release_a = threading.Event()
    a_holds_lock = threading.Event()

    def pause(seconds):
        # Worker A pauses inside its transaction, holding the lock on the first row.
        if threading.current_thread().name == "worker-a":
            a_holds_lock.set()
            release_a.wait(30)

    monkeypatch.setattr(claim, "pause", pause)
    worker_a = InThread(claim.claim_locked, 1, "worker-a", name="worker-a")
    assert a_holds_lock.wait(30)

    worker_b = InThread(claim.claim_locked, 1, "worker-b")
    wait_until(lambda: lock_waiters() == 1, what="worker B to block on worker A's row lock")
    assert worker_b.is_alive()

    release_a.set()

    assert claimed_ids(worker_a) == [first.pk]
    assert claimed_ids(worker_b) == [second.pk]  # no double claim, but it had to wait
