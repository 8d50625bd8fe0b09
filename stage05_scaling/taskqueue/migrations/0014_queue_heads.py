"""A claim that does not spiral: each level of a queue (a priority) has a head, and the claim
reads the level's index entries from there, not from the index's first entry, which under a
held horizon is the first of every task claimed since (sql.HEADS).

The trigger that wakes waiting workers (0008, 0013) also lowers a head for a task that comes in
before it. Its text and the heads' functions as this migration installs them, frozen here;
sql.NOTIFY_TRIGGER and sql.HEADS are the texts the code holds, and a test checks that the
database runs them."""

import importlib

from django.db import migrations, models

HEADS = """
CREATE OR REPLACE FUNCTION taskqueue_head(queue text, level integer)
RETURNS TABLE (run_after timestamptz, task_id bigint) LANGUAGE sql STABLE AS $$
    SELECT coalesce(earliest.run_after, '-infinity'), coalesce(earliest.task_id, 0)
    FROM (SELECT) AS one
    LEFT JOIN LATERAL (
        SELECT mark.run_after, mark.task_id FROM taskqueue_queuehead AS mark
        WHERE mark.queue_name = queue AND mark.priority = level
          AND mark.id >= coalesce((SELECT max(id) FROM taskqueue_queuehead
                                   WHERE queue_name = queue AND priority = level AND moved), 0)
        ORDER BY mark.run_after, mark.task_id
        LIMIT 1
    ) AS earliest ON true
$$;
CREATE OR REPLACE FUNCTION taskqueue_advance(queues text[], wait boolean) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    level record;
    head record;
    since bigint;
    first_at timestamptz;
    first_id bigint;
    present timestamptz;
    mark bigint;
    moves integer := 0;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN NULL;  -- its statements would read the snapshot of before the lock
    END IF;
    -- A move lost in a crash leaves the head where it was, which is never wrong: no need to
    -- wait for the WAL's flush while enqueues wait for the lock.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF NOT pg_try_advisory_xact_lock(2052849671) THEN
        IF NOT wait THEN
            RETURN NULL;  -- a task is being committed: its trigger may lower a head; later
        END IF;
        -- Behind the commits under way, for 50 ms at most: the commits that come meanwhile
        -- wait behind this one, and a transaction that holds the lock long (its trigger made
        -- IMMEDIATE) must not hold them all for the worker's lock_timeout.
        PERFORM set_config('lock_timeout', '50ms', true);
        BEGIN
            PERFORM pg_advisory_xact_lock(2052849671);
        EXCEPTION WHEN lock_not_available THEN
            RETURN NULL;
        END;
    END IF;
    -- Each statement below reads a snapshot taken after the lock: every commit is in it.
    FOR level IN SELECT queue_name, priority FROM taskqueue_queuelevel
                 WHERE queue_name = ANY(queues) LOOP
        SELECT coalesce(max(id), 0) INTO since FROM taskqueue_queuehead
        WHERE queue_name = level.queue_name AND priority = level.priority AND moved;
        SELECT * INTO head FROM taskqueue_head(level.queue_name, level.priority);
        SELECT run_after, id INTO first_at, first_id FROM taskqueue_task
        WHERE status = 'QUEUED' AND queue_name = level.queue_name
          AND priority = level.priority AND (run_after, id) >= (head.run_after, head.task_id)
        ORDER BY run_after, id LIMIT 1;
        present := clock_timestamp();
        IF first_at IS NULL OR first_at > present THEN  -- none, or not due: up to the present
            first_at := present;
            first_id := 0;
        END IF;
        IF (first_at, first_id) > (head.run_after, head.task_id) THEN
            INSERT INTO taskqueue_queuehead (queue_name, priority, run_after, task_id, moved)
            VALUES (level.queue_name, level.priority, first_at, first_id, true)
            RETURNING id INTO mark;
            DELETE FROM taskqueue_queuehead
            WHERE queue_name = level.queue_name AND priority = level.priority
              AND id >= since AND id < mark;
            moves := moves + 1;
        END IF;
    END LOOP;
    RETURN moves;
END $$;
"""
NOTIFY = """
DROP TRIGGER taskqueue_notify_requeued ON taskqueue_task;
DROP TRIGGER taskqueue_notify_enqueued ON taskqueue_task;
DROP FUNCTION taskqueue_first_in_transaction(text, boolean);
CREATE OR REPLACE FUNCTION taskqueue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- A transaction's tasks with the default run_after share it, and only the first of each
    -- level comes here (the WHEN clause): a mark at id 0 is before all of them.
    place bigint := CASE WHEN NEW.run_after = now() THEN 0 ELSE NEW.id END;
    known boolean;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(2052849671);
    known := EXISTS (SELECT 1 FROM taskqueue_queuelevel
                     WHERE queue_name = NEW.queue_name AND priority = NEW.priority);
    IF NOT known OR current_setting('transaction_isolation') <> 'read committed'
       OR (NEW.run_after, place) < (SELECT head.run_after, head.task_id
                                    FROM taskqueue_head(NEW.queue_name, NEW.priority) AS head) THEN
        IF NOT known THEN
            BEGIN
                INSERT INTO taskqueue_queuelevel (queue_name, priority)
                VALUES (NEW.queue_name, NEW.priority) ON CONFLICT DO NOTHING;
            EXCEPTION WHEN serialization_failure THEN
                NULL;  -- made since this REPEATABLE READ transaction began: it is there
            END;
        END IF;
        INSERT INTO taskqueue_queuehead (queue_name, priority, run_after, task_id, moved)
        VALUES (NEW.queue_name, NEW.priority, NEW.run_after, place, false);
    END IF;
    IF taskqueue_first_in_transaction('wake ' || NEW.queue_name, NEW.run_after <= now())
       AND EXISTS (SELECT 1 FROM taskqueue_workerprocess
                   WHERE waiting AND queues ? NEW.queue_name) THEN
        IF NEW.run_after <= clock_timestamp() THEN
            PERFORM pg_notify('taskqueue', NEW.queue_name);
        ELSE
            PERFORM pg_notify('taskqueue',
                              NEW.queue_name || ' ' || extract(epoch FROM NEW.run_after));
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION taskqueue_first_in_transaction(level text, due boolean)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
    SELECT strpos(coalesce(current_setting('taskqueue.woken', true), ''),
                  '|' || level || CASE WHEN due THEN '|' ELSE '+|' END) = 0
       AND set_config('taskqueue.woken',
                      coalesce(current_setting('taskqueue.woken', true), '')
                      || '|' || level || CASE WHEN due THEN '|' ELSE '+|' END,
                      true) <> ''
$$;
CREATE CONSTRAINT TRIGGER taskqueue_notify_enqueued AFTER INSERT ON taskqueue_task
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.run_after <> now()
          OR taskqueue_first_in_transaction(NEW.queue_name || ' ' || NEW.priority,
                                            NEW.run_after <= now()))
    EXECUTE FUNCTION taskqueue_notify();
CREATE CONSTRAINT TRIGGER taskqueue_notify_requeued
    AFTER UPDATE OF status, run_after, priority, queue_name ON taskqueue_task
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.status = 'QUEUED'
          AND (OLD.status <> 'QUEUED' OR NEW.run_after < OLD.run_after
               OR NEW.priority <> OLD.priority OR NEW.queue_name <> OLD.queue_name))
    EXECUTE FUNCTION taskqueue_notify();
"""
# The levels of the tasks queued now, each read from its first entry until a worker moves on.
SEED = """
INSERT INTO taskqueue_queuelevel (queue_name, priority)
SELECT DISTINCT queue_name, priority FROM taskqueue_task WHERE status = 'QUEUED';
INSERT INTO taskqueue_queuehead (queue_name, priority, run_after, task_id, moved)
SELECT queue_name, priority, '-infinity', 0, false FROM taskqueue_queuelevel;
"""
DROP_HEADS = """
DROP FUNCTION taskqueue_advance(text[], boolean);
DROP FUNCTION taskqueue_head(text, integer);
"""


