"""Stage 3's claim: a second worker skips the rows the first has locked, without waiting, and
the query reads only claimable rows however many finished rows pile up."""

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

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


def test_the_claim_reads_the_partial_index_not_the_finished_rows():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO taskqueue_task (name, kwargs, status, created_at, worker, error)"
            " SELECT 'noop', '{}', 'DONE', now(), '', '' FROM generate_series(1, 20000)"
        )
    Task.objects.bulk_create(Task(name="noop") for _ in range(10))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE taskqueue_task")

    with transaction.atomic():
        plan = claim.claimable(10).explain(analyze=True, buffers=True)

    assert "Index Scan using task_claimable" in plan
    assert "Rows Removed by Filter" not in plan  # no finished row was read and thrown away


def test_explain_claim_shows_both_plans_and_leaves_nothing_behind():
    out = StringIO()
    call_command("explain_claim", finished=2000, stdout=out)

    with_index, without_index = out.getvalue().split("Without it, as in stage 2:")
    assert "Index Scan using task_claimable" in with_index
    assert "Rows Removed by Filter" in without_index
    assert Task.objects.count() == 0  # rolled back
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'task_claimable'")
        assert cursor.fetchone()[0] == 1
