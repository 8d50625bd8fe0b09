"""Stage 4's claim: SKIP LOCKED as in stage 3, one more attempt and a lease per claim."""

import threading

import pytest

from taskqueue import claim
from taskqueue.models import Task
from workshop.testing.threads import InThread, claimed_ids

pytestmark = pytest.mark.django_db(transaction=True)


def test_second_worker_skips_the_locked_task_instead_of_claiming_or_waiting(monkeypatch):
    first, second = Task.objects.bulk_create([Task(name="noop"), Task(name="noop")])
    release_a = threading.Event()
    a_holds_lock = threading.Event()

    def pause(seconds):
        # Worker A stops between its SELECT and its UPDATE, holding the lock on the first row:
        # the moment that gave stage 2 its double claim.
        if threading.current_thread().name == "worker-a":
            a_holds_lock.set()
            release_a.wait(30)

    monkeypatch.setattr(claim, "pause", pause)
    worker_a = InThread(claim.claim_batch, 1, "worker-a", name="worker-a")
    assert a_holds_lock.wait(30)

    worker_b = InThread(claim.claim_batch, 1, "worker-b")

    assert claimed_ids(worker_b) == [second.pk]  # returned while A still holds its lock
    assert worker_a.is_alive()
    release_a.set()
    assert claimed_ids(worker_a) == [first.pk]


def test_a_claim_counts_an_attempt_and_grants_a_lease():
    Task.objects.create(name="noop")

    (task,) = claim.claim_batch(1, "worker-a", lease=30)

    task.refresh_from_db()
    assert (task.status, task.attempts, task.worker) == (Task.Status.IN_PROGRESS, 1, "worker-a")
    seconds_left = (task.lease_expires_at - task.started_at).total_seconds()
    assert 29 < seconds_left < 31
