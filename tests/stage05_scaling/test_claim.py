"""Stage 5's claim and completion: one statement each, whatever the batch size; SKIP LOCKED as
in stage 3; priority and queues as django.tasks defines them."""

import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from taskqueue import claim, sql
from taskqueue.done import Completions
from taskqueue.enqueue import enqueue, enqueue_many
from taskqueue.models import Task
from workshop.testing.threads import InThread

pytestmark = pytest.mark.django_db(transaction=True)


def ids(tasks) -> list[int]:
    return [task.id for task in tasks]


def test_a_row_locked_by_another_transaction_is_skipped_not_waited_for():
    first, second = enqueue("noop"), enqueue("noop")
    locked, release = threading.Event(), threading.Event()

    def hold_lock_on_first():
        with transaction.atomic():
            Task.objects.select_for_update().get(pk=first.pk)
            locked.set()
            release.wait(30)

    holder = InThread(hold_lock_on_first)
    assert locked.wait(30)

    assert ids(claim.claim_batch(10, "worker-b", ["default"])) == [second.pk]
    release.set()
    holder.result()
    assert ids(claim.claim_batch(10, "worker-a", ["default"])) == [first.pk]


@pytest.fixture
def statements(monkeypatch):
    """Counts the statements that reach psycopg, whichever cursor sends them (the hot path
    uses psycopg's own cursor, which Django's query counting does not see)."""
    sent = []
    execute = psycopg.Cursor.execute

    def counting(cursor, query, *args, **kwargs):
        sent.append(query)
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    return sent


def test_one_round_trip_claims_a_whole_batch(statements):
    for _ in range(250):
        enqueue("noop")
    connection.ensure_connection()
    statements.clear()

    batch = claim.claim_batch(100, "worker-a", ["default"])

    assert len(statements) == 1

    assert len(batch) == 100
    assert Task.objects.filter(status=Task.Status.IN_PROGRESS, worker="worker-a").count() == 100


def test_a_claim_counts_an_attempt_and_names_the_worker():
    enqueue("noop")

    (task,) = claim.claim_batch(1, "worker-a", ["default"])

    row = Task.objects.get(pk=task.id)
    assert (row.status, row.attempts, row.worker) == (Task.Status.IN_PROGRESS, 1, "worker-a")
    assert row.worker_ids == ["worker-a"]


def test_higher_priority_first_then_oldest_and_nothing_before_run_after():
    low = enqueue("noop", priority=-10)
    normal = enqueue("noop")
    high = enqueue("noop", priority=50)
    enqueue("noop", priority=100, run_after=timezone.now() + timedelta(hours=1))
    normal_later = enqueue("noop")

    batch = claim.claim_batch(10, "worker-a", ["default"])

    assert ids(batch) == [high.pk, normal.pk, normal_later.pk, low.pk]


def test_a_worker_takes_only_the_queues_it_serves():
    default = enqueue("noop")
    email = enqueue("send_welcome_email", {"user_id": 1})  # defined on queue "emails"

    assert ids(claim.claim_batch(10, "worker-a", ["emails"])) == [email.pk]
    assert ids(claim.claim_batch(10, "worker-a", ["default", "emails"])) == [default.pk]


def test_completions_mark_a_batch_done_in_one_statement(statements):
    tasks = [enqueue("greet", {"name": str(n)}) for n in range(3)]
    claim.claim_batch(10, "worker-a", ["default"])
    done = Completions("worker-a")
    for task in tasks:
        done.add(task.pk, 1, f'"result {task.pk}"')

    statements.clear()
    assert done.flush() == {task.pk for task in tasks}
    assert len(statements) == 1

    for task in tasks:
        task.refresh_from_db()
        assert (task.status, task.result) == ("DONE", f"result {task.pk}")


def test_a_completion_does_not_touch_a_task_that_is_no_longer_this_worker_s():
    task = enqueue("noop")
    claim.claim_batch(1, "worker-a", ["default"])
    # worker-a was presumed dead: the task was rescued and claimed again by worker-b.
    Task.objects.filter(pk=task.pk).update(status="QUEUED")
    claim.claim_batch(1, "worker-b", ["default"])
    done = Completions("worker-a")
    done.add(task.pk, 1, "null")

    done.flush()

    task.refresh_from_db()
    assert (task.status, task.worker, task.worker_ids) == (
        "IN_PROGRESS",
        "worker-b",
        ["worker-a", "worker-b"],
    )


