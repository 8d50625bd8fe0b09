"""Stage 5: the claim reads each level of a queue from its head, so a held horizon does not make
every claim dearer (the MVCC spiral), and no task is left behind a head that moved past it.

The heads move forward in the worker (heads.py) and back in the trigger that sees a task come
in (sql.NOTIFY_TRIGGER). These tests hold the horizon with an idle transaction and count what
the worker's own claim statement reads; and they commit a task behind a head that has moved
past it, in each way one can: a transaction that began before the move, in READ COMMITTED and in
REPEATABLE READ, and a claimed task put back."""

import re
import threading
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.db import connections
from django.utils import timezone

from taskqueue import sql
from taskqueue.claim import claim_batch
from taskqueue.connections import use_bounded
from taskqueue.db import ALIAS, atomic
from taskqueue.enqueue import enqueue, enqueue_many
from taskqueue.models import Task, WorkerProcess
from workshop.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

POLLING = ["--no-listen", "--poll-interval", "0.2"]  # each look at the queue moves the heads
RAN = 6_000  # tasks run while the horizon is held


def session(**options) -> psycopg.Connection:
    """A connection of its own to the test database."""
    params = connections[ALIAS].get_connection_params()
    keys = {"dbname", "user", "password", "host", "port"}
    return psycopg.connect(**{k: v for k, v in params.items() if k in keys}, **options)


@contextmanager
def held_horizon():
    """An xid, then idle in transaction: vacuum removes nothing from here on."""
    holder = session()
    holder.execute("SELECT pg_current_xact_id()")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def buffers(statement: str, params) -> int:
    """The buffers `statement` reads, run under EXPLAIN ANALYZE and rolled back."""
    with session() as probe:
        plan = probe.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params).fetchall()
        probe.rollback()
    print("\n".join(line for (line,) in plan))  # shown if the test fails
    top = plan[1][0] if "Buffers" in plan[1][0] else ""
    hit = re.search(r"hit=(\d+)", top)
    read = re.search(r"read=(\d+)", top)
    return int(hit.group(1) if hit else 0) + int(read.group(1) if read else 0)


# What a claim read before the heads: the queue's index from its first entry.
FROM_THE_START = """
SELECT id FROM taskqueue_task
WHERE status = 'QUEUED' AND queue_name = 'default' AND run_after <= now()
ORDER BY priority DESC, run_after, id
LIMIT 100
"""
CLAIM = {"queue": "default", "worker": "probe", "batch_size": 100}


def head_past(run_after, task_id: int) -> bool:
    """Whether the default queue's head (priority 0) is past this place in the index."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT (run_after, task_id) > (%s, %s) FROM taskqueue_head('default', 0)",
            [run_after, task_id],
        )
        return cursor.fetchone()[0]


def past(task) -> bool:
    task = Task.objects.get(pk=task.pk)
    return head_past(task.run_after, task.id)


def done(task) -> bool:
    return Task.objects.get(pk=task.pk).status == "DONE"


def test_a_held_horizon_does_not_make_the_claim_dearer(manage):
    with held_horizon():
        worker = manage("worker", "--batch-size", "10", *POLLING)
        for _ in range(RAN // 500):
            enqueue_many("noop", [{}] * 500)
        wait_until(
            lambda: not Task.objects.exclude(status="DONE").exists(),
            timeout=60,
            what=f"{RAN} tasks run",
        )
        last = Task.objects.order_by("-id").first()
        wait_until(lambda: past(last), timeout=10, what="the head past them")
        worker.stop()
        enqueue("noop")

        claim = buffers(sql.CLAIM_SCAN, CLAIM)
        start = buffers(FROM_THE_START, {})
    # Every claimed task's entry is still in the index, and still at its start...
    assert start > 5 * claim, (start, claim)
    # ...but the claim reads a few pages: the levels, the head, the index from there, however
    # many tasks ran (from an empty queue with the horizon free, it reads about as many).
    assert claim <= 30, claim


def test_tasks_deferred_at_a_higher_priority_cost_the_claim_nothing():
    """Tasks due next week sort first in the index (priority before time). A claim that read
    the index from its start would step over them all on PostgreSQL 15, which cannot skip
    to the next priority (18 can). Each level's scan ends at the present."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(NEXT_WEEK, [20_000])
    enqueue("noop")
    assert buffers(sql.CLAIM_SCAN, CLAIM) <= 30