def before() -> str:
    """The trigger as migration 0013 left it."""
    notify_at_commit = importlib.import_module("taskqueue.migrations.0008_notify_at_commit")
    wake_lock = importlib.import_module("taskqueue.migrations.0013_wake_lock")
    body = notify_at_commit.NOTIFY_TRIGGER.split("$$")[1]
    locked = wake_lock.NOTIFY.split("$$")[1]
    return notify_at_commit.DROP + notify_at_commit.NOTIFY_TRIGGER.replace(body, locked, 1)


class Migration(migrations.Migration):
    dependencies = [
        ("taskqueue", "0013_wake_lock"),
    ]

    operations = [
        migrations.CreateModel(
            name="QueueLevel",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "queue_name",
                        "priority",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("queue_name", models.CharField(max_length=100)),
                ("priority", models.SmallIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="QueueHead",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("queue_name", models.CharField(max_length=100)),
                ("priority", models.SmallIntegerField()),
                ("run_after", models.DateTimeField()),
                (
                    "task_id",
                    models.BigIntegerField(help_text="ties at run_after: by id, as the claim"),
                ),
                ("moved", models.BooleanField()),
            ],
            options={
                "indexes": [
                    models.Index(
                        condition=models.Q(("moved", True)),
                        fields=["queue_name", "priority", "id"],
                        name="queuehead_moved",
                    ),
                    models.Index(fields=["queue_name", "priority", "id"], name="queuehead_marks"),
                ],
            },
        ),
        migrations.RunSQL(HEADS, DROP_HEADS, hints={"model_name": "task"}),
        migrations.RunSQL(NOTIFY, before(), hints={"model_name": "task"}),
        migrations.RunSQL(SEED, migrations.RunSQL.noop, hints={"model_name": "task"}),
    ]