def test_nothing_is_claimed_from_a_transaction_that_has_not_committed():
    with transaction.atomic():
        enqueue("noop")
        # Another connection, as another worker has: it cannot see the uncommitted row.
        assert InThread(claim.claim_batch, 10, "worker-b", ["default"]).result() == []
    assert len(claim.claim_batch(10, "worker-b", ["default"])) == 1
    assert connection.in_atomic_block is False


def test_several_queues_give_the_highest_priority_first_whatever_its_queue():
    older_low = [enqueue("noop", priority=-100) for _ in range(3)]  # queue "default"
    urgent = enqueue("send_welcome_email", {"user_id": 1}, priority=100)  # queue "emails"
    email = enqueue("send_welcome_email", {"user_id": 2}, priority=-100)

    batch = claim.claim_batch(3, "worker-a", ["default", "emails"])

    # Priority first, then age: no queue waits behind another's name.
    assert ids(batch) == [urgent.pk, older_low[0].pk, older_low[1].pk]
    assert ids(claim.claim_batch(10, "worker-a", ["default", "emails"])) == [
        older_low[2].pk,
        email.pk,
    ]


def test_the_claim_of_several_queues_reads_each_queue_from_the_index():
    enqueue_many("noop", [{}] * 5000)  # queue "default"
    enqueue_many("send_welcome_email", [{"user_id": 1}] * 5000)  # queue "emails"
    Task.objects.update(status="DONE")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE taskqueue_task")
        params = {"queues": ["default", "emails"], "batch_size": 10, "worker": "w"}
        cursor.execute("EXPLAIN " + sql.CLAIM_FROM_QUEUES, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "task_claimable" in plan
    assert "Seq Scan on taskqueue_task" not in plan


def test_a_late_success_is_recorded_unless_a_newer_attempt_has_started():
    task = enqueue("greet")
    claim.claim_batch(1, "worker-a", ["default"])
    # worker-a was given up for lost, and the task buried: its only attempt was used.
    Task.objects.filter(pk=task.pk).update(status="DEAD")
    done = Completions("worker-a")
    done.add(task.pk, 1, '"late, but a success"')

    assert done.flush() == {task.pk}

    task.refresh_from_db()
    assert (task.status, task.result) == ("DONE", "late, but a success")


def test_releasing_an_unstarted_task_takes_back_its_attempt_and_its_worker_entry():
    task = enqueue("noop")
    claim.claim_batch(1, "worker-a", ["default"])

    assert claim.release([task.pk], "worker-a", uncount=True) == 1

    task.refresh_from_db()
    assert (task.status, task.attempts, task.worker, task.worker_ids) == ("QUEUED", 0, "", [])


def test_the_last_batch_is_completed_by_the_statement_that_claims_the_next(statements):
    tasks = [enqueue("greet", {"name": str(n)}) for n in range(3)]
    first = claim.claim_batch(2, "worker-a", ["default"])
    done = Completions("worker-a")
    for task in first:
        done.add(task.id, task.attempts, f'"result {task.id}"')
    statements.clear()

    second = claim.claim_batch(2, "worker-a", ["default"], done)

    assert len(statements) == 1
    assert ids(second) == [tasks[2].pk]
    assert done.ids == []
    for task in tasks[:2]:
        task.refresh_from_db()
        assert (task.status, task.result) == ("DONE", f"result {task.pk}")


def test_a_claim_of_several_queues_locks_only_the_rows_it_claims():
    enqueue_many("noop", [{}] * 50)  # queue "default"
    enqueue_many("send_welcome_email", [{"user_id": 1}] * 50)  # queue "emails"
    with transaction.atomic():  # the claim's row locks stay while this transaction is open
        batch = claim.claim_batch(50, "worker-a", ["default", "emails"])
        # Another worker, meanwhile: every task still QUEUED is free for it to take.
        free = InThread(count_unlocked_queued).result()
    assert (len(batch), free) == (50, 50)


def count_unlocked_queued() -> int:
    with connection.cursor() as cursor:  # this thread's own connection
        cursor.execute(
            "SELECT count(*) FROM (SELECT id FROM taskqueue_task WHERE status = 'QUEUED'"
            " FOR UPDATE SKIP LOCKED) AS unlocked"
        )
        return cursor.fetchone()[0]