@pytest.mark.parametrize("statement", ["CLAIM", "CLAIM_FROM_QUEUES"])
def test_the_claim_reads_no_task_table_whole_in_its_generic_plan(statement):
    """The worker prepares its claim, and after five runs PostgreSQL may keep a generic plan,
    made without the parameters' values. Such a plan once answered `busy`'s "has this level a
    due task?" with a hash join over the whole table: each claim read every queued task, and
    the worker drained half as many a second. Every plan of the claim probes the index."""
    enqueue_many("noop", [{}] * 20_000)
    plans = []
    with session(autocommit=True) as probe:
        probe.execute("ANALYZE taskqueue_task")
        probe.add_notice_handler(lambda notice: plans.append(notice.message_primary))
        for setting in [
            "SET plan_cache_mode = force_generic_plan",
            "LOAD 'auto_explain'",
            "SET auto_explain.log_level = notice",  # the plan comes back to this client
            "SET auto_explain.log_min_duration = 0",
        ]:
            probe.execute(setting)
        params = CLAIM | {"queues": ["default", "emails"]}
        claimed = probe.execute(getattr(sql, statement), params, prepare=True).fetchall()
    (plan,) = [plan for plan in plans if "taskqueue_task" in plan]
    print(plan)  # shown if the test fails
    assert len(claimed) == 100
    assert not re.search(r"Seq Scan on taskqueue_task\b", plan)


def test_the_workers_claim_is_planned_once():
    """The worker prepares its claim once per connection. In PostgreSQL's default mode a
    prepared statement is planned again at each run while its generic plan looks dearer than
    the custom ones, and the claim from several queues always did: 0.6 ms of planning per
    claim, between a wake-up and the task's start. The worker's connection keeps the generic
    plan (whose shape the test above checks)."""
    before = connections[ALIAS]
    use_bounded()  # the connection the worker claims on
    try:
        for _ in range(10):
            claim_batch(100, "probe", ["default", "emails"])
        with connections[ALIAS].cursor() as cursor:
            cursor.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE %s",
                ["%taskqueue_queuelevel%"],
            )
            ((generic, custom),) = cursor.fetchall()
    finally:
        connections[ALIAS].close()
        connections[ALIAS] = before
    assert (generic, custom) == (10, 0)


NEXT_WEEK = """
INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                            attempts, worker, worker_ids, error, errors, run_after)
SELECT 'taskqueue.tasks.noop', 'default', 10, '[]', '{}', 5, 'QUEUED', 0, '', '[]', '', '[]',
       now() + interval '7 days'
FROM generate_series(1, %s)
"""


@pytest.mark.parametrize("isolation", ["read committed", "repeatable read"])
@pytest.mark.parametrize("how", ["enqueue", "a copy, then enqueue"])
def test_a_task_committed_after_the_head_moved_past_it_is_claimed(manage, isolation, how):
    """The enqueue's transaction began, inserted its tasks, and commits only after the worker
    moved the head past them (they were not visible then): the trigger at commit moves the head
    back. In REPEATABLE READ the trigger reads the head of the transaction's snapshot, an old
    one, so it always writes a mark. A COPY's tasks take the statement's start as run_after,
    later than the transaction's start that enqueue() gives the task after them: each is the
    first of its kind, and each gets its mark."""
    manage("worker", *POLLING)
    enqueuer = session()
    try:
        enqueuer.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
        if how != "enqueue":
            with enqueuer.cursor().copy(sql.COPY_TASKS) as copy:
                for _ in range(3):
                    copy.write_row(NOOP_ROW)
        (task_id, _, run_after) = enqueuer.execute(
            sql.INSERT_TASK,
            ["taskqueue.tasks.noop", "default", 0, "[]", "{}", 3, None, None],
        ).fetchone()
        ids = [id for (id,) in enqueuer.execute("SELECT id FROM taskqueue_task")]
        # Another task, committed and run: the worker that claimed it moves the head past it,
        # and past the first, which it cannot see.
        other = enqueue("noop")
        wait_until(lambda: done(other), timeout=10)
        wait_until(lambda: head_past(run_after, task_id), timeout=10, what="the head past it")

        enqueuer.commit()
    finally:
        enqueuer.close()
    wait_until(
        lambda: all(task.status == "DONE" for task in Task.objects.filter(id__in=ids)),
        timeout=10,
        what=f"{len(ids)} tasks run",
    )


# A row of sql.COPY_TASKS: a no-op task on the default queue, run_after left to its default.
NOOP_ROW = ["taskqueue.tasks.noop", "default", 0, "[]", "{}", 3, "QUEUED", 0, "", "[]", "", "[]"]


def test_a_task_that_a_procedure_commits_behind_the_head_is_claimed(manage):
    """In a procedure that commits, now() is the new transaction's start, but a column's
    default (statement_timestamp()) is still the CALL's: a task with that default, inserted
    after a task at now(), sorts before it, and here behind the head. Each time is a first of
    its own, and each gets its mark."""
    manage("worker", *POLLING)
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(ENQUEUE_TWO_AFTER_A_MOVE)
    caller = session(autocommit=True)
    errors = []
    call = threading.Thread(target=lambda: call_and_keep(caller, errors))
    try:
        call.start()
        # Run a task meanwhile: the worker that claims it moves the head past the CALL's start.
        other = enqueue("noop")
        wait_until(lambda: done(other), timeout=10)
        call.join(timeout=20)
        assert not call.is_alive() and errors == [], errors
    finally:
        caller.close()
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("DROP PROCEDURE enqueue_two_after_a_move()")
    wait_until(
        lambda: not Task.objects.exclude(status="DONE").exists(),
        timeout=10,
        what="both tasks of the procedure run",
    )
    assert Task.objects.count() == 3


def call_and_keep(caller: psycopg.Connection, errors: list) -> None:
    try:
        caller.execute("CALL enqueue_two_after_a_move()")
    except psycopg.Error as error:
        errors.append(error)


ENQUEUE_TWO_AFTER_A_MOVE = """
CREATE PROCEDURE enqueue_two_after_a_move() LANGUAGE plpgsql AS $$
BEGIN
    WHILE NOT (SELECT (run_after, task_id) > (statement_timestamp(), 0)
               FROM taskqueue_head('default', 0)) LOOP
        PERFORM pg_sleep(0.05);  -- until the head is past the CALL's start
    END LOOP;
    COMMIT;
    INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                                attempts, worker, worker_ids, error, errors, run_after)
    VALUES ('taskqueue.tasks.noop', 'default', 0, '[]', '{}', 3, 'QUEUED', 0, '', '[]', '',
            '[]', now());
    INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status,
                                attempts, worker, worker_ids, error, errors)
    VALUES ('taskqueue.tasks.noop', 'default', 0, '[]', '{}', 3, 'QUEUED', 0, '', '[]', '',
            '[]');  -- run_after: the CALL's start, behind the head
END $$
"""


def test_the_transactions_memo_tells_every_key_apart():
    """The trigger's memo of what a transaction has seen is one string of keys. A queue's name
    may hold the memo's own marks ('|' between keys, '+' after a key not due): escaped, each
    key is its own, and a NOTIFY or a mark is never skipped for another queue's sake."""
    names = ["c+", "a|b", "a", "b", "a\\", "a\\p", "a+|"]
    keys = [("wake c", False)] + [(f"wake {name}", True) for name in names]
    with atomic(), connections[ALIAS].cursor() as cursor:
        seen = []
        for _ in range(2):
            for key, due in keys:
                cursor.execute("SELECT taskqueue_first_in_transaction(%s, %s)", [key, due])
                seen.append(cursor.fetchone()[0])
    assert seen == [True] * len(keys) + [False] * len(keys)


def test_a_copy_in_a_transaction_runs_the_trigger_once_per_level():
    """enqueue_many()'s COPY leaves run_after to the column's default, the statement's start:
    in a transaction begun before it, that is not now(). The COPY's first task of a level goes
    through the trigger, the rest sort after it and need no look at the head. (When each did,
    a COPY of 100,000 tasks ran five times slower.)"""
    with atomic(), connections[ALIAS].cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'pl'")  # count the trigger's calls
        enqueue("noop")  # the transaction's first statement: its run_after is now()
        enqueue_many("noop", [{}] * 1_000)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred triggers run now
        cursor.execute("SELECT pg_stat_get_xact_function_calls('taskqueue_notify'::regproc)")
        (calls,) = cursor.fetchone()
    assert calls == 2  # enqueue()'s task, and the COPY's first


def test_a_claimed_task_put_back_after_the_head_moved_past_it_is_claimed(manage):
    """Another worker (alive for a minute: the rescuer leaves its task alone) claimed the task;
    the head moved on; then it gives the task back, at its old place in the index."""
    task = enqueue("noop")
    WorkerProcess.objects.create(
        id="other", hostname="here", pid=1, expires_at=timezone.now() + timedelta(minutes=1)
    )
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(sql.CLAIM, {"queue": "default", "worker": "other", "batch_size": 1})
    manage("worker", *POLLING)
    other = enqueue("noop")  # run by the worker, which then moves the head past both
    wait_until(lambda: done(other), timeout=10)
    wait_until(lambda: past(task), timeout=10, what="the head past it")

    with connections[ALIAS].cursor() as cursor:
        cursor.execute(sql.RELEASE, {"ids": [task.id], "worker": "other", "uncount": True})
        assert cursor.rowcount == 1
    wait_until(lambda: done(task), timeout=10)
